"""Quality per CPU-minute: latent diffusion vs pixel diffusion, the CVAE and the GAN at one wall-clock budget
(issue 21).

Each arm is one process with ``--threads`` torch threads (1 by default), and two arms run at the same time on
the 2 cores (so changes in the shared machine's load hit both alike); every arm gets the same fitting minutes:
  pixel:  the demo's pixel DDPM (demo_ddpm) for --minutes of fitting;
  latent: ldm_autoencoder_64 for --ae-minutes, then ldm_64 on its frozen latents for the rest of --minutes
          (its one-off costs, the latent scale measurement and the encoding, come on top and are reported);
  cvae:   demo_cvae for --minutes;  gan: demo_gan_smalldata for --minutes.
``--config`` / ``--ae-config`` swap the arm's configs (e.g. ldm_128 + ldm_autoencoder_128 at 128 px).
Budgets are Lightning's max_time on fitting, in epochs of EPOCH_BATCHES batches; each arm's wall clock
(data load, model build, encoding, fitting, export) and CPU seconds are recorded in ``arm_<arm>.json``.

Evaluation (``evaluate``): every arm of --out under the evaluation protocol (``radgen.evaluation.evaluate_run``,
the same as ``radgen evaluate RUN --n N``): FD in radgen-cnn001 and radgen-ae001 features against the held-out
split with the real-vs-real floor and the ratio, precision / recall, per-class label fidelity beside the
classifier's accuracy on real held-out images; a sample grid per arm; for the latent arm, DPM-Solver++ at 10
and 20 steps against DDIM-50 (seconds per image and FD in cnn001 features with the floor). Writes
``latent_vs_pixel.json`` and ``latent_vs_pixel.md`` into --out.
Usage:
  python benchmarks/latent_vs_pixel.py pixel --out D & python benchmarks/latent_vs_pixel.py latent --out D; wait
  python benchmarks/latent_vs_pixel.py cvae --out D & python benchmarks/latent_vs_pixel.py gan --out D; wait
  python benchmarks/latent_vs_pixel.py evaluate --out D
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from radgen.io import write_json, write_text

ROOT = Path(__file__).resolve().parents[1]
# Short epochs (a fresh shuffle each): validation, a checkpoint and a best-loss candidate every 40 batches of
# 32, so a budget that ends mid-epoch loses at most 40 batches (session 1 ran full epochs: its autoencoder
# stopped inside its first one).
EPOCH_BATCHES = 40
SAMPLER_ROWS = {
    "dpmsolver++ 10": {"sampler": "dpmsolver++", "steps": 10},
    "dpmsolver++ 20": {"sampler": "dpmsolver++", "steps": 20},
    "ddim 50": {"sampler": "ddim", "steps": 50},
}
ARM_CONFIGS = {"pixel": "demo_ddpm", "latent": "ldm_64", "cvae": "demo_cvae", "gan": "demo_gan_smalldata"}
ARM_NAMES = {
    "pixel": "pixel DDPM (demo_ddpm)",
    "latent": "latent diffusion (ldm_autoencoder + ldm)",
    "cvae": "CVAE (demo_cvae)",
    "gan": "GAN for small data (demo_gan_smalldata)",
}


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


def run_arm(arm: str, args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    config = args.config or ARM_CONFIGS[arm]
    rec: dict = {"arm": arm, "config": config, "threads": args.threads, "budget_minutes": args.minutes}
    if arm != "latent":
        extra = ["train.sample_every=0"] if arm == "pixel" else []
        run, secs, summ = train_arm(config, out, args.minutes, [*extra, *args.set])
        rec.update(
            run=str(run),
            wall_seconds=secs,
            cpu_seconds=summ["cpu_seconds"],
            steps=summ.get("final", {}).get("step"),
            epochs=summ.get("epochs_run"),
            parameters=summ.get("parameters"),
        )
    else:
        ae_config = args.ae_config or "ldm_autoencoder_64"
        if args.ae_run:  # a first stage trained earlier at this budget (its own wall clock and CPU time recorded)
            ae, prev = Path(args.ae_run), json.loads(Path(args.ae_record).read_text())["autoencoder"]
            ae_sum = {**json.loads((ae / "metrics.json").read_text()), "cpu_seconds": prev.get("cpu_seconds")}
            ae_s = prev["wall_seconds"]
        else:
            ae, ae_s, ae_sum = train_arm(ae_config, out, args.ae_minutes, [])
        # the same fitting minutes as the other arms, split between the stages; the latent arm's one-off costs
        # (the scale measurement, the encoding, a second data load) are measured and reported beside them
        ldm_minutes = args.minutes - args.ae_minutes
        run, secs, summ = train_arm(
            config, out, ldm_minutes, [f"model.autoencoder={ae}", "train.sample_every=0", *args.set]
        )
        rec.update(
            run=str(run),
            ae_config=ae_config,
            wall_seconds=ae_s + secs,
            cpu_seconds=(ae_sum.get("cpu_seconds") or 0.0) + summ["cpu_seconds"],
            steps=summ.get("final", {}).get("step"),
            autoencoder={
                "run": str(ae),
                "wall_seconds": ae_s,
                "fit_minutes": args.ae_minutes,
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
    write_json(out / f"arm_{arm}.json", rec)
    print(json.dumps(rec, default=str))


def protocol_row(m: dict) -> dict:
    """The numbers of one ``evaluate_run`` result that the table shows."""
    row: dict = {"budget": m["budget"], "train_seconds": m["cost"].get("train_seconds")}
    for ex in ("radgen-cnn001", "radgen-ae001"):
        ref = m["features"][ex]["reference"]
        row[ex] = {
            "FD": ref["generated"]["FD"],
            "floor": ref["floor"]["FD"],
            "floor_ci95": ref["floor"].get("FD_ci95"),
            "ratio": ref["FD_ratio"],
            "precision": ref["generated"]["precision"],
            "recall": ref["generated"]["recall"],
            "floor_precision": ref["floor"]["precision"],
            "floor_recall": ref["floor"]["recall"],
        }
    lf = m.get("label_fidelity") or {}
    row["label_fidelity"] = {
        c: {"generated": v["generated"], "real_heldout": v["real_heldout"]} for c, v in lf.get("per_class", {}).items()
    }
    row["reference"] = {"split": m["reference"]["split"], "n": m["reference"]["n"]}
    return row


def sampler_rows(run: str, model, n: int, seed: int = 0) -> dict:
    """The latent arm's samplers on one trained model: seconds per image, FD (cnn001) with its floor."""
    from radgen.evaluation import evaluate_generator, generate_like
    from radgen.runfolder import load_run_data

    data = load_run_data(Path(run), model, data=None, split="train", option="--real")
    dcfg, ds = data.config, data.splits
    rows = {}
    for name, kw in SAMPLER_ROWS.items():
        spent = [0.0]

        def sample(labels, s, kw=kw, spent=spent):
            started = time.perf_counter()
            x = generate_like(model, labels, seed=s, **kw)
            spent[0] += time.perf_counter() - started
            return x

        m, _ = evaluate_generator(
            sample,
            ds,
            conditional=True,
            data_config=dcfg,
            n=n,
            features=("radgen-cnn001",),
            seed=seed,
            shifted_test=False,
            extractor_seeds=1,  # the setting of the recorded table (docs/results/latent_vs_pixel)
        )
        ref = m["features"]["radgen-cnn001"]["reference"]
        rows[name] = {
            "seconds_per_image": spent[0] / m["n_generated"],
            "FD": ref["generated"]["FD"],
            "floor": ref["floor"]["FD"],
            "ratio": ref["FD_ratio"],
            "label_fidelity": {c: v["generated"] for c, v in m["label_fidelity"]["per_class"].items()},
        }
        print(name, rows[name], flush=True)
    return rows


