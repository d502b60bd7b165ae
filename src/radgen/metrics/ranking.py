"""Rankings that hold: Frechet distances over extractor seeds and resamples, the probability that one generator's
distance is below another's, and the sentence a report may state from it (issue 34).

One *view* is one feature extractor family (``radgen-cnn001``, ``radgen-ae001``, ``radiomics``, ...); a domain
extractor trained with K seeds gives K feature maps of the same images. Every function here takes features
already extracted, per seed: ``real[k]`` is the (n_real, d) features of the reference set under seed k, and
likewise for each generated set, the rows being the same images for every k.

Resampling (shared by everything below): replicate b draws the reference set's rows with replacement once
(``real_idx[b]``, the same for every generator and every seed: paired), each generated set's rows with
replacement (its own draw, the same for every seed), and, for the ensemble interval, K seeds with replacement.
The Frechet distance (Heusel et al. 2017) is ``radgen.metrics.distances.frechet_distance``.

- ``paired_resample_fd``: FD[k, b] for every generator: the distribution that ``rank_probability`` reads.
- ``rank_probability``: P(FD_A < FD_B) = the share of the (seed, resample) pairs in which A's FD is below B's
  (ties count one half): a paired bootstrap over the real and generated sets, pooled over the extractor seeds,
  so both the resampling spread and the seed-to-seed spread of the extractor (one training of a domain
  extractor moved a GAN's FD from 6.5 to 10.3; issue 34) can stop a ranking.
- ``ranking_statement``: "A before B (p=...)" only where P >= 0.95 under every view (CheXGenBench and Woodland
  et al. MICCAI 2024 report that views disagree), else "not separated" and which view failed.
- ``ensemble_fd``: the mean FD over the K extractor seeds, with a two-level percentile bootstrap interval
  (seeds resampled, then the real and generated sets; bias-shifted), so the interval counts both sources of
  spread; the floor (real vs real) is the same function on the floor set's features.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from radgen.errors import DataError
from radgen.metrics.distances import frechet_distance

SEPARATED = 0.95


def _per_seed(feats, what: str) -> list[np.ndarray]:
    """A (n, d) array or a sequence of K such arrays -> K float64 arrays with the same rows."""
    if isinstance(feats, np.ndarray) and feats.ndim == 2:
        feats = [feats]
    out = [np.asarray(f, dtype=np.float64) for f in feats]
    if not out or any(f.ndim != 2 for f in out) or len({f.shape for f in out}) != 1:
        raise DataError(f"{what}: give one (n, d) feature array per extractor seed, all of one shape")
    return out


def resample_draws(n: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(n_resamples, n) row indices drawn with replacement."""
    return rng.integers(0, n, size=(n_resamples, n))


def paired_resample_fd(
    real, generated: Mapping[str, object], *, n_resamples: int = 200, seed: int = 0
) -> dict[str, np.ndarray]:
    """FD[k, b] of every generated set against the reference under extractor seed k and resample b (K x B arrays).

    Resample b uses one draw of the reference rows for every generator and seed (paired) and one draw of each
    generated set's rows for every seed."""
    r = _per_seed(real, "real features")
    gens = {name: _per_seed(g, f"generated features of {name}") for name, g in generated.items()}
    for name, g in gens.items():
        if len(g) != len(r):
            raise DataError(f"{name}: {len(g)} extractor seeds, the reference has {len(r)}; give the same seeds")
    rng = np.random.default_rng(seed)
    real_idx = resample_draws(len(r[0]), n_resamples, rng)
    out = {}
    for name, g in gens.items():
        gen_idx = resample_draws(len(g[0]), n_resamples, rng)
        out[name] = np.array(
            [[frechet_distance(rk[real_idx[b]], gk[gen_idx[b]]) for b in range(n_resamples)] for rk, gk in zip(r, g)]
        )
    return out


@dataclass(frozen=True)
class RankProbability:
    """P(FD_A < FD_B) over ``n_seeds`` x ``n_resamples`` paired replicates, and how it was computed."""

    p: float
    n_seeds: int
    n_resamples: int
    method: str


def rank_probability(fd_a, fd_b) -> RankProbability:
    """P(FD_A < FD_B): the share of paired replicates (same extractor seed, same real resample; each generator's
    own set resampled) in which A's FD is below B's, ties counting one half. ``fd_a``/``fd_b``: (K, B) arrays from
    ``paired_resample_fd`` (or (B,) for one seed), paired element by element."""
    a, b = np.atleast_2d(np.asarray(fd_a, dtype=np.float64)), np.atleast_2d(np.asarray(fd_b, dtype=np.float64))
    if a.shape != b.shape or a.size == 0:
        raise DataError(f"rank_probability needs paired replicates of one shape, got {a.shape} and {b.shape}")
    p = float(np.mean(a < b) + 0.5 * np.mean(a == b))
    k, n = a.shape
    method = (
        f"paired bootstrap: {n} resamples of the real and generated sets (the same real resample for both "
        f"generators), pooled over {k} extractor seed(s); P = share of replicates with FD_A < FD_B, ties 1/2"
    )
    return RankProbability(p, k, n, method)


