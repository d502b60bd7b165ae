"""Diffusion schedules and sampling loops, kept apart from the networks.

Schedulers are diffusers' DDPMScheduler/DDIMScheduler (Ho et al. 2020; Song et al. 2021);
radgen adds the closed forms used to test them and one short sampling loop with
classifier-free guidance (Ho & Salimans 2022).
"""

from radgen.diffusion.sampling import guided_epsilon, sample_loop
from radgen.diffusion.schedules import alphas_cumprod_closed_form, make_scheduler

__all__ = ["alphas_cumprod_closed_form", "guided_epsilon", "make_scheduler", "sample_loop"]
