"""``evaluate_run``: one evaluation protocol for every generator (``radgen evaluate RUN``).

Writes ``RUN/eval-<time>-<id>/`` (never overwriting another evaluation) with ``metrics.json``,
``metrics.md`` and ``memorization.png``. Recorded: the extractor of every feature metric
(name, weights sha256, training record), N real, N generated, image size, preprocessing, and
percentile bootstrap 95 % intervals for the Frechet and kernel distances. Real images are
the test split (else val, else train) of the run's dataset, or ``real``; conditional models
are sampled with the real split's class proportions.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radgen import runfolder
from radgen.config import to_dict
from radgen.io import write_json, write_text
from radgen.metrics.distances import bootstrap_interval, frechet_distance, kernel_distance, prdc
from radgen.metrics.diversity import pairwise_ms_ssim
from radgen.metrics.features import get_extractor
from radgen.metrics.memorization import closest_pairs_figure, copy_ratio_report, memorization_report
from radgen.metrics.mmd import mmd
from radgen.models import load_exported
from radgen.runfolder import RunFolder, load_run_data
from radgen.sampling import generate


def _generate_like(model, labels: torch.Tensor, *, seed: int) -> torch.Tensor:
    if not model.supports_labels:
        return generate(model, len(labels), seed=seed, progress=False)
    parts = []
    for c in labels.unique().tolist():
        k = int((labels == c).sum())
        parts.append(generate(model, k, label=int(c), seed=seed + int(c), progress=False))
    return torch.cat(parts)


def inception_score(probs: torch.Tensor) -> float:
    """exp(E_x KL(p(y|x) || p(y))) (Salimans et al. 2016) from class probabilities."""
    p = probs.double().clamp(min=1e-12)
    py = p.mean(0, keepdim=True)
    return float(torch.exp((p * (p.log() - py.log())).sum(1).mean()))


@torch.no_grad()
def evaluate_run(
    run_dir: str | Path,
    *,
    real: str | None = None,
    n: int = 1000,
    features: tuple[str, ...] = ("radgen-cnn001",),
    seed: int = 0,
    bootstrap: int = 50,
    inception_weights: str | None = None,
    extractor_epochs: int = 8,
) -> tuple[Path, dict[str, Any]]:
    run_dir = Path(run_dir)
    model, meta = load_exported(run_dir)
    real_data = load_run_data(run_dir, model, data=real, split="test")
    dcfg, ds, split, ref = real_data.config, real_data.splits, real_data.split, real_data.images
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(ref), generator=g)[: min(n, len(ref))]
    real_x, real_y = ref.images[pick], ref.labels[pick]
    fake = _generate_like(model, real_y, seed=seed)
    train_x = ds["train"].images[torch.randperm(len(ds["train"]), generator=g)[:5000]]
    # The copy-ratio test needs unseen images from the training distribution: the validation
    # split carved from train when there is one (an official test split may be shifted, as the
    # Kaggle chest X-ray one is, which would make every train-like sample look like a copy).
    val = ds.get("val")
    copy_split = "val" if val is not None and len(val) >= 20 and split != "val" else split
    copy_ref = val.images[torch.randperm(len(val), generator=g)[:1000]] if copy_split == "val" else real_x
    out: dict[str, Any] = {
        "run": str(run_dir),
        "model": model.config.name,
        "dataset": dcfg.name,
        "real_split": split,
        "n_real": len(real_x),
        "n_generated": len(fake),
        "image_size": model.config.image_size,
        "channels": model.config.channels,
        "preprocessing": to_dict(dcfg),
        "seed": seed,
        "created": datetime.now().isoformat(timespec="seconds"),
    }
    out["pixels"] = {
        "mmd": mmd(fake, real_x),
        "ms_ssim_generated": pairwise_ms_ssim(fake, n_pairs=200, seed=seed),
        "ms_ssim_real": pairwise_ms_ssim(real_x, n_pairs=200, seed=seed),
    }
    memo = memorization_report(fake, train_x, real_x)
    out["memorization_pixels"] = {k: v for k, v in memo.items() if not isinstance(v, np.ndarray)}
    out["memorization_pixels"]["copy_ratio"] = {
        **copy_ratio_report(fake, train_x, copy_ref, seed=seed),
        "heldout_split": copy_split,
    }
    out["features"] = {}
    for name in features:
        ex = get_extractor(name, data_config=dcfg, weights=inception_weights, epochs=extractor_epochs)
        (ff, probs), fr, ftrain = ex.features_and_probs(fake), ex(real_x), ex(train_x)
        fd = frechet_distance(fr, ff)
        kd = kernel_distance(fr, ff, subsets=50)
        kid_of = lambda a, b: kernel_distance(a, b, subsets=5)["kid"]  # noqa: E731
        entry = {
            "extractor": {"name": ex.name, "weights_sha256": ex.weights_sha256, "dim": ex.dim, "record": ex.record},
            ex.distance_name: fd,
            f"{ex.distance_name}_ci95": bootstrap_interval(
                frechet_distance, fr.numpy(), ff.numpy(), n=bootstrap, seed=seed
            ),
            f"KD_{ex.name}": kd["kid"],
            f"KD_{ex.name}_ci95": bootstrap_interval(kid_of, fr.numpy(), ff.numpy(), n=min(bootstrap, 20), seed=seed),
            "kd_subset_size": kd["subset_size"],
            **prdc(fr, ff),
            "memorization": {
                k: v for k, v in memorization_report(ff, ftrain, fr).items() if not isinstance(v, np.ndarray)
            },
        }
        entry["memorization"]["copy_ratio"] = {
            **copy_ratio_report(ff, ftrain, ex(copy_ref), seed=seed),
            "heldout_split": copy_split,
        }
        if probs is not None:
            entry[f"IS_{ex.name}"] = inception_score(probs)
        out["features"][name] = entry
    if hasattr(model, "reconstruct"):
        from radgen.metrics.reconstruction import reconstruction_metrics

        sub = ref.subset(pick.numpy())
        out["reconstruction"] = reconstruction_metrics(model, sub)
        if hasattr(model, "loss_terms"):
            from radgen.metrics.likelihood import elbo_terms, iwae_bound

            out["likelihood"] = {"elbo_terms": elbo_terms(model, sub, seed=seed)}
            try:
                out["likelihood"]["iwae_k50"] = iwae_bound(
                    model, sub.subset(list(range(min(200, len(sub))))), k=50, seed=seed
                )
            except Exception as exc:  # not a density (L1/MSE models): say why instead of a number
                out["likelihood"]["iwae_k50"] = {"skipped": str(exc)}
    summary_path = RunFolder(run_dir).summary
    out["cost"] = {"parameters": sum(p.numel() for p in model.parameters())}
    if summary_path.is_file():
        s = json.loads(summary_path.read_text())
        out["cost"].update(
            {
                "seconds_per_epoch": s.get("seconds_per_epoch"),
                "epochs_run": s.get("epochs_run"),
                "train_seconds": s.get("train_seconds"),
            }
        )

    folder = RunFolder(run_dir).new_evaluation()
    closest_pairs_figure(fake, train_x, memo, folder / runfolder.EVAL_MEMORIZATION)
    write_json(folder / runfolder.EVAL_SUMMARY, out)
    write_text(folder / runfolder.EVAL_MARKDOWN, to_markdown(out))
    return folder, out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, float) for x in v):
        return f"[{v[0]:.4g}, {v[1]:.4g}]"
    return str(v)


def to_markdown(out: dict[str, Any]) -> str:
    lines = [
        f"## Evaluation of `{out['model']}` ({out['run']})",
        "",
        f"{out['n_generated']} generated vs {out['n_real']} real ({out['dataset']} "
        f"{out['real_split']}), {out['image_size']} px",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    px = out["pixels"]
    lines.append(f"| MMD^2 (Gaussian, sigma {px['mmd']['sigma']:.3g}) | {_fmt(px['mmd']['mmd2'])} |")
    lines.append(
        f"| MS-SSIM diversity, generated / real | {_fmt(px['ms_ssim_generated']['ms_ssim'])} / "
        f"{_fmt(px['ms_ssim_real']['ms_ssim'])} |"
    )
    lines.append(
        "| memorized fraction (pixels, below the 5 % real quantile) | "
        f"{_fmt(out['memorization_pixels']['fraction_flagged'])} |"
    )
    lines.append(
        "| copies (pixels, train/held-out distance ratio below its 5 % real quantile) | "
        f"{_fmt(out['memorization_pixels']['copy_ratio']['fraction_flagged'])} |"
    )
    for name, e in out["features"].items():
        for k, v in e.items():
            if k in ("extractor", "memorization", "k") or k.endswith("_ci95"):
                continue
            ci = e.get(f"{k}_ci95")
            lines.append(f"| {k} ({name}) | {_fmt(v)}{'' if ci is None else ' ' + _fmt(ci)} |")
        lines.append(f"| memorized fraction ({name} features) | {_fmt(e['memorization']['fraction_flagged'])} |")
        lines.append(
            f"| copies ({name} features, distance ratio test) | "
            f"{_fmt(e['memorization']['copy_ratio']['fraction_flagged'])} |"
        )
        lines.append(f"| extractor {name} sha256 | `{e['extractor']['weights_sha256'][:16]}...` |")
    for k, v in out.get("reconstruction", {}).items():
        if k != "n":
            lines.append(f"| reconstruction {k} | {_fmt(v)} |")
    lik = out.get("likelihood", {})
    if "elbo_terms" in lik:
        t = lik["elbo_terms"]
        lines.append(
            f"| test recon / KL / loss ({t['recon_kind']}) | {_fmt(t['recon'])} / {_fmt(t['kl'])} "
            f"/ {_fmt(t['loss'])} |"
        )
    if "log_px_bound" in lik.get("iwae_k50", {}):
        lines.append(
            "| IWAE log p(x) >= (K=50), nats / bits per dim | "
            f"{_fmt(lik['iwae_k50']['log_px_bound'])} / {_fmt(lik['iwae_k50']['bits_per_dim'])} |"
        )
    c = out["cost"]
    lines.append(f"| parameters / s per epoch | {c['parameters']:,} / {c.get('seconds_per_epoch')} |")
    return "\n".join(lines) + "\n"
