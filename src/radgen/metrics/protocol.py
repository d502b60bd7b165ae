"""The evaluation protocol's sets and yardsticks: a same-distribution reference set, the
real-vs-real floor beside every distribution metric, per-class blocks, label fidelity and
rank agreement between extractors.

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

Every block reports the generator's value (with a percentile bootstrap 95 % interval: both
sets resampled with replacement), the floor's value with its 95 % range over re-drawn floor
sets (``bootstrap`` fresh class-matched training subsets of the same size, each against R), and
for the Frechet distance the ratio value / floor. The floor's interval re-draws instead of
resampling with replacement because duplicates inflate FD where it is small: on PneumoniaMNIST
(N = 120) a floor of 0.061 had a resampling interval of [0.078, 1.54], which does not contain
it; the re-draw range is the spread of what real images of this N score. KD, MMD and PRDC can
be near or below 0, so they get the floor beside them and no ratio.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from radgen.data.base import DataSplits, ImageSet
from radgen.errors import ConfigError
from radgen.metrics.distances import bootstrap_interval, frechet_distance, kernel_distance, prdc

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


# ----------------------------------------------------------------------------------- comparisons
def _fd_kd_prdc(real: np.ndarray, other: np.ndarray, *, seed: int, kd_subsets: int = 50) -> dict[str, float]:
    kd = kernel_distance(real, other, subsets=kd_subsets, seed=seed)
    out = {"FD": frechet_distance(real, other), "KD": kd["kid"]}
    k = 5 if min(len(real), len(other)) > 5 else None
    if k is not None:
        out.update({key: v for key, v in prdc(real, other, k=k).items() if key != "k"})
    return out


def _intervals(real: np.ndarray, other: np.ndarray, *, bootstrap: int, seed: int) -> dict[str, tuple[float, float]]:
    if bootstrap < 2:
        return {}
    kid5 = lambda a, b: kernel_distance(a, b, subsets=5, seed=seed)["kid"]  # noqa: E731
    out = {
        "FD_ci95": bootstrap_interval(frechet_distance, real, other, n=bootstrap, seed=seed),
        "KD_ci95": bootstrap_interval(kid5, real, other, n=min(bootstrap, 20), seed=seed),
    }
    if min(len(real), len(other)) > 5:
        for key in ("precision", "recall"):
            fn = lambda a, b, key=key: prdc(a, b)[key]  # noqa: E731
            out[f"{key}_ci95"] = bootstrap_interval(fn, real, other, n=min(bootstrap, 20), seed=seed)
    return out


def _redraw_intervals(real: np.ndarray, draws: list[np.ndarray], *, seed: int) -> dict[str, Any]:
    """2.5 and 97.5 % percentiles of each metric over re-drawn floor sets, each against ``real``."""
    vals = [_fd_kd_prdc(real, d, seed=seed, kd_subsets=10) for d in draws if len(d) >= 2]
    if len(vals) < 2:
        return {}
    out: dict[str, Any] = {"interval": f"2.5-97.5 % over {len(vals)} re-drawn floor sets"}
    for key in vals[0]:
        lo, hi = np.percentile([v[key] for v in vals], [2.5, 97.5])
        out[f"{key}_ci95"] = (float(lo), float(hi))
    return out


def compare(
    reference: torch.Tensor,
    floor: torch.Tensor,
    generated: torch.Tensor,
    *,
    floor_draws: list[torch.Tensor] | None = None,
    bootstrap: int = 50,
    seed: int = 0,
) -> dict[str, Any]:
    """One block: the generator's FD / KD / PRDC against ``reference`` (features; percentile bootstrap
    intervals), the floor's (``floor`` vs ``reference``; the range over ``floor_draws``, fresh floor
    sets of the same size and class mix) and FD's ratio to the floor."""
    r, f, g = (np.asarray(t, dtype=np.float64) for t in (reference, floor, generated))
    if len(r) < 2 or len(f) < 2 or len(g) < 2:
        raise ValueError(f"a comparison needs at least 2 images per set, got {len(r)}, {len(f)}, {len(g)}")
    gen = {**_fd_kd_prdc(r, g, seed=seed), **_intervals(r, g, bootstrap=bootstrap, seed=seed)}
    if "FD_ci95" in gen:
        gen["interval"] = f"percentile bootstrap, {bootstrap} resamples of both sets"
    flo = _fd_kd_prdc(r, f, seed=seed)
    if floor_draws:
        flo.update(_redraw_intervals(r, [np.asarray(d, dtype=np.float64) for d in floor_draws], seed=seed))
    return {
        "n_reference": len(r),
        "n_floor": len(f),
        "n_generated": len(g),
        "generated": gen,
        "floor": flo,
        "FD_ratio": gen["FD"] / flo["FD"] if flo["FD"] > 0 else float("inf"),
    }


