"""MS-SSIM diversity: mean pairwise MS-SSIM over random sample pairs (design document 004,
Table 3; Odena et al. 2017). Lower means more diverse; near 1 means near-identical samples.

MS-SSIM itself, its window and its scales are ``radgen.losses.reconstruction.ms_ssim`` (the same
function the autoencoder's ``structural: ms_ssim`` loss uses); the window size and scales used are returned.
"""

from __future__ import annotations

import torch

from radgen.errors import DataError
from radgen.losses.reconstruction import MS_SSIM_BETAS, ms_ssim, ms_ssim_settings

__all__ = ["MS_SSIM_BETAS", "ms_ssim", "ms_ssim_settings", "pair_batch", "pairwise_ms_ssim"]

PAIR_BATCH_VALUES = 2**22  # values of one side of a pair batch: ~4 M floats


def pair_batch(values_per_image: int, batch_size: int) -> int:
    """Pairs per MS-SSIM call: ``batch_size``, fewer for large images, so that one side of a call holds at most
    ``PAIR_BATCH_VALUES`` values (torchmetrics filters five stacked maps per scale; the memory this saves is in
    docs/results/docstring_measurements.md). The value does not depend on the split."""
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
