"""DDPM on this CPU: radgen vs a plain diffusers loop vs MONAI, same topology, same batch, one run.

Topology (issue 5 / design document 001): 64 px, 1 channel, widths 32/64/128/128, two
ResNet layers per level, attention at 16x16 (6,337,345 parameters in both libraries),
T = 200 linear schedule. Training: images/s of forward + backward + Adam step at batch 16
(median of repeats after warm-up; radgen's step includes its EMA update). Sampling: seconds
to draw 16 images with DDPM-200 and DDIM-50 (radgen: its own loop on diffusers schedulers;
MONAI: DiffusionInferer). Needs the `peers` extra (pip install -e ".[peers]").
Usage: python benchmarks/ddpm.py [--quick]   (--quick: DDPM-20 instead of DDPM-200, fewer repeats)
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from common import median_time, save

SIZE, BATCH, T = 64, 16, 200
WIDTHS = (32, 64, 128, 128)


def radgen_model():
    from radgen.models import build_model

    return build_model(
        {
            "name": "ddpm",
            "block_out_channels": list(WIDTHS),
            "attention_resolutions": [16],
            "layers_per_block": 2,
            "timesteps": T,
        },
        image_size=SIZE,
        channels=1,
        num_classes=2,
    )


def diffusers_unet():
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=SIZE,
        in_channels=1,
        out_channels=1,
        block_out_channels=WIDTHS,
        layers_per_block=2,
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        attention_head_dim=8,
    )


def monai_unet():
    from monai.networks.nets import DiffusionModelUNet

    return DiffusionModelUNet(
        spatial_dims=2,
        in_channels=1,
        out_channels=1,
        channels=WIDTHS,
        attention_levels=(False, False, True, False),
        num_res_blocks=2,
        num_head_channels=8,
    )


def train_rate(step, repeats: int) -> float:
    for _ in range(2):
        step()
    t, _ = median_time(step, repeats=repeats)
    return BATCH / t


def main(quick: bool = False) -> str:
    torch.manual_seed(0)
    x = torch.rand(BATCH, 1, SIZE, SIZE)
    y = torch.randint(0, 2, (BATCH,))
    reps = 3 if quick else 5
    ddpm_steps = 20 if quick else T
    rows = []

    # radgen: the registered model's forward + Adam + EMA
    m = radgen_model()
    opt = torch.optim.Adam(m.optimizer_groups()["model"], lr=1e-4)

    def radgen_step():
        out = m((x, y))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        m.after_optimizer_step("model")

    # diffusers: the same UNet in a plain loop
    from diffusers import DDIMScheduler, DDPMScheduler

    du = diffusers_unet()
    dsched = DDPMScheduler(num_train_timesteps=T, beta_start=1e-4, beta_end=0.02)
    dopt = torch.optim.Adam(du.parameters(), lr=1e-4)

    def diffusers_step():
        x0 = x * 2 - 1
        t = torch.randint(0, T, (BATCH,))
        noise = torch.randn_like(x0)
        loss = F.mse_loss(du(dsched.add_noise(x0, noise, t), t).sample, noise)
        dopt.zero_grad()
        loss.backward()
        dopt.step()

    from monai.networks.schedulers import DDIMScheduler as MDDIM
    from monai.networks.schedulers import DDPMScheduler as MDDPM

    mu = monai_unet()
    msched = MDDPM(num_train_timesteps=T, schedule="linear_beta", beta_start=1e-4, beta_end=0.02)
    mopt = torch.optim.Adam(mu.parameters(), lr=1e-4)

    def monai_step():
        x0 = x * 2 - 1
        t = torch.randint(0, T, (BATCH,))
        noise = torch.randn_like(x0)
        loss = F.mse_loss(mu(msched.add_noise(x0, noise, t), timesteps=t), noise)
        mopt.zero_grad()
        loss.backward()
        mopt.step()

    rates = {
        "radgen": train_rate(radgen_step, reps),
        "diffusers": train_rate(diffusers_step, reps),
        "monai": train_rate(monai_step, reps),
    }
    print("train images/s", rates, flush=True)

    def timed(fn):
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    m.eval()
    sample_t = {
        "radgen": (
            timed(lambda: m.sample(BATCH, generator=g(), sampler="ddpm", progress=False)) if not quick else None,
            timed(lambda: m.sample(BATCH, generator=g(), sampler="ddim", steps=50, progress=False)),
        ),
    }

    @torch.inference_mode()
    def diffusers_loop(sched, steps):
        sched.set_timesteps(steps)
        xt = torch.randn(BATCH, 1, SIZE, SIZE, generator=g())
        for t in sched.timesteps:
            xt = sched.step(du(xt, t).sample, t, xt).prev_sample
        return xt

    ddim = DDIMScheduler(num_train_timesteps=T, beta_start=1e-4, beta_end=0.02)
    sample_t["diffusers"] = (
        timed(lambda: diffusers_loop(dsched, T)) if not quick else None,
        timed(lambda: diffusers_loop(ddim, 50)),
    )

    from monai.inferers import DiffusionInferer

    @torch.inference_mode()
    def monai_loop(sched, steps):
        sched.set_timesteps(num_inference_steps=steps)
        return DiffusionInferer(sched).sample(
            input_noise=torch.randn(BATCH, 1, SIZE, SIZE, generator=g()),
            diffusion_model=mu,
            scheduler=sched,
            verbose=False,
        )

    mddim = MDDIM(num_train_timesteps=T, schedule="linear_beta", beta_start=1e-4, beta_end=0.02)
    sample_t["monai"] = (
        timed(lambda: monai_loop(msched, T)) if not quick else None,
        timed(lambda: monai_loop(mddim, 50)),
    )
    print("sampling s", sample_t, flush=True)

    params = {
        "radgen": sum(p.numel() for p in m.unet.parameters()),
        "diffusers": sum(p.numel() for p in du.parameters()),
        "monai": sum(p.numel() for p in mu.parameters()),
    }
    for name in ("radgen", "diffusers", "monai"):
        d200, d50 = sample_t[name]
        rows.append(
            {
                "implementation": name,
                "parameters": f"{params[name]:,}",
                "train img/s (b16, 64px)": f"{rates[name]:.2f}",
                f"DDPM-{ddpm_steps}, 16 imgs (s)": "-" if d200 is None else f"{d200:.1f}",
                "DDIM-50, 16 imgs (s)": f"{d50:.1f}",
                "DDPM/DDIM time ratio": "-" if d200 is None else f"{d200 / d50:.2f}",
            }
        )
    md = save(
        "ddpm" if not quick else "ddpm_quick",
        rows,
        list(rows[0]),
        "DDPM training and sampling on this CPU: radgen vs diffusers vs MONAI (same 6.3 M topology)",
    )
    print(md)
    return md


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    main(ap.parse_args().quick)
