"""``evaluate_run``: one evaluation protocol for every generator (``radgen evaluate RUN``).

Writes ``RUN/eval-<time>-<id>/`` (never overwriting another evaluation) with ``metrics.json``,
``metrics.md`` and ``memorization.png``. The protocol (``radgen.metrics.protocol``):

1. Real sets: the reference set R (the run's held-out patient-level val split, same
   distribution as train; the official test split only when there is none, labelled shifted),
   the floor set F (training images with R's size and class counts) and, beside, the official
   test split as "shifted test" with its own floor.
2. Generated set G: ``len(R)`` samples; a conditional model is asked for R's labels.
3. Pixels: MMD^2 (one bandwidth for generator and floor) and MS-SSIM diversity of G, R and F.
4. Per extractor (``radgen-cnn001``, supervised; ``radgen-ae001``, label-free; ``inception``
   with user-given weights): FD, KD, precision / recall / density / coverage of G and of the
   floor F against R (the generator's percentile bootstrap interval, the floor's 95 % range over
   re-drawn floor sets), FD / floor; per class for conditional models;
   the same against the shifted test; nearest-neighbour memorization.
5. Label fidelity (conditional models): ``radgen-cnn001``'s classifier head labels G; per
   requested class the fraction it assigns to that class, beside its accuracy on R.
6. Reconstruction and likelihood for the VAE family; cost and the budget actually trained.

Recorded: which set every number used, each extractor (name, weights sha256, training
record), N of every set, image size and preprocessing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radgen import runfolder
from radgen.config import load_yaml, to_dict
from radgen.data import DataConfig
from radgen.data.base import DataSplits
from radgen.errors import ConfigError
from radgen.io import write_json, write_text
from radgen.metrics.distances import bootstrap_interval
from radgen.metrics.diversity import pairwise_ms_ssim
from radgen.metrics.features import get_extractor
from radgen.metrics.memorization import closest_pairs_figure, copy_ratio_report, memorization_report
from radgen.metrics.mmd import mmd
from radgen.metrics.privacy_eval import add_model_based, privacy_block, privacy_markdown
from radgen.metrics.protocol import (
    ProtocolSets,
    build_sets,
    compare,
    compare_per_class,
    counts_of,
    label_fidelity,
)
from radgen.models import load_exported
from radgen.models.latent import GaussianVAE
from radgen.reports.markdown import code, text
from radgen.runfolder import RunFolder, load_run_data
from radgen.sampling import generate

DEFAULT_FEATURES = ("radgen-cnn001", "radgen-ae001")
FIDELITY_CLASSIFIER = "radgen-cnn001"  # its classifier head labels the samples (label fidelity)

Sampler = Callable[[torch.Tensor, int], torch.Tensor]  # (requested labels (N,), seed) -> (N, C, H, W) in [0, 1]


def generate_like(model, labels: torch.Tensor, *, seed: int, **sample_kwargs) -> torch.Tensor:
    """``len(labels)`` samples; a conditional model's i-th sample is asked for ``labels[i]``.

    ``sample_kwargs`` go to the model's sampler (e.g. ``sampler="ddim", steps=50`` for a diffusion model)."""
    if not model.supports_labels:
        return generate(model, len(labels), seed=seed, progress=False, **sample_kwargs)
    out = None
    for c in labels.unique().tolist():
        where = (labels == c).nonzero().squeeze(1)
        x = generate(model, len(where), label=int(c), seed=seed + int(c), progress=False, **sample_kwargs)
        out = x.new_empty((len(labels), *x.shape[1:])) if out is None else out
        out[where] = x
    return out


def inception_score(probs: torch.Tensor) -> float:
    """exp(E_x KL(p(y|x) || p(y))) (Salimans et al. 2016) from class probabilities."""
    p = probs.double().clamp(min=1e-12)
    py = p.mean(0, keepdim=True)
    return float(torch.exp((p * (p.log() - py.log())).sum(1).mean()))


