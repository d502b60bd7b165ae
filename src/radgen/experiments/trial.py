"""The augmentation experiment's trial design: endpoints declared before any fit, two families of
comparisons, intervals that count training seeds and test images, verdicts that can say "equivalent",
and seeds added until every primary comparison is decisive.

1. **Endpoints** (declared in the config's ``trial`` section and written to ``preregistration.json``,
   with the date and the config's sha256, before the first classifier is fitted). Primary, by default,
   ``auroc`` (threshold-free: the test split is shifted from train, so a threshold chosen anywhere but
   on test moves every count-based metric). Secondary: ``balanced_accuracy_val_threshold`` (the
   threshold of best balanced accuracy on the validation split, never on test),
   ``minority_sensitivity_at_real_specificity`` (binary: the minority class's recall at the threshold
   where the arm's validation specificity, the majority class's recall, equals the one the real-only
   judge of the same seed reaches on validation at its own decision rule), and
   ``balanced_accuracy_argmax`` (the endpoint of earlier radgen versions, for continuity).
2. **Families.** Primary: the comparisons the config names (default: the first generator's ``+G``
   arm against ``real``, the duplicate control and the class-weighted loss). Secondary: every other
   arm against ``real``. Each family is its own multiplicity family at level ``alpha``.
3. **Intervals over seeds and test images** (:func:`compare`): the multi-reader multi-case model of
   Obuchowski & Rockette (Commun. Stat. Simul. Comput. 1995) with seeds as readers, arms as
   modalities and test images as cases. The difference of two arms' mean endpoint over r shared
   seeds, d = mean_j (theta_Aj - theta_Bj), has variance s_d^2 / r + C, where s_d^2 is the sample
   variance of the per-seed differences (seed noise and its interaction with the test images) and
   C = mean over seed pairs j != j' of the test-image covariance of (d_j, d_j'), i.e. 2 (Cov2 - Cov3)
   (Hillis, Obuchowski, Schartz & Berbaum, Stat. Med. 2005; truncated at 0 as there). The test-image
   covariances come from each fit's per-image influence values: DeLong, DeLong & Clarke-Pearson
   (Biometrics 1988) placement values for AUROC (one-vs-rest and averaged for more than two classes),
   the centred correctness indicators for the proportions, summed within class (the test split's
   class counts are fixed). Degrees of freedom: Hillis (Stat. Med. 2007),
   df = (r - 1) (1 + r C / s_d^2)^2. With C = 0 this is the paired t-test over seeds.
4. **Verdicts** (:func:`family_verdicts`): per comparison, a two-sided test of Delta = 0 and the two
   one-sided tests (TOST, Schuirmann 1987) of Delta <= -delta and Delta >= delta, all at the family's
   level by Holm's step-down (Holm 1979) over both kinds of test, with Shaffer's (JASA 1986) logical
   constraint: a comparison's two null hypotheses (Delta = 0; |Delta| >= delta) cannot both be true,
   so each step divides alpha by the number of comparisons that still have an unrejected null.
   "helps" / "hurts": Delta = 0 rejected (sign of the estimate); "equivalent": |Delta| >= delta
   rejected; else "cannot tell". A secondary endpoint whose interval excludes 0 is flagged.
5. **Seeds until decisive** (:func:`sequential_bounds`): a group-sequential design with repeated
   confidence intervals (Jennison & Turnbull, JRSS B 1989; equivalence by RCIs: Jennison & Turnbull,
   Biometrics 1993) and the Lan-DeMets O'Brien-Fleming-type alpha-spending function
   alpha(t) = 2 - 2 Phi(z_{1 - alpha/2} / sqrt(t)) (Lan & DeMets, Biometrika 1983), t = seeds so far /
   ``max_seeds``. Looks come after ``first_look`` seeds and every ``look_every`` seeds after; the run
   stops when every primary comparison is decisive, at ``max_seeds``, or when the next batch of seeds
   would overrun ``budget_seconds`` (that look, decided before its analysis, spends the rest: t = 1).
   Boundaries are computed by the recursive numerical integration of Armitage, McPherson & Rowe
   (JRSS A 1969) with information proportional to the seeds (conservative when C > 0: the true
   correlation between looks is then higher); an estimated variance enters through the significance
   level approach (Jennison & Turnbull 2000, section 3.8): a look's nominal p-value from the t
   distribution with Hillis's df is set against the boundary's normal-tail level. Each test's p-value
   is its repeated p-value (the smallest level whose RCI would reject; Jennison & Turnbull 2000,
   section 9.5), valid at any stopping time, so Holm applies to the p-values of the look where the run stops.
6. **Stopping for futility, and what the test set can resolve** (:func:`projection`): at a look before the last,
   each undecided primary comparison's conditional power under the current trend (stochastic curtailment:
   Lan, Simon & Halperin, Commun. Stat. C 1982; Jennison & Turnbull 2000, chapter 10) is the probability that the
   analysis at ``max_seeds`` reaches a verdict if the per-seed differences keep their observed mean and spread.
   The seeds still to come resample only the seed part of the variance: the test set is the same one, so its
   part C stays. When every undecided primary comparison's conditional power is below ``futility`` the run stops
   ("futile"). The rule is non-binding: repeated confidence intervals hold at any stopping time, so stopping
   early can only lose power, never raise an error rate. Beside every comparison the analysis reports what the
   test set allows with unlimited seeds: the smallest |Delta| that could be told from 0 (the final two-sided
   boundary times sqrt(C)) and the narrowest margin that could be shown at the observed Delta (|Delta| plus the
   one-sided boundary times sqrt(C)), so a "cannot tell" says how far the test images, not the seeds, allow.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

ENDPOINTS = (
    "auroc",
    "balanced_accuracy_val_threshold",
    "minority_sensitivity_at_real_specificity",
    "balanced_accuracy_argmax",
)
DEFAULT_DELTA = {
    "auroc": 0.01,
    "balanced_accuracy_val_threshold": 0.02,
    "minority_sensitivity_at_real_specificity": 0.02,
    "balanced_accuracy_argmax": 0.02,
}
VERDICTS = ("helps", "hurts", "equivalent", "cannot tell")
DECISIVE = ("helps", "hurts", "equivalent")
DESIGN = (
    "group-sequential repeated confidence intervals (Jennison & Turnbull 1989), Lan-DeMets O'Brien-Fleming-type "
    "alpha spending over seeds / max_seeds (Lan & DeMets 1983)"
)
INTERVAL_METHOD = (
    "Obuchowski-Rockette with seeds as readers and test images as cases: var = s_d^2 / r + 2 (Cov2 - Cov3), "
    "test-image covariances from DeLong placement values (AUROC) or correctness indicators (proportions), "
    "Hillis (2007) degrees of freedom"
)


@dataclass
class TrialConfig:
    """The pre-registered design (docs/tutorials/augment.md). Comparisons are "A vs B" arm names."""

    primary_endpoint: str = "auroc"
    secondary_endpoints: list[str] = field(
        default_factory=lambda: [e for e in ENDPOINTS if e != "auroc"]
    )  # every endpoint but the primary
    primary: list[str] | None = None  # default: +G vs real, +G vs duplicate, +G vs weighted (those present)
    delta: dict[str, float] = field(default_factory=dict)  # equivalence margins; DEFAULT_DELTA fills the rest
    alpha: float = 0.05  # familywise, per family
    sequential: bool = True  # False: one analysis at `seeds`
    first_look: int = 3
    look_every: int = 3
    budget_seconds: float | None = None  # the arms' time budget (pools, fits, analyses), from the start
    futility: float | None = 0.1  # stop when every undecided primary comparison's conditional power is below it


def check_trial(t: TrialConfig) -> None:
    """Refuse, in one line, a trial design that cannot run (unknown endpoint, margin, level, looks, budget)."""
    from radgen.errors import ConfigError

    for e in [t.primary_endpoint, *t.secondary_endpoints, *t.delta]:
        if e not in ENDPOINTS:
            raise ConfigError(f"trial: endpoint {e!r} is not one; valid: {', '.join(ENDPOINTS)}")
    if any(not (d > 0 and math.isfinite(d)) for d in t.delta.values()):
        raise ConfigError(f"trial.delta={t.delta}: every margin must be a positive number, e.g. auroc: 0.01")
    if not 0 < t.alpha < 0.5:
        raise ConfigError(f"trial.alpha={t.alpha} must be in (0, 0.5), e.g. 0.05")
    if t.first_look < 2 or t.look_every < 1:
        raise ConfigError(
            f"trial.first_look={t.first_look} must be >= 2 (an interval needs 2 seeds) and look_every >= 1"
        )
    if t.futility is not None and not 0 < t.futility < 0.5:
        raise ConfigError(f"trial.futility={t.futility} must be in (0, 0.5), e.g. 0.1 (or null: never stop for it)")
    if t.budget_seconds is not None and not t.budget_seconds > 0:
        raise ConfigError(f"trial.budget_seconds={t.budget_seconds} must be > 0 (or null: no time limit)")
    for c in t.primary or []:
        parse_comparison(c)


def parse_comparison(text: str) -> tuple[str, str]:
    """``'A vs B'`` -> (A, B); anything else is refused with the expected form."""
    from radgen.errors import ConfigError

    a, sep, b = str(text).partition(" vs ")
    if not sep or not a.strip() or not b.strip():
        raise ConfigError(f"trial.primary: {text!r} is not a comparison; write 'ARM vs ARM', e.g. '+ldm vs real'")
    return a.strip(), b.strip()


def margins(t: TrialConfig) -> dict[str, float]:
    """The equivalence margin of every endpoint: the config's, else ``DEFAULT_DELTA``'s."""
    return {**DEFAULT_DELTA, **t.delta}


def default_primary(arms: Sequence[str], generators: Sequence[str]) -> list[str]:
    """``+G`` (G: the first generator with a mixed-in arm) against real, duplicate and weighted, those present;
    without a ``+G`` arm, every arm against ``real``."""
    g = next((f"+{g}" for g in generators if f"+{g}" in arms), None)
    if g is None:
        return [f"{a} vs real" for a in arms if a != "real"]
    return [f"{g} vs {b}" for b in ("real", "duplicate", "weighted") if b in arms]


def families(t: TrialConfig, arms: Sequence[str], generators: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """The two families: the primary comparisons, and every other arm against ``real`` (secondary)."""
    from radgen.errors import ConfigError

    primary = [
        parse_comparison(c) for c in (t.primary if t.primary is not None else default_primary(arms, generators))
    ]
    for a, b in primary:
        for x in (a, b):
            if x not in arms:
                raise ConfigError(f"trial.primary: arm {x!r} is not run; arms: {', '.join(arms)}")
    taken = {frozenset(p) for p in primary}
    secondary = [(a, "real") for a in arms if a != "real" and frozenset((a, "real")) not in taken]
    return {"primary": primary, "secondary": secondary}


def preregistration(t: TrialConfig, fams: dict, config: dict[str, Any], *, max_seeds: int, created: str) -> dict:
    """What is declared before any fit: endpoints, margins, families, the design; the config's sha256."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
    return {
        "created": created,
        "config_sha256": digest,
        "primary_endpoint": t.primary_endpoint,
        "secondary_endpoints": list(t.secondary_endpoints),
        "delta": {e: margins(t)[e] for e in [t.primary_endpoint, *t.secondary_endpoints]},
        "alpha": t.alpha,
        "families": {k: [f"{a} vs {b}" for a, b in v] for k, v in fams.items()},
        "multiplicity": "Holm step-down per family over the difference and equivalence tests, Shaffer's constraint",
        "interval": INTERVAL_METHOD,
        "design": DESIGN if t.sequential else "fixed: one analysis after every seed",
        "first_look": t.first_look if t.sequential else max_seeds,
        "look_every": t.look_every,
        "max_seeds": max_seeds,
        "budget_seconds": t.budget_seconds,
        "futility": (
            f"non-binding: stop when every undecided primary comparison's conditional power under the current trend "
            f"is below {t.futility:g} (Lan, Simon & Halperin 1982)"
            if t.sequential and t.futility
            else "none"
        ),
    }


