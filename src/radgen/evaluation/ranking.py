"""Rankings between evaluated generators: the per-seed features an evaluation keeps, and P(FD_A < FD_B) per view.

``evaluate_run`` writes each view's per-seed features of the reference and the generated set to the evaluation
folder (``features.npz``, float32, ``save_features``). Generators evaluated against the same reference (the same
images under the same extractors: the demo's) can then be ranked with paired resamples: ``rank_generators`` gives,
for every pair and every view, P(FD_A < FD_B) over extractor seeds and paired bootstrap resamples
(``radgen.metrics.ranking.paired_resample_fd``/``rank_probability``) and ``ranking_statement``'s sentence: a
ranking only where P >= 0.95 under every view (issue 34). ``separated_best`` reads the result: the generator
ranked before every other candidate under every view, if one is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from radgen import runfolder
from radgen.errors import DataError
from radgen.io import atomic_path
from radgen.metrics.ranking import (
    SEPARATED,
    RankProbability,
    paired_resample_fd,
    pairwise_rank_probabilities,
    ranking_statement,
)

SETS = ("reference", "generated")  # what the features file keeps per view and seed
SEP = "__"  # key = view__set__seed-position


def save_features(folder: str | Path, features: Mapping[str, Mapping[str, Sequence[np.ndarray]]]) -> Path:
    """Write ``features[view][set][k]`` (sets: ``SETS``) as float32 arrays to ``folder/features.npz`` (atomic)."""
    path = Path(folder) / runfolder.EVAL_FEATURES
    arrays = {
        f"{view}{SEP}{name}{SEP}{k}": np.asarray(f, dtype=np.float32)
        for view, sets in features.items()
        for name in SETS
        for k, f in enumerate(sets[name])
    }
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)
    return path


def load_features(folder: str | Path) -> dict[str, dict[str, list[np.ndarray]]]:
    """``save_features``'s file read back (no pickles): view -> set -> K float64 arrays, in seed order."""
    path = Path(folder) / runfolder.EVAL_FEATURES
    if not path.is_file():
        raise DataError(f"{path} is missing: re-run `radgen evaluate` (evaluations before issue 34 kept no features)")
    out: dict[str, dict[str, dict[int, np.ndarray]]] = {}
    with np.load(path, allow_pickle=False) as z:
        for key in z.files:
            view, name, k = key.split(SEP)
            out.setdefault(view, {}).setdefault(name, {})[int(k)] = z[key].astype(np.float64)
    return {v: {n: [d[k] for k in sorted(d)] for n, d in sets.items()} for v, sets in out.items()}


def rank_generators(
    features: Mapping[str, Mapping[str, Mapping[str, Sequence[np.ndarray]]]],
    *,
    n_resamples: int = 200,
    seed: int = 0,
    views: Sequence[str] | None = None,
) -> dict[str, Any]:
    """P(FD_A < FD_B) for every pair of generators under every view, and the statement a report may make.

    ``features[generator][view]``: ``{"reference": K arrays, "generated": K arrays}`` (``load_features``); every
    generator must have been evaluated against the same reference under the same extractors (refused otherwise:
    the resamples would not be paired). Returns a JSON-able dict: ``views``, ``generators``, ``n_seeds`` per view,
    ``n_resamples``, ``method``, ``threshold`` and ``pairs`` (a, b, p per view, statement, winner or None)."""
    gens = list(features)
    if len(gens) < 2:
        raise DataError(f"ranking needs at least 2 generators, got {len(gens)}")
    views = list(views or features[gens[0]])
    fds: dict[str, dict[str, np.ndarray]] = {}
    for view in views:
        missing = [g for g in gens if view not in features[g]]
        if missing:
            raise DataError(f"view {view!r} is missing for {', '.join(missing)}; evaluate every generator under it")
        ref = features[gens[0]][view]["reference"]
        for g in gens[1:]:
            other = features[g][view]["reference"]
            if len(other) != len(ref) or any(
                a.shape != b.shape or not np.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(ref, other)
            ):
                raise DataError(
                    f"{gens[0]} and {g} were not evaluated against the same reference features under {view}; "
                    "evaluate them on the same data with the same --n, --seed and extractors"
                )
        fds[view] = paired_resample_fd(
            ref, {g: features[g][view]["generated"] for g in gens}, n_resamples=n_resamples, seed=seed
        )
    pairs = pairwise_rank_probabilities(fds, gens)
    out_pairs = []
    for (a, b), by_view in pairs.items():
        ps = {v: r.p for v, r in by_view.items()}
        winner = (
            a
            if all(p >= SEPARATED for p in ps.values())
            else b
            if all(1 - p >= SEPARATED for p in ps.values())
            else None
        )
        out_pairs.append({"a": a, "b": b, "p": ps, "statement": ranking_statement(a, b, by_view), "winner": winner})
    first = next(iter(pairs.values()))
    return {
        "views": views,
        "generators": gens,
        "n_seeds": {v: int(fds[v][gens[0]].shape[0]) for v in views},
        "n_resamples": n_resamples,
        "threshold": SEPARATED,
        "method": next(iter(first.values())).method,
        "pairs": out_pairs,
    }


def rank_pairs(ranking: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, RankProbability]]:
    """``rank_generators``' JSON back as ``radgen.metrics.ranking.pairwise_rank_probabilities``' shape (for
    ``radgen.reports.sanity.rank_markdown``)."""
    return {
        (r["a"], r["b"]): {
            v: RankProbability(float(p), int(ranking["n_seeds"][v]), int(ranking["n_resamples"]), ranking["method"])
            for v, p in r["p"].items()
        }
        for r in ranking["pairs"]
    }


def separated_best(ranking: Mapping[str, Any], candidates: Sequence[str]) -> str | None:
    """The candidate ranked before every other candidate (P >= 0.95 under every view), or None when none is."""
    winners = {frozenset((r["a"], r["b"])): r["winner"] for r in ranking["pairs"]}
    for g in candidates:
        others = [h for h in candidates if h != g]
        if others and all(winners.get(frozenset((g, h))) == g for h in others):
            return g
    return None
