"""Seeded, patient-level splits.

Items that share a patient id go to the same side. Items without one ('' ids) are
their own group. Splits are stratified by class (the class of a group's first item)
so that an imbalanced dataset keeps its ratio on both sides.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from radgen.data.base import ImageSet
from radgen.errors import ConfigError


def group_split(
    labels: np.ndarray, groups: list[str] | np.ndarray, fraction: float, *, seed: int, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Return (rest, held_out) index arrays; held_out holds about ``fraction`` of the items.

    Per stratum the groups are shuffled with ``np.random.default_rng(seed)`` and taken
    until the held-out count reaches ``round(fraction * n_stratum)``.
    """
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"split fraction {fraction!r} must be strictly between 0 and 1")
    n = len(labels)
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[str(g) if str(g) else f"\0item{i}"].append(i)
    strata: dict[object, list[str]] = defaultdict(list)
    for g, idx in members.items():
        key = int(labels[idx[0]]) if (stratify and np.ndim(labels) == 1) else 0
        strata[key].append(g)
    rng = np.random.default_rng(seed)
    held: list[int] = []
    for key in sorted(strata, key=str):
        group_names = sorted(strata[key])
        order = rng.permutation(len(group_names))
        n_stratum = sum(len(members[g]) for g in group_names)
        target = int(round(fraction * n_stratum))
        taken = 0
        for j in order:
            if taken >= target:
                break
            idx = members[group_names[j]]
            held.extend(idx)
            taken += len(idx)
    held_arr = np.array(sorted(held), dtype=np.int64)
    mask = np.ones(n, dtype=bool)
    mask[held_arr] = False
    return np.nonzero(mask)[0], held_arr


def split_imageset(images: ImageSet, fraction: float, *, seed: int) -> tuple[ImageSet, ImageSet]:
    """(rest, held_out) subsets of ``images``, patient-level and class-stratified."""
    labels = images.labels.numpy()
    rest, held = group_split(labels, images.patients, fraction, seed=seed, stratify=images.task == "multiclass")
    return images.subset(rest), images.subset(held)


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
