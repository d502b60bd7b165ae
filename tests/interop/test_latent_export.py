"""radgen's latent diffusion model exported for diffusers: UNet and AutoencoderKL folders diffusers reads, the
VAE config carrying radgen's latent scale and shift, and ``RadgenLatentPipeline`` sampling what radgen samples."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from radgen.models.base import build_model
from radgen.models.export import save_exported

TINY_AE = {"block_out_channels": [8, 8, 8], "norm_groups": 4, "latent_channels": 2, "mid_block": "resnet"}
LOCAL_AE = "/home/someone/runs/ae_run"  # a first-stage path on the training machine: must not leave it
SHIFT, SCALE = 0.3, 1.7  # latent shift and scale unlike the identity, so a pipeline that ignores them fails


def _run(tmp_path, **extra):
    torch.manual_seed(0)
    cfg = {
        "name": "latent_diffusion",
        "block_out_channels": [16],
        "norm_groups": 8,
        "layers_per_block": 1,
        "attention_resolutions": [],
        "autoencoder_config": TINY_AE,
        "autoencoder": LOCAL_AE,
        "timesteps": 20,
        "sample_steps": 4,
        **extra,
    }
    model = build_model(cfg, image_size=16, channels=1, num_classes=2)
    with torch.no_grad():  # EMA weights unlike the trained ones, so the test sees which the export takes
        for p in model.unet.parameters():
            p.add_(0.05 * torch.randn_like(p))
        model.autoencoder.latent_shift.fill_(SHIFT)
        model.autoencoder.latent_scale.fill_(SCALE)
    save_exported(model, tmp_path / "run" / "export", extra={"data": {"class_names": ["normal", "pneumonia"]}})
    return tmp_path / "run"


def _np(images: torch.Tensor) -> np.ndarray:
    return images.permute(0, 2, 3, 1).numpy()  # (B, C, H, W) -> the pipeline's (B, H, W, C)


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_latent_pipeline_samples_bit_identical_to_radgen(tmp_path, scale):
    """Class-conditional, DPM-Solver++ (radgen's default latent sampler), v-prediction: max |diff| == 0."""
    from diffusers import AutoencoderKL, UNet2DModel

    from radgen.interop.diffusers_export import export_diffusers
    from radgen.interop.pipelines import RadgenLatentPipeline
    from radgen.models import load_exported

    run = _run(tmp_path)
    model, _ = load_exported(run)
    out = export_diffusers(run, tmp_path / "hf")
    vae = AutoencoderKL.from_pretrained(out / "vae")  # the folders diffusers reads on their own
    assert vae.config.scaling_factor == pytest.approx(SCALE, rel=1e-7)
    assert vae.config.shift_factor == pytest.approx(SHIFT, rel=1e-7)
    assert UNet2DModel.from_pretrained(out / "unet").config.num_class_embeds == 3  # 2 classes + the null class
    pipe = RadgenLatentPipeline.from_pretrained(out)
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert pipe.scheduler.config.prediction_type == "v_prediction"
    labels = [0, 1, 1]
    theirs = pipe(labels, guidance_scale=scale, generator=torch.Generator().manual_seed(3)).images
    g = torch.Generator().manual_seed(3)
    ours = model.sample(3, labels=torch.tensor(labels), generator=g, guidance_scale=scale, progress=False)
    assert theirs.shape == (3, 16, 16, 1)
    assert np.abs(theirs - _np(ours)).max() == 0.0
    assert float(ours.std()) > 0  # not a constant image that any decoder would match
    names = ["normal", "PNEUMONIA", "pneumonia"]  # by name, exact or any case
    by_name = pipe(names, guidance_scale=scale, generator=torch.Generator().manual_seed(3))
    assert np.array_equal(by_name.images, theirs)


def test_pipeline_defaults_are_radgens_and_a_swapped_ddpm_scheduler_still_matches(tmp_path):
    """Called with no options the pipeline uses radgen's guidance, steps and sampler; with diffusers'
    DDPMScheduler built from the exported config (clipping off) it matches radgen's DDPM sampler."""
    from diffusers import DDPMScheduler

    from radgen.interop.diffusers_export import export_diffusers
    from radgen.interop.pipelines import RadgenLatentPipeline
    from radgen.models import load_exported

    run = _run(tmp_path)
    model, _ = load_exported(run)
    pipe = RadgenLatentPipeline.from_pretrained(export_diffusers(run, tmp_path / "hf"))
    pipe.set_progress_bar_config(disable=True)
    assert pipe.config.guidance_scale == model.config.guidance_scale == 2.0
    assert pipe.config.num_inference_steps == model.config.sample_steps == 4
    theirs = pipe([1, 0], generator=torch.Generator().manual_seed(9), output_type="pt").images
    ours = model.sample(2, labels=torch.tensor([1, 0]), generator=torch.Generator().manual_seed(9), progress=False)
    assert torch.equal(theirs, ours)
    pipe.scheduler = DDPMScheduler.from_config(pipe.scheduler.config, clip_sample=False, variance_type="fixed_small")
    theirs = pipe([1, 0], num_inference_steps=20, generator=torch.Generator().manual_seed(9), output_type="pt")
    ours = model.sample(
        2, labels=torch.tensor([1, 0]), generator=torch.Generator().manual_seed(9), sampler="ddpm", progress=False
    )
    assert torch.equal(theirs.images, ours)


def test_unconditional_latent_model_and_the_pipelines_refusals(tmp_path):
    from radgen.interop.diffusers_export import export_diffusers
    from radgen.interop.pipelines import RadgenLatentPipeline
    from radgen.models import load_exported

    run = _run(tmp_path, conditional="none")
    model, _ = load_exported(run)
    out = export_diffusers(run, tmp_path / "hf")
    pipe = RadgenLatentPipeline.from_pretrained(out)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.config.null_class is None
    theirs = pipe(batch_size=2, generator=torch.Generator().manual_seed(4)).images
    ours = model.sample(2, generator=torch.Generator().manual_seed(4), progress=False)
    assert np.abs(theirs - _np(ours)).max() == 0.0
    with pytest.raises(ValueError, match="unconditional"):
        pipe([0, 1])
    cond = RadgenLatentPipeline.from_pretrained(export_diffusers(_run(tmp_path / "c"), tmp_path / "hf_c"))
    with pytest.raises(ValueError, match="class-conditional: pass class_labels"):
        cond(batch_size=2)
    with pytest.raises(ValueError, match=r"class_labels must be in 0\.\.1"):
        cond([0, 2])
    with pytest.raises(ValueError, match="'effusion' is not a class of this model; valid: normal, pneumonia"):
        cond(["effusion"])


@pytest.mark.parametrize("extra", [{}, {"conditional": "none"}])
def test_radgen_loads_back_the_latent_export_and_samples_the_same(tmp_path, extra):
    """radgen.load(DIR) rebuilds the latent model (UNet, EMA, autoencoder, latent shift and scale) from the
    exported folder alone: samples equal the original's; no file of the export holds the first stage's path."""
    import radgen
    from radgen.interop.diffusers_export import export_diffusers
    from radgen.models import load_exported

    run = _run(tmp_path, **extra)
    model, _ = load_exported(run)
    out = export_diffusers(run, tmp_path / "hf")
    back = radgen.load(out)
    assert type(back) is type(model)
    assert back.config.autoencoder is None and model.config.autoencoder == LOCAL_AE
    assert back.config.autoencoder_config == model.config.autoencoder_config
    assert float(back.autoencoder.latent_scale) == pytest.approx(SCALE, rel=1e-7)
    assert float(back.autoencoder.latent_shift) == pytest.approx(SHIFT, rel=1e-7)
    kw = {"labels": torch.tensor([0, 1, 1])} if not extra else {}
    a = model.sample(3, generator=torch.Generator().manual_seed(5), progress=False, **kw)
    b = back.sample(3, generator=torch.Generator().manual_seed(5), progress=False, **kw)
    assert torch.equal(a, b)
    assert back.class_names == ("normal", "pneumonia")
    texts = [p.read_text() for p in out.rglob("*.json")]
    assert texts and not any(LOCAL_AE in t or str(tmp_path) in t for t in texts)
    info = json.loads((out / "radgen.json").read_text())
    assert info["pipeline"] == "RadgenLatentPipeline" and info["weights"] == "ema"
    assert info["scaling_factor"] == pytest.approx(SCALE, rel=1e-7)


def test_the_cli_exports_a_latent_model_and_names_the_loader(tmp_path, capsys):
    from radgen.cli import main

    run = _run(tmp_path)
    assert main(["export", str(run), "--format", "diffusers", "--out", str(tmp_path / "hf")]) == 0
    assert "radgen.interop.pipelines.RadgenLatentPipeline.from_pretrained(DIR)" in capsys.readouterr().out
    assert all((tmp_path / "hf" / d / "config.json").is_file() for d in ("unet", "vae"))
    assert (tmp_path / "hf" / "scheduler" / "scheduler_config.json").is_file()
