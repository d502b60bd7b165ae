"""The trial design's intervals and sequential verdicts on simulated scores whose truth is known (the model of
tests/experiments/test_trial.py: 613 test images, 231 NORMAL / 382 PNEUMONIA, as the demo's test split).

    python docs/results/trial_design_simulations/simulate.py > docs/results/trial_design_simulations/simulations.md
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from radgen.experiments.trial import compare, sequential_bounds  # noqa: E402
from tests.experiments.test_trial import _decide, _simulate  # noqa: E402

SETTINGS = {
    "test images and seeds alike (the tests' default)": {},
    "seeds dominate": {"kappa": 0.1, "tau_arm": 0.4},
}


def coverage(rng, r: int, n: int, kw: dict) -> tuple[float, float, float]:
    both = seeds_only = 0
    share = []
    for _ in range(n):
        y, vals, phis, truth = _simulate(rng, r, 2.60, 2.55, **kw)
        c = compare(vals[0], vals[1], np.stack(phis[0]), np.stack(phis[1]), y)
        both += abs(c["diff"] - truth) <= stats.t.isf(0.025, c["df"]) * c["se"]
        seeds_only += abs(c["diff"] - truth) <= stats.t.isf(0.025, r - 1) * math.sqrt(c["var_seeds"])
        share.append(c["var_test"] / c["se"] ** 2)
    return both / n, seeds_only / n, float(np.median(share))


def sequential_null(rng, n: int, kw: dict) -> tuple[float, float]:
    looks = (3, 6, 9, 12, 15)
    times = tuple(k / 15 for k in looks)
    c2, c1 = sequential_bounds(looks, times, 0.05, 2), sequential_bounds(looks, times, 0.05, 1)
    false, used = 0, []
    for _ in range(n):
        y, vals, phis, _ = _simulate(rng, 15, 2.55, 2.55, **kw)
        for k, r in enumerate(looks):
            c = compare(vals[0][:r], vals[1][:r], np.stack(phis[0][:r]), np.stack(phis[1][:r]), y)
            v = _decide(c, 0.01, c2[k], c1[k])
            if v != "cannot tell":
                break
        false += v in ("helps", "hurts")
        used.append(r)
    return false / n, float(np.mean(used))


if __name__ == "__main__":
    t0 = time.perf_counter()
    rng = np.random.default_rng(20261207)
    n = 1000
    print("# Simulated trials with known truth\n")
    print(f"{n} trials per row; 95 % intervals; standard error of a rate near 0.95: {math.sqrt(0.95 * 0.05 / n):.3f}.\n")
    print("| setting | seeds | coverage: seeds and test images (ORH) | coverage: seeds only (paired t) | test images' share of the variance (median) |")
    print("|---|---|---|---|---|")
    for name, kw in SETTINGS.items():
        for r in (3, 5, 10, 15):
            b, s, share = coverage(rng, r, n, kw)
            print(f"| {name} | {r} | {b:.3f} | {s:.3f} | {share:.2f} |")
    print("\nSequential design of the demo (looks after 3, 6, 9, 12, 15 seeds; stop at the first decisive look), "
          f"Delta = 0, nominal 0.05 (2 SE: {2 * math.sqrt(0.05 * 0.95 / n):.3f}):\n")
    print("| setting | false helps/hurts at any look | mean seeds used |")
    print("|---|---|---|")
    for name, kw in SETTINGS.items():
        rate, seeds = sequential_null(rng, n, kw)
        print(f"| {name} | {rate:.3f} | {seeds:.1f} |")
    print(f"\n{time.perf_counter() - t0:.0f} s.")
