"""The evaluation protocol's yardsticks, as pure functions of feature arrays: every distribution metric
beside its real-vs-real floor, per-class blocks, label fidelity and rank agreement between extractors. The sets
they compare (reference R, floor F, generated G, shifted test) are built by ``radgen.evaluation.sets``.

Every block reports the generator's value (with a percentile bootstrap 95 % interval: both
sets resampled with replacement), the floor's value with its 95 % range over re-drawn floor
sets (``bootstrap`` fresh class-matched training subsets of the same size, each against R), and
for the Frechet distance the ratio value / floor. The floor's interval re-draws instead of
resampling with replacement because duplicates inflate FD where it is small (the measurement:
docs/results/docstring_measurements.md); the re-draw range is the spread of what real images of this N
score. KD, MMD and PRDC can be near or below 0, so they get the floor beside them and no ratio.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from radgen.metrics.distances import bootstrap_interval, frechet_distance, kernel_distance, prdc


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
