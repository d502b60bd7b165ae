"""``radgen classify``: one judge (classifier + training settings) alone on a dataset, over seeds.

The same code path as every arm of ``radgen augment`` (``classifiers.judge.train_and_evaluate``):
seed s fixes initialisation, batch order and augmentation draws; the validation split selects
the epoch (and the binary decision threshold when the judge has one); the test split is scored
once per seed. The dataset's own validation split is used when it has one (PneumoniaMNIST's
official split); otherwise ``data.val_from_train`` carves a patient-level one (default 0.1).

Outputs ``runs/classify-<time>-<id>/``: ``config.yaml``, ``results.jsonl`` (one line per seed),
``results.json`` (mean +- sample std over seeds of every test metric, per-seed values, the
thresholds), ``summary.md``, ``confusion.png`` (confusion matrix summed over seeds, row-normalised)
and ``roc.png`` (test ROC curve of each seed, AUROC in the legend).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from radgen import runfolder as rf
from radgen.classifiers.judge import DEFAULT_JUDGE, JUDGES, train_seeds
from radgen.classifiers.nets import build_classifier
from radgen.classifiers.train import ClassifierTrainConfig
from radgen.config import apply_overrides, from_dict, to_dict
from radgen.data import DataConfig, load_dataset
from radgen.data.base import DataSplits, ImageSet
from radgen.errors import ConfigError
from radgen.experiments.stats import mean_std
from radgen.io import write_json, write_text

METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "auroc")


@dataclass
class ClassifyConfig:
    """``radgen classify``'s settings (YAML): the data, the judge, seeds and training overrides."""

    data: DataConfig = field(default_factory=lambda: DataConfig(name="pneumoniamnist"))
    judge: str = DEFAULT_JUDGE  # preset: network + training settings (`radgen list classifiers`)
    classifier: str | None = None  # network override (default: the judge's)
    classifier_options: dict[str, Any] | None = None  # default: the judge's
    train: ClassifierTrainConfig | None = None  # default: the judge's
    seeds: int = 3
    ensemble: Literal["off", "batched"] = "off"  # batched: train the seeds together (classifiers.ensemble)
    max_train: int | None = None  # stratified subsample of the training split (smoke runs)
    name: str | None = None
    output_dir: str = "runs"


def resolve_judge(
    judge: str, classifier: str | None, options: dict[str, Any] | None, train: dict[str, Any] | None
) -> tuple[str, dict[str, Any], ClassifierTrainConfig]:
    """The judge's network, options and training config with any explicit value on top
    (``train`` is a partial dict: only the keys given replace the judge's)."""
    j = JUDGES.get(judge)
    net = classifier or j.classifier
    opts = dict(j.options if options is None and net == j.classifier else options or {})
    base = to_dict(j.train)
    base.update(train or {})
    return net, opts, from_dict(ClassifierTrainConfig, base, prefix="train.")


def load_classify_config(data: dict[str, Any], overrides: list[str] | None = None) -> ClassifyConfig:
    """A ClassifyConfig from a (partial) dict and dotted overrides; the judge fills what is not given."""
    d = apply_overrides(dict(data), overrides or [])
    judge = d.get("judge", DEFAULT_JUDGE)
    net, opts, tcfg = resolve_judge(judge, d.get("classifier"), d.get("classifier_options"), d.get("train"))
    d.update(classifier=net, classifier_options=opts, train=to_dict(tcfg))
    cfg = from_dict(ClassifyConfig, d)
    if cfg.seeds < 1:
        raise ConfigError(f"seeds={cfg.seeds} must be >= 1 (2 or more for a std)")
    return cfg


def classify_splits(cfg: ClassifyConfig, splits: DataSplits) -> tuple[ImageSet, ImageSet, ImageSet]:
    """The train, val and test ImageSets the judge uses (train subsampled to ``max_train``)."""
    from radgen.data.splits import stratified_subsample

    for s in ("train", "val", "test"):
        if s not in splits or not len(splits[s]):
            raise ConfigError(
                f"dataset {cfg.data.name!r} has no {s!r} split; classify needs train, val and test "
                "(set data.val_from_train, e.g. --val-from-train 0.1)"
            )
    train = splits["train"]
    if train.task != "multiclass":
        raise ConfigError(f"dataset {cfg.data.name!r} is multilabel; classify needs a multiclass dataset")
    if cfg.max_train is not None:
        train = stratified_subsample(train, cfg.max_train, cfg.data.seed)
    return train, splits["val"], splits["test"]