def ranking_statement(
    a: str, b: str, views: Mapping[str, RankProbability | float], *, threshold: float = SEPARATED
) -> str:
    """ "a before b (p=...)" when P(FD_a < FD_b) >= ``threshold`` under every view, "b before a" when
    P <= 1 - threshold under every view, else "a and b not separated: ..." naming each view that failed."""
    if not views:
        raise DataError(f"no view to rank {a} and {b} under; give at least one extractor's rank probability")
    ps = {v: float(x.p if isinstance(x, RankProbability) else x) for v, x in views.items()}
    every = ", ".join(f"{v} {p:.3f}" for v, p in ps.items())
    if all(p >= threshold for p in ps.values()):
        return f"{a} before {b} (p={min(ps.values()):.3f}, P(FD_{a} < FD_{b}) under every view: {every})"
    if all(1 - p >= threshold for p in ps.values()):
        return f"{b} before {a} (p={min(1 - p for p in ps.values()):.3f}, P(FD_{b} < FD_{a}) under every view: " + (
            ", ".join(f"{v} {1 - p:.3f}" for v, p in ps.items()) + ")"
        )
    first_a = [v for v, p in ps.items() if p >= threshold]
    first_b = [v for v, p in ps.items() if 1 - p >= threshold]
    if first_a and first_b:
        why = f"the views disagree: {', '.join(first_a)} put {a} first, {', '.join(first_b)} put {b} first"
    else:
        weak = [v for v, p in ps.items() if max(p, 1 - p) < threshold]
        why = f"under {', '.join(weak)} neither P(FD_{a} < FD_{b}) nor its complement reaches {threshold:g}"
    return f"{a} and {b} not separated: {why} (P(FD_{a} < FD_{b}): {every})"


def ensemble_fd(
    real,
    generated,
    *,
    n_resamples: int = 200,
    seed: int = 0,
    level: float = 0.95,
    draws: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> dict[str, object]:
    """The mean FD over K extractor seeds and its two-level percentile bootstrap interval at ``level``.

    ``real``/``generated``: K (n, d) feature arrays, one per seed, rows the same images. Value: mean_k
    FD(real[k], generated[k]). Replicate b: K seeds drawn with replacement (``seed_idx[b]``), the real and
    generated rows drawn with replacement once (``real_idx[b]``, ``gen_idx[b]``, shared by the drawn seeds);
    its value is the mean over the drawn seeds of the FD on the resampled rows. Interval: the percentiles of
    the replicates shifted by the bootstrap's bias estimate (their mean minus the estimate; Efron & Tibshirani
    1993, ch. 10), lower end clipped at 0: rows drawn with replacement repeat, which biases a resampled FD
    upward by about as much as a real-vs-real floor (measured: docs/results/issue34_sanity), so the plain
    percentile interval of a replay's FD can lie wholly above its estimate. ``draws`` = (seed_idx (B, K),
    real_idx (B, n_real), gen_idx (B, n_gen)) fixes them (tests); otherwise they are drawn from ``seed``.
    With K = 1 it is the one-level bootstrap of both sets."""
    r, g = _per_seed(real, "real features"), _per_seed(generated, "generated features")
    if len(r) != len(g):
        raise DataError(f"{len(r)} extractor seeds for the real set, {len(g)} for the generated; give the same seeds")
    k = len(r)
    per_seed = [frechet_distance(rk, gk) for rk, gk in zip(r, g)]
    if draws is None:
        rng = np.random.default_rng(seed)
        seed_idx = rng.integers(0, k, size=(n_resamples, k))
        real_idx, gen_idx = resample_draws(len(r[0]), n_resamples, rng), resample_draws(len(g[0]), n_resamples, rng)
    else:
        seed_idx, real_idx, gen_idx = (np.asarray(d) for d in draws)
    reps = []
    for s, ri, gi in zip(seed_idx, real_idx, gen_idx):
        fd = {j: frechet_distance(r[j][ri], g[j][gi]) for j in set(s.tolist())}
        reps.append(np.mean([fd[j] for j in s]))
    value = float(np.mean(per_seed))
    bias = float(np.mean(reps)) - value  # resampling with replacement repeats rows: FD is biased upward
    lo, hi = np.percentile(reps, [(1 - level) / 2 * 100, (1 + level) / 2 * 100]) - bias
    return {
        "FD": value,
        "FD_interval": [max(float(lo), 0.0), float(hi)],
        "bootstrap_bias": bias,
        "level": level,
        "per_seed": per_seed,
        "seed_sd": float(np.std(per_seed, ddof=1)) if k > 1 else 0.0,
        "n_seeds": k,
        "n_resamples": len(reps),
        "method": (
            f"two-level percentile bootstrap: {len(reps)} replicates, each drawing {k} extractor seed(s) with "
            "replacement, then the real and generated sets with replacement; value = mean FD over the drawn seeds; "
            "percentiles shifted by the bootstrap bias (mean of the replicates - the estimate), clipped at 0"
        ),
    }


def ensemble_fd_with_floor(real, floor, generated, **kwargs) -> dict[str, object]:
    """``ensemble_fd`` of the generated set and of the floor set (real vs real, computed the same way) against the
    reference, and the ratio of their means (1 = as close as a second real sample)."""
    gen, flo = ensemble_fd(real, generated, **kwargs), ensemble_fd(real, floor, **kwargs)
    return {"generated": gen, "floor": flo, "ratio": gen["FD"] / flo["FD"] if flo["FD"] > 0 else float("inf")}


def pairwise_rank_probabilities(
    fds: Mapping[str, Mapping[str, np.ndarray]], names: Sequence[str] | None = None
) -> dict[tuple[str, str], dict[str, RankProbability]]:
    """For every pair (A, B) of generators, {view: P(FD_A < FD_B)}; ``fds[view][generator]`` from
    ``paired_resample_fd`` (one call per view, so each view's generators share their resamples)."""
    views = list(fds)
    names = list(names or next(iter(fds.values())))
    return {
        (a, b): {v: rank_probability(fds[v][a], fds[v][b]) for v in views}
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    }