# --------------------------------------------------------------------------- per-fit endpoints and influence
def _placements(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's placement values: V10_i = P(neg < pos_i) + P(neg = pos_i) / 2, V01_j = P(pos > neg_j) + ties / 2."""
    sn, sp = np.sort(neg), np.sort(pos)
    v10 = (np.searchsorted(sn, pos, "left") + np.searchsorted(sn, pos, "right")) / (2.0 * len(neg))
    v01 = 1.0 - (np.searchsorted(sp, neg, "left") + np.searchsorted(sp, neg, "right")) / (2.0 * len(pos))
    return v10, v01


def auroc_influence(y: np.ndarray, prob: np.ndarray) -> tuple[float, np.ndarray]:
    """AUROC (binary: of the last class; else the one-vs-rest mean) and each test image's influence phi_i,
    AUROC_hat - AUROC ~ sum_i phi_i (DeLong's structural components over the class counts)."""
    y = np.asarray(y).astype(int)
    k = prob.shape[1]
    classes = [k - 1] if k == 2 else list(range(k))
    phi = np.zeros(len(y))
    total = 0.0
    for c in classes:
        pos, neg = y == c, y != c
        if not pos.any() or not neg.any():
            return math.nan, np.full(len(y), math.nan)
        v10, v01 = _placements(prob[pos, c], prob[neg, c])
        a = float(v10.mean())
        total += a
        phi[pos] += (v10 - a) / pos.sum()
        phi[neg] += (v01 - a) / neg.sum()
    return total / len(classes), phi / len(classes)


def proportion_influence(y: np.ndarray, hit: np.ndarray, weights: dict[int, float]) -> tuple[float, np.ndarray]:
    """sum_c w_c mean_{i in c} hit_i and each image's influence w_c (hit_i - mean_c) / n_c."""
    y = np.asarray(y).astype(int)
    hit = np.asarray(hit, dtype=np.float64)
    phi = np.zeros(len(y))
    value = 0.0
    for c, w in weights.items():
        m = y == c
        if not m.any():
            return math.nan, np.full(len(y), math.nan)
        mean = float(hit[m].mean())
        value += w * mean
        phi[m] = w * (hit[m] - mean) / m.sum()
    return value, phi


def minority_class(train_counts: dict[str, int], class_names: Sequence[str]) -> int:
    """The index of the class with the fewest training images (the first such class on a tie)."""
    counts = [train_counts.get(c, 0) for c in class_names]
    return int(np.argmin(counts))


def majority_recall_on_val(y_val: np.ndarray, p_val: np.ndarray, threshold: float | None, minority: int) -> float:
    """The real-only judge's validation specificity: the other class's recall at its own decision rule."""
    from radgen.classifiers.metrics import predict_labels

    pred = predict_labels(p_val, threshold)
    other = 1 - minority
    return float((pred[y_val == other] == other).mean())


def fit_endpoints(
    y_val: np.ndarray,
    p_val: np.ndarray,
    y_test: np.ndarray,
    p_test: np.ndarray,
    *,
    minority: int,
    target_specificity: float | None,
) -> dict[str, tuple[float, np.ndarray]]:
    """Every endpoint of one fit: (value on test, per-test-image influence). Thresholds come from ``p_val``."""
    from radgen.classifiers.train import choose_threshold

    y_val, y_test = np.asarray(y_val).astype(int), np.asarray(y_test).astype(int)
    k = p_test.shape[1]
    every = dict.fromkeys(range(k), 1.0 / k)
    out = {"auroc": auroc_influence(y_test, p_test)}
    out["balanced_accuracy_argmax"] = proportion_influence(y_test, p_test.argmax(1) == y_test, every)
    if k != 2:
        nan = (math.nan, np.full(len(y_test), math.nan))
        out["balanced_accuracy_val_threshold"] = out["balanced_accuracy_argmax"]
        out["minority_sensitivity_at_real_specificity"] = nan
        return out
    t = choose_threshold(y_val, p_val, "val_balanced")
    pred = (p_test[:, 1] >= (0.5 if t is None else t)).astype(int)
    out["balanced_accuracy_val_threshold"] = proportion_influence(y_test, pred == y_test, every)
    other = 1 - minority
    s_val = p_val[:, other][y_val == other]  # the majority class's own-class scores on validation
    if target_specificity is None or not len(s_val) or math.isnan(target_specificity):
        out["minority_sensitivity_at_real_specificity"] = (math.nan, np.full(len(y_test), math.nan))
    else:
        # call `other` when p(other) >= u, with u the largest cut that keeps its val recall >= the target:
        # the k-th largest of its val scores, k = ceil(target n)
        k_th = min(len(s_val), max(1, math.ceil(target_specificity * len(s_val) - 1e-9)))
        u = float(np.sort(s_val)[::-1][k_th - 1])
        called_minority = p_test[:, other] < u
        out["minority_sensitivity_at_real_specificity"] = proportion_influence(
            y_test, called_minority, {minority: 1.0}
        )
    return out


# --------------------------------------------------------------------------- the comparison of two arms
def _class_cov(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """sum over classes c of n_c times the within-class covariance (ddof 1) of the rows of x (r, N): (r, r)."""
    r = x.shape[0]
    out = np.zeros((r, r))
    for c in np.unique(y):
        m = y == c
        if m.sum() > 1:
            xc = x[:, m] - x[:, m].mean(1, keepdims=True)
            out += xc @ xc.T / (m.sum() - 1) * m.sum()
    return out


def compare(
    values_a: Sequence[float],
    values_b: Sequence[float],
    phi_a: np.ndarray,
    phi_b: np.ndarray,
    y_test: np.ndarray,
) -> dict[str, float]:
    """Arm A minus arm B over r shared seeds: the mean difference, its standard error counting seeds and test
    images (Obuchowski-Rockette-Hillis; module docstring), Hillis's df and the two variance parts."""
    d = np.asarray(values_a, dtype=np.float64) - np.asarray(values_b, dtype=np.float64)
    r = len(d)
    out = {"diff": float(d.mean()) if r else math.nan, "n": r}
    if r < 2 or np.isnan(d).any():
        return {**out, "se": math.nan, "df": math.nan, "var_seeds": math.nan, "var_test": math.nan}
    s2 = float(d.var(ddof=1))
    psi = np.asarray(phi_a, dtype=np.float64) - np.asarray(phi_b, dtype=np.float64)  # (r, N)
    cov = _class_cov(psi, np.asarray(y_test).astype(int))
    c = (cov.sum() - np.trace(cov)) / (r * (r - 1))  # mean test-image covariance of d_j, d_j' (j != j')
    c = max(float(c), 0.0)
    var = s2 / r + c
    df = math.inf if s2 == 0 else (r - 1) * (1 + r * c / s2) ** 2
    return {**out, "se": math.sqrt(var), "df": df, "var_seeds": s2 / r, "var_test": c, "sd_seeds": math.sqrt(s2)}


# --------------------------------------------------------------------------- group-sequential boundaries
def obf_spending(t: float, alpha: float) -> float:
    """Lan-DeMets O'Brien-Fleming-type spending: alpha(t) = 2 - 2 Phi(z_{1 - alpha/2} / sqrt(t)), alpha(1) = alpha."""
    from scipy.stats import norm

    if t <= 0:
        return 0.0
    return float(2 - 2 * norm.cdf(norm.ppf(1 - alpha / 2) / math.sqrt(min(t, 1.0))))


_GRID = 401  # points per look in the recursive integration (Simpson's rule)
_ZMAX = 9.0  # boundaries are capped at z = 9 (a tail of 1e-19)


@lru_cache(maxsize=4096)
def sequential_bounds(info: tuple[int, ...], times: tuple[float, ...], alpha: float, sides: int) -> tuple:
    """z boundaries c_1..c_K such that, under H0 with Z_k = S_k / sqrt(I_k) and independent increments of
    S (information ``info``, e.g. seeds), the probability of first crossing at look k is
    alpha(t_k) - alpha(t_{k-1}) (``obf_spending`` at ``times``). ``sides`` 1: Z_k >= c_k at level alpha;
    2: |Z_k| >= c_k, each side spending alpha / 2 (the two one-sided designs at alpha / 2 put together)."""
    from scipy.integrate import simpson
    from scipy.optimize import brentq
    from scipy.stats import norm

    spent, bounds = 0.0, []
    grid, dens = None, None  # S values in the continuation region and their sub-density
    for k, (ik, tk) in enumerate(zip(info, times)):
        # two-sided: each side spends an O'Brien-Fleming-type alpha / 2 (as two one-sided designs)
        target = (2 * obf_spending(tk, alpha / 2) if sides == 2 else obf_spending(tk, alpha)) - spent
        sq = math.sqrt(ik)
        if k == 0:

            def cross(c: float) -> float:
                return float(sides * norm.sf(c))

        else:
            step = math.sqrt(ik - info[k - 1])

            def cross(c: float, g=grid, f=dens, step=step, sq=sq) -> float:
                up = norm.sf((c * sq - g) / step)
                low = norm.cdf((-c * sq - g) / step) if sides == 2 else 0.0
                return float(simpson(f * (up + low), x=g))

        if target <= 1e-19 or cross(_ZMAX) >= target:
            c = _ZMAX
        elif cross(0.0) <= target:
            c = 0.0
        else:
            c = brentq(lambda z, tg=target: cross(z) - tg, 0.0, _ZMAX, xtol=1e-10)
        spent += cross(c)
        bounds.append(c)
        lo = -c * sq if sides == 2 else -8.0 * sq  # one-sided: below -8 sd the density is < 1e-14
        new = np.linspace(lo, c * sq, _GRID)
        if k == 0:
            dens = norm.pdf(new / sq) / sq
        else:
            kern = norm.pdf((new[:, None] - grid[None, :]) / step) / step
            dens = simpson(kern * dens[None, :], x=grid, axis=1)
        grid = new
    return tuple(bounds)


def _times(info: Sequence[int], max_info: int, final: bool) -> tuple[float, ...]:
    t = [min(i / max_info, 1.0) for i in info]
    if final:
        t[-1] = 1.0
    return tuple(t)


def repeated_pvalue(z: float, info: Sequence[int], max_info: int, *, final: bool, sides: int) -> float:
    """The smallest level whose sequential boundary at the last look of ``info`` is at or below ``z``. Boundaries
    are >= 0, so a one-sided p-value above 0.5 reads 1 (it decides nothing either way)."""
    from scipy.optimize import brentq

    if math.isnan(z):
        return math.nan
    z = abs(z) if sides == 2 else z
    if math.isinf(z):
        return 0.0 if z > 0 else 1.0
    times, info_t = _times(info, max_info, final), tuple(int(i) for i in info)

    def bound(a: float) -> float:
        return sequential_bounds(info_t, times, a, sides)[-1]

    hi = 0.999
    if z <= bound(hi):
        return 1.0
    lo = 1e-12
    if z >= bound(lo):
        return lo
    la = brentq(lambda x: bound(math.exp(x)) - z, math.log(lo), math.log(hi), xtol=1e-6)
    return float(math.exp(la))


def _z_of(t_stat: float, df: float, sides: int) -> float:
    """The normal deviate with the same tail as ``t_stat`` under Student's t with ``df`` (sides 2: |t|)."""
    from scipy.stats import norm, t

    if math.isnan(t_stat):
        return math.nan
    if math.isinf(df):
        return abs(t_stat) if sides == 2 else t_stat
    p = float(t.sf(abs(t_stat) if sides == 2 else t_stat, df))
    return float(norm.isf(p)) if p > 0 else _ZMAX * 2


def repeated_interval(
    cmp: dict[str, float], level_alpha: float, info: Sequence[int], max_info: int, *, final: bool, sides: int = 2
) -> tuple[float, float]:
    """The repeated confidence interval at the last look: diff +- q SE, with q the t quantile (Hillis df) at the
    normal-tail level of the look's boundary for ``level_alpha`` (two-sided; sides 1: each bound one-sided)."""
    from scipy.stats import norm, t

    if math.isnan(cmp.get("se", math.nan)):
        return math.nan, math.nan
    c = sequential_bounds(tuple(int(i) for i in info), _times(info, max_info, final), level_alpha, sides)[-1]
    tail = float(norm.sf(c))
    q = c if math.isinf(cmp["df"]) else float(t.isf(tail, cmp["df"]))
    return cmp["diff"] - q * cmp["se"], cmp["diff"] + q * cmp["se"]


def look_pvalues(cmp: dict[str, float], delta: float, info: Sequence[int], max_info: int, *, final: bool) -> dict:
    """Repeated p-values at this look: two-sided for Delta = 0, one-sided for Delta <= -delta and >= delta."""
    se, d, df = cmp.get("se", math.nan), cmp["diff"], cmp.get("df", math.nan)
    if math.isnan(se):
        return {"p_diff": math.nan, "p_low": math.nan, "p_high": math.nan}
    if se == 0:
        z_diff = math.inf if d != 0 else 0.0
        z_low, z_high = (math.inf if d > -delta else -math.inf), (math.inf if d < delta else -math.inf)
    else:
        z_diff = _z_of(d / se, df, 2)
        z_low, z_high = _z_of((d + delta) / se, df, 1), _z_of((delta - d) / se, df, 1)
    kw = {"final": final}
    return {
        "p_diff": repeated_pvalue(z_diff, info, max_info, sides=2, **kw),
        "p_low": repeated_pvalue(z_low, info, max_info, sides=1, **kw),
        "p_high": repeated_pvalue(z_high, info, max_info, sides=1, **kw),
    }


def projection(cmp: dict[str, float], delta: float, schedule: Sequence[int], alpha: float) -> dict[str, float]:
    """Where a comparison can go by the last look of ``schedule`` (module docstring, 6), normal approximation.

    ``cmp`` is :func:`compare`'s result over r seeds; ``alpha`` the level the comparison would be tested at.
    With R = ``schedule[-1]``, s^2 the per-seed variance of the differences and C the test images' part: the final
    SE is sqrt(s^2 / R + C); given what is seen, the final difference is normal with the observed mean and variance
    (R - r) s^2 / R^2 (the coming seeds' share; C is already in the observed difference). ``cp_difference`` is the
    chance that it then lies beyond the final two-sided boundary, ``cp_equivalence`` that the final one-sided
    intervals lie within +-delta, ``cp`` that either happens. ``resolution`` (the smallest |Delta| told from 0) and
    ``narrowest_margin`` (the narrowest margin showable at the observed Delta) are those of unlimited seeds."""
    from scipy.stats import norm

    keys = ("cp", "cp_difference", "cp_equivalence", "se_at_max", "resolution", "narrowest_margin")
    nan = dict.fromkeys(keys, math.nan)
    r, d, big_r = cmp.get("n", 0), cmp.get("diff", math.nan), int(schedule[-1])
    if r < 2 or math.isnan(cmp.get("se", math.nan)):
        return nan
    s2, c = cmp["var_seeds"] * r, cmp["var_test"]
    info = tuple(int(i) for i in schedule)
    times = _times(info, big_r, final=True)
    c2 = sequential_bounds(info, times, alpha, 2)[-1]
    c1 = sequential_bounds(info, times, alpha, 1)[-1]
    se_max = math.sqrt(s2 / big_r + c)
    sd = math.sqrt(max(big_r - r, 0) * s2) / big_r

    def above(x: float) -> float:  # P(final difference > x)
        return float(x < d) if sd == 0 else float(norm.sf((x - d) / sd))

    a, half = c2 * se_max, delta - c1 * se_max
    cp_diff = above(a) + 1 - above(-a)
    cp_eq = max(above(-half) - above(half), 0.0) if half > 0 else 0.0
    both = max(above(a) - above(half), 0.0) + max(above(-half) - above(-a), 0.0) if half > a else 0.0
    return {
        "cp": min(cp_diff + cp_eq - both, 1.0),  # a verdict of either kind (helps within +-delta counts once)
        "cp_difference": cp_diff,
        "cp_equivalence": cp_eq,
        "se_at_max": se_max,
        "resolution": c2 * math.sqrt(c),
        "narrowest_margin": abs(d) + c1 * math.sqrt(c),
    }


def futile(rows: list[dict[str, Any]], t: TrialConfig, schedule: Sequence[int]) -> bool:
    """Annotate each undecided primary comparison with its :func:`projection` at the level Holm would give it
    (alpha over the undecided comparisons); True when ``t.futility`` is set and every one is below it."""
    open_rows = [r for r in rows if r["verdict"] not in DECISIVE]
    if not open_rows:
        return False
    level = t.alpha / len(open_rows)
    for r in open_rows:
        r["projection"] = projection(r["endpoints"][t.primary_endpoint], r["delta"], schedule, level)
    return bool(t.futility) and all(r["projection"]["cp"] < t.futility for r in open_rows)


# --------------------------------------------------------------------------- verdicts
def holm_shaffer(p_diff: Sequence[float], p_eq: Sequence[float], *, alpha: float) -> dict[str, list]:
    """Holm's step-down over a family's 2m tests (m two-sided difference tests, m TOST equivalence tests) with
    Shaffer's constraint: comparison j's nulls Delta_j = 0 and |Delta_j| >= delta cannot both be true, so step k
    divides alpha by the number of comparisons with an unrejected null. Returns per comparison whether each
    test is rejected and its step level (nan where not reached), and the adjusted p-values."""
    m = len(p_diff)
    tests = [(p, j, "diff") for j, p in enumerate(p_diff)] + [(p, j, "eq") for j, p in enumerate(p_eq)]
    tests = sorted([x for x in tests if not math.isnan(x[0])], key=lambda x: x[0])
    open_ = {j: {"diff", "eq"} for j in range(m)}
    out = {k: [False] * m for k in ("reject_diff", "reject_eq")}
    out.update({k: [math.nan] * m for k in ("level_diff", "level_eq", "adj_diff", "adj_eq")})
    running, still = 0.0, True
    for p, j, kind in tests:
        t = sum(1 for v in open_.values() if v)
        level = alpha / t
        running = max(running, min(1.0, t * p))
        out[f"adj_{kind}"][j] = running
        out[f"level_{kind}"][j] = level
        still = still and p <= level
        if still:
            out[f"reject_{kind}"][j] = True
            open_[j].discard(kind)
    return out


def verdict_of(diff: float, reject_diff: bool, reject_eq: bool) -> str:
    """helps / hurts (Delta = 0 rejected, by the estimate's sign), equivalent (|Delta| >= delta rejected), else
    cannot tell."""
    if reject_diff:
        return "helps" if diff > 0 else "hurts"
    return "equivalent" if reject_eq else "cannot tell"


def analyse_family(
    pairs: list[tuple[str, str]],
    endpoint_data: dict[str, dict[str, dict[int, tuple[float, np.ndarray]]]],
    y_test: np.ndarray,
    t: TrialConfig,
    info: Sequence[int],
    max_info: int,
    *,
    final: bool,
) -> list[dict[str, Any]]:
    """One family at one look: per comparison the primary endpoint's difference, interval and verdict, and every
    secondary endpoint's difference and interval (flagged where it excludes 0). ``endpoint_data``: endpoint ->
    arm -> seed -> (value, influence). The verdicts are this look's (a later look can undo an earlier one's)."""
    seeds = sorted(set.intersection(*[set(endpoint_data[t.primary_endpoint][x]) for p in pairs for x in p]))
    delta = margins(t)
    rows, p_diff, p_eq = [], [], []
    for a, b in pairs:
        key = f"{a} vs {b}"
        per: dict[str, Any] = {}
        for e in [t.primary_endpoint, *t.secondary_endpoints]:
            da, db = endpoint_data[e][a], endpoint_data[e][b]
            cmp = compare(
                [da[s][0] for s in seeds],
                [db[s][0] for s in seeds],
                np.stack([da[s][1] for s in seeds]),
                np.stack([db[s][1] for s in seeds]),
                y_test,
            )
            per[e] = cmp
        ps = look_pvalues(per[t.primary_endpoint], delta[t.primary_endpoint], info, max_info, final=final)
        p_diff.append(ps["p_diff"])
        p_eq.append(max(ps["p_low"], ps["p_high"]))
        rows.append({"comparison": key, "a": a, "b": b, "seeds": len(seeds), "endpoints": per, "p": ps})
    hs = holm_shaffer(p_diff, p_eq, alpha=t.alpha)
    m = len(pairs)
    for j, row in enumerate(rows):
        cmp = row["endpoints"][t.primary_endpoint]
        v = verdict_of(cmp["diff"], hs["reject_diff"][j], hs["reject_eq"][j])
        if v in ("helps", "hurts"):
            lvl, sides, kind = hs["level_diff"][j], 2, "two-sided"
        elif v == "equivalent":
            lvl, sides, kind = hs["level_eq"][j], 1, "two one-sided"
        else:
            lvl, sides, kind = t.alpha / max(m, 1), 2, "two-sided"
        lo, hi = repeated_interval(cmp, lvl, info, max_info, final=final, sides=sides)
        flags = []
        for e in t.secondary_endpoints:
            c2 = row["endpoints"][e]
            lo2, hi2 = repeated_interval(c2, t.alpha / max(m, 1), info, max_info, final=final)
            c2.update({"low": lo2, "high": hi2, "level": 1 - t.alpha / max(m, 1)})
            if lo2 > 0 or hi2 < 0:
                flags.append(f"{e}:{'+' if c2['diff'] > 0 else '-'}")
        cmp.update({"low": lo, "high": hi, "level": 1 - (2 * lvl if sides == 1 else lvl), "interval": kind})
        row.update(
            {
                "endpoint": t.primary_endpoint,
                "delta": delta[t.primary_endpoint],
                "verdict": v,
                "within_delta": bool(hs["reject_eq"][j]),
                "p_diff_adjusted": hs["adj_diff"][j],
                "p_equivalence_adjusted": hs["adj_eq"][j],
                "secondary_flags": flags,
            }
        )
    return rows