def run_classify(
    cfg: ClassifyConfig, *, out_dir: Path | None = None, progress: bool = True, splits: DataSplits | None = None
) -> tuple[Path, dict[str, Any]]:
    """Train and score the judge over ``cfg.seeds`` seeds; return the output folder and ``results.json``."""
    from radgen.outputs import new_run_dir

    started = time.perf_counter()
    if cfg.classifier is None or cfg.train is None or cfg.classifier_options is None:
        net, opts, tcfg = resolve_judge(
            cfg.judge, cfg.classifier, cfg.classifier_options, to_dict(cfg.train) if cfg.train else None
        )
        cfg = replace(cfg, classifier=net, classifier_options=opts, train=tcfg)
    splits = splits or load_dataset(cfg.data, progress=progress)
    train, val, test = classify_splits(cfg, splits)
    build_classifier(  # options the network cannot be built with are refused before the folder is made
        cfg.classifier,
        in_channels=train.channels,
        image_size=train.image_size[0],
        num_classes=len(train.class_names),
        **cfg.classifier_options,
    )
    made = out_dir is None or not Path(out_dir).exists()
    out = out_dir or new_run_dir(cfg.output_dir, cfg.name or "classify")
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _classify_into(cfg, out, splits, (train, val, test), started)
    except BaseException:
        log = out / rf.CLASSIFY_LOG
        if made and (not log.is_file() or log.stat().st_size == 0):  # failed before its first seed: no half folder
            shutil.rmtree(out, ignore_errors=True)
        raise


def _classify_into(
    cfg: ClassifyConfig, out: Path, splits: DataSplits, sets: tuple[ImageSet, ImageSet, ImageSet], started: float
) -> tuple[Path, dict[str, Any]]:
    train, val, test = sets
    write_text(out / rf.CONFIG, yaml.safe_dump(to_dict(cfg), sort_keys=False))
    rows, probs = [], []
    cfgs = [replace(cfg.train, seed=cfg.train.seed + s) for s in range(cfg.seeds)]
    groups = [cfgs] if cfg.ensemble == "batched" else [[c] for c in cfgs]
    with open(out / rf.CLASSIFY_LOG, "a") as log:
        for group in groups:
            seeds = ", ".join(str(c.seed) for c in group)
            print(f"radgen: classify {cfg.classifier}, seed(s) {seeds} of {cfg.seeds}", file=sys.stderr, flush=True)
            for row in train_seeds(
                [train],
                val,
                test,
                classifier=cfg.classifier,
                options=cfg.classifier_options,
                cfgs=group,
                batched=cfg.ensemble == "batched",
            ):
                probs.append(row.pop("test_prob"))
                row.pop("val_prob", None)
                rows.append(row)
                log.write(json.dumps(row) + "\n")
                log.flush()
    summary = summarize_seeds(rows, test.class_names)
    summary.update(
        {
            "dataset": splits.name,
            "judge": cfg.judge,
            "classifier": cfg.classifier,
            "classifier_options": cfg.classifier_options,
            "train": to_dict(cfg.train),
            "splits": {"train": train.class_counts(), "val": val.class_counts(), "test": test.class_counts()},
            "image_size": list(train.image_size),
            "seconds": round(time.perf_counter() - started, 1),
        }
    )
    np.savez_compressed(out / rf.CLASSIFY_PROBS, probs=np.stack(probs), labels=test.labels.numpy())
    write_json(out / rf.CLASSIFY_RESULTS, summary)
    write_text(out / rf.CLASSIFY_SUMMARY, classify_markdown(summary))
    plot_confusion(summary, out / rf.CLASSIFY_CONFUSION)
    plot_roc(np.stack(probs), test.labels.numpy(), summary, out / rf.CLASSIFY_ROC)
    return out, summary


def summarize_seeds(rows: list[dict[str, Any]], class_names: tuple[str, ...]) -> dict[str, Any]:
    """Mean, standard deviation and per-seed values of every metric over the seeds."""
    keys = list(METRICS) + [f"{k}/{c}" for k in ("precision", "recall", "f1") for c in class_names]
    out: dict[str, Any] = {
        "class_names": list(class_names),
        "seeds": [r["seed"] for r in rows],
        "test": {k: mean_std([r["test"][k] for r in rows]) for k in keys},
        "val": {k: mean_std([r["val"][k] for r in rows]) for k in METRICS},
        "per_seed": {k: [r["test"][k] for r in rows] for k in keys},
        "thresholds": [r["threshold"] for r in rows],
        "confusion_matrix_sum": np.sum([r["test"]["confusion_matrix"] for r in rows], axis=0).tolist(),
        "best_epochs": [r["best_epoch"] for r in rows],
        "seconds_per_seed": [r["seconds"] for r in rows],
    }
    if all("test_argmax" in r for r in rows):
        out["test_argmax"] = {k: mean_std([r["test_argmax"][k] for r in rows]) for k in METRICS}
    return out


