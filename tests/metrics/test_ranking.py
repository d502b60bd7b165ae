"""Rank probabilities and extractor ensembles on fixed synthetic features (no training): replay beats noise
with P ~ 1, two draws of one generator are not separated, the ensemble's mean and interval equal a hand
computation with SciPy's matrix square root."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from radgen.errors import DataError
from radgen.metrics.ranking import (
    ensemble_fd,
    ensemble_fd_with_floor,
    paired_resample_fd,
    pairwise_rank_probabilities,
    rank_probability,
    ranking_statement,
)

D, N = 6, 150


def _gauss(rng, shift=0.0, scale=1.0, n=N):
    return rng.normal(shift, scale, size=(n, D))


def _fd_scipy(x, y):
    mx, my = x.mean(0), y.mean(0)
    sx, sy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    return float(((mx - my) ** 2).sum() + np.trace(sx + sy - 2 * scipy.linalg.sqrtm(sx @ sy).real))


def test_rank_probability_counts_paired_replicates_and_ties():
    rp = rank_probability([1.0, 2.0, 3.0, 0.5], [2.0, 2.0, 1.0, 0.6])
    assert rp.p == pytest.approx((1 + 0.5 + 0 + 1) / 4) and rp.n_seeds == 1 and rp.n_resamples == 4
    assert "paired bootstrap" in rp.method and "1 extractor seed" in rp.method
    with pytest.raises(DataError, match="paired replicates of one shape"):
        rank_probability(np.zeros((2, 3)), np.zeros((3, 2)))


def test_replay_beats_noise_with_probability_near_one():
    rng = np.random.default_rng(0)
    real, replay, noise = _gauss(rng), _gauss(rng), _gauss(rng, shift=0.5, scale=2.0)
    fds = paired_resample_fd(real, {"replay": replay, "noise": noise}, n_resamples=100, seed=1)
    assert fds["replay"].shape == (1, 100)
    rp = rank_probability(fds["replay"], fds["noise"])
    assert rp.p >= 0.99
    assert ranking_statement("replay", "noise", {"toy": rp}).startswith("replay before noise (p=1.000")


def test_the_same_set_twice_gives_one_half():
    """A and B the same images: A's and B's FD replicates are exchangeable, so P = 1/2 up to Monte Carlo error
    (sd sqrt(1/4 / 200) = 0.035)."""
    rng = np.random.default_rng(1)
    real, g = _gauss(rng), _gauss(rng, shift=0.2)
    fds = paired_resample_fd(real, {"a": g, "b": g}, n_resamples=200, seed=2)
    assert abs(rank_probability(fds["a"], fds["b"]).p - 0.5) < 0.12


def test_two_draws_of_one_generator_are_rarely_separated():
    """Over 30 independent pairs of draws from one generator, P averages ~ 1/2 and reaches the 0.95 rule (either
    way) in few of them (for a calibrated bootstrap P is about uniform: ~10 % of pairs)."""
    rng = np.random.default_rng(2)
    ps = []
    for rep in range(30):
        real = _gauss(rng)
        fds = paired_resample_fd(real, {"a": _gauss(rng, 0.3), "b": _gauss(rng, 0.3)}, n_resamples=60, seed=rep)
        ps.append(rank_probability(fds["a"], fds["b"]).p)
    ps = np.array(ps)
    assert abs(ps.mean() - 0.5) < 0.15
    assert np.mean((ps >= 0.95) | (ps <= 0.05)) <= 0.3


def test_extractor_seeds_that_disagree_stop_a_ranking():
    """Seed 0 shrinks the axis A is shifted along (A looks close), seeds 1 and 2 the axis B is shifted along:
    pooled over seeds P(FD_A < FD_B) ~ 1/3, so no ranking, though seed 0 alone separates them."""
    rng = np.random.default_rng(3)
    z_real, z_a, z_b = _gauss(rng), _gauss(rng), _gauss(rng)
    z_a[:, 0] += 3
    z_b[:, 1] += 3
    scales = [np.r_[0.05, 1, np.ones(D - 2)], np.r_[1, 0.05, np.ones(D - 2)], np.r_[1, 0.05, np.ones(D - 2)]]
    real, a, b = ([z * s for s in scales] for z in (z_real, z_a, z_b))
    fds = paired_resample_fd(real, {"a": a, "b": b}, n_resamples=100, seed=4)
    assert fds["a"].shape == (3, 100)
    pooled = rank_probability(fds["a"], fds["b"])
    assert abs(pooled.p - 1 / 3) < 0.05 and pooled.n_seeds == 3
    assert rank_probability(fds["a"][0], fds["b"][0]).p > 0.99
    s = ranking_statement("a", "b", {"toy": pooled})
    assert s.startswith("a and b not separated") and "under toy" in s


def test_ranking_statement_needs_every_view():
    assert ranking_statement("A", "B", {"x": 0.99, "y": 0.97}).startswith("A before B (p=0.970")
    assert ranking_statement("A", "B", {"x": 0.01, "y": 0.02}).startswith("B before A (p=0.980")
    s = ranking_statement("A", "B", {"x": 0.99, "y": 0.01})
    assert "not separated: the views disagree: x put A first, y put B first" in s
    s = ranking_statement("A", "B", {"x": 0.99, "y": 0.60})
    assert "not separated" in s and "under y neither" in s and "x 0.990" in s
    with pytest.raises(DataError, match="no view"):
        ranking_statement("A", "B", {})


def test_pairwise_rank_probabilities_cover_every_pair_and_view():
    fds = {"v1": {"a": np.array([[1.0, 2.0]]), "b": np.array([[3.0, 1.0]]), "c": np.array([[0.0, 0.0]])}}
    out = pairwise_rank_probabilities(fds)
    assert set(out) == {("a", "b"), ("a", "c"), ("b", "c")}
    assert out[("a", "b")]["v1"].p == pytest.approx(0.5) and out[("a", "c")]["v1"].p == 0.0


def test_ensemble_mean_and_interval_equal_a_hand_computation():
    rng = np.random.default_rng(5)
    k, b = 3, 40
    real = [_gauss(rng, scale=1 + 0.2 * j, n=80) for j in range(k)]
    gen = [_gauss(rng, shift=0.3 * j, n=60) for j in range(k)]
    draws = (rng.integers(0, k, (b, k)), rng.integers(0, 80, (b, 80)), rng.integers(0, 60, (b, 60)))
    out = ensemble_fd(real, gen, draws=draws, level=0.9)
    per = [_fd_scipy(r, g) for r, g in zip(real, gen)]
    assert out["FD"] == pytest.approx(np.mean(per), rel=1e-9) and out["per_seed"] == pytest.approx(per, rel=1e-9)
    assert out["seed_sd"] == pytest.approx(np.std(per, ddof=1), rel=1e-9)
    reps = [np.mean([_fd_scipy(real[j][ri], gen[j][gi]) for j in s]) for s, ri, gi in zip(*draws)]
    bias = np.mean(reps) - np.mean(per)
    assert out["bootstrap_bias"] == pytest.approx(bias, rel=1e-8)
    want = np.maximum(np.percentile(reps, [5, 95]) - bias, 0)
    assert out["FD_interval"] == pytest.approx(list(want), rel=1e-8)
    assert out["n_seeds"] == k and out["n_resamples"] == b and "two-level" in out["method"]


def test_ensemble_interval_counts_the_seed_spread():
    """Seeds whose FDs differ widely: the two-level interval is wider than any one seed's resampling interval
    and spans most of the per-seed values; with identical seeds it is a one-level bootstrap of the same width."""
    rng = np.random.default_rng(6)
    z_real, z_gen = _gauss(rng), _gauss(rng, shift=0.4)
    real = [z_real * (1 + j) for j in range(3)]  # seed j scales the features: FD scales by (1 + j)^2
    gen = [z_gen * (1 + j) for j in range(3)]
    ens = ensemble_fd(real, gen, n_resamples=200, seed=0)
    lo, hi = ens["FD_interval"]
    assert lo < ens["FD"] < hi
    for j in range(3):
        one = ensemble_fd(real[j], gen[j], n_resamples=200, seed=0)
        assert (hi - lo) > 1.5 * (one["FD_interval"][1] - one["FD_interval"][0])
    assert lo < ens["per_seed"][1] < hi and hi > ens["per_seed"][0] and lo < ens["per_seed"][2]
    same = ensemble_fd([z_real] * 3, [z_gen] * 3, n_resamples=200, seed=0)
    single = ensemble_fd(z_real, z_gen, n_resamples=200, seed=0)
    assert same["FD"] == pytest.approx(single["FD"]) and same["seed_sd"] == 0.0
    w_same, w_single = np.diff(same["FD_interval"])[0], np.diff(single["FD_interval"])[0]
    assert 0.6 < w_same / w_single < 1.6  # both are resampling only (different draws)


def test_ensemble_with_floor_is_the_same_computation_and_a_ratio():
    rng = np.random.default_rng(7)
    real, floor, gen = _gauss(rng), _gauss(rng), _gauss(rng, shift=1.0)
    out = ensemble_fd_with_floor([real, real * 2], [floor, floor * 2], [gen, gen * 2], n_resamples=50, seed=1)
    want_floor = np.mean([_fd_scipy(real, floor), _fd_scipy(real * 2, floor * 2)])
    assert out["floor"]["FD"] == pytest.approx(want_floor, rel=1e-9)
    assert out["ratio"] == pytest.approx(out["generated"]["FD"] / want_floor, rel=1e-9) and out["ratio"] > 3
    with pytest.raises(DataError, match="extractor seeds"):
        ensemble_fd([real, real], [gen])


def test_ensemble_interval_is_shifted_by_the_resampling_bias():
    """Two samples of one distribution in 30 dimensions: FD on rows drawn with replacement is biased upward (the
    repeated rows), here by more than the estimate's own size; the shifted interval still holds the estimate."""
    rng = np.random.default_rng(8)
    real, gen = rng.normal(size=(120, 30)), rng.normal(size=(120, 30))
    out = ensemble_fd(real, gen, n_resamples=100, seed=0)
    assert out["bootstrap_bias"] > 0.5 * out["FD"]
    lo, hi = out["FD_interval"]
    assert 0 <= lo <= out["FD"] <= hi and "bias" in out["method"]
