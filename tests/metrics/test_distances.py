"""Feature distances against NumPy/SciPy references written here."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from radgen.metrics.distances import bootstrap_interval, frechet_distance, kernel_distance, prdc


def scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_fid_matches_scipy_and_is_zero_for_a_set_with_itself():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 8))
    b = rng.normal(0.3, 1.5, size=(250, 8)) @ rng.normal(size=(8, 8)) * 0.5
    assert frechet_distance(a, b) == pytest.approx(scipy_fid(a, b), rel=1e-6)
    assert abs(frechet_distance(a, a)) < 1e-3
    # closed form for isotropic Gaussians: ||mu||^2 + d (s1 - s2)^2 in expectation
    big1, big2 = rng.normal(size=(20000, 4)), rng.normal(1.0, 2.0, size=(20000, 4))
    assert frechet_distance(big1, big2) == pytest.approx(4 * 1.0 + 4 * (1 - 2) ** 2, rel=0.03)


def numpy_kid(x: np.ndarray, y: np.ndarray) -> float:
    d, m = x.shape[1], len(x)
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean()


def test_kid_matches_numpy_with_one_full_subset_and_adapts_to_small_sets():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(60, 5)), rng.normal(0.5, 1.0, size=(60, 5))
    out = kernel_distance(a, b, subsets=1, subset_size=60)
    assert out["kid"] == pytest.approx(numpy_kid(a, b), rel=1e-9)
    whole = kernel_distance(a, b, subsets=50)  # subsets as large as both sets are all the same: computed once
    assert whole["subsets"] == 1 and whole["kid"] == pytest.approx(numpy_kid(a, b), rel=1e-9)
    small = kernel_distance(a[:20], b[:30], subsets=10, subset_size=1000)  # default subset larger than the sets
    assert small["subset_size"] == 20 and np.isfinite(small["kid"])


def brute_prdc(real, fake, k):
    def knn_radius(x):
        d = np.linalg.norm(x[:, None] - x[None], axis=-1)
        return np.sort(d, axis=1)[:, k]

    rr, rf = knn_radius(real), knn_radius(fake)
    d = np.linalg.norm(real[:, None] - fake[None], axis=-1)
    precision = np.mean([any(d[i, j] <= rr[i] for i in range(len(real))) for j in range(len(fake))])
    recall = np.mean([any(d[i, j] <= rf[j] for j in range(len(fake))) for i in range(len(real))])
    density = sum(d[i, j] <= rr[i] for i in range(len(real)) for j in range(len(fake))) / (k * len(fake))
    coverage = np.mean([d[i].min() <= rr[i] for i in range(len(real))])
    return precision, recall, density, coverage


def test_prdc_matches_brute_force():
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(40, 3)), rng.normal(0.4, 1.3, size=(35, 3))
    out = prdc(real, fake, k=5)
    p, r, d, c = brute_prdc(real, fake, 5)
    assert (out["precision"], out["recall"], out["density"], out["coverage"]) == pytest.approx((p, r, d, c))
    same = prdc(real, real, k=5)
    assert same["precision"] == 1.0 and same["recall"] == 1.0 and same["coverage"] == 1.0


def test_bootstrap_interval_brackets_the_estimate():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(200, 4)), rng.normal(0.5, 1.0, size=(200, 4))
    lo, hi = bootstrap_interval(frechet_distance, a, b, n=40)
    assert lo < frechet_distance(a, b) < hi and lo > 0
