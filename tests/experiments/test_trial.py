"""The trial design (``experiments.trial``): verdicts against SciPy, DeLong against a hand computation, the
sequential boundaries against published values, and simulations where the truth is known: the coverage of the
intervals over seeds and test images, and the type-I error of the fixed and the sequential verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.optimize import brentq

from radgen.errors import ConfigError
from radgen.experiments.trial import (
    TrialConfig,
    _z_of,
    analyse_family,
    auroc_influence,
    check_trial,
    compare,
    families,
    fit_endpoints,
    holm_shaffer,
    obf_spending,
    projection,
    proportion_influence,
    sequential_bounds,
)


# --------------------------------------------------------------------------- verdicts against SciPy
def _family(diffs: dict[str, list[float]], delta: float = 0.01, endpoint: str = "auroc"):
    """Arms with the given per-seed differences from `real` and no test-image variance (influence 0): the
    comparison is then the paired t-test over seeds, which SciPy computes by hand."""
    r = len(next(iter(diffs.values())))
    base = 0.9 + 0.001 * np.arange(r)
    data = {e: {"real": {s: (float(base[s]), np.zeros(4)) for s in range(r)}} for e in [endpoint]}
    for arm, d in diffs.items():
        data[endpoint][arm] = {s: (float(base[s] + d[s]), np.zeros(4)) for s in range(r)}
    t = TrialConfig(primary_endpoint=endpoint, secondary_endpoints=[], delta={endpoint: delta})
    pairs = [(a, "real") for a in diffs]
    return analyse_family(pairs, data, np.array([0, 0, 1, 1]), t, [r], r, final=True)


CASES = {  # per-seed differences (6 seeds) and the verdict at delta 0.01, alpha 0.05
    "equivalent": ([0.002, -0.001, 0.001, 0.000, 0.003, -0.002], "equivalent"),
    "not equivalent": ([0.015, -0.012, 0.006, -0.009, 0.016, -0.010], "cannot tell"),
    "helps": ([0.021, 0.015, 0.018, 0.024, 0.016, 0.020], "helps"),
    "hurts": ([-0.011, -0.019, -0.014, -0.016, -0.012, -0.013], "hurts"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_tost_and_difference_verdicts_equal_a_scipy_hand_computation(case):
    d, expected = CASES[case]
    (row,) = _family({"a": d})
    d = np.array(d)
    p_diff = stats.ttest_1samp(d, 0.0).pvalue
    p_low = stats.ttest_1samp(d, -0.01, alternative="greater").pvalue  # H0: Delta <= -delta
    p_high = stats.ttest_1samp(d, 0.01, alternative="less").pvalue  # H0: Delta >= delta
    for key, ref in (("p_diff", p_diff), ("p_low", p_low), ("p_high", p_high)):
        # boundaries are >= 0, so a one-sided p-value above 0.5 reads 1 (it decides nothing either way)
        one_sided_above_half = key != "p_diff" and ref >= 0.5
        assert row["p"][key] == (1.0 if one_sided_above_half else pytest.approx(ref, rel=1e-4))
    by_hand = (
        ("helps" if d.mean() > 0 else "hurts")
        if p_diff <= 0.05
        else "equivalent"
        if max(p_low, p_high) <= 0.05
        else "cannot tell"
    )
    assert row["verdict"] == by_hand == expected
    c = row["endpoints"]["auroc"]
    # the interval the verdict rests on: two-sided 95 % (difference) or 90 % (the two one-sided tests)
    level = 0.90 if expected == "equivalent" else 0.95
    half = stats.t.ppf(0.5 + level / 2, 5) * d.std(ddof=1) / math.sqrt(6)
    assert (c["low"], c["high"]) == pytest.approx((d.mean() - half, d.mean() + half), rel=1e-6, abs=1e-9)
    assert c["level"] == pytest.approx(level)


def test_holm_with_shaffers_constraint_against_hand_values():
    # 3 comparisons: step 1 at 0.05/3 (3 comparisons open), p = 0.001 (eq of 0) rejected; comparison 0 still has its
    # difference null open, so step 2 is also at 0.05/3: p = 0.01 (diff of 1) rejected; step 3 at 0.05/3: 0.012 (eq
    # of 2) rejected, then comparisons 0, 1, 2 each keep one open null: 0.04 (diff of 0) fails at 0.05/3 and stops
    p_diff, p_eq = [0.04, 0.01, 0.3], [0.001, 0.5, 0.012]
    h = holm_shaffer(p_diff, p_eq, alpha=0.05)
    assert h["reject_eq"] == [True, False, True] and h["reject_diff"] == [False, True, False]
    assert h["adj_eq"][0] == pytest.approx(0.003) and h["adj_diff"][1] == pytest.approx(0.03)
    assert h["adj_eq"][2] == pytest.approx(0.036) and h["adj_diff"][0] == pytest.approx(0.12)
    # plain Holm over 6 tests would have needed p <= 0.05/6 = 0.0083 at the first step: the constraint is m, not 2m
    assert holm_shaffer([0.009], [0.9], alpha=0.05)["reject_diff"] == [True]


def test_a_family_of_three_applies_the_constraint_to_its_verdicts():
    rows = _family(
        {
            "h": [0.021, 0.015, 0.018, 0.024, 0.016, 0.020],
            "e": [0.002, -0.001, 0.001, 0.000, 0.003, -0.002],
            "n": [0.015, -0.012, 0.006, -0.009, 0.016, -0.010],
        }
    )
    assert [r["verdict"] for r in rows] == ["helps", "equivalent", "cannot tell"]
    # every interval at a corrected level: 1 - 0.05/3 (difference, cannot tell) or 1 - 2 x 0.05/3 (equivalence)
    assert [r["endpoints"]["auroc"]["level"] for r in rows] == pytest.approx([1 - 0.05 / 3, 1 - 0.1 / 3, 1 - 0.05 / 3])


# --------------------------------------------------------------------------- endpoints and their influence
def test_delong_influence_against_a_hand_computation_and_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    y = np.r_[np.zeros(17, int), np.ones(23, int)]
    s = np.round(rng.normal(y * 1.2, 1.0), 1)  # rounded: ties
    prob = np.c_[1 - s, s]
    auc, phi = auroc_influence(y, prob)
    assert auc == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])  # Mann-Whitney kernel
    v10, v01 = psi.mean(1), psi.mean(0)
    delong_var = v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)  # DeLong et al. 1988
    c = compare([auc, auc], [0.5, 0.5], np.stack([phi, phi]), np.zeros((2, 40)), y)
    assert c["var_test"] == pytest.approx(delong_var, rel=1e-12)  # two identical fits: their covariance = variance
    assert c["var_seeds"] == 0 and c["df"] == math.inf


def test_proportion_endpoints_and_the_matched_specificity_threshold():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    hit = np.array([1, 0, 1, 1, 1, 1, 0, 1, 1, 1])
    v, phi = proportion_influence(y, hit, {0: 0.5, 1: 0.5})
    assert v == pytest.approx((0.75 + 5 / 6) / 2) and phi.sum() == pytest.approx(0.0)
    # minority NORMAL (class 0); the real judge's val specificity 0.75: 3 of 4 PNEUMONIA val images at or above u
    y_val = np.array([0, 0, 1, 1, 1, 1])
    p_val = np.array([[0.9, 0.1], [0.6, 0.4], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8], [0.1, 0.9]])
    y_test = np.array([0, 0, 1, 1])
    p_test = np.array([[0.8, 0.2], [0.4, 0.6], [0.5, 0.5], [0.1, 0.9]])
    ep = fit_endpoints(y_val, p_val, y_test, p_test, minority=0, target_specificity=0.75)
    # u = the 25 % lower quantile of (0.2, 0.7, 0.8, 0.9) = 0.2... then 0.7: keep recall >= 0.75 -> u = 0.7
    # test NORMAL images: p(PNEUMONIA) 0.2 < u called NORMAL, 0.6 < u called NORMAL -> sensitivity 1.0
    assert ep["minority_sensitivity_at_real_specificity"][0] == pytest.approx(1.0)
    assert ep["balanced_accuracy_argmax"][0] == pytest.approx((0.5 + 0.5) / 2)  # a tie goes to class 0
    assert ep["auroc"][0] == pytest.approx(0.75)  # 3 of the 4 (PNEUMONIA, NORMAL) pairs ordered


def test_trial_config_and_families_are_checked():
    with pytest.raises(ConfigError, match="endpoint 'f1'"):
        check_trial(TrialConfig(primary_endpoint="f1"))
    with pytest.raises(ConfigError, match="ARM vs ARM"):
        check_trial(TrialConfig(primary=["+ldm versus real"]))
    with pytest.raises(ConfigError, match="first_look=1"):
        check_trial(TrialConfig(first_look=1))
    arms = ["real", "weighted", "+cvae", "+ldm", "duplicate", "ldm only"]
    f = families(TrialConfig(), arms, ["cvae", "ldm"])
    assert f["primary"] == [("+cvae", "real"), ("+cvae", "duplicate"), ("+cvae", "weighted")]
    assert f["secondary"] == [("weighted", "real"), ("+ldm", "real"), ("duplicate", "real"), ("ldm only", "real")]
    f = families(TrialConfig(primary=["+ldm vs real", "+ldm vs weighted"]), arms, ["cvae", "ldm"])
    assert ("+ldm", "real") not in f["secondary"] and ("+cvae", "real") in f["secondary"]
    with pytest.raises(ConfigError, match="arm 'classic' is not run"):
        families(TrialConfig(primary=["classic vs real"]), arms, [])


# --------------------------------------------------------------------------- sequential boundaries
def test_obrien_fleming_type_boundaries_equal_published_values():
    # Lan-DeMets O'Brien-Fleming-type spending, 5 equally spaced looks, one-sided 0.025 (= two-sided 0.05 with
    # alpha / 2 a side): 4.877, 3.357, 2.680, 2.290, 2.031 (Jennison & Turnbull 2000, table 7.6; gsDesign sfLDOF)
    looks, t = (1, 2, 3, 4, 5), (0.2, 0.4, 0.6, 0.8, 1.0)
    want = (4.877, 3.357, 2.680, 2.290, 2.031)
    assert sequential_bounds(looks, t, 0.025, 1) == pytest.approx(want, abs=1.5e-3)
    assert sequential_bounds(looks, t, 0.05, 2) == pytest.approx(want, abs=1.5e-3)
    assert obf_spending(1.0, 0.05) == pytest.approx(0.05) and obf_spending(0.5, 0.05) < 0.006
    # one look at t = 1 is the fixed-sample test
    assert sequential_bounds((7,), (1.0,), 0.05, 2)[0] == pytest.approx(stats.norm.isf(0.025), abs=1e-6)


# --------------------------------------------------------------------------- simulations with known truth
N0, N1 = 231, 382  # the demo's test split: NORMAL, PNEUMONIA


def _skill_auroc(b: float, image_var: float, skill_var: float) -> float:
    """E over seed skill b_s ~ N(b, skill_var) of the binormal AUROC Phi(b_s / sqrt(2 image_var))."""
    return float(stats.norm.cdf(b / math.sqrt(2 * image_var + skill_var)))


def _simulate(rng, r: int, b_a: float, b_b: float, *, kappa=0.5, noise=0.6, tau_seed=0.15, tau_arm=0.1):
    """Two arms over r shared seeds scored on one test set of N0 + N1 images. Score of image i, arm a, seed s:
    b_as y_i + z_i + kappa w_ia + e_is + e_ias, with z_i the image's difficulty (every arm and seed), w_ia the arm's
    own view of the image (every seed: what makes the test images a noise source the seeds do not average away),
    e seed noise shared by the arms and the arm's own; b_as = b_a + u_s + v_as. The true AUROC of arm a is the
    expectation over images and seeds: Phi(b_a / sqrt(2 V + tau_seed^2 + tau_arm^2)), V the image variance."""
    y = np.r_[np.zeros(N0, int), np.ones(N1, int)]
    z, w = rng.standard_normal(N0 + N1), rng.standard_normal((2, N0 + N1))
    vals, phis = ([], []), ([], [])
    for _ in range(r):
        u, e = tau_seed * rng.standard_normal(), noise / math.sqrt(2) * rng.standard_normal(N0 + N1)
        for a, b in enumerate((b_a, b_b)):
            x = (b + u + tau_arm * rng.standard_normal()) * y + z + kappa * w[a] + e
            x = x + noise / math.sqrt(2) * rng.standard_normal(N0 + N1)
            v, phi = auroc_influence(y, np.c_[-x, x])
            vals[a].append(v)
            phis[a].append(phi)
    image_var = 1 + kappa**2 + noise**2
    truth = _skill_auroc(b_a, image_var, tau_seed**2 + tau_arm**2) - _skill_auroc(
        b_b, image_var, tau_seed**2 + tau_arm**2
    )
    return y, vals, phis, truth


def _b_for_delta(b_b: float, delta: float, *, kappa=0.5, noise=0.6, tau_seed=0.15, tau_arm=0.1) -> float:
    iv, sv = 1 + kappa**2 + noise**2, tau_seed**2 + tau_arm**2
    return brentq(lambda b: _skill_auroc(b, iv, sv) - _skill_auroc(b_b, iv, sv) - delta, b_b, b_b + 2)


def _decide(c: dict, delta: float, c2: float, c1: float) -> str:
    """One comparison alone (Holm over one: the level itself) against the boundaries c2 (two-sided), c1 (one)."""
    if _z_of(c["diff"] / c["se"], c["df"], 2) >= c2:
        return "helps" if c["diff"] > 0 else "hurts"
    low, high = _z_of((c["diff"] + delta) / c["se"], c["df"], 1), _z_of((delta - c["diff"]) / c["se"], c["df"], 1)
    return "equivalent" if min(low, high) >= c1 else "cannot tell"


def test_intervals_over_seeds_and_test_images_cover_and_verdicts_keep_their_level():
    """1,000 simulated trials of 5 seeds on the demo's 613 test images (the test images' share of the variance about
    as large as the seeds'): the 95 % interval covers the true difference 93-97 % of the time; seeds alone (the
    paired t interval) under-cover. Under Delta = 0 "helps" / "hurts" come at most at the level (+2 SE); at
    Delta = delta, "equivalent" does."""
    rng = np.random.default_rng(20261207)
    n, r, b = 1000, 5, 2.55
    cover = cover_seeds = false_diff = 0
    for _ in range(n):
        y, vals, phis, truth = _simulate(rng, r, b + 0.05, b)
        c = compare(vals[0], vals[1], np.stack(phis[0]), np.stack(phis[1]), y)
        q = stats.t.isf(0.025, c["df"])
        cover += abs(c["diff"] - truth) <= q * c["se"]
        cover_seeds += abs(c["diff"] - truth) <= stats.t.isf(0.025, r - 1) * math.sqrt(c["var_seeds"])
    assert 0.93 <= cover / n <= 0.97
    assert cover_seeds / n < 0.91  # the seeds-only interval misses the test images' share
    c2, c1 = stats.norm.isf(0.025), stats.norm.isf(0.05)
    for _ in range(n):
        y, vals, phis, truth = _simulate(rng, r, b, b)
        assert truth == 0
        c = compare(vals[0], vals[1], np.stack(phis[0]), np.stack(phis[1]), y)
        false_diff += _decide(c, 0.01, c2, c1) in ("helps", "hurts")
    se = math.sqrt(0.05 * 0.95 / n)
    assert false_diff / n <= 0.05 + 2 * se
    # at the margin (seeds the larger share, so that equivalence can be reached): false "equivalent"
    kw = {"kappa": 0.1, "tau_arm": 0.02, "tau_seed": 0.02, "noise": 0.3}
    delta = 0.03
    b_a = _b_for_delta(b, delta, **kw)
    false_eq = 0
    for _ in range(n // 2):
        y, vals, phis, truth = _simulate(rng, r, b_a, b, **kw)
        assert truth == pytest.approx(delta)
        c = compare(vals[0], vals[1], np.stack(phis[0]), np.stack(phis[1]), y)
        false_eq += _decide(c, delta, c2, c1) == "equivalent"
    assert false_eq / (n // 2) <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / (n // 2))


def test_the_sequential_design_keeps_its_overall_type_one_error():
    """Null simulations of the demo's design (looks after 3, 6, 9, 12, 15 seeds, stop when decisive): the chance of a
    false "helps" / "hurts" at any look is the nominal 0.05 within 2 standard errors."""
    rng = np.random.default_rng(7)
    looks = (3, 6, 9, 12, 15)
    times = tuple(n / 15 for n in looks)
    c2, c1 = sequential_bounds(looks, times, 0.05, 2), sequential_bounds(looks, times, 0.05, 1)
    kw = {"kappa": 0.1, "tau_arm": 0.4}  # the seeds' spread dominates (test-image noise makes the design conservative)
    n, false, seeds = 1000, 0, []
    for _ in range(n):
        y, vals, phis, truth = _simulate(rng, 15, 2.55, 2.55, **kw)
        for k, r in enumerate(looks):
            c = compare(vals[0][:r], vals[1][:r], np.stack(phis[0][:r]), np.stack(phis[1][:r]), y)
            v = _decide(c, 0.01, c2[k], c1[k])
            if v != "cannot tell":
                break
        false += v in ("helps", "hurts")
        seeds.append(r)
    se = math.sqrt(0.05 * 0.95 / n)
    assert abs(false / n - 0.05) <= 2 * se


def test_look_schedules_of_the_demo_and_the_longer_study():
    from radgen.experiments.augment import AugmentConfig, look_schedule

    def looks(seeds: int, **kw) -> list[int]:
        return look_schedule(AugmentConfig(seeds=seeds, trial=TrialConfig(**kw)))

    assert looks(15, first_look=3, look_every=3) == [3, 6, 9, 12, 15]  # the demo
    assert looks(10, first_look=4, look_every=3) == [4, 7, 10]  # --budget full
    assert looks(11, first_look=4, look_every=3) == [4, 7, 10, 11]  # the last look at the most seeds
    assert looks(3, first_look=3) == [3] and looks(2, first_look=3) == [2]
    assert looks(15, sequential=False) == [15]


# --------------------------------------------------------------------------- futility and what the test set resolves
def test_projection_against_a_hand_computation():
    """Conditional power under the current trend on fixed numbers, by hand with SciPy: r = 6 of R = 15 seeds, per-seed
    SD 0.0095, the test images' variance 1.4e-5 (the demo's +lsgan vs real)."""
    r, big_r, s2, c, d, delta, alpha = 6, 15, 0.0095**2, 1.4e-5, -0.0101, 0.01, 0.05 / 3
    cmp = {"diff": d, "n": r, "se": math.sqrt(s2 / r + c), "var_seeds": s2 / r, "var_test": c}
    looks = (3, 6, 9, 12, 15)
    p = projection(cmp, delta, looks, alpha)
    times = tuple(n / 15 for n in looks)
    c2, c1 = sequential_bounds(looks, times, alpha, 2)[-1], sequential_bounds(looks, times, alpha, 1)[-1]
    se_max, sd = math.sqrt(s2 / big_r + c), math.sqrt((big_r - r) * s2) / big_r
    cp_diff = stats.norm.cdf((-c2 * se_max - d) / sd) + stats.norm.sf((c2 * se_max - d) / sd)
    h = delta - c1 * se_max
    cp_eq = max(stats.norm.cdf((h - d) / sd) - stats.norm.cdf((-h - d) / sd), 0) if h > 0 else 0.0
    assert p["cp_difference"] == pytest.approx(cp_diff, rel=1e-9)
    assert p["cp_equivalence"] == pytest.approx(cp_eq, abs=1e-12)
    a = c2 * se_max
    both = (
        stats.norm.cdf((h - d) / sd)
        - stats.norm.cdf((a - d) / sd)
        + stats.norm.cdf((-a - d) / sd)
        - stats.norm.cdf((-h - d) / sd)
        if h > a
        else 0.0
    )
    assert p["cp"] == pytest.approx(cp_diff + cp_eq - both, rel=1e-9)
    assert 0.05 < p["cp"] < 0.95  # neither hopeless nor settled: the demo's case is a coin toss
    assert p["resolution"] == pytest.approx(c2 * math.sqrt(c), rel=1e-12)
    assert p["narrowest_margin"] == pytest.approx(abs(d) + c1 * math.sqrt(c), rel=1e-12)
    # the test images' share sets the floor: with unlimited seeds a difference below it is never told from 0
    assert p["resolution"] > abs(d) * 0.8
    # no test-image share: the resolution is 0; a tiny difference with seeds that agree is "equivalent" for sure
    q = projection({**cmp, "diff": 0.0, "var_test": 0.0, "var_seeds": 1e-8 / r}, delta, looks, alpha)
    assert q["resolution"] == 0 and q["cp_equivalence"] > 0.999 and q["cp_difference"] < 0.01
    # a difference both told from 0 and inside the margin ("helps, within +-delta") counts once
    w = projection({**cmp, "diff": 0.004, "var_test": 0.0, "var_seeds": 1e-8 / r}, delta, looks, alpha)
    assert w["cp_difference"] > 0.999 and w["cp_equivalence"] > 0.999 and w["cp"] == pytest.approx(1.0, abs=1e-9)
    # at the last look nothing is left to chance
    last = projection({**cmp, "n": big_r}, delta, looks, alpha)
    assert last["cp"] in (0.0, 1.0)


def _sequential_trial(rng, looks, b_a, b_b, futility, **kw):
    """One simulated trial of the demo's design with the futility rule; returns (verdict, seeds used, stopped)."""
    max_r = looks[-1]
    times = tuple(n / max_r for n in looks)
    c2, c1 = sequential_bounds(looks, times, 0.05, 2), sequential_bounds(looks, times, 0.05, 1)
    y, vals, phis, _ = _simulate(rng, max_r, b_a, b_b, **kw)
    for k, r in enumerate(looks):
        c = compare(vals[0][:r], vals[1][:r], np.stack(phis[0][:r]), np.stack(phis[1][:r]), y)
        v = _decide(c, 0.01, c2[k], c1[k])
        if v != "cannot tell":
            return v, r, "decisive"
        if k + 1 < len(looks) and futility and projection(c, 0.01, looks, 0.05)["cp"] < futility:
            return v, r, "futility"
    return v, max_r, "max_seeds"


