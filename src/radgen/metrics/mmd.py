"""Maximum mean discrepancy with a Gaussian kernel (Gretton et al. 2012; design document 004, Table 3).

MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y), unbiased (U-statistic: diagonal terms left
out of the within-set means), with k(a, b) = exp(-||a - b||^2 / (2 sigma^2)) on flattened
pixels in [0, 1]. Bandwidth rule, stated: sigma^2 = median of the pairwise squared
distances of the pooled sample (the median heuristic), unless ``sigma`` is given; the
value used is returned so runs can be compared at one bandwidth.
"""

from __future__ import annotations

import torch

from radgen.errors import DataError


def _sqdist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.pow(2).sum(1, keepdim=True) - 2 * a @ b.T + b.pow(2).sum(1)).clamp(min=0)


def mmd(x: torch.Tensor, y: torch.Tensor, *, sigma: float | None = None) -> dict[str, float]:
    """Unbiased Gaussian-kernel MMD^2 between two image (or feature) sets."""
    x = x.reshape(x.shape[0], -1).double()
    y = y.reshape(y.shape[0], -1).double()
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise DataError("MMD needs at least 2 samples in each set")
    dxx, dyy, dxy = _sqdist(x, x), _sqdist(y, y), _sqdist(x, y)
    if sigma is None:
        pooled = torch.cat([x, y])
        d = _sqdist(pooled, pooled)
        iu = torch.triu_indices(len(pooled), len(pooled), offset=1)
        sigma2 = float(d[iu[0], iu[1]].median())
    else:
        sigma2 = float(sigma) ** 2
    k = lambda d: torch.exp(-d / (2 * sigma2))  # noqa: E731
    kxx, kyy, kxy = k(dxx), k(dyy), k(dxy)
    term_x = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    term_y = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    value = term_x + term_y - 2 * kxy.mean()
    return {"mmd2": float(value), "sigma": sigma2**0.5, "n_x": m, "n_y": n}