def _mmd_block(
    real: torch.Tensor,
    floor: torch.Tensor,
    fake: torch.Tensor,
    draws: list[torch.Tensor],
    *,
    bootstrap: int,
    seed: int,
) -> dict:
    """Pixel MMD^2 of G and of the floor F against R, at one bandwidth (median heuristic on R and F pooled);
    G's interval by percentile bootstrap, the floor's as the range over re-drawn floor sets ``draws``."""
    sigma = mmd(floor, real)["sigma"]

    def m2(a, b) -> float:
        return mmd(torch.as_tensor(b), torch.as_tensor(a), sigma=sigma)["mmd2"]

    out = {
        "generated": mmd(fake, real, sigma=sigma),
        "floor": mmd(floor, real, sigma=sigma),
        "sigma": sigma,
        "sigma_rule": "median heuristic on the reference and floor sets pooled; the same bandwidth for the generator",
    }
    n = min(bootstrap, 20)
    if n >= 2:
        r, g = (t.reshape(len(t), -1).double().numpy() for t in (real, fake))
        out["generated"]["ci95"] = bootstrap_interval(m2, r, g, n=n, seed=seed)
    if len(draws) >= 2:
        vals = [mmd(d, real, sigma=sigma)["mmd2"] for d in draws]
        lo, hi = np.percentile(vals, [2.5, 97.5])
        out["floor"]["ci95"] = (float(lo), float(hi))
        out["floor"]["interval"] = f"2.5-97.5 % over {len(draws)} re-drawn floor sets"
    return out


