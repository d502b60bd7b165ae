"""The evaluation's real sets: a same-distribution reference set, the real-vs-real floor, the shifted test.

1. **Reference set R.** Held-out images from the training distribution: the run's own
   held-out split ``val`` (patient-level, carved from train with ``data.val_from_train``, or
   a dataset's official val when it is large enough), which no generator or extractor was
   trained on; at least ``MIN_REFERENCE`` images. A run without one falls back to the
   official test split, labelled *shifted* (an official test split can be shifted from train:
   the Kaggle chest X-ray test split has 38 % NORMAL against 26 % in train, and a classifier's
   features magnify such a shift, so real training images score far from it).
2. **Floor set F.** A random subset of the training split with exactly R's size and per-class
   counts. ``metric(R, F)`` is what a perfect generator (one that draws new images from the
   training distribution) would score at this N: the real-vs-real floor. FD's bias grows
   like 1/N, so the floor is only a yardstick at the same N, which is why F, R and the
   generated set G always have the same size and class mix.
3. **Generated set G.** ``len(R)`` images; a conditional generator is asked for R's labels.
4. **Shifted test.** Where an official test split exists (and R is not it), the same
   comparison against it (its own size, class mix and floor), labelled "shifted test".

The comparisons of these sets (values, intervals, ratios) are ``radgen.metrics.protocol``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from radgen.data.base import DataSplits, ImageSet
from radgen.errors import ConfigError

MIN_REFERENCE = 200  # fewer held-out images than this make the floor itself too noisy to be a yardstick
MEMORIZATION_TRAIN = 5000  # training images the nearest-neighbour memorization checks search


@dataclass
class ProtocolSets:
    """The real sets of one evaluation (see the module docstring)."""

    reference: ImageSet  # R
    reference_split: str  # "val" (same distribution) or "test" (fallback, shifted)
    shifted: bool  # True when R itself is the (possibly shifted) official test split
    floor: ImageSet  # F: training images, R's size and class mix
    floor_index: np.ndarray  # F's indices into the training split (a replay generator must avoid them)
    memorization_train: ImageSet  # the pool: training images the memorization checks search, F is drawn from
    shifted_test: ImageSet | None = None  # official test split beside R, labelled shifted
    shifted_floor: ImageSet | None = None  # training images with the shifted test's size and class mix
    notes: list[str] = field(default_factory=list)

    def draws(self, counts: dict[int, int] | int, k: int, *, seed: int) -> list[np.ndarray]:
        """``k`` fresh floor sets: positions into ``memorization_train`` with ``counts`` images per class
        (an int: that many images, for multilabel data)."""
        g = torch.Generator().manual_seed(seed + 7919)  # a stream of its own, apart from build_sets'
        pool = self.memorization_train
        if isinstance(counts, int):
            return [np.sort(torch.randperm(len(pool), generator=g)[:counts].numpy()) for _ in range(k)]
        return [matched_index(pool.labels, counts, generator=g) for _ in range(k)]

    def describe(self) -> dict[str, Any]:
        out = {
            "reference": {
                "split": self.reference_split,
                "shifted": self.shifted,
                "n": len(self.reference),
                "class_counts": self.reference.class_counts(),
                "floor_set": f"{len(self.floor)} training images with the reference's class counts",
            },
            "notes": self.notes,
        }
        if self.shifted_test is not None:
            out["shifted_test"] = {
                "split": "test",
                "n": len(self.shifted_test),
                "class_counts": self.shifted_test.class_counts(),
            }
        return out


def matched_index(
    labels: torch.Tensor, counts: dict[int, int], *, generator: torch.Generator, exclude: np.ndarray | None = None
) -> np.ndarray:
    """Random indices into ``labels`` with ``counts[c]`` items of each class c (none from ``exclude``)."""
    lab = labels.numpy()
    allowed = np.ones(len(lab), dtype=bool)
    if exclude is not None and len(exclude):
        allowed[exclude] = False
    picked = []
    for c, k in sorted(counts.items()):
        pool = np.nonzero((lab == c) & allowed)[0]
        if len(pool) < k:
            raise ConfigError(
                f"the training split has {len(pool)} usable images of class {c}, fewer than the {k} the floor "
                "set needs; "
                "evaluate with a smaller --n"
            )
        picked.append(pool[torch.randperm(len(pool), generator=generator)[:k].numpy()])
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)


def _counts(s: ImageSet) -> dict[int, int]:
    return {c: int(k) for c, k in enumerate(torch.bincount(s.labels, minlength=s.num_classes).tolist()) if k}


def _random_subset(s: ImageSet, n: int, generator: torch.Generator) -> tuple[ImageSet, np.ndarray]:
    idx = np.sort(torch.randperm(len(s), generator=generator)[: min(n, len(s))].numpy())
    return s.subset(idx), idx


def build_sets(
    splits: DataSplits, *, n: int = 1000, seed: int = 0, reference: str = "auto", min_reference: int = MIN_REFERENCE
) -> ProtocolSets:
    """Steps 1-2 and 4 of the module docstring. ``reference``: "auto" (val when it has at least
    ``min_reference`` images, else test, labelled shifted), "val" (refuse without it) or "test"."""
    if reference not in ("auto", "val", "test"):
        raise ConfigError(f"reference={reference!r}; valid: auto, val, test")
    if "train" not in splits:
        raise ConfigError(f"dataset {splits.name!r} has no train split; the floor needs training images")
    train = splits["train"]
    multiclass = train.task == "multiclass"
    notes: list[str] = []
    val = splits.get("val")
    val_ok = val is not None and len(val) >= min_reference
    if reference == "val" and not val_ok:
        raise ConfigError(
            f"the run has no held-out split of at least {min_reference} images (val: "
            f"{0 if val is None else len(val)}); "
            "retrain with data.val_from_train (e.g. 0.1) or use reference=test"
        )
    if reference == "test" or (reference == "auto" and not val_ok):
        if "test" not in splits:
            raise ConfigError(
                f"dataset {splits.name!r} has neither a held-out val split of at least {min_reference} images "
                "nor a test split"
            )
        ref_name, shifted = "test", True
        if reference == "auto":
            notes.append(
                f"the run has no held-out split of at least {min_reference} images from the training distribution "
                f"(val: {0 if val is None else len(val)} images; set data.val_from_train, e.g. 0.1): "
                "distribution metrics use the official test split, which may be shifted from train"
            )
    else:
        ref_name, shifted = "val", False
    g = torch.Generator().manual_seed(seed)
    ref, _ = _random_subset(splits[ref_name], n, g)
    memo, memo_index = _random_subset(train, MEMORIZATION_TRAIN, g)
    if multiclass:
        pos = matched_index(memo.labels, _counts(ref), generator=g)
    else:  # multilabel: class counts cannot be matched exactly; a random subset of the same size
        pos = np.sort(torch.randperm(len(memo), generator=g)[: len(ref)].numpy())
        notes.append("multilabel data: the floor set matches the reference's size, not its label mix")
    sets = ProtocolSets(ref, ref_name, shifted, memo.subset(pos), memo_index[pos], memo, notes=notes)
    if not shifted and "test" in splits:
        test, _ = _random_subset(splits["test"], n, g)
        sets.shifted_test = test
        try:
            pos = (
                matched_index(memo.labels, _counts(test), generator=g)
                if multiclass
                else np.sort(torch.randperm(len(memo), generator=g)[: len(test)].numpy())
            )
            sets.shifted_floor = memo.subset(pos)
        except ConfigError as exc:
            notes.append(f"no floor for the shifted test: {exc}")
    return sets


def counts_of(s: ImageSet) -> dict[int, int] | int:
    """Per-class counts of a multiclass set (what a floor draw must match), else its size."""
    return _counts(s) if s.task == "multiclass" else len(s)
