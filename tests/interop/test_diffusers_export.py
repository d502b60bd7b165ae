"""radgen's DDPM exported for diffusers: the pipeline diffusers loads samples what radgen samples, bit for bit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from radgen.models.base import build_model
from radgen.models.export import save_exported

TINY = {"name": "ddpm", "timesteps": 12, "block_out_channels": [32, 32], "attention_resolutions": [4]}


def _run(tmp_path, **extra):
    model = build_model({**TINY, **extra}, image_size=8, channels=1, num_classes=2)
    torch.manual_seed(1)
    with torch.no_grad():  # EMA weights unlike the trained ones, so the test sees which the export takes
        for p in model.unet.parameters():
            p.add_(0.05 * torch.randn_like(p))
    save_exported(model, tmp_path / "run" / "export", extra={"data": {"class_names": ["normal", "pneumonia"]}})
    return tmp_path / "run", model


def test_ddpm_pipeline_samples_bit_identical_to_radgen(tmp_path):
    from diffusers import DDPMPipeline

    from radgen.interop.diffusers_export import export_diffusers
    from radgen.models import load_exported

    run, _ = _run(tmp_path)
    model, _ = load_exported(run)
    out = export_diffusers(run, tmp_path / "hf")
    pipe = DDPMPipeline.from_pretrained(out)
    pipe.set_progress_bar_config(disable=True)
    theirs = pipe(batch_size=3, num_inference_steps=12, generator=torch.Generator().manual_seed(7), output_type="np")
    ours = model.sample(3, generator=torch.Generator().manual_seed(7), sampler="ddpm", progress=False)
    diff = np.abs(theirs.images - ours.permute(0, 2, 3, 1).numpy()).max()
    assert diff == 0.0, diff
    info = json.loads((out / "radgen.json").read_text())
    assert info["weights"] == "ema" and info["pipeline"] == "DDPMPipeline"
    assert pipe.scheduler.config.variance_type == "fixed_small" and pipe.scheduler.config.clip_sample


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_class_conditional_pipeline_samples_bit_identical_to_radgen(tmp_path, scale):
    from radgen.interop.diffusers_export import ClassConditionalDDPMPipeline, export_diffusers
    from radgen.models import load_exported

    run, _ = _run(tmp_path, conditional="class")
    model, _ = load_exported(run)
    out = export_diffusers(run, tmp_path / "hf")
    pipe = ClassConditionalDDPMPipeline.from_pretrained(out)
    pipe.set_progress_bar_config(disable=True)
    labels = torch.tensor([0, 1, 1])
    theirs = pipe(labels, guidance_scale=scale, generator=torch.Generator().manual_seed(3)).images
    ours = model.sample(
        3,
        labels=labels,
        generator=torch.Generator().manual_seed(3),
        sampler="ddpm",
        guidance_scale=scale,
        progress=False,
    )
    assert np.abs(theirs - ours.permute(0, 2, 3, 1).numpy()).max() == 0.0
    info = json.loads((out / "radgen.json").read_text())
    assert info["class_names"] == ["normal", "pneumonia"] and info["null_class"] == 2


def test_export_refuses_what_it_cannot_export_and_an_existing_folder(tmp_path):
    from radgen.errors import ConfigError, RadgenError
    from radgen.interop.diffusers_export import export_diffusers

    vae = build_model({"name": "vae", "latent_dim": 2, "hidden": [8]}, image_size=8, channels=1, num_classes=2)
    save_exported(vae, tmp_path / "vae" / "export")
    with pytest.raises(ConfigError, match="exports ddpm and latent_diffusion only"):
        export_diffusers(tmp_path / "vae", tmp_path / "hf")
    run, _ = _run(tmp_path)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("x")
    with pytest.raises(RadgenError, match="already exists"):
        export_diffusers(run, tmp_path / "taken")


def test_the_cli_exports_and_names_the_loader(tmp_path, capsys):
    from radgen.cli import main

    run, _ = _run(tmp_path)
    assert main(["export", str(run), "--format", "diffusers", "--out", str(tmp_path / "hf")]) == 0
    out = capsys.readouterr().out
    assert "diffusers.DDPMPipeline.from_pretrained(DIR)" in out
    assert (tmp_path / "hf" / "model_index.json").is_file() and (tmp_path / "hf" / "unet").is_dir()
    assert main(["export", str(run), "--format", "diffusers", "--out", str(tmp_path / "hf")]) == 2  # exists


@pytest.mark.parametrize("extra", [{}, {"conditional": "class"}])
def test_radgen_loads_back_what_it_exported_and_samples_the_same(tmp_path, extra):
    """radgen.load(DIR) on an exported diffusers folder gives the radgen model back: the same samples as the model
    it came from for the same generator, its class names; a folder that is not one is refused in one line."""
    import radgen
    from radgen.errors import MissingDataError
    from radgen.interop.diffusers_export import export_diffusers, import_diffusers
    from radgen.models import load_exported

    run, _ = _run(tmp_path, **extra)
    model, _ = load_exported(run)
    out = export_diffusers(run, tmp_path / "hf")
    back = radgen.load(out)
    assert type(back) is type(model) and back.config == model.config
    kw = {"labels": torch.tensor([0, 1, 1])} if extra else {}
    a = model.sample(3, generator=torch.Generator().manual_seed(5), sampler="ddpm", progress=False, **kw)
    b = back.sample(3, generator=torch.Generator().manual_seed(5), sampler="ddpm", progress=False, **kw)
    assert torch.equal(a, b)
    assert back.class_names == ("normal", "pneumonia")
    with pytest.raises(MissingDataError, match="not a diffusers folder radgen exported"):
        import_diffusers(run)