@torch.no_grad()
def evaluate_generator(
    sampler: Sampler,
    splits: DataSplits,
    *,
    conditional: bool,
    data_config: DataConfig,
    n: int = 1000,
    features: tuple[str, ...] = DEFAULT_FEATURES,
    seed: int = 0,
    bootstrap: int = 50,
    reference: str = "auto",
    shifted_test: bool = True,
    inception_weights: str | None = None,
    extractor_epochs: int = 8,
    extractor_cache: Path | None = None,
    sets: ProtocolSets | None = None,
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Steps 1-5 of the module docstring for any sampler; returns (metrics, the image sets used).

    ``sets`` (from ``build_sets(splits, n=n, seed=seed, reference=reference)``) may be passed
    when the caller needs to know the floor set beforehand (a replay generator must avoid it)."""
    # 1. real sets
    sets = sets or build_sets(splits, n=n, seed=seed, reference=reference)
    ref, flo = sets.reference, sets.floor
    real_x, real_y, floor_x, floor_y = ref.images, ref.labels, flo.images, flo.labels
    class_names = ref.class_names
    per_class_ok = conditional and ref.task == "multiclass"
    # 2. generated sets, same size and class mix
    fake = sampler(real_y, seed)
    fake_y = real_y if conditional else None
    test = sets.shifted_test if shifted_test else None
    fake_test = sampler(test.labels, seed + 1000) if test is not None and sets.shifted_floor is not None else None
    train_x = sets.memorization_train.images
    val = splits.get("val")
    copy_split = "val" if val is not None and len(val) >= 20 else sets.reference_split
    copy_ref = val.images if copy_split == "val" else real_x
    out: dict[str, Any] = {
        "dataset": splits.name,
        "real_split": sets.reference_split,
        "reference_shifted": sets.shifted,
        **sets.describe(),
        "n_real": len(real_x),
        "n_floor": len(floor_x),
        "n_generated": len(fake),
        "conditional": conditional,
        "class_names": list(class_names),
        "image_size": int(real_x.shape[-1]),
        "channels": int(real_x.shape[1]),
        "preprocessing": to_dict(data_config),
        "seed": seed,
        "bootstrap": bootstrap,
        "created": datetime.now().isoformat(timespec="seconds"),
    }
    # 3. pixels
    pool_y = sets.memorization_train.labels
    draws = sets.draws(counts_of(ref), bootstrap, seed=seed) if bootstrap >= 2 else []
    test_draws = (
        sets.draws(counts_of(test), bootstrap, seed=seed + 1) if bootstrap >= 2 and fake_test is not None else []
    )
    pixel_draws = draws[: min(bootstrap, 20)]
    out["pixels"] = {
        "mmd": _mmd_block(real_x, floor_x, fake, [train_x[d] for d in pixel_draws], bootstrap=bootstrap, seed=seed),
        "ms_ssim_generated": pairwise_ms_ssim(fake, n_pairs=200, seed=seed),
        "ms_ssim_real": pairwise_ms_ssim(real_x, n_pairs=200, seed=seed),
        "ms_ssim_floor": pairwise_ms_ssim(floor_x, n_pairs=200, seed=seed),
    }
    out["pixels"]["mmd"]["mmd2"] = out["pixels"]["mmd"]["generated"]["mmd2"]  # the flat key older readers use
    if fake_test is not None:
        out["pixels"]["shifted_test"] = {
            "mmd": _mmd_block(
                test.images,
                sets.shifted_floor.images,
                fake_test,
                [train_x[d] for d in test_draws[: min(bootstrap, 20)]],
                bootstrap=bootstrap,
                seed=seed,
            )
        }
    memo = memorization_report(fake, train_x, real_x)
    out["memorization_pixels"] = {k: v for k, v in memo.items() if not isinstance(v, np.ndarray)}
    out["memorization_pixels"]["copy_ratio"] = {
        **copy_ratio_report(fake, train_x, copy_ref, seed=seed),
        "heldout_split": copy_split,
    }
    # privacy: the calibrated copy audit against every training image, black-box membership inference
    out["privacy"] = privacy_block(
        fake,
        splits,
        ref,
        reference_split=sets.reference_split,
        heldout=copy_ref,
        heldout_split=copy_split,
        bootstrap=bootstrap,
        seed=seed,
    )
    # 4. per extractor
    out["features"] = {}
    names = list(features)
    fidelity_extra = conditional and FIDELITY_CLASSIFIER not in names
    for name in names + ([FIDELITY_CLASSIFIER] if fidelity_extra else []):
        ex = get_extractor(
            name,
            data_config=data_config,
            weights=inception_weights,
            epochs=extractor_epochs,
            cache_dir=extractor_cache,
        )
        (ff, probs), (fr, probs_r) = ex.features_and_probs(fake), ex.features_and_probs(real_x)
        if name == FIDELITY_CLASSIFIER and conditional and probs is not None:
            # 5. label fidelity
            out["label_fidelity"] = {
                "classifier": {"name": ex.name, "weights_sha256": ex.weights_sha256, "record": ex.record},
                "rule": "argmax of the classifier's class probabilities; real = the reference (held-out) images",
                **label_fidelity(probs, fake_y, probs_r, real_y, class_names),
            }
        if name not in names:
            continue
        fl, ftrain = ex(floor_x), ex(train_x)
        block = compare(fr, fl, ff, floor_draws=[ftrain[d] for d in draws], bootstrap=bootstrap, seed=seed)
        g = block["generated"]
        d = ex.distance_name
        entry: dict[str, Any] = {
            "extractor": {"name": ex.name, "weights_sha256": ex.weights_sha256, "dim": ex.dim, "record": ex.record},
            "distance_name": d,  # FID only for the verified Inception weights
            "reference": block,
            # flat keys (the pooled generated-vs-reference values) for older readers
            d: g["FD"],
            f"{d}_ci95": g.get("FD_ci95"),
            f"{d}_floor": block["floor"]["FD"],
            f"{d}_ratio": block["FD_ratio"],
            f"KD_{ex.name}": g["KD"],
            f"KD_{ex.name}_ci95": g.get("KD_ci95"),
            **{k: g[k] for k in ("precision", "recall", "density", "coverage") if k in g},
            "memorization": {
                k: v for k, v in memorization_report(ff, ftrain, fr).items() if not isinstance(v, np.ndarray)
            },
        }
        if per_class_ok:
            entry["per_class"] = compare_per_class(
                fr,
                real_y,
                fl,
                floor_y,
                ff,
                fake_y,
                class_names,
                floor_draws=[(ftrain[d], pool_y[d]) for d in draws],
                bootstrap=bootstrap,
                seed=seed,
            )
        if fake_test is not None:
            entry["shifted_test"] = compare(
                ex(test.images),
                ex(sets.shifted_floor.images),
                ex(fake_test),
                floor_draws=[ftrain[d] for d in test_draws],
                bootstrap=bootstrap,
                seed=seed,
            )
        entry["memorization"]["copy_ratio"] = {
            **copy_ratio_report(ff, ftrain, ex(copy_ref), seed=seed),
            "heldout_split": copy_split,
        }
        if probs is not None:
            entry[f"IS_{ex.name}"] = inception_score(probs)
        out["features"][name] = entry
    if test is None:
        out.pop("shifted_test", None)
    return out, {"generated": fake, "train": train_x, "memo": memo, "sets": sets}


MIN_EVAL_IMAGES = 10  # the copy-ratio test's held-out minimum (metrics.memorization), above PRDC's k = 5


def _load_run_data(run_dir: Path, model, real: str | None) -> tuple[DataConfig, DataSplits]:
    """The run's data config and all its splits (``runfolder.load_run_data``, which checks the model's size)."""
    data = load_run_data(run_dir, model, data=real, split="train", option="--real")
    return data.config, data.splits


def trained_budget(run_dir: str | Path) -> dict[str, Any]:
    """The budget a run actually trained: epochs x batches per epoch and images seen, from its
    per-epoch rows (``train_batches``, ``train_images``); older runs without them get an estimate
    from the config (batch size, ``limit_train_batches``) and the training split's size."""
    from radgen.runfolder import read_metrics

    run_dir = Path(run_dir)
    rows = read_metrics(run_dir)
    out: dict[str, Any] = {"epochs": len(rows)}
    if rows and all("train_batches" in r for r in rows):
        out["batches"] = int(sum(r["train_batches"] for r in rows))
        out["images_seen"] = int(sum(r.get("train_images", 0) for r in rows))
        out["source"] = "measured (metrics.jsonl)"
    elif rows and RunFolder(run_dir).config.is_file() and RunFolder(run_dir).run_info.is_file():
        try:  # an edited or damaged file only loses the estimate
            cfg = dict(load_yaml(RunFolder(run_dir).config).get("train") or {})
            split_sizes = dict(json.loads(RunFolder(run_dir).run_info.read_text()).get("data", {}).get("splits", {}))
        except (ConfigError, OSError, ValueError, TypeError, AttributeError):
            cfg, split_sizes = {}, {}
        n_train = split_sizes.get("train")
        n_train = sum(n_train.values()) if isinstance(n_train, dict) else n_train
        bs, limit = int(cfg.get("batch_size", 64)), cfg.get("limit_train_batches")
        if n_train:
            per = math.ceil(n_train / bs)
            if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 1:
                per = min(per, limit)
            elif isinstance(limit, float) and limit < 1:
                per = max(1, int(per * limit))
            out["batches"] = per * len(rows)
            out["images_seen"] = min(per * bs, n_train) * len(rows)
            out["source"] = "estimated from config.yaml and the training split's size"
    if out.get("epochs") and out.get("batches") is not None:
        out["batches_per_epoch"] = out["batches"] / out["epochs"]
    return out


