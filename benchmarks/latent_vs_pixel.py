"""Quality per CPU-minute: latent vs pixel diffusion at the same wall-clock budget (issue 21).

Trains two arms at the same time (one process each, ``--threads`` torch threads each, so changes in
the shared machine's load hit both alike), at 64 px on chest_xray_full_64 (val carved from train):
  pixel:  the demo's pixel DDPM (configs/demo_ddpm.yaml) for --minutes of fitting;
  latent: ldm_autoencoder_64 for --ae-minutes, then ldm_64 on its frozen latents for the rest of
          --minutes (its one-off costs, the scale measurement and the encoding, come on top and are reported).
Budgets are Lightning's max_time on fitting, in epochs of EPOCH_BATCHES batches; each arm's wall clock
(data load, model build, encoding, fitting, export) and CPU seconds are measured and reported beside it.

Evaluation (the validation split carved from train, 10 %: the official test split is shifted, and the
issue-18 reference-set protocol is not on main yet): N = the validation split's size, generated with
its class proportions and each model's own sampler; FD in radgen-cnn001 features (the domain
extractor trained on the training split) against the validation images, beside the real-vs-real floor
FD(N training images, validation images); label fidelity = the extractor's accuracy on the generated
images of each class, beside its accuracy on the real validation images of that class.
Usage:
  python benchmarks/latent_vs_pixel.py pixel --out D & python benchmarks/latent_vs_pixel.py latent --out D; wait
  python benchmarks/latent_vs_pixel.py evaluate --out D
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
# Short epochs (a fresh shuffle each): validation, a checkpoint and a best-loss candidate every 40 batches of
# 32, so a budget that ends mid-epoch loses at most 40 batches (session 1 ran full epochs: its autoencoder
# stopped inside its first one).
EPOCH_BATCHES = 40
SAMPLER_ROWS = {"dpmsolver++ 10": {"sampler": "dpmsolver++", "steps": 10}, "ddim 50": {"sampler": "ddim", "steps": 50}}


def train_arm(config: str, out: Path, minutes: float, overrides: list[str]) -> tuple[Path, float, dict]:
    from radgen.training.config import load_run_config
    from radgen.training.run import train

    started, cpu = time.perf_counter(), time.process_time()
    cfg = load_run_config(
        config,
        [
            f"train.max_minutes={minutes}",
            "train.epochs=1000",
            f"train.limit_train_batches={EPOCH_BATCHES}",
            f"output_dir={out}",
            "train.progress_bar=false",
            *overrides,
        ],
    )
    result = train(cfg, progress=False)
    summary = {**result.summary, "cpu_seconds": time.process_time() - cpu}
    return result.run_dir, time.perf_counter() - started, summary


@torch.no_grad()
def evaluate(model, real_x, real_y, ex, *, seed: int = 0, **sample_kwargs) -> dict:
    """FD against ``real_x`` and per-class label fidelity of samples drawn with ``real_y``'s class counts."""
    from radgen.metrics.distances import frechet_distance
    from radgen.sampling import generate

    started = time.perf_counter()
    classes = real_y.unique().tolist()
    fake = torch.cat(
        [
            generate(
                model, int((real_y == c).sum()), label=int(c), seed=seed + int(c), progress=False, **sample_kwargs
            )
            for c in classes
        ]
    )
    seconds = time.perf_counter() - started
    fy = torch.cat([torch.full((int((real_y == c).sum()),), int(c)) for c in classes])
    ff, probs = ex.features_and_probs(fake)
    fidelity = {int(c): float((probs[fy == c].argmax(1) == c).float().mean()) for c in classes}
    return {
        "fd": frechet_distance(ex(real_x), ff),
        "label_fidelity": fidelity,
        "sample_seconds_per_image": seconds / len(fake),
        "fake": fake,
        "fake_labels": fy,
    }


