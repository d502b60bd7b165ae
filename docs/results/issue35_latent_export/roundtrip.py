"""Issue 35: a latent_diffusion model exported with radgen export --format diffusers, sampled by
RadgenLatentPipeline.from_pretrained(DIR) and by radgen for the same generator; and radgen.load(DIR) against the
original. Prints max |difference| of the samples (images in [0, 1]) per setting and writes roundtrip.json.

Tiny untrained model (UNet [16], autoencoder [8, 8, 8], 2 latent channels, 16 px, T = 20) with perturbed weights
and latent shift 0.3 / scale 1.7, as in tests/interop/test_latent_export.py. Run from the repository root:
    .venv/bin/python docs/results/issue35_latent_export/roundtrip.py /tmp/ix/work
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

import radgen
from radgen.interop.diffusers_export import export_diffusers
from radgen.interop.pipelines import RadgenLatentPipeline
from radgen.models import build_model, load_exported, save_exported

AE = {"block_out_channels": [8, 8, 8], "norm_groups": 4, "latent_channels": 2, "mid_block": "resnet"}


def make_run(root: Path, **extra) -> Path:
    torch.manual_seed(0)
    cfg = {
        "name": "latent_diffusion",
        "block_out_channels": [16],
        "norm_groups": 8,
        "layers_per_block": 1,
        "attention_resolutions": [],
        "autoencoder_config": AE,
        "timesteps": 20,
        "sample_steps": 4,
        **extra,
    }
    m = build_model(cfg, image_size=16, channels=1, num_classes=2)
    with torch.no_grad():
        for p in m.unet.parameters():
            p.add_(0.05 * torch.randn_like(p))
        m.autoencoder.latent_shift.fill_(0.3)
        m.autoencoder.latent_scale.fill_(1.7)
    save_exported(m, root / "run" / "export", extra={"data": {"class_names": ["normal", "pneumonia"]}})
    return root / "run"


def main(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
    rows = []
    for cond in ("class", "none"):
        root = work / cond
        run = make_run(root, conditional=cond)
        model, _ = load_exported(run)
        out = export_diffusers(run, root / "hf")
        pipe = RadgenLatentPipeline.from_pretrained(out)
        pipe.set_progress_bar_config(disable=True)
        back = radgen.load(out)
        labels = [0, 1, 1, 0] if cond == "class" else None
        kw = {"labels": torch.tensor(labels)} if labels else {}
        for sampler, w in (
            (("dpmsolver++", 1.0), ("dpmsolver++", 2.0)) if cond == "class" else (("dpmsolver++", None),)
        ):
            g = lambda: torch.Generator().manual_seed(7)  # noqa: E731
            ours = model.sample(4, generator=g(), progress=False, **kw, **({"guidance_scale": w} if w else {}))
            theirs = (
                pipe(labels, guidance_scale=w, generator=g(), output_type="pt")
                if labels
                else pipe(batch_size=4, generator=g(), output_type="pt")
            ).images
            loaded = back.sample(4, generator=g(), progress=False, **kw, **({"guidance_scale": w} if w else {}))
            between = float((ours[1:] - ours[:-1]).abs().amax(dim=(1, 2, 3)).min())
            rows.append(
                {
                    "conditional": cond,
                    "sampler": sampler,
                    "guidance_scale": w,
                    "steps": 4,
                    "max_abs_diff_pipeline_vs_radgen": float((theirs - ours).abs().max()),
                    "max_abs_diff_loaded_vs_original": float((loaded - ours).abs().max()),
                    "yardstick_min_max_abs_diff_between_two_samples": between,
                }
            )
        vcfg = json.loads((out / "vae" / "config.json").read_text())
        rows[-1]["vae_config"] = {k: vcfg[k] for k in ("scaling_factor", "shift_factor")}
    (Path(__file__).parent / "roundtrip.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(
        "| conditional | sampler | guidance | max abs diff pipeline vs radgen | max abs diff radgen.load vs original "
        "| yardstick: min over neighbours of max abs diff between two samples |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['conditional']} | {r['sampler']} | {r['guidance_scale']} | {r['max_abs_diff_pipeline_vs_radgen']} "
            f"| {r['max_abs_diff_loaded_vs_original']} | {r['yardstick_min_max_abs_diff_between_two_samples']:.3f} |"
        )
    print("vae/config.json:", rows[-1]["vae_config"], "| numpy", np.__version__, "| torch", torch.__version__)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