def markdown(result: dict) -> str:
    def fd(r):
        return f"{r['FD']:.1f} ({r['floor']:.2f}, {r['ratio']:.0f}x)"

    lines = [
        f"Budget: {result['minutes']:g} minutes of fitting per arm, 1 torch thread each, two arms at a time on the "
        f"2 cores. Reference: the held-out `{result['reference']['split']}` split, {result['reference']['n']} images "
        f"(evaluate_run, n = {result['n']}).",
        "",
        "| arm | trained | wall s (CPU s) | FD cnn001 (floor, ratio) | FD ae001 (floor, ratio) "
        "| precision / recall cnn001 (floor) | label fidelity " + " / ".join(result["class_names"]) + " (real) |",
        "|---|---|---|---|---|---|---|",
    ]
    from radgen.reports.evaluation import budget_text

    for arm, rec in result["arms"].items():
        p = rec["protocol"]
        c, a = p["radgen-cnn001"], p["radgen-ae001"]
        lf = p["label_fidelity"]
        fid = " / ".join(f"{lf[k]['generated']:.2f}" for k in result["class_names"]) if lf else "n/a"
        real = " / ".join(f"{lf[k]['real_heldout']:.2f}" for k in result["class_names"]) if lf else ""
        lines.append(
            f"| {ARM_NAMES.get(arm, arm)} | {budget_text(p['budget'])} | {rec['wall_seconds']:.0f} "
            f"({rec['cpu_seconds']:.0f}) | {fd(c)} | {fd(a)} | {c['precision']:.2f} / {c['recall']:.2f} "
            f"({c['floor_precision']:.2f} / {c['floor_recall']:.2f}) | {fid} ({real}) |"
        )
    latent = result["arms"].get("latent", {}).get("samplers")
    if latent:
        lines += [
            "",
            "| latent arm's sampler | s / image | FD cnn001 (floor, ratio) | label fidelity |",
            "|---|---|---|---|",
        ]
        for name, r in latent.items():
            fid = " / ".join(f"{v:.2f}" for v in r["label_fidelity"].values())
            lines.append(f"| {name} | {r['seconds_per_image']:.3f} | {fd(r)} | {fid} |")
    return "\n".join(lines) + "\n"