def budget_text(b: dict[str, Any]) -> str:
    """'12 epochs x 74 batches (888 steps, 56,832 images seen)'."""
    if not b or not b.get("epochs"):
        return "n/a"
    if b.get("batches") is None:
        return f"{b['epochs']} epoch(s)"
    per = b["batches_per_epoch"]
    per_s = f"{per:.0f}" if abs(per - round(per)) < 1e-9 else f"{per:.1f}"
    return f"{b['epochs']} epoch(s) x {per_s} batches ({b['batches']:,} steps, {b['images_seen']:,} images seen)"


@torch.no_grad()
def evaluate_run(
    run_dir: str | Path,
    *,
    real: str | None = None,
    n: int = 1000,
    features: tuple[str, ...] = DEFAULT_FEATURES,
    seed: int = 0,
    bootstrap: int = 50,
    inception_weights: str | None = None,
    extractor_epochs: int = 8,
    reference: str = "auto",
    shifted_test: bool = True,
) -> tuple[Path, dict[str, Any]]:
    """Evaluate an exported run (see the module docstring); returns (eval folder, metrics)."""
    run_dir = Path(run_dir)
    if n < MIN_EVAL_IMAGES:
        raise ConfigError(
            f"--n {n} must be at least {MIN_EVAL_IMAGES}: the copy-ratio test needs {MIN_EVAL_IMAGES} held-out "
            "images and PRDC (k = 5) more than 5 per set"
        )
    model, meta = load_exported(run_dir)
    dcfg, ds = _load_run_data(run_dir, model, real)
    metrics, used = evaluate_generator(
        lambda labels, s: generate_like(model, labels, seed=s),
        ds,
        conditional=bool(model.supports_labels),
        data_config=dcfg,
        n=n,
        features=features,
        seed=seed,
        bootstrap=bootstrap,
        reference=reference,
        shifted_test=shifted_test,
        inception_weights=inception_weights,
        extractor_epochs=extractor_epochs,
    )
    out: dict[str, Any] = {"run": str(run_dir), "model": model.config.name, **metrics}
    add_model_based(out["privacy"], model, ds, used["sets"].reference, bootstrap=bootstrap, seed=seed)  # privacy
    if (dp := RunFolder(run_dir).run_info).is_file() and json.loads(dp.read_text()).get("privacy"):
        out["training_privacy"] = json.loads(dp.read_text())["privacy"]  # DP-SGD: epsilon spent
    # 6. reconstruction, likelihood, cost, budget
    if model.encoding != "none":
        from radgen.metrics.reconstruction import reconstruction_metrics

        sub = used["sets"].reference
        out["reconstruction"] = {**reconstruction_metrics(model, sub), "split": out["real_split"]}
        if isinstance(model, GaussianVAE):  # an explicit likelihood and prior: ELBO terms and IWAE
            from radgen.metrics.likelihood import elbo_terms, iwae_bound

            out["likelihood"] = {"elbo_terms": elbo_terms(model, sub, seed=seed), "split": out["real_split"]}
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
    out["budget"] = trained_budget(run_dir)

    folder = RunFolder(run_dir).new_evaluation()
    closest_pairs_figure(used["generated"], used["train"], used["memo"], folder / runfolder.EVAL_MEMORIZATION)
    write_json(folder / runfolder.EVAL_SUMMARY, out)
    write_text(folder / runfolder.EVAL_MARKDOWN, to_markdown(out))
    return folder, out


