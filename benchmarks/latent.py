"""Latent diffusion on this CPU: radgen's latent_diffusion vs MONAI's AutoencoderKL + DiffusionModelUNet +
LatentDiffusionInferer on the same topology, in one run (same-run ratios; issue 21).

Topology (configs ldm_autoencoder_64 + ldm_64, 64 px, 1 channel): autoencoder f=4, widths 16/32/64, one
ResNet layer per level, 4 latent channels, no attention; latent UNet widths 32/64/128, one ResNet layer
per level, attention at 8x8, head dim 8; radgen's with its class embedding (2 classes + null), MONAI's
unconditional (its LatentDiffusionInferer takes no class labels). Training: images/s of
forward + backward + Adam at batch 32 (median of repeats after warm-up), radgen with latents encoded once
(cached posteriors) and on the fly, MONAI's inferer (which encodes every batch, on the fly). Sampling:
seconds per image for 16 images, DDIM-50 without guidance in both libraries (the same network calls),
and radgen's DPM-Solver++ at 10 and 20 steps. Needs the `peers` extra (pip install -e ".[peers]").
Usage: python benchmarks/latent.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from common import median_time, save

SIZE, BATCH, T = 64, 32, 1000
AE_WIDTHS, UNET_WIDTHS, LATENT = (16, 32, 64), (32, 64, 128), 4


def radgen_model():
    from radgen.models import build_model

    return build_model(
        {
            "name": "latent_diffusion",
            "autoencoder_config": {
                "block_out_channels": list(AE_WIDTHS),
                "norm_groups": 8,
                "latent_channels": LATENT,
                "mid_block": "resnet",
            },
            "block_out_channels": list(UNET_WIDTHS),
            "attention_resolutions": [8],
            "layers_per_block": 1,
            "ema_decay": 0.995,
        },
        image_size=SIZE,
        channels=1,
        num_classes=2,
    )


def monai_models():
    from monai.networks.nets import AutoencoderKL, DiffusionModelUNet

    ae = AutoencoderKL(
        spatial_dims=2,
        in_channels=1,
        out_channels=1,
        channels=AE_WIDTHS,
        latent_channels=LATENT,
        num_res_blocks=1,
        attention_levels=(False, False, False),
        with_encoder_nonlocal_attn=False,
        with_decoder_nonlocal_attn=False,
        norm_num_groups=8,
    )
    unet = DiffusionModelUNet(
        spatial_dims=2,
        in_channels=LATENT,
        out_channels=LATENT,
        channels=UNET_WIDTHS,
        attention_levels=(False, True, False),
        num_res_blocks=1,
        num_head_channels=8,
    )  # unconditional: MONAI's LatentDiffusionInferer passes no class labels
    return ae.requires_grad_(False).eval(), unet


def rate(step, repeats: int) -> float:
    for _ in range(2):
        step()
    t, _ = median_time(step, repeats=repeats)
    return BATCH / t


def main(quick: bool = False) -> str:
    torch.manual_seed(0)
    x = torch.rand(BATCH, 1, SIZE, SIZE)
    y = torch.randint(0, 2, (BATCH,))
    reps = 3 if quick else 7
    m = radgen_model()
    opt = torch.optim.Adam(m.optimizer_groups()["model"], lr=1e-4)
    post = m.encode_posterior(x)

    def radgen_step(inputs):
        out = m((inputs, y))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        m.after_optimizer_step("model")

    from monai.inferers import LatentDiffusionInferer
    from monai.networks.schedulers import DDIMScheduler, DDPMScheduler

    mae, munet = monai_models()
    inferer = LatentDiffusionInferer(DDPMScheduler(num_train_timesteps=T), scale_factor=1.0)
    mopt = torch.optim.Adam(munet.parameters(), lr=1e-4)

    def monai_step():
        t = torch.randint(0, T, (BATCH,))
        noise = torch.randn(BATCH, LATENT, SIZE // 4, SIZE // 4)
        pred = inferer(inputs=x * 2 - 1, autoencoder_model=mae, diffusion_model=munet, noise=noise, timesteps=t)
        loss = F.mse_loss(pred, noise)
        mopt.zero_grad()
        loss.backward()
        mopt.step()

    def encode_only():
        with torch.no_grad():
            m.encode_posterior(x)

    rates = {
        "radgen, latents cached": rate(lambda: radgen_step(post), reps),
        "radgen, encoded on the fly": rate(lambda: radgen_step(x), reps),
        "monai inferer (on the fly)": rate(monai_step, reps),
        "radgen encoder alone": rate(encode_only, reps),
    }
    print("train images/s", rates, flush=True)

    n = 16
    labels = torch.tensor([0, 1] * (n // 2))

    def timed(fn):
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) / n

    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    m.eval()
    ddim_steps = 10 if quick else 50
    samp = {
        f"radgen DDIM-{ddim_steps}": timed(
            lambda: m.sample(n, labels=labels, generator=g(), sampler="ddim", steps=ddim_steps, guidance_scale=1.0)
        ),
        "radgen DPM-Solver++-20": timed(
            lambda: m.sample(n, labels=labels, generator=g(), sampler="dpmsolver++", steps=20, guidance_scale=1.0)
        ),
        "radgen DPM-Solver++-10": timed(
            lambda: m.sample(n, labels=labels, generator=g(), sampler="dpmsolver++", steps=10, guidance_scale=1.0)
        ),
    }
    msched = DDIMScheduler(num_train_timesteps=T)
    msched.set_timesteps(ddim_steps)
    minf = LatentDiffusionInferer(msched, scale_factor=1.0)
    munet.eval()
    with torch.no_grad():
        samp[f"monai DDIM-{ddim_steps}"] = timed(
            lambda: minf.sample(
                input_noise=torch.randn(n, LATENT, SIZE // 4, SIZE // 4, generator=g()),
                autoencoder_model=mae,
                diffusion_model=munet,
                scheduler=msched,
                conditioning=None,
                verbose=False,
            )
        )
    print("sampling seconds per image", samp, flush=True)
    params = {
        "radgen unet": sum(p.numel() for p in m.unet.parameters()),
        "monai unet": sum(p.numel() for p in munet.parameters()),
        "radgen autoencoder": sum(p.numel() for p in m.autoencoder.vae.parameters()),
        "monai autoencoder": sum(p.numel() for p in mae.parameters()),
    }
    rows = [{"what": f"train, {k}", "value": f"{v:.1f} images/s"} for k, v in rates.items()]
    rows += [{"what": f"sample, {k} (16 images, no guidance)", "value": f"{v:.3f} s/image"} for k, v in samp.items()]
    notes = "parameters: " + ", ".join(f"{k} {v:,}" for k, v in params.items())
    return save(
        "latent",
        rows,
        ["what", "value"],
        f"Latent diffusion: radgen vs MONAI LatentDiffusionInferer, same topology, batch {BATCH}, 64 px",
        notes,
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    print(main(**vars(ap.parse_args())))