def compare_per_class(
    reference: torch.Tensor,
    reference_labels: torch.Tensor,
    floor: torch.Tensor,
    floor_labels: torch.Tensor,
    generated: torch.Tensor,
    generated_labels: torch.Tensor,
    class_names: tuple[str, ...],
    *,
    floor_draws: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    bootstrap: int = 50,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """``compare`` within each class: that class's held-out images, floor images and samples;
    ``floor_draws`` holds (features, labels) of re-drawn floor sets."""
    out = {}
    for c, name in enumerate(class_names):
        rm, fm, gm = reference_labels == c, floor_labels == c, generated_labels == c
        if min(int(rm.sum()), int(fm.sum()), int(gm.sum())) < 2:
            continue
        draws = [d[lab == c] for d, lab in floor_draws] if floor_draws else None
        out[name] = compare(
            reference[rm], floor[fm], generated[gm], floor_draws=draws, bootstrap=bootstrap, seed=seed + c
        )
    return out


def label_fidelity(
    generated_probs: torch.Tensor,
    generated_labels: torch.Tensor,
    reference_probs: torch.Tensor,
    reference_labels: torch.Tensor,
    class_names: tuple[str, ...],
) -> dict[str, Any]:
    """Per requested class c: the fraction of samples asked for c that the classifier assigns
    to c (argmax), beside the same classifier's accuracy on held-out real images of class c."""
    gp, rp = generated_probs.argmax(1), reference_probs.argmax(1)
    per_class = {}
    for c, name in enumerate(class_names):
        gm, rm = generated_labels == c, reference_labels == c
        if not gm.any():
            continue
        per_class[name] = {
            "generated": float((gp[gm] == c).double().mean()),
            "real_heldout": float((rp[rm] == c).double().mean()) if rm.any() else float("nan"),
            "n_generated": int(gm.sum()),
            "n_real": int(rm.sum()),
        }
    gen = [v["generated"] for v in per_class.values()]
    real = [v["real_heldout"] for v in per_class.values()]
    return {
        "per_class": per_class,
        "mean_generated": float(np.mean(gen)) if gen else float("nan"),
        "mean_real_heldout": float(np.mean(real)) if real else float("nan"),
    }


def rank_agreement(scores: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Kendall's tau (tau-b, scipy) between the generator rankings of every pair of extractors.

    ``scores[extractor][generator]`` is a distance (lower is better). ``agree`` is True when
    every pair orders the generators identically (tau = 1)."""
    from itertools import combinations

    from scipy.stats import kendalltau

    names = sorted(scores)
    gens = sorted(set.intersection(*(set(v) for v in scores.values()))) if scores else []
    pairs = []
    for a, b in combinations(names, 2):
        if len(gens) < 2:
            continue
        res = kendalltau([scores[a][g] for g in gens], [scores[b][g] for g in gens])
        pairs.append({"extractors": [a, b], "tau": float(res.statistic), "p_value": float(res.pvalue)})
    order = {n: sorted(gens, key=lambda g, n=n: scores[n][g]) for n in names}
    agree = all(p["tau"] == 1.0 for p in pairs) if pairs else None
    return {"generators": gens, "order": order, "pairs": pairs, "agree": agree}