# ----------------------------------------------------------------------------------------- markdown
def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.{digits}g}"
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, float) for x in v):
        return f"[{v[0]:.{digits}g}, {v[1]:.{digits}g}]"
    return str(v)


def fd_cell(block: dict[str, Any], digits: int = 3) -> str:
    """'4.1 (floor 0.25 [0.21, 0.31], 16x)'."""
    g, f = block["generated"], block["floor"]
    ci = f" {_fmt(f['FD_ci95'], digits)}" if f.get("FD_ci95") else ""
    return f"{_fmt(g['FD'], digits)} (floor {_fmt(f['FD'], digits)}{ci}, {block['FD_ratio']:.3g}x)"


def floor_cell(block: dict[str, Any], key: str, digits: int = 3) -> str:
    """'0.61 (floor 0.70 [0.66, 0.74])' for metrics that get no ratio."""
    g, f = block["generated"], block["floor"]
    if key not in g:
        return "n/a"
    ci = f" {_fmt(f[f'{key}_ci95'], digits)}" if f.get(f"{key}_ci95") else ""
    return f"{_fmt(g[key], digits)} (floor {_fmt(f[key], digits)}{ci})"


def reference_sentence(out: dict[str, Any]) -> str:
    ref = out["reference"]
    where = (
        f"the held-out {code(ref['split'])} split ({ref['n']} images, from the training distribution)"
        if not ref["shifted"]
        else f"the official {code(ref['split'])} split ({ref['n']} images; **shifted**: the run has no held-out split "
        "of at least 200 images)"
    )
    return (
        f"Reference: {where}, class counts {text(ref['class_counts'])}. Floor: {out['n_floor']} training "
        "images with the same class counts "
        "against the same reference (real vs real, what a perfect generator scores at this N). Generated: "
        f"{out['n_generated']} images"
        + (
            " asked for the reference's labels."
            if out.get("conditional")
            else " (unconditional: class mix not controlled)."
        )
    )


