"""Summary statistics over seeds: mean +- sample std, and the paired comparison with a baseline.

Paired, because arm and baseline share everything a seed decides (initialisation, batch order,
augmentation draws): the difference d_s = m_arm(s) - m_base(s) removes the seed-to-seed
variation both arms share. Its 95 % interval is Student's t over seeds,
mean(d) +- t_{0.975, n-1} * sd(d) / sqrt(n) (sd with n-1 in the denominator); with n = 1 it is undefined (nan).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation (ddof=1; nan for a single value), NaNs ignored."""
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], dtype=np.float64)
    if len(v) == 0:
        return {"mean": float("nan"), "std": float("nan"), "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else float("nan"), "n": int(len(v))}


def paired_difference(arm: Sequence[float], base: Sequence[float], *, level: float = 0.95) -> dict[str, float]:
    """Mean paired difference arm - base over seeds, its sample std and a t confidence interval."""
    from scipy import stats

    a, b = np.asarray(arm, dtype=np.float64), np.asarray(base, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same seeds: {a.shape} vs {b.shape}")
    keep = ~(np.isnan(a) | np.isnan(b))
    d = a[keep] - b[keep]
    n = len(d)
    if n == 0:
        return {
            "diff": float("nan"),
            "std": float("nan"),
            "ci_low": float("nan"),
            "ci_high": float("nan"),
            "n": 0,
            "wins": 0,
        }
    mean = float(d.mean())
    if n < 2:
        return {
            "diff": mean,
            "std": float("nan"),
            "ci_low": float("nan"),
            "ci_high": float("nan"),
            "n": 1,
            "wins": int((d > 0).sum()),
        }
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return {"diff": mean, "std": sd, "ci_low": mean - half, "ci_high": mean + half, "n": n, "wins": int((d > 0).sum())}


# --------------------------------------------------------------------------- many arms, and power
def paired_t_pvalue(diffs: Sequence[float]) -> float:
    """Two-sided p-value of the paired t-test (H0: mean difference 0); nan for fewer than 2 values
    and 0 / 1 for a zero spread with a non-zero / zero mean."""
    from scipy import stats

    d = np.asarray([x for x in diffs if not math.isnan(x)], dtype=np.float64)
    if len(d) < 2:
        return float("nan")
    sd = d.std(ddof=1)
    if sd == 0:
        return 0.0 if d.mean() != 0 else 1.0
    t = d.mean() / (sd / math.sqrt(len(d)))
    return float(2 * stats.t.sf(abs(t), len(d) - 1))


def holm(pvalues: Sequence[float], *, alpha: float = 0.05) -> dict[str, list]:
    """Holm's step-down correction (Holm 1979) over m tests.

    Sort p ascending, p_(1) <= ... <= p_(m); the adjusted p_(j) is max_{i <= j} min(1, (m - i + 1) p_(i)),
    and test (j) is rejected at familywise level alpha when every p_(i), i <= j, is below alpha / (m - i + 1).
    Returns per test (input order): the adjusted p-value, whether it is rejected, and its step level
    alpha_j = alpha / (m - rank + 1) (rank 1 = smallest p). NaN p-values take no part (adjusted nan)."""
    p = np.asarray(pvalues, dtype=np.float64)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    adjusted = np.full(len(p), np.nan)
    level = np.full(len(p), np.nan)
    reject = np.zeros(len(p), dtype=bool)
    order = ok[np.argsort(p[ok], kind="stable")]
    running, still = 0.0, True
    for rank, i in enumerate(order, start=1):
        running = max(running, min(1.0, (m - rank + 1) * p[i]))
        adjusted[i] = running
        level[i] = alpha / (m - rank + 1)
        still = still and p[i] < level[i]
        reject[i] = still
    return {"adjusted": adjusted.tolist(), "reject": reject.tolist(), "level": level.tolist()}


def paired_interval(diffs: Sequence[float], *, level: float) -> tuple[float, float]:
    """mean(d) +- t_{(1 + level) / 2, n - 1} sd(d) / sqrt(n)."""
    from scipy import stats

    d = np.asarray(diffs, dtype=np.float64)
    d = d[~np.isnan(d)]
    if len(d) < 2:
        return float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, len(d) - 1)) * float(d.std(ddof=1)) / math.sqrt(len(d))
    return float(d.mean()) - half, float(d.mean()) + half


def paired_power(effect: float, sd: float, n: int, *, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t-test with n pairs to detect a true mean difference ``effect``
    when the differences have standard deviation ``sd``: P(|T| > t_{1-alpha/2, n-1}) with T
    noncentral t, n - 1 degrees of freedom, noncentrality effect sqrt(n) / sd (Cohen 1988, ch. 2;
    statsmodels' TTestPower)."""
    from scipy import stats

    if n < 2 or not sd > 0:
        return float("nan")
    df = n - 1
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    nc = abs(effect) * math.sqrt(n) / sd  # the power is symmetric in the effect's sign
    upper, lower = float(stats.nct.sf(crit, df, nc)), float(stats.nct.cdf(-crit, df, nc))
    # scipy's far tails can come back nan: the lower tail is then negligible, the upper one 1
    upper = 1.0 if math.isnan(upper) else upper
    lower = 0.0 if math.isnan(lower) else lower
    return upper + lower


def minimum_detectable_effect(sd: float, n: int, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true mean paired difference that the two-sided paired t-test with n pairs
    detects with probability ``power`` at level ``alpha``, for differences of standard deviation sd."""
    from scipy.optimize import brentq

    if n < 2 or not sd > 0:
        return float("nan")
    hi = sd
    while paired_power(hi, sd, n, alpha=alpha) < power:
        hi *= 2
    return float(brentq(lambda e: paired_power(e, sd, n, alpha=alpha) - power, 0.0, hi, xtol=1e-12 * sd))


def seeds_needed(effect: float, sd: float, *, alpha: float = 0.05, power: float = 0.8, max_n: int = 100_000) -> int:
    """The fewest pairs (seeds) n >= 2 whose paired t-test has at least ``power`` for ``effect``."""
    if not sd > 0 or effect == 0:
        return 2 if sd == 0 and effect != 0 else -1
    n = 2
    while paired_power(abs(effect), sd, n, alpha=alpha) < power:
        n = n * 2 if n < 64 else n + 64
        if n > max_n:
            return -1
    lo = max(2, n // 2 if n <= 64 else n - 64)
    while lo < n:  # smallest n with enough power (power grows with n)
        mid = (lo + n) // 2
        if paired_power(abs(effect), sd, mid, alpha=alpha) >= power:
            n = mid
        else:
            lo = mid + 1
    return n


def verdict(ci_low: float, ci_high: float) -> str:
    """'helps' / 'hurts' when the (corrected) interval excludes 0, else 'cannot tell at this power'."""
    if math.isnan(ci_low) or math.isnan(ci_high):
        return "cannot tell at this power"
    if ci_low > 0:
        return "helps"
    if ci_high < 0:
        return "hurts"
    return "cannot tell at this power"
