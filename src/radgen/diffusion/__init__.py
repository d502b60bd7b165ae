"""Diffusion schedules and sampling loops, kept apart from the networks.

Schedulers are diffusers' DDPM, DDIM, DPM-Solver++ and UniPC schedulers (Ho et al. 2020; Song
et al. 2021; Lu et al. 2022; Zhao et al. 2023); ``parametrization`` holds the prediction types
(epsilon, v, x_0) and min-SNR-gamma weighting (Hang et al. 2023);
radgen adds the closed forms used to test them and one short sampling loop with
classifier-free guidance (Ho & Salimans 2022).
"""

from radgen.diffusion.sampling import guided_epsilon, sample_loop
from radgen.diffusion.schedules import SAMPLERS, alphas_cumprod_closed_form, make_scheduler

__all__ = ["SAMPLERS", "alphas_cumprod_closed_form", "guided_epsilon", "make_scheduler", "sample_loop"]
