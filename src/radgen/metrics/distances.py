"""Feature-space distances between a real and a generated set (any feature extractor).

- Frechet distance (Heusel et al. 2017): ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^{1/2});
  the trace of the matrix square root is the sum of the square roots of the eigenvalues of
  S_r S_g (real and >= 0 for PSD matrices), computed in float64. It is "FID" only with the
  Inception-v3 pool3 extractor; radgen names it after the extractor otherwise.
- Kernel distance (KID, Binkowski et al. 2018): unbiased MMD^2 with the cubic polynomial kernel
  k(x, y) = (x.y / d + 1)^3, averaged over ``subsets`` random subsets of size
  min(subset_size, n_real, n_fake): the subset never exceeds the smaller set (when it is both whole
  sets, every subset gives the same value, so it is computed once).
- Precision, recall, density, coverage (Naeem et al. 2020) with k-nearest-neighbour balls (k = 5).
- Percentile bootstrap intervals: both sets resampled with replacement.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from radgen.errors import DataError


def _as64(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=torch.float64)


def frechet_distance(real: torch.Tensor | np.ndarray, fake: torch.Tensor | np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (Heusel et al. 2017)."""
    r, f = _as64(real), _as64(fake)
    if r.shape[0] < 2 or f.shape[0] < 2:
        raise DataError("the Frechet distance needs at least 2 feature vectors per set")
    mu_r, mu_f = r.mean(0), f.mean(0)
    s_r, s_f = torch.cov(r.T).reshape(r.shape[1], r.shape[1]), torch.cov(f.T).reshape(f.shape[1], f.shape[1])
    eig = torch.linalg.eigvals(s_r @ s_f).real.clamp(min=0)
    return float((mu_r - mu_f).pow(2).sum() + torch.trace(s_r) + torch.trace(s_f) - 2 * eig.sqrt().sum())


def kernel_distance(real, fake, *, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> dict[str, float]:
    """Kernel distance (KID, Binkowski et al. 2018): unbiased MMD^2, cubic kernel, mean and std over subsets."""
    r, f = _as64(real), _as64(fake)
    m = min(subset_size, r.shape[0], f.shape[0])
    if m < 2:
        raise DataError("KID needs at least 2 feature vectors per set")
    d = r.shape[1]
    g = torch.Generator().manual_seed(seed)
    vals = []
    if m == r.shape[0] == f.shape[0]:
        subsets = 1  # every "subset" is the whole of both sets, reordered: the same value each time
    for _ in range(subsets):
        x = r[torch.randperm(r.shape[0], generator=g)[:m]]
        y = f[torch.randperm(f.shape[0], generator=g)[:m]]
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        vals.append(
            float(
                (kxx.sum() - kxx.trace()) / (m * (m - 1)) + (kyy.sum() - kyy.trace()) / (m * (m - 1)) - 2 * kxy.mean()
            )
        )
    v = np.array(vals)
    return {"kid": float(v.mean()), "kid_std": float(v.std()), "subset_size": m, "subsets": subsets}


def prdc(real, fake, *, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage with k nearest neighbours (Naeem et al. 2020)."""
    r, f = _as64(real), _as64(fake)
    if r.shape[0] <= k or f.shape[0] <= k:
        raise DataError(f"PRDC with k={k} needs more than {k} vectors per set")
    d_rr = torch.cdist(r, r)
    d_ff = torch.cdist(f, f)
    d_rf = torch.cdist(r, f)  # (n_real, n_fake)
    rad_r = d_rr.kthvalue(k + 1, dim=1).values  # k-th neighbour, excluding itself
    rad_f = d_ff.kthvalue(k + 1, dim=1).values
    inside = d_rf <= rad_r[:, None]  # fake j inside real i's ball
    precision = float(inside.any(0).double().mean())
    recall = float((d_rf <= rad_f[None, :]).any(1).double().mean())
    density = float(inside.double().sum() / (k * f.shape[0]))
    coverage = float((d_rf.min(1).values <= rad_r).double().mean())
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage, "k": k}


def bootstrap_interval(
    metric: Callable[[np.ndarray, np.ndarray], float],
    real: np.ndarray,
    fake: np.ndarray,
    *,
    n: int = 50,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric`` over ``n`` resamples of both sets, at ``level``."""
    rng = np.random.default_rng(seed)
    real, fake = np.asarray(real), np.asarray(fake)
    vals = [
        metric(real[rng.integers(0, len(real), len(real))], fake[rng.integers(0, len(fake), len(fake))])
        for _ in range(n)
    ]
    lo, hi = np.percentile(vals, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(lo), float(hi)