def run_arm(arm: str, args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    rec: dict = {"arm": arm, "threads": args.threads, "budget_minutes": args.minutes}
    if arm == "pixel":
        run, secs, summ = train_arm("demo_ddpm", out, args.minutes, ["train.sample_every=0", *args.pixel_set])
        rec.update(
            run=str(run),
            wall_seconds=secs,
            cpu_seconds=summ["cpu_seconds"],
            steps=summ.get("final", {}).get("step"),
            epochs=summ.get("epochs_run"),
            parameters=summ.get("parameters"),
        )
    else:
        if args.ae_run:  # a first stage trained earlier at this budget (its own wall clock and CPU time recorded)
            ae, prev = Path(args.ae_run), json.loads(Path(args.ae_record).read_text())["autoencoder"]
            ae_sum = {**json.loads((ae / "metrics.json").read_text()), "cpu_seconds": prev.get("cpu_seconds")}
            ae_s = prev["wall_seconds"]
        else:
            ae, ae_s, ae_sum = train_arm("ldm_autoencoder_64", out, args.ae_minutes, [])
        # the same fitting minutes as the pixel arm, split between the stages; the latent arm's one-off costs
        # (the scale measurement, the encoding, a second data load) are measured and reported beside them
        ldm_minutes = args.minutes - args.ae_minutes
        run, secs, summ = train_arm("ldm_64", out, ldm_minutes, [f"model.autoencoder={ae}", "train.sample_every=0"])
        rec.update(
            run=str(run),
            wall_seconds=ae_s + secs,
            cpu_seconds=(ae_sum.get("cpu_seconds") or 0.0) + summ["cpu_seconds"],
            steps=summ.get("final", {}).get("step"),
            autoencoder={
                "run": str(ae),
                "wall_seconds": ae_s,
                "epochs": ae_sum.get("epochs_run"),
                "fit": ae_sum.get("fit"),
                "best_val_loss": ae_sum.get("best_loss"),
                "steps": ae_sum.get("final", {}).get("step"),
                "cpu_seconds": ae_sum.get("cpu_seconds"),
            },
            ldm={
                "wall_seconds": secs,
                "fit_minutes": ldm_minutes,
                "epochs": summ.get("epochs_run"),
                "encode_seconds": summ.get("prepare_seconds"),
            },
            epochs=summ.get("epochs_run"),
            parameters=summ.get("parameters"),
        )
    (out / f"arm_{arm}.json").write_text(json.dumps(rec, indent=2, default=str))
    print(json.dumps(rec, default=str))


def run_evaluation(args) -> None:
    from radgen.data import load_dataset
    from radgen.metrics.distances import frechet_distance
    from radgen.metrics.features import get_extractor
    from radgen.training.config import load_run_config
    from radgen.viz import save_class_grid

    out = Path(args.out)
    arms = {a: json.loads((out / f"arm_{a}.json").read_text()) for a in ("pixel", "latent")}
    dcfg = load_run_config("ldm_64").data
    ds = load_dataset(dcfg, progress=False)
    val, train = ds["val"], ds["train"]
    g = torch.Generator().manual_seed(0)
    real_x, real_y = val.images, val.labels
    ex = get_extractor("radgen-cnn001", data_config=dcfg)
    fr = ex(real_x)
    floor = frechet_distance(ex(train.images[torch.randperm(len(train), generator=g)[: len(val)]]), fr)
    _, real_probs = ex.features_and_probs(real_x)
    real_fid = {
        int(c): float((real_probs[real_y == c].argmax(1) == c).float().mean()) for c in real_y.unique().tolist()
    }
    names = list(val.class_names)
    images = Path(args.images)
    from radgen.models import load_exported

    for arm, rec in arms.items():
        model, _ = load_exported(rec["run"])
        r = evaluate(model, real_x, real_y, ex)
        fake, fy = r.pop("fake"), r.pop("fake_labels")
        save_class_grid(
            {names[c]: fake[fy == c][:16] for c in range(len(names))},
            images / f"issue21_{arm}_64px_{args.minutes:g}min.png",
            title=f"{arm} diffusion, {args.minutes:g} min training on this CPU (DDPM-family, 64 px)",
        )
        rec.update(r)
        if arm == "latent":  # the samplers on the same trained model: time and quality
            rec["samplers"] = {}
            for name, kw in SAMPLER_ROWS.items():
                r2 = evaluate(model, real_x, real_y, ex, **kw)
                r2.pop("fake"), r2.pop("fake_labels")
                rec["samplers"][name] = r2
    result = {
        "n": len(val),
        "real_vs_real_fd_floor": floor,
        "real_label_fidelity": real_fid,
        "class_names": names,
        "arms": arms,
    }
    (out / "latent_vs_pixel.json").write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps(result, indent=2, default=str))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=("pixel", "latent", "evaluate"))
    ap.add_argument("--minutes", type=float, default=5.0, help="wall-clock budget per arm (fitting)")
    ap.add_argument("--ae-minutes", type=float, default=2.0, help="of the latent arm's budget, the autoencoder's")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per arm (both arms run at once)")
    ap.add_argument("--pixel-set", nargs="*", default=[], help="extra overrides for the pixel arm")
    ap.add_argument("--ae-run", help="latent arm: reuse this autoencoder_kl run instead of training one")
    ap.add_argument("--ae-record", help="with --ae-run: the arm_latent.json that recorded its training")
    ap.add_argument("--out", default="/tmp/latent_vs_pixel")
    ap.add_argument("--images", default=str(ROOT / "docs" / "images"), help="where the sample grids go")
    args = ap.parse_args()
    if args.step == "evaluate":
        run_evaluation(args)
    else:
        run_arm(args.step, args)


if __name__ == "__main__":
    main()