def test_stopping_for_futility_keeps_the_type_one_error_and_saves_seeds_only_where_hopeless():
    """Null simulations with the futility rule: false "helps"/"hurts" stay within the nominal 0.05 (+2 SE). Where the
    test images dominate and the truth is a small difference (0.004 AUROC, neither tellable from 0 nor inside
    +-0.01 on 613 images), most trials stop early for futility; where the seeds dominate and the truth is 0, the
    rule almost never stops a trial that would have become "equivalent"."""
    looks = (3, 6, 9, 12, 15)
    rng = np.random.default_rng(11)
    n = 600
    null = [_sequential_trial(rng, looks, 2.55, 2.55, 0.1, kappa=0.1, tau_arm=0.4) for _ in range(n)]
    false = sum(v in ("helps", "hurts") for v, _, _ in null)
    assert false / n <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / n)
    kw = {"kappa": 0.9}  # the arms see the test images differently: a large test-image share
    b_a = _b_for_delta(2.55, 0.004, **kw)
    hopeless = [_sequential_trial(rng, looks, b_a, 2.55, 0.1, **kw) for _ in range(200)]
    early = sum(stop == "futility" for _, _, stop in hopeless)
    assert early / 200 > 0.5
    assert np.mean([r for _, r, _ in hopeless]) < 12
    kw = {"kappa": 0.05, "tau_arm": 0.02, "tau_seed": 0.02, "noise": 0.3}
    with_rule = [_sequential_trial(np.random.default_rng(i), looks, 2.55, 2.55, 0.1, **kw) for i in range(150)]
    without = [_sequential_trial(np.random.default_rng(i), looks, 2.55, 2.55, None, **kw) for i in range(150)]
    eq_with = sum(v == "equivalent" for v, _, _ in with_rule)
    eq_without = sum(v == "equivalent" for v, _, _ in without)
    assert eq_without > 0.8 * 150 and eq_with >= eq_without - 0.05 * 150
