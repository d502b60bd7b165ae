"""MS-SSIM diversity: mean pairwise MS-SSIM over random sample pairs (design document 004,
Table 3; Odena et al. 2017). Lower means more diverse; near 1 means near-identical samples.

The standard MS-SSIM (Wang et al. 2003) uses 5 scales and an 11 px Gaussian window, which
needs images larger than (11 - 1) * 2^4 = 160 px. For smaller images radgen keeps the
11 px window where it fits and uses the largest number of scales s for which
``(k - 1) * 2^(s - 1) < size``, taking the first s of the standard weights
(0.0448, 0.2856, 0.3001, 0.2363, 0.1333) renormalised to sum to 1; below 22 px the window
shrinks to the largest odd size that fits two scales. The scales used are returned.
"""

from __future__ import annotations

import torch

from radgen.errors import DataError

MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim_settings(size: int) -> tuple[int, tuple[float, ...]]:
    """(kernel_size, betas) that fit ``size`` x ``size`` images."""
    k = 11
    while k > 3 and (k - 1) * 2 >= size:
        k -= 2
    scales = 1
    while scales < 5 and (k - 1) * 2**scales < size:
        scales += 1
    betas = MS_SSIM_BETAS[:scales]
    total = sum(betas)
    return k, tuple(b / total for b in betas)


def ms_ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-pair MS-SSIM of (N, C, H, W) images in [0, 1] -> (N,)."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as msssim

    k, betas = ms_ssim_settings(min(a.shape[-2:]))
    return msssim(
        a.float(),
        b.float(),
        data_range=1.0,
        kernel_size=k,
        sigma=1.5 * k / 11,
        betas=betas,
        normalize="relu",
        reduction="none",
    )


PAIR_BATCH_VALUES = 2**22  # values of one side of a pair batch: ~4 M floats


def pair_batch(values_per_image: int, batch_size: int) -> int:
    """Pairs per MS-SSIM call: ``batch_size``, fewer for large images. torchmetrics filters five stacked maps
    per scale, so 200 pairs of 3x224x224 images in one call peaked at 7.9 GB (process peak RSS); capped at 27
    pairs a call, the same 200 pairs peaked at 1.5 GB and gave the same value."""
    return max(1, min(batch_size, PAIR_BATCH_VALUES // max(1, values_per_image)))


def pairwise_ms_ssim(
    images: torch.Tensor, *, n_pairs: int = 100, seed: int = 0, batch_size: int = 256
) -> dict[str, float]:
    """Mean and std of MS-SSIM over ``n_pairs`` random pairs of distinct images."""
    n = images.shape[0]
    if n < 2:
        raise DataError("MS-SSIM diversity needs at least 2 images")
    g = torch.Generator().manual_seed(seed)
    i = torch.randint(n, (n_pairs,), generator=g)
    j = (i + torch.randint(1, n, (n_pairs,), generator=g)) % n  # never pairs an image with itself
    bs = pair_batch(images[0].numel(), batch_size)
    vals = torch.cat([ms_ssim(images[i[s : s + bs]], images[j[s : s + bs]]) for s in range(0, n_pairs, bs)])
    k, betas = ms_ssim_settings(min(images.shape[-2:]))
    return {
        "ms_ssim": float(vals.mean()),
        "ms_ssim_std": float(vals.std()),
        "pairs": n_pairs,
        "kernel_size": k,
        "scales": len(betas),
    }