def _pm(m: dict[str, float]) -> str:
    return f"{m['mean']:.3f}" if np.isnan(m["std"]) else f"{m['mean']:.3f} ± {m['std']:.3f}"


def classify_markdown(s: dict[str, Any]) -> str:
    """``summarize_seeds``'s result as the Markdown of classify.md."""
    names = s["class_names"]
    t = s["train"]
    lines = [
        f"`{s['classifier']}` ({s['judge']} judge; options {s['classifier_options']}) on {s['dataset']} "
        f"({s['image_size'][0]} px), {len(s['seeds'])} seeds, mean ± std over seeds. Train {s['splits']['train']}, "
        f"val {s['splits']['val']}, test {s['splits']['test']}. Training: {t['epochs']} epochs, {t['optimizer']} "
        f"lr {t['lr']} ({t['schedule']}), batch {t['batch_size']}, augment {t['augment']}, selection {t['select']}, "
        f"decision {t['threshold']}.",
        "",
        "| split | accuracy | balanced acc. | macro-F1 | AUROC | " + " | ".join(f"recall {c}" for c in names) + " |",
        "|---|---|---|---|---|---|" + "---|" * (len(names) - 1),
        "| test | "
        + " | ".join(_pm(s["test"][k]) for k in METRICS)
        + " | "
        + " | ".join(_pm(s["test"][f"recall/{c}"]) for c in names)
        + " |",
    ]
    if "test_argmax" in s:
        lines.append(
            "| test, argmax | " + " | ".join(_pm(s["test_argmax"][k]) for k in METRICS) + " |" + " |" * len(names)
        )
    lines.append("| val | " + " | ".join(_pm(s["val"][k]) for k in METRICS) + " |" + " |" * len(names))
    thr = [f"{x:.3f}" if x is not None else "argmax" for x in s["thresholds"]]
    lines += [
        "",
        f"Thresholds (from val): {', '.join(thr)}; best epochs {s['best_epochs']}; "
        f"seconds per seed {s['seconds_per_seed']}.",
    ]
    return "\n".join(lines) + "\n"


def plot_confusion(summary: dict[str, Any], path: Path) -> Path:
    """The mean confusion matrix over the seeds as a PNG at ``path``."""
    from radgen.viz import _pyplot, _save_figure

    plt = _pyplot()
    cm = np.asarray(summary["confusion_matrix_sum"], dtype=np.float64)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    names = summary["class_names"]
    k = len(names)
    fig, ax = plt.subplots(figsize=(1.2 * k + 2.2, 1.1 * k + 1.6))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(
                j, i, f"{norm[i, j]:.2f}\n({int(cm[i, j])})", ha="center", va="center",
                color="white" if norm[i, j] > 0.5 else "black", fontsize=8,
            )  # fmt: skip
    ax.set_xticks(range(k), names, fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return _save_figure(
        fig, path, title=f"test confusion, summed over {len(summary['seeds'])} seeds (row-normalised)", dpi=110
    )


def plot_roc(probs: np.ndarray, labels: np.ndarray, summary: dict[str, Any], path: Path) -> Path:
    """Test ROC curve per seed (binary: of the last class; multiclass: one-vs-rest per class, seed 0)."""
    from sklearn.metrics import roc_curve

    from radgen.viz import _pyplot, _save_figure

    plt = _pyplot()
    names = summary["class_names"]
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    if len(names) == 2:
        for s, p in zip(summary["seeds"], probs):
            fpr, tpr, _ = roc_curve(labels, p[:, 1])
            auc = summary["per_seed"]["auroc"][summary["seeds"].index(s)]
            ax.plot(fpr, tpr, lw=1.2, label=f"seed {s}: AUROC {auc:.3f}")
    else:
        for c, name in enumerate(names):
            fpr, tpr, _ = roc_curve(labels == c, probs[0][:, c])
            ax.plot(fpr, tpr, lw=1.2, label=f"{name} vs rest")
    ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color="grey")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    pos = names[-1] if len(names) == 2 else "one-vs-rest"
    return _save_figure(fig, path, title=f"test ROC ({pos})", dpi=110)
