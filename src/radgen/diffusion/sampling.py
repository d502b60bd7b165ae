"""The reverse-process loop, short and explicit.

1. x_T ~ N(0, I) (seeded).
2. For each timestep t of the scheduler: the network's output (epsilon, v or x_0, as the
   scheduler's prediction_type says), with classifier-free guidance for conditional models:
   out = out_uncond + w * (out_cond - out_uncond); w = 0 gives the unconditional
   prediction, w = 1 the conditional one (linear in the output, so the same for every
   prediction type).
3. x_{t-1} = scheduler.step(out, t, x_t) (DDPM ancestral step, DDIM with eta, or a
   DPM-Solver++ / UniPC multistep update).
Runs under ``torch.inference_mode()``, batched, with a progress bar.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from radgen.progress import bar

EpsFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def guided_epsilon(
    eps_fn: EpsFn,
    x: torch.Tensor,
    t: torch.Tensor,
    labels: torch.Tensor | None,
    *,
    null_label: int | None,
    scale: float,
) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022); one batched network call for both branches."""
    if labels is None or null_label is None:
        return eps_fn(x, t, labels)
    if scale == 1.0:
        return eps_fn(x, t, labels)
    null = torch.full_like(labels, null_label)
    eps = eps_fn(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null]))
    eps_cond, eps_uncond = eps.chunk(2)
    return eps_uncond + scale * (eps_cond - eps_uncond)


@torch.inference_mode()
def sample_loop(
    eps_fn: EpsFn,
    scheduler,
    shape: tuple[int, ...],
    *,
    steps: int,
    generator: torch.Generator | None = None,
    labels: torch.Tensor | None = None,
    null_label: int | None = None,
    guidance_scale: float = 1.0,
    eta: float = 0.0,
    device: torch.device | str = "cpu",
    progress: bool = True,
    clamp: bool = True,
) -> torch.Tensor:
    """Run the reverse process; returns x_0, clamped to [-1, 1] when ``clamp`` (pixels; not latents)."""
    scheduler.set_timesteps(steps)
    x = torch.randn(shape, generator=generator, device=device) * scheduler.init_noise_sigma  # 1.
    takes = scheduler.step.__code__.co_varnames
    is_ddim = "eta" in takes
    rng = {"generator": generator} if "generator" in takes else {}  # UniPC draws no noise
    for t in bar(scheduler.timesteps, desc=f"sampling ({steps} steps)", progress=progress):
        tt = torch.full((shape[0],), int(t), device=device, dtype=torch.long)
        x_in = scheduler.scale_model_input(x, t)  # the identity for these schedulers; kept for the contract
        eps = guided_epsilon(eps_fn, x_in, tt, labels, null_label=null_label, scale=guidance_scale)  # 2.
        kwargs = {"eta": eta} if is_ddim else {}
        x = scheduler.step(eps, int(t), x, **rng, **kwargs).prev_sample  # 3.
    return x.clamp(-1.0, 1.0) if clamp else x
