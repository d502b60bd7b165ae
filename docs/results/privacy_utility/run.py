"""Privacy-utility table: each DP-capable generator trained at epsilon 1, 8 and without DP (infinity) on the same
data, seed and budget, then ``radgen evaluate``'s protocol: FD / floor under both label-free and supervised
extractors, label fidelity, membership inference (black box and model based: AUC, TPR at 1 % FPR) and the copy
audit. Writes ``table.md`` and ``results.json`` beside this file (or ``--out``).

    OMP_NUM_THREADS=2 flock /tmp/radgen-cpu.lock .venv/bin/python docs/results/privacy_utility/run.py

A short table the 2-core CPU affords (PneumoniaMNIST 28 px, a few epochs); the demo-sized one (chest X-rays
64 px, ``--data chest_xray_full_64 --epochs 6``) takes the same command with those options.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from radgen.evaluation import evaluate_run
from radgen.training import load_run_config, train

MODELS = {
    "cvae": "{name: cvae, latent_dim: 16, widths: [16, 32, 64], conditional: one_hot}",
    "lsgan": "{name: lsgan, latent_dim: 32, base_width: 16, conditional: one_hot, discriminator_norm: layer}",
    # a tiny class-conditional UNet at 28 px (3 levels: 28 -> 14 -> 7, no attention, GroupNorm, which DP-SGD
    # accepts); the whole UNet is private. EMA 0.99: at ~100-300 steps the default 0.999 would still be near the
    # initial weights. DDIM with 50 steps samples the evaluation's images.
    "ddpm": (
        "{name: ddpm, block_out_channels: [16, 32, 32], attention_resolutions: [], norm_groups: 8, "
        "layers_per_block: 1, timesteps: 200, conditional: class, ema_decay: 0.99, sampler: ddim, sample_steps: 50, "
        "preview_steps: 2}"
    ),
}
LR = {"cvae": 0.001, "lsgan": 0.0002, "ddpm": 0.001}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="pneumoniamnist")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--models", default="cvae,lsgan,ddpm")
    ap.add_argument("--limit-batches", type=int, default=None)  # smoke checks of the script only
    ap.add_argument("--out", default=str(Path(__file__).parent))
    ap.add_argument("--runs", default="runs/privacy_utility")  # the run folders (gitignored)
    args = ap.parse_args()
    torch.set_num_threads(2)
    out = Path(args.out)
    runs = Path(args.runs)
    rows = []
    for name in args.models.split(","):
        for eps in (1.0, 8.0, None):
            sets = [
                f"model={MODELS[name]}",
                f"data={{name: {args.data}, val_from_train: 0.1}}",
                f"train.epochs={args.epochs}",
                "train.batch_size=128",
                f"train.lr={LR[name]}",
                "train.progress_bar=false",
                "train.sample_every=0",
                "train.checkpoint_every=0",
                f"output_dir={runs}",
                f"name={name}-eps{eps if eps else 'inf'}",
            ]
            if args.limit_batches:
                sets.append(f"train.limit_train_batches={args.limit_batches}")
            if eps:
                sets.append(f"train.privacy={{epsilon: {eps}, delta: 1.0e-5, max_grad_norm: 1.0}}")
            t0 = time.perf_counter()
            r = train(load_run_config("tiny", sets), progress=False)
            fit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            _, m = evaluate_run(r.run_dir, n=args.n, bootstrap=20)
            eval_s = time.perf_counter() - t0
            mi = m["privacy"]["membership_inference"]
            lf = m.get("label_fidelity", {}).get("per_class", {})
            rows.append(
                {
                    "model": name,
                    "epsilon_target": eps,
                    "epsilon_spent": (r.summary.get("privacy") or {}).get("epsilon_spent"),
                    "noise_multiplier": (r.summary.get("privacy") or {}).get("noise_multiplier"),
                    "fd_ratio": {k: e["reference"]["FD_ratio"] for k, e in m["features"].items()},
                    "label_fidelity": sum(v["generated"] for v in lf.values()) / max(1, len(lf)) if lf else None,
                    "mi_black_box": {k: mi["black_box"][k] for k in ("auc", "auc_ci95", "tpr_at_0.01_fpr")},
                    "mi_model_based": {k: mi["model_based"].get(k) for k in ("auc", "auc_ci95", "tpr_at_0.01_fpr")},
                    "copy_flagged": m["privacy"]["copy_audit"]["fraction_flagged"],
                    "fit_seconds": round(fit_s, 1),
                    "eval_seconds": round(eval_s, 1),
                    "run": str(r.run_dir),
                    "settings": {k: v for k, v in vars(args).items() if k not in ("models", "out")},
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    write_outputs(rows, out, set(args.models.split(",")))


def write_outputs(rows: list[dict], out: Path, ran: set[str]) -> None:
    """``results.json`` and ``table.md`` in ``out``: ``rows`` (of the models in ``ran``) and the rows of every other
    model kept from the earlier ``results.json`` (each row carries its own settings). Also rebuilds the files from
    the rows a run printed (one JSON line each): ``write_outputs([json.loads(line) ...], out, {"ddpm"})``."""
    prev = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else {"rows": []}
    kept = [dict(r, settings=r.get("settings") or prev.get("args")) for r in prev["rows"] if r["model"] not in ran]
    order = list(MODELS)
    rows = sorted(kept + rows, key=lambda r: order.index(r["model"]) if r["model"] in order else len(order))
    (out / "results.json").write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    ext = list(rows[0]["fd_ratio"])
    head = (
        "| model | epsilon (target / spent) | "
        + " | ".join(f"FD / floor ({e})" for e in ext)
        + " | label fidelity | MI AUC black box [95 % CI] | TPR@1%FPR | MI AUC model based [95 % CI] | TPR@1%FPR | "
        "copies flagged | fit s |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]

    def nan_if_none(x):
        return float("nan") if x is None else x

    def auc(d):
        ci = d.get("auc_ci95") or [float("nan")] * 2
        return f"{d['auc']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if d.get("auc") is not None else "n/a"

    for r in rows:
        eps = "inf (no DP)" if r["epsilon_target"] is None else f"{r['epsilon_target']:g} / {r['epsilon_spent']:.2f}"
        lf = "n/a" if r["label_fidelity"] is None else f"{r['label_fidelity']:.3f}"
        lines.append(
            f"| {r['model']} | {eps} | "
            + " | ".join(f"{r['fd_ratio'][e]:.1f}x" for e in ext)
            + f" | {lf} | {auc(r['mi_black_box'])} | {r['mi_black_box']['tpr_at_0.01_fpr']:.3f} | "
            f"{auc(r['mi_model_based'])} | {nan_if_none(r['mi_model_based']['tpr_at_0.01_fpr']):.3f} | "
            f"{r['copy_flagged']:.1%} | {r['fit_seconds']} |"
        )
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
