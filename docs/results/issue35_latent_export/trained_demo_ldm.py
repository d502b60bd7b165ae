"""Issue 35: the export of a trained latent diffusion model (the demo's ldm, 64 px, 4x16x16 latents, DPM-Solver++
10 steps, guidance 2) through the CLI, sampled by RadgenLatentPipeline and by radgen for the same generator.

    .venv/bin/python docs/results/issue35_latent_export/trained_demo_ldm.py RUN_DIR OUT_DIR
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

import radgen
from radgen.interop.pipelines import RadgenLatentPipeline


def main(run: Path, out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    cli = [sys.executable, "-m", "radgen", "export", str(run), "--format", "diffusers", "--out", str(out)]
    print(
        "$",
        "radgen export RUN --format diffusers --out OUT:",
        subprocess.run(cli, check=True, capture_output=True, text=True)
        .stdout.strip()
        .replace(str(run), "RUN")
        .replace(str(out), "OUT"),
    )
    export_s = time.perf_counter() - t0
    model = radgen.load(run)
    pipe = RadgenLatentPipeline.from_pretrained(out)
    pipe.set_progress_bar_config(disable=True)
    labels = ["NORMAL", "PNEUMONIA"] * 4
    t0 = time.perf_counter()
    theirs = pipe(labels, generator=torch.Generator().manual_seed(0), output_type="pt").images
    pipe_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = model.sample(8, labels=labels, generator=torch.Generator().manual_seed(0), progress=False)
    radgen_s = time.perf_counter() - t0
    back = radgen.load(out).sample(8, labels=labels, generator=torch.Generator().manual_seed(0), progress=False)
    info = json.loads((out / "radgen.json").read_text())
    vae = json.loads((out / "vae" / "config.json").read_text())
    texts = "".join(p.read_text() for p in out.rglob("*.json"))
    result = {
        "model": info["model"],
        "class_names": info["class_names"],
        "sampler": info["sampler"],
        "pipeline_defaults": {k: pipe.config[k] for k in ("guidance_scale", "num_inference_steps", "null_class")},
        "vae_scaling_factor": vae["scaling_factor"],
        "vae_shift_factor": vae["shift_factor"],
        "radgen_latent_scale": float(model.autoencoder.latent_scale),
        "radgen_latent_shift": float(model.autoencoder.latent_shift),
        "max_abs_diff_pipeline_vs_radgen": float((theirs - ours).abs().max()),
        "max_abs_diff_loaded_back_vs_original": float((back - ours).abs().max()),
        "yardstick_min_max_abs_diff_between_two_samples": float(
            (ours[1:] - ours[:-1]).abs().amax(dim=(1, 2, 3)).min()
        ),
        "local_path_in_export_json": str(run.parent.parent) in texts,
        "seconds": {"export": round(export_s, 2), "pipeline_8": round(pipe_s, 2), "radgen_8": round(radgen_s, 2)},
    }
    (Path(__file__).parent / "trained_demo_ldm.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
