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
- ``duplicate``: the count-matched control of ``synthetic`` (Pink & Sykes, PMLR 2026): the
  training set of ``+G`` with each synthetic image replaced by a real image of the same class
  drawn with replacement (``sample_seed``), so sizes, class counts, steps per epoch and
  augmentation equal the synthetic arm's; only real pixels.
- ``finetune``: pretrain on the synthetic-only set of G (the ``G only`` arm's images), then
  fine-tune on the real training split only, with a fresh optimizer and schedule (RoentGen-v2,
  arXiv 2508.16783: +6.5 % against +2.7 % for mixing). Both stages select on the real val split.
- ``sweep``: the amount sweep: real plus s x (N_max - N_c) synthetic images for every class c
  below the largest class, for each s in ``amounts``. ``ratio`` r gives class c
  round(r N_max) - N_c images, so s = 1 is ratio 1 (balanced) and in general
  s = (r N_max - N_c) / (N_max - N_c); s = 2 makes the minority the majority.
- ``filtered``: ``synthetic`` with only the samples that the evaluation's label-fidelity
  classifier (``radgen-cnn001``, design document 001's CNN trained on the real training split)
  assigns to their requested class with probability >= ``filter_confidence``; the pool is drawn
  ``filter_oversample`` x larger so that enough pass (fewer is an error naming the pass rate).

The classifier is a judge (``classifiers.judge``; default ``resnet18``, the strong one;
``classifier: cnn001`` gives design document 001's CNN with its former settings); an arm's
remedy changes only its own setting (``classic`` replaces the judge's augmentation).

Protocol: the validation split is patient-level, carved from the real training split
(``data.val_from_train``; the official chest X-ray val split has 16 images); it selects the
epoch and stops training early. Synthetic images only ever enter the training split; the
validation and test splits are real and identical across arms. Each arm is trained over
``seeds`` seeds; seed s fixes the classifier's initialisation, batch order and augmentation
draws, and is shared by every arm, so arms are compared pairwise. The comparisons are a trial
(``experiments.trial``): endpoints, margins and two families (primary: the config's ``trial.primary``,
default ``+G`` against ``real``, ``duplicate`` and ``weighted``; secondary: every other arm against
``real``) are written to ``preregistration.json`` before the first fit; seeds are added in looks until
every primary comparison is decisive ("helps", "hurts", "equivalent within +-delta") or the seeds or the
time budget end; intervals count training seeds and test images. ``ensemble: batched`` (``auto``: where it
pays) trains an arm's seeds together
(``classifiers.ensemble``; the same weights as one by one, to float32 rounding).
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
import math
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import yaml

from radgen.classifiers.grid import FitJob, resolve_workers, run_grid
from radgen.classifiers.judge import DEFAULT_JUDGE, JUDGES, train_seeds
from radgen.classifiers.train import ClassifierTrainConfig
from radgen.config import from_dict, load_yaml, to_dict
from radgen.data import DataConfig, load_dataset
from radgen.data.base import DataSplits, ImageSet
from radgen.data.splits import stratified_subsample
from radgen.errors import ConfigError
from radgen.experiments.stats import (
    holm,
    mean_std,
    minimum_detectable_effect,
    paired_difference,
    paired_interval,
    paired_t_pvalue,
    seeds_needed,
)
from radgen.experiments.trial import (
    DECISIVE,
    ENDPOINTS,
    TrialConfig,
    analyse_family,
    check_trial,
    families,
    fit_endpoints,
    futile,
    majority_recall_on_val,
    minority_class,
    preregistration,
)
from radgen.io import write_json, write_text
from radgen.progress import Steps
from radgen.reports.augment import summary_markdown
from radgen.runfolder import AUGMENT_BARS, AUGMENT_LOG, AUGMENT_POOL, AUGMENT_RESULTS, AUGMENT_SUMMARY, CONFIG

ARM_KINDS = (
    "real",
    "weighted",
    "oversample",
    "classic",
    "synthetic",
    "synthetic_only",
    "duplicate",
    "finetune",
    "sweep",
    "filtered",
)
GENERATOR_KINDS = ("synthetic", "synthetic_only", "finetune", "sweep", "filtered")  # one arm per generator
SUMMARY_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "auroc")
TESTED_METRICS = ("balanced_accuracy", "macro_f1", "auroc")  # Holm-corrected across arms, each metric apart
BASELINE = "real"
TARGET_EFFECT = 0.02  # +2 points of balanced accuracy: the effect whose seed count the summary states
AUGMENT_PREREGISTRATION = "preregistration.json"  # the trial's declared design, written before the first fit
AUGMENT_SCORES = "scores.npz"  # every fit's validation and test probabilities (arm, seed), for the endpoints
FILTER_CLASSIFIER = "radgen-cnn001"  # the evaluation's label-fidelity classifier (radgen.evaluation)
_JUDGE = JUDGES.get(DEFAULT_JUDGE)


@dataclass
class AugmentConfig:
    data: DataConfig = field(default_factory=lambda: DataConfig(val_from_train=0.1))
    classifier: str = _JUDGE.classifier  # network; the YAML loader fills options and train from the judge
    classifier_options: dict[str, Any] = field(default_factory=lambda: dict(_JUDGE.options))
    train: ClassifierTrainConfig = field(default_factory=lambda: replace(_JUDGE.train))
    judge: str | None = None  # preset (`radgen list classifiers`); default: the judge named like `classifier`
    generators: dict[str, str] = field(default_factory=dict)  # label -> run directory (or its export/)
    arms: list[str] = field(default_factory=lambda: list(ARM_KINDS))
    ratio: float = 1.0  # class : largest-class count after adding synthetic images (1.0 = balanced)
    synthetic_only_fraction: float = 1.0  # synthetic-only and finetune arms: per class, this x the real count
    amounts: list[float] = field(default_factory=lambda: [0.25, 0.5, 2.0])  # sweep: s x (N_max - N_c); 1 = ratio 1
    filter_confidence: float = 0.8  # filtered: keep samples with p(requested class) >= this
    filter_oversample: float = 2.0  # filtered: draw this x the needed images before filtering
    filter_epochs: int = 8  # epochs of the label-fidelity classifier (the evaluation's default)
    pretrain_epochs: int | None = None  # finetune: epochs on synthetic images (default train.epochs)
    seeds: int = 5  # with trial.sequential: the most seeds (looks at trial.first_look, then every look_every)
    trial: TrialConfig = field(default_factory=TrialConfig)  # endpoints, families, margins, the sequential design
    ensemble: Literal["auto", "off", "batched"] = "auto"  # an arm's seeds together (auto: where it pays)
    workers: int | str = 1  # fits of the (arm, seed) grid at a time, in worker processes (classifiers.grid); auto
    sample: dict[str, Any] = field(default_factory=dict)  # passed to model.sample: steps, guidance_scale, sampler, eta
    sample_seed: int = 12345
    max_train: int | None = None  # stratified subsample of the real training split (smoke runs)
    allow_changed_data: bool = False  # go on when a generator's training data changed since it trained (recorded)
    name: str | None = None
    output_dir: str = "runs"


def load_augment_config(
    path_or_dict: str | Path | dict[str, Any], overrides: list[str] | None = None
) -> AugmentConfig:
    from radgen.config import apply_overrides
    from radgen.experiments.classify import resolve_judge

    data = dict(path_or_dict) if isinstance(path_or_dict, dict) else load_yaml(Path(path_or_dict))
    data = apply_overrides(data, overrides or [])
    judge = data.get("judge") or (data.get("classifier") if data.get("classifier") in JUDGES else DEFAULT_JUDGE)
    net, opts, tcfg = resolve_judge(judge, data.get("classifier"), data.get("classifier_options"), data.get("train"))
    data.update(judge=judge, classifier=net, classifier_options=opts, train=to_dict(tcfg))
    return check_config(from_dict(AugmentConfig, data))


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
        if kind in GENERATOR_KINDS or kind == "duplicate":
            if not cfg.generators and kind != "duplicate":
                raise ConfigError(f"arms: {arm!r} needs generators (label: run directory) in the config")
            if ":" in arm and arm.split(":", 1)[1] not in cfg.generators:
                raise ConfigError(f"arms: {arm!r} names no generator; generators: {', '.join(cfg.generators)}")
    if cfg.seeds < 1:
        raise ConfigError(f"seeds={cfg.seeds} must be >= 1 (3 or more to get an interval)")
    check_trial(cfg.trial)
    if resolve_workers(cfg.workers) > 1 and cfg.ensemble == "batched":
        raise ConfigError(
            f"workers={cfg.workers} and ensemble=batched: a worker trains one seed; use ensemble=auto or workers=1"
        )
    if not (0 < cfg.ratio < math.inf) or not 0 < cfg.synthetic_only_fraction <= 1:
        raise ConfigError(
            f"ratio={cfg.ratio} must be a finite number > 0 and synthetic_only_fraction={cfg.synthetic_only_fraction} "
            "in (0, 1]"
        )
    if cfg.max_train is not None and cfg.max_train < 2:
        raise ConfigError(f"max_train={cfg.max_train} must be at least 2 per class, or null for the whole split")
    if any(not a > 0 for a in cfg.amounts) or ("sweep" in cfg.arms and not cfg.amounts):
        raise ConfigError(f"amounts={cfg.amounts} must be > 0 (and given for the sweep arm), e.g. [0.25, 0.5, 2]")
    if not 0 <= cfg.filter_confidence < 1 or not cfg.filter_oversample >= 1:
        raise ConfigError(
            f"filter_confidence={cfg.filter_confidence} must be in [0, 1) and "
            f"filter_oversample={cfg.filter_oversample} >= 1"
        )
    if BASELINE not in cfg.arms:
        raise ConfigError(f"arms must include the baseline {BASELINE!r}: every arm is compared with it")
    return cfg


# --------------------------------------------------------------------------- arms and data
@dataclass
class Arm:
    name: str
    kind: str
    generator: str | None = None
    amount: float | None = None  # sweep: s in s x (N_max - N_c)


def _arm_name(kind: str, g: str, amount: float | None = None) -> str:
    return {
        "synthetic": f"+{g}",
        "synthetic_only": f"{g} only",
        "finetune": f"{g} pretrain, real finetune",
        "filtered": f"+{g} filtered",
        "sweep": f"+{g} x{amount:g}" if amount is not None else f"+{g}",
    }[kind]


def expand_arms(cfg: AugmentConfig) -> list[Arm]:
    out: list[Arm] = []
    for text in cfg.arms:
        kind, _, gen = text.partition(":")
        if kind in GENERATOR_KINDS:
            for g in [gen] if gen else list(cfg.generators):
                if kind == "sweep":
                    out += [Arm(_arm_name(kind, g, s), kind, g, float(s)) for s in cfg.amounts]
                else:
                    out.append(Arm(_arm_name(kind, g), kind, g))
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


def synthetic_counts_amount(labels: torch.Tensor, num_classes: int, amount: float) -> dict[int, int]:
    """The amount sweep: round(s x (N_max - N_c)) synthetic images for every class c below the largest."""
    counts = torch.bincount(labels.long(), minlength=num_classes).tolist()
    top = max(counts)
    return {c: round(amount * (top - n)) for c, n in enumerate(counts) if round(amount * (top - n)) > 0}


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


def to_imageset(images: torch.Tensor, labels: torch.Tensor, like: ImageSet, *, origin: str) -> ImageSet:
    """Generated images in [0, 1] as an in-memory ImageSet stored like ``like`` (uint8 when it is): the
    same metadata columns, ``path`` = ``synthetic/<origin>/<i>``, ``patient`` = ``synthetic:<origin>``,
    other columns empty (-1 / nan for numbers). Only the view and the metadata columns come from ``like``:
    its storage and ``rows`` (a memory-mapped subset's index into the cache) describe its own pixels."""
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
    return replace(like, pixels=px[:, :1], labels=labels.long(), meta=meta, storage="memory", rows=None)


def is_synthetic(images: ImageSet) -> np.ndarray:
    return np.array([p.startswith("synthetic/") for p in images.paths], dtype=bool)


def _take_passed(pool: ImageSet, passed: np.ndarray, c: int, k: int, generator: str, confidence: float) -> np.ndarray:
    of_c = pool.labels.numpy() == c
    idx = np.flatnonzero(of_c & passed)[:k]
    if len(idx) < k:
        rate = float(passed[of_c].mean()) if of_c.any() else 0.0
        raise ConfigError(
            f"filtered arm of {generator!r}: {int((of_c & passed).sum())} of {int(of_c.sum())} class-{c} samples "
            f"pass confidence {confidence} (pass rate {rate:.2f}), {k} needed; "
            "raise filter_oversample or lower filter_confidence"
        )
    return idx


def synthetic_counts(arm: Arm, real: ImageSet, cfg: AugmentConfig) -> dict[int, int]:
    """Synthetic images per class that an arm adds to (or, synthetic-only and finetune, trains on)."""
    if arm.kind in ("synthetic", "filtered", "duplicate"):
        return synthetic_counts_to_ratio(real.labels, real.num_classes, cfg.ratio)
    if arm.kind == "sweep":
        return synthetic_counts_amount(real.labels, real.num_classes, float(arm.amount))
    if arm.kind in ("synthetic_only", "finetune"):
        return synthetic_only_counts(real.labels, real.num_classes, cfg.synthetic_only_fraction)
    return {}


def duplicate_real(real: ImageSet, need: dict[int, int], seed: int) -> ImageSet:
    """Real images of each class c drawn with replacement, need[c] of them (the count-matched control)."""
    rng = np.random.default_rng(seed)
    labels = real.labels.numpy()
    picks = [rng.choice(np.flatnonzero(labels == c), size=k, replace=True) for c, k in sorted(need.items())]
    return real.subset(np.concatenate(picks)) if picks else real.subset([])


def arm_stages(
    arm: Arm,
    real: ImageSet,
    pools: dict[str, ImageSet],
    cfg: AugmentConfig,
    *,
    passed: dict[str, np.ndarray] | None = None,
) -> list[ImageSet]:
    """The training sets of one arm, in order: one set, or (finetune) the synthetic pretraining set
    then the real training split. Validation and test are never touched."""
    if arm.kind == "finetune":
        return [arm_training_set(Arm(arm.name, "synthetic_only", arm.generator), real, pools, cfg), real]
    return [arm_training_set(arm, real, pools, cfg, passed=passed)]


def arm_training_set(
    arm: Arm,
    real: ImageSet,
    pools: dict[str, ImageSet],
    cfg: AugmentConfig,
    *,
    passed: dict[str, np.ndarray] | None = None,
) -> ImageSet:
    """The training split of one arm (validation and test are never touched)."""
    need = synthetic_counts(arm, real, cfg)
    if arm.kind in ("synthetic", "sweep"):
        pool = pools[arm.generator]
        return ImageSet.concat([real] + [pool.subset(_take(pool, c, k, arm.generator)) for c, k in need.items()])
    if arm.kind == "filtered":
        pool, ok = pools[arm.generator], (passed or {}).get(arm.generator)
        if ok is None:
            raise ConfigError(
                f"filtered arm of {arm.generator!r}: its pool has not been labelled by {FILTER_CLASSIFIER}"
            )
        parts = [
            pool.subset(_take_passed(pool, ok, c, k, arm.generator, cfg.filter_confidence)) for c, k in need.items()
        ]
        return ImageSet.concat([real] + parts)
    if arm.kind == "duplicate":
        return ImageSet.concat([real, duplicate_real(real, need, cfg.sample_seed)])
    if arm.kind in ("synthetic_only", "finetune"):
        pool = pools[arm.generator]
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
    """Per generator, how many images of each class its arms need (filtered: ``filter_oversample`` x)."""
    sizes: dict[str, dict[int, int]] = {}
    for arm in arms:
        if arm.generator is None:
            continue
        need = sizes.setdefault(arm.generator, {})
        factor = cfg.filter_oversample if arm.kind == "filtered" else 1.0
        for c, k in synthetic_counts(arm, real, cfg).items():
            need[c] = max(need.get(c, 0), math.ceil(factor * k))
    return sizes


def label_pool(pool: ImageSet, cfg: AugmentConfig) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """p(requested class) of every pool image under the label-fidelity classifier, the pass mask
    (p >= ``filter_confidence``) and the classifier's record."""
    from radgen.evaluation import FIDELITY_CLASSIFIER
    from radgen.metrics.features import get_extractor

    assert FIDELITY_CLASSIFIER == FILTER_CLASSIFIER  # one classifier for label fidelity and filtering
    ex = get_extractor(FILTER_CLASSIFIER, data_config=cfg.data, epochs=cfg.filter_epochs)
    with torch.no_grad():
        probs = torch.cat([ex.probs_fn(pool.images[i : i + 512]) for i in range(0, len(pool), 512)]).double().numpy()
    p = probs[np.arange(len(pool)), pool.labels.numpy()]
    return p, p >= cfg.filter_confidence, {"name": ex.name, "weights_sha256": ex.weights_sha256, "record": ex.record}


def check_generator_data(path: str | Path, data: DataConfig, splits: DataSplits, *, allow: bool) -> dict | None:
    """When the generator run at ``path`` trained on the experiment's own data config, its split manifest must
    still match the experiment's training split (``radgen.data.manifest.check_unchanged``): a change is refused
    unless ``allow``, then returned for the results. Runs trained on other data (or predating manifests) pass."""
    from radgen.config import load_yaml
    from radgen.data.manifest import check_unchanged
    from radgen.runfolder import SPLIT_MANIFEST, RunFolder

    run = Path(path)
    run = run.parent if run.name == "export" else run
    cfg_path = RunFolder(run).config
    try:
        trained_on = load_yaml(cfg_path).get("data") if cfg_path.is_file() else None
    except (OSError, ValueError, AttributeError):
        trained_on = None
    if not isinstance(trained_on, dict) or not _same_data(from_dict(DataConfig, trained_on), data):
        return None
    return check_unchanged(run / SPLIT_MANIFEST, splits["train"], allow=allow, run=run)


_HOW_STORED = ("cache", "storage", "max_memory_gb", "data_dir")  # where and how data are kept, not which data


def _same_data(a: DataConfig, b: DataConfig) -> bool:
    """Whether two data configs name the same images, splits and preprocessing (storage settings aside)."""
    da, db = to_dict(a), to_dict(b)
    return {k: v for k, v in da.items() if k not in _HOW_STORED} == {
        k: v for k, v in db.items() if k not in _HOW_STORED
    }


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
def look_schedule(cfg: AugmentConfig) -> list[int]:
    """Seeds at each look: ``trial.first_look``, then every ``trial.look_every``, up to ``seeds`` (one look at
    ``seeds`` when the design is fixed)."""
    t = cfg.trial
    if not t.sequential or cfg.seeds <= t.first_look:
        return [cfg.seeds]
    return list(range(t.first_look, cfg.seeds, t.look_every)) + [cfg.seeds]


def _log(msg: str) -> None:
    print(f"radgen: {msg}", file=sys.stderr, flush=True)


def run_augment(
    cfg: AugmentConfig, *, out_dir: Path | None = None, progress: bool = True, splits: DataSplits | None = None
) -> tuple[Path, dict[str, Any]]:
    """Run every arm over every seed; return the output folder and the summary (``results.json``)."""
    from radgen.outputs import new_run_dir

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
    n_classes = len(splits["train"].class_names)
    if cfg.max_train is not None and cfg.max_train < 2 * n_classes:
        raise ConfigError(
            f"max_train={cfg.max_train} leaves fewer than 2 training images per class ({n_classes} classes); "
            f"use at least {2 * n_classes}, or null for the whole split"
        )
    arms = expand_arms(cfg)
    changed = {  # a generator whose training data changed since: refused before the folder, or recorded
        gen: c
        for gen, path in cfg.generators.items()
        if (c := check_generator_data(path, cfg.data, splits, allow=cfg.allow_changed_data)) is not None
    }
    if changed:
        _log(f"generators trained on data that changed since (allowed, recorded): {', '.join(changed)}")
    made = out_dir is None or not Path(out_dir).exists()
    out = out_dir or new_run_dir(cfg.output_dir, cfg.name or "augment")
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _augment_into(cfg, out, splits, real, arms, started, progress=progress, changed=changed)
    except BaseException:
        log = out / AUGMENT_LOG
        if made and (not log.is_file() or log.stat().st_size == 0):  # failed before its first fit: no half folder
            shutil.rmtree(out, ignore_errors=True)
        raise


def _augment_into(
    cfg: AugmentConfig,
    out: Path,
    splits: DataSplits,
    real: ImageSet,
    arms: list,
    started: float,
    *,
    progress: bool,
    changed: dict[str, Any] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """The body of ``run_augment`` once its folder exists: pools, fits, statistics, files."""
    from radgen.viz import examples_per_class, save_class_grid

    val, test = splits["val"], splits["test"]
    write_text(out / CONFIG, yaml.safe_dump(to_dict(cfg), sort_keys=False))

    pools: dict[str, ImageSet] = {}
    pool_seconds: dict[str, float] = {}
    sizes = pool_sizes(real, arms, cfg)
    pool_steps = Steps("synthetic pools", len(sizes), progress=progress)
    for gen, need in sizes.items():
        t0 = time.perf_counter()
        pool_steps.step(f"sampling {sum(need.values())} images from {gen} ({cfg.generators[gen]})")
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
    pool_steps.close()
    passed: dict[str, np.ndarray] = {}
    filtering: dict[str, Any] = {}
    filtered = sorted({a.generator for a in arms if a.kind == "filtered"})
    filter_steps = Steps("label filter", len(filtered), progress=progress)
    for gen in filtered:
        filter_steps.step(f"labelling the {gen} pool with the filter classifier")
        p_req, passed[gen], who = label_pool(pools[gen], cfg)
        labels = pools[gen].labels.numpy()
        filtering[gen] = {
            "classifier": who,
            "confidence": cfg.filter_confidence,
            "pass_rate": {
                real.class_names[c]: float(passed[gen][labels == c].mean()) for c in np.unique(labels).tolist()
            },
        }
        np.save(out / f"synthetic_{gen}_p_requested.npy", p_req)
    filter_steps.close()

    names = real.class_names
    rows: list[dict[str, Any]] = []
    workers = resolve_workers(cfg.workers)
    tr = cfg.trial
    schedule = look_schedule(cfg)
    plans = {arm.name: (arm, arm_stages(arm, real, pools, cfg, passed=passed)) for arm in arms}
    changes = {
        arm.name: [{"epochs": cfg.pretrain_epochs}, {}] if arm.kind == "finetune" and cfg.pretrain_epochs else None
        for arm in arms
    }
    probs: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}  # (arm, seed) -> (val, test) probabilities
    thresholds: dict[tuple[str, int], float | None] = {}

    def arm_row(arm: Arm, stages: list[ImageSet], res: dict[str, Any]) -> dict[str, Any]:
        probs[(arm.name, res["seed"] - cfg.train.seed)] = (res.pop("val_prob"), res.pop("test_prob"))
        thresholds[(arm.name, res["seed"] - cfg.train.seed)] = res.get("threshold")
        train_set = stages[-1] if arm.kind != "finetune" else stages[0]
        return {
            "arm": arm.name,
            "kind": arm.kind,
            "generator": arm.generator,
            "amount": arm.amount,
            "train_counts": train_set.class_counts(),
            "synthetic_in_train": int(is_synthetic(train_set).sum()),
            "stages": [s.class_counts() for s in stages],
            **res,
        }

    def run_seeds(seeds: list[int], log_file) -> None:
        def logged(row: dict[str, Any]) -> dict[str, Any]:
            log_file.write(json.dumps(row) + "\n")
            log_file.flush()
            return row

        tcfgs = {a.name: [arm_train_config(a, cfg.train, seed=cfg.train.seed + s) for s in seeds] for a in arms}
        if workers == 1:  # one arm at a time, its seeds one by one or as a batched ensemble
            steps = Steps(f"arms, seeds {seeds[0]}-{seeds[-1]}", len(arms), progress=progress)
            for arm in arms:
                steps.step(f"{arm.name}: {len(seeds)} classifier fit{'s' if len(seeds) > 1 else ''}")
                stages = plans[arm.name][1]
                results = train_seeds(
                    stages,
                    val,
                    test,
                    classifier=cfg.classifier,
                    options=cfg.classifier_options,
                    cfgs=tcfgs[arm.name],
                    stage_changes=changes[arm.name],
                    batched="auto" if cfg.ensemble == "auto" else cfg.ensemble == "batched",
                )
                rows.extend(logged(arm_row(arm, stages, res)) for res in results)
            steps.close()
        else:  # the batch's grid, `workers` fits at a time (classifiers.grid)
            jobs = [
                FitJob((i, s), plans[a.name][1], val, test, cfg.classifier, cfg.classifier_options, c, changes[a.name])
                for i, a in enumerate(arms)
                for s, c in enumerate(tcfgs[a.name])
            ]
            _log(f"{len(jobs)} fits ({len(arms)} arms x {len(seeds)} seeds), {workers} at a time")
            steps = Steps(f"classifier fits, seeds {seeds[0]}-{seeds[-1]}", len(jobs), progress=progress)
            done: dict[tuple[int, int], dict[str, Any]] = {}
            for (i, s), res in run_grid(jobs, workers=workers):
                steps.step(f"{arms[i].name}, seed {seeds[s]} fitted")
                done[(i, s)] = logged(arm_row(arms[i], plans[arms[i].name][1], res))
            steps.close()
            rows.extend(done[k] for k in sorted(done))

    fams = families(tr, [a.name for a in arms], list(cfg.generators))
    prereg = preregistration(
        tr, fams, to_dict(cfg), max_seeds=cfg.seeds, created=datetime.now().isoformat(timespec="seconds")
    )
    write_json(out / AUGMENT_PREREGISTRATION, prereg)  # declared before the first fit
    _log(
        f"pre-registered {prereg['created']} (config sha256 {prereg['config_sha256'][:12]}): primary endpoint "
        f"{prereg['primary_endpoint']} (delta {prereg['delta'][prereg['primary_endpoint']]}); primary comparisons "
        + "; ".join(prereg["families"]["primary"])
        + f"; looks at {schedule} seeds"
        + (f" within {tr.budget_seconds:.0f} s" if tr.budget_seconds else "")
    )
    minority = minority_class(real.class_counts(), names)
    y_val, y_test = val.labels.numpy(), test.labels.numpy()
    endpoint_data: dict[str, dict[str, dict[int, tuple[float, np.ndarray]]]] = {e: {} for e in ENDPOINTS}
    looks: list[dict[str, Any]] = []
    analysis: dict[str, list[dict[str, Any]]] = {}
    stopped = "max_seeds"
    fits_started = time.perf_counter()
    with open(out / AUGMENT_LOG, "a") as log_file:
        done_seeds = 0
        for k, n_k in enumerate(schedule):
            run_seeds(list(range(done_seeds, n_k)), log_file)
            done_seeds = n_k
            for s in range(n_k):  # the endpoints of the new fits (thresholds from validation only)
                if (BASELINE, s) not in probs:
                    continue
                pv, _ = probs[(BASELINE, s)]
                target = majority_recall_on_val(y_val, pv, thresholds[(BASELINE, s)], minority)
                for arm in arms:
                    if s in endpoint_data["auroc"].get(arm.name, {}):
                        continue
                    pv_a, pt_a = probs[(arm.name, s)]
                    ep = fit_endpoints(y_val, pv_a, y_test, pt_a, minority=minority, target_specificity=target)
                    for e, v in ep.items():
                        endpoint_data[e].setdefault(arm.name, {})[s] = v
            elapsed = time.perf_counter() - started
            per_seed = (time.perf_counter() - fits_started) / n_k
            nxt = schedule[k + 1] if k + 1 < len(schedule) else None
            over = (
                tr.budget_seconds is not None
                and nxt is not None
                and elapsed + per_seed * (nxt - n_k) > tr.budget_seconds
            )
            final = nxt is None or over  # decided before this look's analysis: it then spends the rest of alpha
            info = schedule[: k + 1]
            analysis = {
                name: analyse_family(pairs, endpoint_data, y_test, tr, info, cfg.seeds, final=final)
                for name, pairs in fams.items()
                if pairs
            }
            verdicts = {r["comparison"]: r["verdict"] for r in analysis.get("primary", [])}
            decisive = all(v in DECISIVE for v in verdicts.values())
            hopeless = futile(analysis.get("primary", []), tr, schedule) and not final
            cp = {
                r["comparison"]: round(r["projection"]["cp"], 3)
                for r in analysis.get("primary", [])
                if "projection" in r
            }
            looks.append(
                {
                    "seeds": n_k,
                    "final": final,
                    "seconds": round(elapsed, 1),
                    "primary_verdicts": verdicts,
                    "conditional_power": cp,
                }
            )
            _log(
                f"look {k + 1} at {n_k} seeds ({elapsed:.0f} s): "
                + "; ".join(
                    f"{c}: {v}" + (f" (conditional power {cp[c]:.2f})" if c in cp and not final else "")
                    for c, v in verdicts.items()
                )
            )
            if decisive:
                stopped = "decisive"
                break
            if hopeless:
                stopped = "futility"
                break
            if over:
                stopped = "budget"
                break
    np.savez_compressed(
        out / AUGMENT_SCORES,
        arm=np.array([a for a, _ in probs]),
        seed=np.array([s for _, s in probs]),
        val_prob=np.stack([v for v, _ in probs.values()]),
        test_prob=np.stack([t for _, t in probs.values()]),
        y_val=y_val,
        y_test=y_test,
    )
    summary = summarize(rows, names)
    if changed:
        summary["generators_data_changed"] = changed  # --allow-changed-data let these through
    used = {a.name: len(endpoint_data["auroc"].get(a.name, {})) for a in arms}
    summary["trial"] = {
        "preregistration": prereg,
        "looks": looks,
        "stopped": stopped,
        "stopped_why": {
            "decisive": "every primary comparison reached a decisive verdict",
            "budget": "the time budget ended before the next look",
            "max_seeds": "the largest number of seeds was reached",
            "futility": (
                f"futile: no undecided primary comparison could reach a verdict by {cfg.seeds} seeds with conditional "
                f"power {tr.futility:g} or more under the current trend"
            ),
        }[stopped],
        "seeds_per_arm": used,
        "families": analysis,
    }
    for fam, fam_rows in analysis.items():
        for r in fam_rows:
            if r["b"] == BASELINE and r["a"] in summary["arms"]:
                summary["arms"][r["a"]]["verdict"] = r["verdict"]
                summary["arms"][r["a"]]["family"] = fam
    summary.update(
        {
            "dataset": splits.name,
            "classifier": cfg.classifier,
            "judge": cfg.judge,
            "classifier_options": cfg.classifier_options,
            "train": to_dict(cfg.train),
            "seeds": done_seeds,
            "splits": {"train": real.class_counts(), "val": val.class_counts(), "test": test.class_counts()},
            "val_patients_in_train": len(set(val.patients) & set(real.patients) - {""}),
            "pool_seconds": pool_seconds,
            "filtering": filtering,
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


def summarize(rows: list[dict[str, Any]], class_names: tuple[str, ...], *, alpha: float = 0.05) -> dict[str, Any]:
    """Per arm: mean +- std of every metric over seeds, mean confusion matrix, paired differences
    with the baseline; across arms, per tested metric, Holm-corrected p-values and intervals
    (each arm's interval at its Holm step level 1 - alpha / (m - rank + 1)); per arm, on balanced
    accuracy, the minimum detectable effect at 80 % power and level alpha / m (Holm's first,
    strictest step) from the observed paired spread, the seeds needed for +``TARGET_EFFECT``, and the verdict."""
    keys = list(SUMMARY_METRICS) + [f"{k}/{c}" for k in ("precision", "recall", "f1") for c in class_names]
    arms: dict[str, dict[str, Any]] = {}
    for r in rows:
        a = arms.setdefault(
            r["arm"],
            {
                "kind": r["kind"],
                "generator": r["generator"],
                "amount": r.get("amount"),
                "train_counts": r["train_counts"],
                "synthetic_in_train": r["synthetic_in_train"],
                "runs": [],
            },
        )
        a["runs"].append(r)
    base = {r["seed"]: r["test"] for r in arms.get(BASELINE, {}).get("runs", [])}
    diffs: dict[str, dict[str, np.ndarray]] = {}
    for name, a in arms.items():
        runs = sorted(a.pop("runs"), key=lambda r: r["seed"])
        a["seeds"] = [r["seed"] for r in runs]
        a["metrics"] = {k: mean_std([r["test"][k] for r in runs]) for k in keys}
        a["per_seed"] = {k: [r["test"][k] for r in runs] for k in keys}
        a["confusion_matrix_mean"] = np.mean([r["test"]["confusion_matrix"] for r in runs], axis=0).tolist()
        a["epochs_run"] = [r["epochs_run"] for r in runs]
        a["thresholds"] = [r.get("threshold") for r in runs]
        if name != BASELINE and base:
            shared = [r for r in runs if r["seed"] in base]
            a["vs_baseline"] = {
                k: paired_difference([r["test"][k] for r in shared], [base[r["seed"]][k] for r in shared])
                for k in keys
            }
            diffs[name] = {
                k: np.array([r["test"][k] - base[r["seed"]][k] for r in shared], dtype=np.float64)
                for k in TESTED_METRICS
            }
    compared = list(diffs)
    m = len(compared)
    for k in TESTED_METRICS:
        p = [paired_t_pvalue(diffs[a][k]) for a in compared]
        h = holm(p, alpha=alpha)
        for i, a in enumerate(compared):
            lvl = h["level"][i]
            lo, hi = paired_interval(diffs[a][k], level=1 - lvl) if not math.isnan(lvl) else (math.nan, math.nan)
            arms[a]["vs_baseline"][k].update(
                {"p": p[i], "p_holm": h["adjusted"][i], "holm_reject": h["reject"][i], "holm_level": lvl,
                 "holm_low": lo, "holm_high": hi}
            )  # fmt: skip
    for a in compared:
        d = diffs[a]["balanced_accuracy"]
        d = d[~np.isnan(d)]
        sd = float(d.std(ddof=1)) if len(d) > 1 else math.nan
        arms[a]["power"] = {
            "metric": "balanced_accuracy",
            "alpha": alpha / m,
            "power": 0.8,
            "sd_paired": sd,
            "mde": minimum_detectable_effect(sd, len(d), alpha=alpha / m) if len(d) > 1 else math.nan,
            "target_effect": TARGET_EFFECT,
            "seeds_for_target": seeds_needed(TARGET_EFFECT, sd, alpha=alpha / m) if len(d) > 1 else -1,
        }
    return {"baseline": BASELINE, "class_names": list(class_names), "arms": arms, "alpha": alpha, "compared": m}


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
        "sweep": "#98df8a",
        "filtered": "#17becf",
        "finetune": "#9467bd",
        "duplicate": "#8c564b",
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
