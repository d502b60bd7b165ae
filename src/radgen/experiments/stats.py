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