def run_evaluation(args) -> None:
    from radgen.evaluation import evaluate_run
    from radgen.models import load_exported
    from radgen.reports.evaluation import write_markdown
    from radgen.sampling import generate
    from radgen.viz import save_class_grid

    out = Path(args.out)
    arms = {p.stem[len("arm_") :]: json.loads(p.read_text()) for p in sorted(out.glob("arm_*.json"))}
    if not arms:
        raise SystemExit(f"{out}: no arm_*.json; train the arms first (see --help)")
    result: dict = {"minutes": None, "n": args.n, "arms": {}}
    for arm, rec in arms.items():
        folder, m = evaluate_run(rec["run"], n=args.n, seed=args.seed)
        write_markdown(folder, m)
        rec["evaluation"] = str(folder)
        rec["protocol"] = protocol_row(m)
        result.update(
            minutes=rec["budget_minutes"], class_names=m["class_names"], reference=rec["protocol"]["reference"]
        )
        model, _ = load_exported(rec["run"])
        grid = {
            name: generate(model, 12, label=i, seed=args.seed, progress=False)
            for i, name in enumerate(m["class_names"])
        }
        rec["grid"] = str(
            save_class_grid(
                grid,
                Path(args.images) / f"issue21_{arm}_{m['image_size']}px_{rec['budget_minutes']:g}min.png",
                title=f"{ARM_NAMES.get(arm, arm)}, {rec['budget_minutes']:g} min of fitting on 1 CPU thread, "
                f"{m['image_size']} px",
            )
        )
        if arm == "latent":
            rec["samplers"] = sampler_rows(rec["run"], model, args.n, args.seed)
        result["arms"][arm] = rec
        print(arm, json.dumps(rec["protocol"], default=str), flush=True)
    write_json(out / "latent_vs_pixel.json", result)
    md = markdown(result)
    write_text(out / "latent_vs_pixel.md", md)
    print(md)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("step", choices=(*ARM_CONFIGS, "evaluate"))
    ap.add_argument("--minutes", type=float, default=10.0, help="wall-clock budget of fitting per arm")
    ap.add_argument("--ae-minutes", type=float, default=3.0, help="of the latent arm's budget, the autoencoder's")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per arm (two arms run at once)")
    ap.add_argument("--config", help="the arm's config instead of its default (the latent arm: its second stage)")
    ap.add_argument("--ae-config", help="latent arm: the autoencoder's config (default ldm_autoencoder_64)")
    ap.add_argument("--set", nargs="*", default=[], help="extra KEY=VALUE overrides for the arm's config")
    ap.add_argument("--ae-run", help="latent arm: reuse this autoencoder_kl run instead of training one")
    ap.add_argument("--ae-record", help="with --ae-run: the arm_latent.json that recorded its training")
    ap.add_argument("--n", type=int, default=1000, help="evaluate: images per set (capped by the held-out split)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="/tmp/latent_vs_pixel")
    ap.add_argument("--images", default=str(ROOT / "docs" / "images"), help="where the sample grids go")
    args = ap.parse_args()
    if args.step == "evaluate":
        run_evaluation(args)
    else:
        run_arm(args.step, args)


if __name__ == "__main__":
    main()
