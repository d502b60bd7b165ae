"""The augmentation experiment (design document 001's question): does adding synthetic
minority-class images to an imbalanced training set make a classifier better on real test images?

Arms (``arms`` in the config; the two synthetic kinds expand to one arm per generator):

- ``real``: the real training split as is.
- ``weighted``: class-weighted cross-entropy, w_c = N / (K N_c).
- ``oversample``: minority oversampling (batches drawn with probability 1 / N_class).
- ``classic``: classic augmentation (small affine + brightness/contrast, no flips).
- ``synthetic``: real plus synthetic images of every class below ``ratio`` x the largest
  class count (binary: the minority), from each generator, until that ratio (1.0 = 1:1).
- ``synthetic_only``: synthetic images only, per class ``synthetic_only_fraction`` x the real
  training count (train on synthetic, test on real).

Protocol: the validation split is patient-level, carved from the real training split
(``data.val_from_train``; the official chest X-ray val split has 16 images); it selects the
epoch and stops training early. Synthetic images only ever enter the training split; the
validation and test splits are real and identical across arms. Each arm is trained over
``seeds`` seeds; seed s fixes the classifier's initialisation, batch order and augmentation
draws, and is shared by every arm, so arms are compared pairwise (``experiments.stats``).
Each generator's synthetic pool is drawn once (``sample_seed``) and shared by its arms.
The generators must have been trained on the same training split (same data config): they
never saw validation or test images.

Outputs ``runs/augment-<time>-<id>/``: ``config.yaml``, ``results.jsonl`` (one line per arm and
seed, written as each finishes), ``results.json`` (means, stds, paired differences),
``summary.md``, ``bars.png`` (means with std error bars), ``synthetic_<gen>.png`` and
``synthetic_<gen>.npz`` (the pools, uint8 like the real images).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm.auto import tqdm

from radgen.classifiers.metrics import classification_metrics
from radgen.classifiers.nets import build_classifier
from radgen.classifiers.train import ClassifierTrainConfig, fit_classifier, predict_proba
from radgen.config import from_dict, load_yaml, to_dict
from radgen.data import DataConfig, load_dataset
from radgen.data.base import DataSplits, ImageSet
from radgen.errors import ConfigError
from radgen.experiments.stats import mean_std, paired_difference
from radgen.io import write_json, write_text
from radgen.reports.augment import summary_markdown
from radgen.runfolder import AUGMENT_BARS, AUGMENT_LOG, AUGMENT_POOL, AUGMENT_RESULTS, AUGMENT_SUMMARY, CONFIG

ARM_KINDS = ("real", "weighted", "oversample", "classic", "synthetic", "synthetic_only")
SUMMARY_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "auroc")
BASELINE = "real"


@dataclass
class AugmentConfig:
    data: DataConfig = field(default_factory=lambda: DataConfig(val_from_train=0.1))
    classifier: str = "cnn001"
    classifier_options: dict[str, Any] = field(default_factory=dict)  # e.g. {width: 16} for resnet18
    train: ClassifierTrainConfig = field(default_factory=ClassifierTrainConfig)
    generators: dict[str, str] = field(default_factory=dict)  # label -> run directory (or its export/)
    arms: list[str] = field(default_factory=lambda: list(ARM_KINDS))
    ratio: float = 1.0  # class : largest-class count after adding synthetic images (1.0 = balanced)
    synthetic_only_fraction: float = 1.0  # synthetic-only arm: per class, this x the real training count
    seeds: int = 5
    sample: dict[str, Any] = field(default_factory=dict)  # passed to model.sample: steps, guidance_scale, sampler, eta
    sample_seed: int = 12345
    max_train: int | None = None  # stratified subsample of the real training split (smoke runs)
    name: str | None = None
    output_dir: str = "runs"


def load_augment_config(
    path_or_dict: str | Path | dict[str, Any], overrides: list[str] | None = None
) -> AugmentConfig:
    from radgen.config import apply_overrides

    data = dict(path_or_dict) if isinstance(path_or_dict, dict) else load_yaml(Path(path_or_dict))
    return check_config(from_dict(AugmentConfig, apply_overrides(data, overrides or [])))


def check_config(cfg: AugmentConfig) -> AugmentConfig:
    from radgen.outputs import check_name

    for label in cfg.generators:  # labels become file names (synthetic_LABEL.png)
        check_name(label, "generators: label")
    if cfg.name is not None:
        check_name(cfg.name, "name")
    for arm in cfg.arms:
        kind = arm.split(":", 1)[0]
        if kind not in ARM_KINDS:
            raise ConfigError(
                f"arms: {arm!r} is not an arm; valid: {', '.join(ARM_KINDS)} (synthetic kinds take "
                "an optional :GENERATOR)"
            )
        if kind in ("synthetic", "synthetic_only"):
            if not cfg.generators:
                raise ConfigError(f"arms: {arm!r} needs generators (label: run directory) in the config")
            if ":" in arm and arm.split(":", 1)[1] not in cfg.generators:
                raise ConfigError(f"arms: {arm!r} names no generator; generators: {', '.join(cfg.generators)}")
    if cfg.seeds < 1:
        raise ConfigError(f"seeds={cfg.seeds} must be >= 1 (3 or more to get an interval)")
    if not cfg.ratio > 0 or not 0 < cfg.synthetic_only_fraction:
        raise ConfigError("ratio and synthetic_only_fraction must be > 0")
    if BASELINE not in cfg.arms:
        raise ConfigError(f"arms must include the baseline {BASELINE!r}: every arm is compared with it")
    return cfg


# --------------------------------------------------------------------------- arms and data
@dataclass
class Arm:
    name: str
    kind: str
    generator: str | None = None


def expand_arms(cfg: AugmentConfig) -> list[Arm]:
    out: list[Arm] = []
    for text in cfg.arms:
        kind, _, gen = text.partition(":")
        if kind in ("synthetic", "synthetic_only"):
            for g in [gen] if gen else list(cfg.generators):
                out.append(Arm(f"+{g}" if kind == "synthetic" else f"{g} only", kind, g))
        else:
            out.append(Arm(kind, kind))
    names = [a.name for a in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"arms repeat: {names}")
    return out


def synthetic_counts_to_ratio(labels: torch.Tensor, num_classes: int, ratio: float) -> dict[int, int]:
    """Synthetic images per class so that every class reaches round(ratio * largest count)."""
    counts = torch.bincount(labels.long(), minlength=num_classes).tolist()
    target = round(ratio * max(counts))
    return {c: target - n for c, n in enumerate(counts) if target - n > 0}


def synthetic_only_counts(labels: torch.Tensor, num_classes: int, fraction: float) -> dict[int, int]:
    """Synthetic images per class for the synthetic-only arm: ``fraction`` x the real count (at least 1)."""
    return {
        c: max(1, round(fraction * n))
        for c, n in enumerate(torch.bincount(labels.long(), minlength=num_classes).tolist())
    }


def _take(pool: ImageSet, c: int, k: int, generator: str) -> np.ndarray:
    idx = np.flatnonzero(pool.labels.numpy() == c)[:k]
    if len(idx) < k:
        raise ConfigError(f"synthetic pool of {generator!r} has {len(idx)} images of class {c}, {k} needed")
    return idx


def stratified_subsample(images: ImageSet, n: int, seed: int) -> ImageSet:
    """``n`` images keeping the class proportions (for smoke runs)."""
    if n >= len(images):
        return images
    rng = np.random.default_rng(seed)
    labels = images.labels.numpy()
    keep = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        keep.append(rng.choice(idx, size=max(1, round(n * len(idx) / len(labels))), replace=False))
    return images.subset(np.sort(np.concatenate(keep)))


def to_imageset(images: torch.Tensor, labels: torch.Tensor, like: ImageSet, *, origin: str) -> ImageSet:
    """Generated images in [0, 1] as an ImageSet stored like ``like`` (uint8 when it is): the same
    metadata columns, ``path`` = ``synthetic/<origin>/<i>``, ``patient`` = ``synthetic:<origin>``,
    other columns empty (-1 / nan for numbers)."""
    px = (images.clamp(0, 1) * 255 + 0.5).to(torch.uint8) if like.pixels.dtype == torch.uint8 else images.float()
    n = len(px)
    meta: dict[str, np.ndarray] = {}
    for k, col in like.meta.items():
        if k == "path":
            meta[k] = np.array([f"synthetic/{origin}/{i}" for i in range(n)])
        elif col.dtype.kind in "iu":
            meta[k] = np.full(n, -1, dtype=col.dtype)
        elif col.dtype.kind == "f":
            meta[k] = np.full(n, np.nan, dtype=col.dtype)
        elif col.dtype.kind == "b":
            meta[k] = np.zeros(n, dtype=bool)
        else:
            meta[k] = np.array(
                [f"synthetic:{origin}" if k in ("patient", "subtype") else ""] * n,
                dtype=col.dtype if col.dtype == object else None,
            )
    return replace(like, pixels=px[:, :1], labels=labels.long(), meta=meta)


def is_synthetic(images: ImageSet) -> np.ndarray:
    return np.array([p.startswith("synthetic/") for p in images.paths], dtype=bool)


def arm_training_set(arm: Arm, real: ImageSet, pools: dict[str, ImageSet], cfg: AugmentConfig) -> ImageSet:
    """The training split of one arm (validation and test are never touched)."""
    if arm.kind == "synthetic":
        pool = pools[arm.generator]
        need = synthetic_counts_to_ratio(real.labels, real.num_classes, cfg.ratio)
        return ImageSet.concat([real] + [pool.subset(_take(pool, c, k, arm.generator)) for c, k in need.items()])
    if arm.kind == "synthetic_only":
        pool = pools[arm.generator]
        need = synthetic_only_counts(real.labels, real.num_classes, cfg.synthetic_only_fraction)
        return pool.subset(np.concatenate([_take(pool, c, k, arm.generator) for c, k in need.items()]))
    return real


def arm_train_config(arm: Arm, base: ClassifierTrainConfig, seed: int) -> ClassifierTrainConfig:
    changes: dict[str, Any] = {"seed": seed}
    if arm.kind == "weighted":
        changes["loss"] = "weighted_ce"
    elif arm.kind == "oversample":
        changes["sampling"] = "oversample"
    elif arm.kind == "classic":
        changes["augment"] = "classic"
    return replace(base, **changes)


def pool_sizes(real: ImageSet, arms: list[Arm], cfg: AugmentConfig) -> dict[str, dict[int, int]]:
    """Per generator, how many images of each class its arms need."""
    sizes: dict[str, dict[int, int]] = {}
    for arm in arms:
        if arm.generator is None:
            continue
        need = sizes.setdefault(arm.generator, {})
        if arm.kind == "synthetic":
            counts = synthetic_counts_to_ratio(real.labels, real.num_classes, cfg.ratio)
        else:
            counts = synthetic_only_counts(real.labels, real.num_classes, cfg.synthetic_only_fraction)
        for c, k in counts.items():
            need[c] = max(need.get(c, 0), k)
    return sizes


def load_generator(path: str | Path, splits: DataSplits):
    from radgen.models import load_exported

    model, meta = load_exported(path)
    train = splits["train"]
    c = model.config
    if int(c.image_size) != train.image_size[0] or int(c.channels) != 1:
        raise ConfigError(
            f"{path}: the generator makes {c.channels}x{c.image_size} px images but the classifier "
            f"data are 1x{train.image_size[0]} px"
        )
    if not model.supports_labels:
        raise ConfigError(
            f"{path}: model {c.name!r} is not class-conditional; augmentation needs labels (train "
            "it with model.conditional set)"
        )
    names = (meta.get("data") or {}).get("class_names")
    if names and tuple(names) != train.class_names:
        raise ConfigError(f"{path}: the generator's classes {names} differ from the data's {list(train.class_names)}")
    return model


def make_pool(
    model, need: dict[int, int], like: ImageSet, *, origin: str, seed: int, sample: dict[str, Any]
) -> ImageSet:
    from radgen.sampling import generate

    imgs, labels = [], []
    for c, k in sorted(need.items()):
        imgs.append(generate(model, k, label=c, seed=seed + 1000 * c, **sample))
        labels.append(torch.full((k,), c, dtype=torch.long))
    return to_imageset(torch.cat(imgs), torch.cat(labels), like, origin=origin)


# --------------------------------------------------------------------------- running
def _log(msg: str) -> None:
    print(f"radgen: {msg}", file=sys.stderr, flush=True)


def run_augment(
    cfg: AugmentConfig, *, out_dir: Path | None = None, progress: bool = True, splits: DataSplits | None = None
) -> tuple[Path, dict[str, Any]]:
    """Run every arm over every seed; return the output folder and the summary (``results.json``)."""
    from radgen.runfolder import new_run_dir
    from radgen.viz import examples_per_class, save_class_grid

    check_config(cfg)
    started = time.perf_counter()
    splits = splits or load_dataset(cfg.data, progress=progress)
    for s in ("train", "val", "test"):
        if s not in splits or not len(splits[s]):
            raise ConfigError(
                f"dataset {cfg.data.name!r} has no {s!r} split; the experiment needs train, val "
                "(data.val_from_train) and test"
            )
    real = (
        splits["train"]
        if cfg.max_train is None
        else stratified_subsample(splits["train"], cfg.max_train, cfg.data.seed)
    )
    val, test = splits["val"], splits["test"]
    arms = expand_arms(cfg)
    out = out_dir or new_run_dir(cfg.output_dir, cfg.name or "augment")
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / CONFIG, yaml.safe_dump(to_dict(cfg), sort_keys=False))

    pools: dict[str, ImageSet] = {}
    pool_seconds: dict[str, float] = {}
    for gen, need in pool_sizes(real, arms, cfg).items():
        t0 = time.perf_counter()
        _log(f"sampling {sum(need.values())} images from {gen} ({cfg.generators[gen]})")
        model = load_generator(cfg.generators[gen], splits)
        pools[gen] = make_pool(model, need, real, origin=gen, seed=cfg.sample_seed, sample=cfg.sample)
        pool_seconds[gen] = round(time.perf_counter() - t0, 2)
        np.savez_compressed(
            out / f"{AUGMENT_POOL.format(generator=gen)}.npz",
            pixels=pools[gen].stored().numpy(),
            labels=pools[gen].labels.numpy(),
        )
        save_class_grid(
            examples_per_class(pools[gen].images, pools[gen].labels, real.class_names, per_class=12, seed=0),
            out / f"{AUGMENT_POOL.format(generator=gen)}.png",
            title=f"synthetic images from {gen}",
        )

    names = real.class_names
    rows: list[dict[str, Any]] = []
    jobs = [(arm, s) for arm in arms for s in range(cfg.seeds)]
    bar = tqdm(jobs, desc="classifiers", disable=not progress or None, file=sys.stderr)
    with open(out / AUGMENT_LOG, "a") as log_file:
        for arm, s in bar:
            bar.set_postfix_str(f"{arm.name} seed {s}")
            train_set = arm_training_set(arm, real, pools, cfg)
            tcfg = arm_train_config(arm, cfg.train, seed=cfg.train.seed + s)
            torch.manual_seed(tcfg.seed)  # same initialisation for every arm at this seed
            net = build_classifier(
                cfg.classifier,
                in_channels=1,
                image_size=real.image_size[0],
                num_classes=real.num_classes,
                **cfg.classifier_options,
            )
            t0 = time.perf_counter()
            net, history = fit_classifier(net, train_set, val, tcfg)
            m = classification_metrics(test.labels.numpy(), predict_proba(net, test), names)
            row = {
                "arm": arm.name,
                "kind": arm.kind,
                "generator": arm.generator,
                "seed": tcfg.seed,
                "train_counts": train_set.class_counts(),
                "synthetic_in_train": int(is_synthetic(train_set).sum()),
                "epochs_run": len(history),
                "best_epoch": 1 + int(np.argmin([h.get("val_loss", np.inf) for h in history])),
                "seconds": round(time.perf_counter() - t0, 2),
                "test": m,
            }
            rows.append(row)
            log_file.write(json.dumps(row) + "\n")
            log_file.flush()
    summary = summarize(rows, names)
    summary.update(
        {
            "dataset": splits.name,
            "classifier": cfg.classifier,
            "seeds": cfg.seeds,
            "splits": {"train": real.class_counts(), "val": val.class_counts(), "test": test.class_counts()},
            "val_patients_in_train": len(set(val.patients) & set(real.patients) - {""}),
            "pool_seconds": pool_seconds,
            "seconds": round(time.perf_counter() - started, 1),
            "bad_files": {
                "count": len(splits.bad_files),
                "first": [f"{p}: {why}" for p, why in splits.bad_files[:5]],
            },
        }
    )
    write_json(out / AUGMENT_RESULTS, summary)
    write_text(out / AUGMENT_SUMMARY, summary_markdown(summary))
    plot_arms(summary, out / AUGMENT_BARS)
    return out, summary


def summarize(rows: list[dict[str, Any]], class_names: tuple[str, ...]) -> dict[str, Any]:
    """Per arm: mean +- std of every metric over seeds, mean confusion matrix, paired differences with the baseline."""
    keys = list(SUMMARY_METRICS) + [f"{k}/{c}" for k in ("precision", "recall", "f1") for c in class_names]
    arms: dict[str, dict[str, Any]] = {}
    for r in rows:
        a = arms.setdefault(
            r["arm"],
            {
                "kind": r["kind"],
                "generator": r["generator"],
                "train_counts": r["train_counts"],
                "synthetic_in_train": r["synthetic_in_train"],
                "runs": [],
            },
        )
        a["runs"].append(r)
    base = {r["seed"]: r["test"] for r in arms.get(BASELINE, {}).get("runs", [])}
    for name, a in arms.items():
        runs = sorted(a.pop("runs"), key=lambda r: r["seed"])
        a["seeds"] = [r["seed"] for r in runs]
        a["metrics"] = {k: mean_std([r["test"][k] for r in runs]) for k in keys}
        a["per_seed"] = {k: [r["test"][k] for r in runs] for k in keys}
        a["confusion_matrix_mean"] = np.mean([r["test"]["confusion_matrix"] for r in runs], axis=0).tolist()
        a["epochs_run"] = [r["epochs_run"] for r in runs]
        if name != BASELINE and base:
            shared = [r for r in runs if r["seed"] in base]
            a["vs_baseline"] = {
                k: paired_difference([r["test"][k] for r in shared], [base[r["seed"]][k] for r in shared])
                for k in keys
            }
    return {"baseline": BASELINE, "class_names": list(class_names), "arms": arms}


def plot_arms(
    summary: dict[str, Any], path: str | Path, metrics: tuple[str, ...] = ("balanced_accuracy", "macro_f1", "auroc")
) -> Path:
    """One panel per metric, one horizontal bar per arm (mean, error bar = std over seeds);
    the dashed line is the baseline's mean."""
    from radgen.viz import _pyplot, _save_figure

    plt = _pyplot()
    arms = list(summary["arms"])
    colors = {
        "real": "#4c4c4c",
        "weighted": "#1f77b4",
        "oversample": "#1f77b4",
        "classic": "#1f77b4",
        "synthetic": "#2ca02c",
        "synthetic_only": "#d62728",
    }
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(3.3 * len(metrics) + 1.2, 0.32 * len(arms) + 1.1), sharey=True, squeeze=False
    )
    y = np.arange(len(arms))[::-1]
    for ax, key in zip(axes[0], metrics):
        means = np.array([summary["arms"][a]["metrics"][key]["mean"] for a in arms])
        stds = np.nan_to_num(np.array([summary["arms"][a]["metrics"][key]["std"] for a in arms]))
        ax.barh(
            y,
            means,
            xerr=stds,
            capsize=2,
            color=[colors.get(summary["arms"][a]["kind"], "#888") for a in arms],
            alpha=0.85,
        )
        base = summary["arms"].get(summary["baseline"])
        if base is not None:
            ax.axvline(base["metrics"][key]["mean"], ls="--", lw=1, color="k")
        lo = np.nanmin(means - stds) if np.isfinite(means).any() else 0.0
        ax.set_xlim(max(0.0, lo - 0.05), 1.0)
        ax.set_title(key.replace("_", " "), fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=8)
    axes[0][0].set_yticks(y, arms)
    return _save_figure(
        fig,
        path,
        title=f"{summary['classifier']} on {summary['dataset']}, real test split: mean ± std over "
        f"{summary['seeds']} seeds (dashed: {summary['baseline']})",
        dpi=110,
    )
