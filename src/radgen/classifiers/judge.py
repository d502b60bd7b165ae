"""Judges: named classifier presets (network + training settings), and the one function that
trains a classifier on a training set and scores it on a validation and a test split.

Every downstream number in radgen goes through :func:`train_and_evaluate`: ``radgen classify``
(one judge alone over seeds) and every arm of ``radgen augment``. The validation split selects
the epoch and, for binary tasks with ``threshold: val_balanced``, the decision threshold; the
test split is scored once, after both are fixed.

Shipped judges (``radgen list classifiers``):

- ``resnet18`` (the default): a ResNet-18 adapted to small inputs (He et al. 2016 with a 3x3
  stride-1 stem and no max-pool, as for CIFAR; GroupNorm), width 16, 12 epochs, AdamW
  (lr 2e-3, weight decay 0.05) under a one-cycle schedule, batch 128, light augmentation
  (rotation +-10 deg, translation +-8 %, no flips), the epoch of the best validation AUROC,
  and the threshold of best validation balanced accuracy. Settings were chosen on
  PneumoniaMNIST's validation split (docs/results/judge.md).
- ``cnn001``: design document 001's CNN with the settings the demo used before (Adam 1e-3,
  batch 64, at most 5 epochs, early stopping on validation loss with patience 2, argmax).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from radgen.classifiers.metrics import classification_metrics
from radgen.classifiers.nets import build_classifier
from radgen.classifiers.train import ClassifierTrainConfig, choose_threshold, fit_classifier, predict_proba
from radgen.data.base import ImageSet
from radgen.registry import Registry


@dataclass(frozen=True)
class Judge:
    """A named classifier preset: the network, its options and its training settings."""

    classifier: str
    options: dict[str, Any] = field(default_factory=dict)
    train: ClassifierTrainConfig = field(default_factory=ClassifierTrainConfig)


JUDGES: Registry[Judge] = Registry("judge")
DEFAULT_JUDGE = "resnet18"

JUDGES.register(
    "resnet18",
    "ResNet-18 for small inputs (3x3 stem, no max-pool, GroupNorm), width 16, 12 epochs AdamW one-cycle, "
    "light augmentation, selection by val AUROC, threshold by val balanced accuracy",
)(
    Judge(
        "resnet18",
        {"width": 16},
        ClassifierTrainConfig(
            epochs=12,
            batch_size=128,
            lr=2e-3,
            weight_decay=0.05,
            optimizer="adamw",
            schedule="onecycle",
            augment="light",
            select="val_auroc",
            threshold="val_balanced",
            patience=None,
        ),
    )
)
JUDGES.register(
    "cnn001", "design document 001's CNN, Adam 1e-3, batch 64, <= 5 epochs, early stop on val loss (patience 2)"
)(Judge("cnn001", {}, ClassifierTrainConfig(epochs=5, batch_size=64, lr=1e-3, patience=2)))


def build_seeded(
    classifier: str, options: dict[str, Any], like: ImageSet, seed: int
) -> nn.Module:  # same initialisation for a seed, whatever the arm
    torch.manual_seed(seed)
    return build_classifier(
        classifier,
        in_channels=like.channels,
        image_size=like.image_size[0],
        num_classes=like.num_classes,
        **options,
    )


def score(model: nn.Module, val: ImageSet, test: ImageSet, rule: str) -> dict[str, Any]:
    """Threshold from the validation split (``rule``), then test metrics at that threshold and at argmax."""
    names = test.class_names
    p_val = predict_proba(model, val)
    t = choose_threshold(val.labels.numpy(), p_val, rule)
    p_test = predict_proba(model, test)
    out = {
        "threshold": t,
        "val": classification_metrics(val.labels.numpy(), p_val, names, threshold=t),
        "test": classification_metrics(test.labels.numpy(), p_test, names, threshold=t),
        "test_prob": p_test,
        "val_prob": p_val,
    }
    if t is not None:
        out["test_argmax"] = classification_metrics(test.labels.numpy(), p_test, names)
    return out


def train_and_evaluate(
    train: ImageSet,
    val: ImageSet,
    test: ImageSet,
    *,
    classifier: str,
    options: dict[str, Any] | None = None,
    train_cfg: ClassifierTrainConfig,
    model: nn.Module | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Build (seeded by ``train_cfg.seed``) and fit a classifier, choose the threshold on ``val``,
    score ``test`` once. Returns the model and a row: history, epochs run, best epoch, threshold,
    val and test metrics (``test_argmax`` too when a threshold was chosen), val and test probabilities, seconds.

    ``model`` continues training a given network (synthetic pretraining -> real fine-tuning)."""
    t0 = time.perf_counter()
    net = model if model is not None else build_seeded(classifier, options or {}, train, train_cfg.seed)
    net, history = fit_classifier(net, train, val, train_cfg)
    row = {
        "seed": train_cfg.seed,
        "epochs_run": len(history),
        "best_epoch": best_epoch(history, train_cfg.select),
        "history": history,
        **score(net, val, test, train_cfg.threshold),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    return net, row


def train_seeds(
    stages: list[ImageSet],
    val: ImageSet,
    test: ImageSet,
    *,
    classifier: str,
    options: dict[str, Any] | None,
    cfgs: list[ClassifierTrainConfig],
    stage_changes: list[dict[str, Any]] | None = None,
    batched: bool | str = False,
) -> list[dict[str, Any]]:
    """The seeds of one arm: build each seeded network (``cfgs[s].seed``), fit it on each training
    set of ``stages`` in turn (finetune: synthetic, then real; ``stage_changes[i]`` replaces
    settings of stage i, e.g. its epochs), choose the threshold on ``val`` and score ``test``.

    ``batched`` trains the seeds as one ensemble (``classifiers.ensemble``; same weights to
    float32 rounding) when the network allows it, else one by one; ``"auto"`` only where it pays
    (``ensemble.batching_pays``: networks without GroupNorm). Returns one row per seed as
    :func:`train_and_evaluate` (its ``seconds`` is the arm's time divided by the seeds when batched)."""
    from radgen.classifiers.ensemble import batching_pays, can_batch, fit_classifiers_batched

    changes = stage_changes or [{} for _ in stages]
    t0 = time.perf_counter()
    nets = [build_seeded(classifier, options or {}, stages[0], c.seed) for c in cfgs]
    histories: list[list[dict]] = [[] for _ in cfgs]
    ok = batching_pays(nets[0]) if batched == "auto" else bool(batched) and can_batch(nets[0])
    use_batch = ok and len(cfgs) > 1
    for i, (train, ch) in enumerate(zip(stages, changes)):
        scfgs = [replace(c, **ch) for c in cfgs]
        if use_batch:
            fitted = fit_classifiers_batched(nets, train, val, scfgs)
        else:
            fitted = [fit_classifier(n, train, val, c) for n, c in zip(nets, scfgs)]
        for s, (net, h) in enumerate(fitted):
            nets[s] = net
            histories[s] += [{**row, "stage": i} for row in h]
    elapsed = time.perf_counter() - t0
    rows = []
    for s, (net, c) in enumerate(zip(nets, cfgs)):
        t1 = time.perf_counter()
        last = [h for h in histories[s] if h["stage"] == len(stages) - 1]
        row = {
            "seed": c.seed,
            "epochs_run": len(histories[s]),
            "best_epoch": best_epoch(last, c.select),
            "history": histories[s],
            **score(net, val, test, c.threshold),
        }
        row["seconds"] = round(elapsed / len(cfgs) + time.perf_counter() - t1, 2)
        row["batched"] = use_batch
        rows.append(row)
    return rows


def best_epoch(history: list[dict], select: str) -> int:
    """The 1-based epoch of the best validation AUROC (``select='val_auroc'``) or the lowest validation loss
    (otherwise) in ``history``; the last epoch when no epoch has the value. Ties go to the earliest epoch."""
    key = "val_auroc" if select == "val_auroc" else "val_loss"
    vals = [h.get(key, math.nan) for h in history]
    if all(math.isnan(v) for v in vals):
        return len(history)
    arr = np.array([(-v if key == "val_auroc" else v) if not math.isnan(v) else np.inf for v in vals])
    return 1 + int(np.argmin(arr))
