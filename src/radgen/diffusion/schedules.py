"""Noise schedules: diffusers schedulers configured from radgen names, plus closed forms.

linear (Ho et al. 2020; design document 001): beta_t evenly spaced from beta_start to
beta_end over T steps; alpha_bar_t = prod_{s<=t} (1 - beta_s).
cosine (Nichol & Dhariwal 2021): alpha_bar(t) = cos^2(((t/T + s)/(1 + s)) * pi/2) / same at 0,
s = 0.008, betas clipped at 0.999 (diffusers' "squaredcos_cap_v2").

Samplers (diffusers schedulers, all reading the network output as ``prediction_type``):
ddpm (ancestral, Ho et al. 2020), ddim (Song et al. 2021, eta), dpmsolver++ (Lu et al. 2022,
"DPM-Solver++", 2nd-order multistep, data prediction) and unipc (Zhao et al. 2023, UniPC,
bh2, 2nd order). ddpm/ddim clip the predicted x_0 to [-1, 1] (design document 001's loop);
the ODE solvers do not (diffusers' defaults) and the loop clamps the final sample.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from radgen.errors import ConfigError

Schedule = Literal["linear", "cosine"]
Sampler = Literal["ddpm", "ddim", "dpmsolver++", "unipc"]
SAMPLERS = ("ddpm", "ddim", "dpmsolver++", "unipc")
_DIFFUSERS_NAME = {"linear": "linear", "cosine": "squaredcos_cap_v2"}


def alphas_cumprod_closed_form(
    schedule: Schedule, timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02
) -> np.ndarray:
    """alpha_bar_t for t = 0..T-1 (float64), computed independently of diffusers."""
    if schedule == "linear":
        betas = np.linspace(beta_start, beta_end, timesteps, dtype=np.float64)
    elif schedule == "cosine":
        f = lambda t: math.cos((t / timesteps + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
        betas = np.array([min(1 - f(i + 1) / f(i), 0.999) for i in range(timesteps)])
    else:
        raise ConfigError(f"beta_schedule={schedule!r}; valid: linear, cosine")
    return np.cumprod(1.0 - betas)


def make_scheduler(
    kind: Sampler,
    *,
    timesteps: int,
    schedule: Schedule,
    beta_start: float,
    beta_end: float,
    prediction_type: str = "epsilon",
    clip_sample: bool = True,
):
    """A fresh diffusers scheduler (the multistep solvers keep state between steps: one per sampling run).
    ``clip_sample``: ddpm/ddim clip the predicted x_0 to [-1, 1] (pixels; latents are not clipped)."""
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, UniPCMultistepScheduler

    common = {
        "num_train_timesteps": timesteps,
        "beta_schedule": _DIFFUSERS_NAME[schedule],
        "beta_start": beta_start,
        "beta_end": beta_end,
        "prediction_type": prediction_type,
    }
    if kind == "ddpm":
        return DDPMScheduler(variance_type="fixed_small", clip_sample=clip_sample, **common)
    if kind == "ddim":
        return DDIMScheduler(set_alpha_to_one=True, clip_sample=clip_sample, **common)
    if kind == "dpmsolver++":
        return DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", solver_order=2, **common)
    if kind == "unipc":
        return UniPCMultistepScheduler(solver_order=2, **common)
    raise ConfigError(f"sampler={kind!r}; valid: {', '.join(SAMPLERS)}")