def to_markdown(out: dict[str, Any]) -> str:
    lines = [f"## Evaluation of {code(out['model'])} ({code(out['run'])})", ""]
    if out.get("budget"):
        lines += [f"Trained: {budget_text(out['budget'])}.", ""]
    lines += [reference_sentence(out), ""]
    for note in out.get("notes", []):
        lines += [f"> note: {note}", ""]
    shifted = "shifted_test" in out
    head = "| metric | generated vs reference (floor [95 % range], ratio) |" + (
        " shifted test: generated (floor) |" if shifted else ""
    )
    lines += [head, "|---|---|" + ("---|" if shifted else "")]
    px = out["pixels"]
    m = px["mmd"]

    def mmd_cell(b):
        ci = f" {_fmt(b['floor']['ci95'], 3)}" if b["floor"].get("ci95") else ""
        return f"{_fmt(b['generated']['mmd2'], 3)} (floor {_fmt(b['floor']['mmd2'], 3)}{ci})"

    row = f"| MMD² pixels (Gaussian, sigma {m['sigma']:.3g}) | {mmd_cell(m)} |"
    if shifted:
        st = px.get("shifted_test", {}).get("mmd")
        row += f" {mmd_cell(st) if st else 'n/a'} |"
    lines.append(row)
    lines.append(
        f"| MS-SSIM diversity, generated / reference / floor | {_fmt(px['ms_ssim_generated']['ms_ssim'], 3)} / "
        f"{_fmt(px['ms_ssim_real']['ms_ssim'], 3)} / {_fmt(px['ms_ssim_floor']['ms_ssim'], 3)} |"
        + (" |" if shifted else "")
    )
    for name, e in out["features"].items():
        b = e["reference"]
        sb = e.get("shifted_test")
        lines.append(
            f"| {e.get('distance_name', 'FD')} ({name}) | {fd_cell(b)} |"
            + (f" {fd_cell(sb) if sb else 'n/a'} |" if shifted else "")
        )
        for key in ("KD", "precision", "recall", "density", "coverage"):
            lines.append(
                f"| {key} ({name}) | {floor_cell(b, key)} |"
                + (f" {floor_cell(sb, key) if sb else 'n/a'} |" if shifted else "")
            )
        isk = f"IS_{e['extractor']['name']}"
        if isk in e:
            lines.append(f"| {isk} | {_fmt(e[isk])} |" + (" |" if shifted else ""))
        lines.append(
            f"| memorized fraction ({name} features) / copies (ratio test) | "
            f"{_fmt(e['memorization']['fraction_flagged'], 3)} / "
            f"{_fmt(e['memorization']['copy_ratio']['fraction_flagged'], 3)} |" + (" |" if shifted else "")
        )
    lines.append(
        f"| memorized fraction (pixels, below the 5 % held-out quantile) / copies (ratio test) | "
        f"{_fmt(out['memorization_pixels']['fraction_flagged'], 3)} / "
        f"{_fmt(out['memorization_pixels']['copy_ratio']['fraction_flagged'], 3)} |" + (" |" if shifted else "")
    )
    for k, v in out.get("reconstruction", {}).items():
        if k not in ("n", "split"):
            lines.append(f"| reconstruction {k} ({out['real_split']}) | {_fmt(v)} |" + (" |" if shifted else ""))
    lik = out.get("likelihood", {})
    if "elbo_terms" in lik:
        t = lik["elbo_terms"]
        lines.append(
            f"| recon / KL / loss ({t['recon_kind']}, {out['real_split']}) | {_fmt(t['recon'])} / "
            f"{_fmt(t['kl'])} / {_fmt(t['loss'])} |" + (" |" if shifted else "")
        )
    if "log_px_bound" in lik.get("iwae_k50", {}):
        lines.append(
            f"| IWAE log p(x) >= (K=50), nats / bits per dim | {_fmt(lik['iwae_k50']['log_px_bound'])} / "
            f"{_fmt(lik['iwae_k50']['bits_per_dim'])} |" + (" |" if shifted else "")
        )
    c = out.get("cost", {})
    if c:
        lines.append(
            f"| parameters / s per epoch | {c['parameters']:,} / {c.get('seconds_per_epoch')} |"
            + (" |" if shifted else "")
        )
    lines.append("")
    lines += per_class_markdown(out)
    lines += fidelity_markdown(out)
    lines += privacy_markdown(out)
    for name, e in out["features"].items():
        lines.append(
            f"Extractor {code(name)}: weights sha256 {code(str(e['extractor']['weights_sha256'])[:16] + '...')}."
        )
    return "\n".join(lines).rstrip() + "\n"


def per_class_markdown(out: dict[str, Any], title: str | None = None) -> list[str]:
    rows = []
    for name, e in out["features"].items():
        for cls, b in e.get("per_class", {}).items():
            rows.append(
                f"| {text(out.get('model', ''))} | {code(name)} | {text(cls)} | {b['n_reference']} | "
                f"{fd_cell(b)} | {floor_cell(b, 'precision')} | {floor_cell(b, 'recall')} |"
            )
    if not rows:
        return []
    return [
        title or "Per class (each class's samples against that class's held-out images, with that class's floor):",
        "",
        "| model | extractor | class | N | FD (floor [95 % range], ratio) | precision (floor) | recall (floor) |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def fidelity_markdown(out: dict[str, Any]) -> list[str]:
    lf = out.get("label_fidelity")
    if not lf:
        return []
    c = lf["classifier"]
    lines = [
        f"Label fidelity: {code(c['name'])} (trained on the training split only; sha256 "
        f"{code(str(c['weights_sha256'])[:16] + '...')}) labels the samples; "
        "per requested class, the fraction it assigns to that class, beside its accuracy on held-out real "
        "images of that class.",
        "",
        "| model | class | fidelity of samples | accuracy on held-out real | N samples |",
        "|---|---|---|---|---|",
    ]
    for cls, v in lf["per_class"].items():
        lines.append(
            f"| {text(out.get('model', ''))} | {text(cls)} | {v['generated']:.3f} | "
            f"{_fmt(v['real_heldout'], 3)} | {v['n_generated']} |"
        )
    return lines + [""]
