"""GPU-readiness switches, measured: precision, channels_last, torch.compile and pinned memory.

For a few families at their documents' resolutions, radgen's engine is timed (``radgen.training.
profile.engine_step_times``, the same code ``radgen train`` runs) under each variant:

  32-true          the baseline
  bf16-mixed       autocast to bfloat16 (Lightning's precision plugin)
  16-mixed         autocast to float16 with a gradient scaler (CUDA only)
  channels_last    NHWC weights and batches
  compile          torch.compile of the forward (inductor; the first steps compile and are not timed)

and the variant's epoch-mean training loss from the same seed is compared with the baseline's
("loss vs 32-true", relative), so a speed-up never hides a change of result. On CUDA it also
times host-to-device copies of a batch from pageable and from pinned memory.

    .venv/bin/python benchmarks/precision.py --device cuda          # on a GPU machine
    .venv/bin/python benchmarks/precision.py --device cpu --only vae  # the same code path on a CPU

Writes results/precision-<device>.{json,md}. On this project's 2-core CPU only the code path is of
interest (no bf16 hardware: bf16 is emulated and slower); the numbers that matter come from a GPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

from common import save  # noqa: F401  (also puts src/ on the path)

# family: (model options, image size, channels, batch)
FAMILIES = {
    "vae": ({"latent_dim": 64}, 28, 1, 256),
    "resnet_vae": ({"latent_dim": 64}, 64, 3, 64),
    "lsgan": ({"conditional": "none"}, 64, 1, 64),
    "ddpm": (
        {
            "block_out_channels": [32, 64, 128, 128],
            "attention_resolutions": [16],
            "layers_per_block": 2,
            "timesteps": 200,
        },
        64,
        1,
        32,
    ),
}
VARIANTS = {
    "32-true": {},
    "bf16-mixed": {"precision": "bf16-mixed"},
    "16-mixed": {"precision": "16-mixed"},
    "channels_last": {"channels_last": True},
    "compile": {"compile": True},
}


def pinned_copy_gb_s(batch_bytes: int, repeats: int = 20) -> dict[str, float]:
    """Host-to-device copy throughput (GB/s) of one batch from pageable and from pinned memory."""
    import torch

    out = {}
    for name, pin in (("pageable", False), ("pinned", True)):
        x = torch.empty(batch_bytes // 4, dtype=torch.float32, pin_memory=pin)
        x.to("cuda", non_blocking=pin)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(repeats):
            x.to("cuda", non_blocking=pin)
        torch.cuda.synchronize()
        out[name] = batch_bytes * repeats / (time.perf_counter() - t0) / 1e9
    return out


def one(family: str, variant: str, device: str, steps: int, repeats: int) -> dict:
    """One family under one variant, in its own process (compiled graphs and autocast state never leak
    between variants).
    """
    import logging

    import torch

    from radgen.models.base import build_model, model_config_from_dict
    from radgen.training.profile import engine_step_times, random_images

    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.ERROR)
    opts, size, ch, batch = FAMILIES[family]

    def make():
        return build_model(
            model_config_from_dict({"name": family, **opts}), image_size=size, channels=ch, num_classes=2
        )

    warmup = (5 if device == "cuda" else 2) + (
        3 if variant == "compile" else 0
    )  # compiling happens in the first steps
    images = random_images((steps + warmup + 2) * batch, image_size=size, channels=ch)
    times, losses = [], []
    for _ in range(repeats):
        torch.manual_seed(0)
        t = engine_step_times(
            make(),
            images,
            batch_size=batch,
            steps=steps,
            warmup=warmup,
            accelerator="gpu" if device == "cuda" else "cpu",
            **VARIANTS[variant],
        )
        times.append(t.median_s)
        losses.append(t.summary.get("loss/total", float("nan")))
    row = {
        "family": family,
        "variant": variant,
        "batch": batch,
        "img_s": batch / statistics.median(times),
        "loss": statistics.median(losses),
    }
    if device == "cuda":
        row["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return row


def main() -> None:
    import json
    import subprocess

    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--only", nargs="*", choices=list(FAMILIES))
    ap.add_argument("--variants", nargs="*", choices=list(VARIANTS))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--one", nargs=2, metavar=("FAMILY", "VARIANT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            "precision.py --device cuda: no CUDA device here (torch.cuda.is_available() is False); "
            "run it on a GPU machine or pass --device cpu"
        )
    if args.one:
        print(json.dumps(one(*args.one, args.device, args.steps, args.repeats)))
        return
    variants = args.variants or [v for v in VARIANTS if not (v == "16-mixed" and args.device == "cpu")]
    rows = []
    for family in args.only or list(FAMILIES):
        base = None
        for v in variants:
            print(f"== {family} {v}", file=sys.stderr, flush=True)
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--one",
                    family,
                    v,
                    "--device",
                    args.device,
                    "--steps",
                    str(args.steps),
                    "--repeats",
                    str(args.repeats),
                ],
                capture_output=True,
                text=True,
            )
            if proc.returncode:  # a variant that fails (e.g. a compiler error) is a result, not the end of the run
                last = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()][-1:] or ["no output"]
                rows.append({"family": family, "variant": v, "batch": FAMILIES[family][3], "error": last[0][:160]})
                continue
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            base = row if v == "32-true" else base
            rows.append(row)
            row["speed_up"] = row["img_s"] / base["img_s"] if base else None
            row["loss_rel"] = abs(row["loss"] / base["loss"] - 1) if base else None
    table = []
    for r in rows:
        if "error" in r:
            table.append(
                {
                    "family": r["family"],
                    "variant": r["variant"],
                    "batch": r["batch"],
                    "img/s": "failed",
                    "speed-up": "—",
                    "epoch loss": "—",
                    "loss vs 32-true": r["error"],
                }
            )
            continue
        table.append(
            {
                "family": r["family"],
                "variant": r["variant"],
                "batch": r["batch"],
                "img/s": f"{r['img_s']:.1f}",
                "speed-up": f"{r['speed_up']:.2f}x" if r["speed_up"] else "—",
                "epoch loss": f"{r['loss']:.4g}",
                "loss vs 32-true": f"{100 * r['loss_rel']:.2f} %" if r["loss_rel"] is not None else "—",
            }
        )
    notes = ""
    if args.device == "cuda":
        first = (args.only or list(FAMILIES))[0]
        _, size, ch, batch = FAMILIES[first]
        copy = pinned_copy_gb_s(batch * ch * size * size * 4)
        notes = (
            f"Host-to-device copy of one {first} batch: pageable {copy['pageable']:.1f} GB/s, "
            f"pinned {copy['pinned']:.1f} GB/s. Device: {torch.cuda.get_device_name()}."
        )
    print(
        save(
            f"precision-{args.device}",
            table,
            list(table[0]),
            f"GPU-readiness switches on {args.device}: speed and loss agreement per family",
            notes,
        )
    )


if __name__ == "__main__":
    main()
