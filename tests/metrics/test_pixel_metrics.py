"""MMD against a NumPy reference; MS-SSIM identities and small-image settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radgen.metrics import mmd, ms_ssim, pairwise_ms_ssim
from radgen.metrics.diversity import ms_ssim_settings


def numpy_mmd2(x: np.ndarray, y: np.ndarray, sigma2: float) -> float:
    def k(a, b):
        d = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return np.exp(-d / (2 * sigma2))

    m, n = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean()


def test_mmd_matches_numpy_and_median_heuristic():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6)), rng.normal(0.5, 1.2, size=(30, 6))
    out = mmd(torch.from_numpy(x), torch.from_numpy(y))
    pooled = np.concatenate([x, y])
    d = ((pooled[:, None] - pooled[None]) ** 2).sum(-1)
    sigma2 = np.median(d[np.triu_indices(len(pooled), 1)])
    assert out["sigma"] == pytest.approx(np.sqrt(sigma2))
    assert out["mmd2"] == pytest.approx(numpy_mmd2(x, y, sigma2), rel=1e-9, abs=1e-12)
    fixed = mmd(torch.from_numpy(x), torch.from_numpy(y), sigma=2.0)
    assert fixed["mmd2"] == pytest.approx(numpy_mmd2(x, y, 4.0), rel=1e-9)


def test_mmd_is_near_zero_for_one_distribution_and_grows_with_shift():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(200, 5, generator=g), torch.randn(200, 5, generator=g)
    same = mmd(a, b, sigma=2.0)["mmd2"]
    shifted = mmd(a, b + 1.0, sigma=2.0)["mmd2"]
    assert abs(same) < 0.01 and shifted > 0.1


def test_ms_ssim_of_an_image_with_itself_is_one_at_every_supported_size():
    for size in (28, 64, 128):
        x = torch.rand(3, 1, size, size, generator=torch.Generator().manual_seed(size))
        torch.testing.assert_close(ms_ssim(x, x), torch.ones(3), rtol=0, atol=1e-5)
    assert ms_ssim_settings(256) == (
        11,
        (0.0448 / 1.0001, 0.2856 / 1.0001, 0.3001 / 1.0001, 0.2363 / 1.0001, 0.1333 / 1.0001),
    )
    k, betas = ms_ssim_settings(28)
    assert k == 11 and len(betas) == 2 and sum(betas) == pytest.approx(1.0)
    assert ms_ssim_settings(16)[0] < 11  # the window shrinks for tiny images


def test_pairwise_ms_ssim_orders_diversity():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, 1, 32, 32, generator=g)
    near = (base + 0.02 * torch.randn(20, 1, 32, 32, generator=g)).clamp(0, 1)
    diverse = torch.rand(20, 1, 32, 32, generator=g)
    assert pairwise_ms_ssim(near, n_pairs=50)["ms_ssim"] > 0.9 > pairwise_ms_ssim(diverse, n_pairs=50)["ms_ssim"]


def test_pairwise_ms_ssim_of_large_images_runs_in_capped_batches_with_the_same_value(monkeypatch):
    import radgen.metrics.diversity as div

    g = torch.Generator().manual_seed(0)
    x = torch.rand(12, 3, 176, 176, generator=g)  # 92,928 values an image: 45 pairs a call under the cap
    assert div.pair_batch(x[0].numel(), 256) == 2**22 // 92_928 == 45
    assert div.pair_batch(64 * 64, 256) == 256  # small images keep the asked batch
    calls = []
    real = div.ms_ssim
    monkeypatch.setattr(div, "ms_ssim", lambda a, b: calls.append(len(a)) or real(a, b))
    capped = div.pairwise_ms_ssim(x, n_pairs=100)["ms_ssim"]
    assert calls == [45, 45, 10]
    calls.clear()
    monkeypatch.setattr(div, "PAIR_BATCH_VALUES", 10**9)  # no cap: the 100 pairs in one call
    whole = div.pairwise_ms_ssim(x, n_pairs=100)["ms_ssim"]
    assert calls == [100] and capped == pytest.approx(whole, rel=1e-6)
