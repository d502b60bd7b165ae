"""Memorization: how close are generated images to their nearest training image?

For each generated image, the Euclidean distance to its nearest training image (pixel
space, and optionally a feature space). The reference is the same distance for real
held-out images, which the model never saw: a generated image closer to the training set
than ``quantile`` (default 5 %) of real test images are is flagged as a likely copy.
Design documents 000 and 003 cite privacy-preserving sharing as a reason to generate;
this makes the risk visible. ``closest_pairs_figure`` shows the closest pairs side by side.

That first criterion asks "closer than typical"; in pixel space it also flags blurry
samples (a blur of the data mean is close to every image). ``copy_ratio_report`` asks
"closer to the training set than to unseen real images": for a generated image g,
r(g) = d(g, T) / d(g, H), with T a random training subset and H real held-out images of
the same size (so neither set is favoured by its size). A copy of a training image has
r near 0; a blurry or novel sample is about as close to both, r near 1. The threshold is
the ``quantile`` of r over other held-out images (never in T or H), so a generator that
copies nothing is flagged at about that rate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from radgen.errors import DataError


def nearest_distances(
    queries: torch.Tensor, reference: torch.Tensor, *, batch_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    """(distance, index) of each query's nearest reference row; inputs are flattened."""
    q = queries.reshape(queries.shape[0], -1).double()
    r = reference.reshape(reference.shape[0], -1).double()
    dists, idx = [], []
    for s in range(0, len(q), batch_size):
        d = torch.cdist(q[s : s + batch_size], r)
        v, i = d.min(1)
        dists.append(v)
        idx.append(i)
    return torch.cat(dists), torch.cat(idx)


def _flag_below_quantile(values: torch.Tensor, reference: torch.Tensor, quantile: float) -> dict:
    """Threshold = the ``quantile`` of ``reference``; the fraction of ``values`` below it."""
    threshold = float(torch.quantile(reference, quantile))
    return {
        "threshold": threshold,
        "quantile": quantile,
        "fraction_flagged": float((values < threshold).double().mean()),
    }


def memorization_report(
    generated: torch.Tensor, train: torch.Tensor, test: torch.Tensor, *, quantile: float = 0.05
) -> dict:
    """Distance of each generated image to its nearest training image, against the same distance for real test
    images: generated images closer than the test images' ``quantile`` are flagged (the test images' own rate is
    ``quantile`` by construction: the yardstick). The copy audit (``metrics.copy_audit``) is the release's test."""
    d_gen, idx = nearest_distances(generated, train)
    d_test, _ = nearest_distances(test, train)
    return {
        **_flag_below_quantile(d_gen, d_test, quantile),
        "generated_nn_median": float(d_gen.median()),
        "test_nn_median": float(d_test.median()),
        "nn_distance": d_gen.numpy(),
        "nn_index": idx.numpy(),
    }


def closest_pairs_figure(
    generated: torch.Tensor, train: torch.Tensor, report: dict, path: str | Path, *, n: int = 8
) -> Path:
    """Top row: the n generated images closest to the training set; bottom row: their nearest training images."""
    from radgen.viz import save_grid

    order = np.argsort(report["nn_distance"])[:n]
    pairs = torch.cat([generated[torch.as_tensor(order)], train[torch.as_tensor(report["nn_index"][order])]])
    return save_grid(pairs, path, nrow=len(order))


def copy_ratio_report(
    generated: torch.Tensor, train: torch.Tensor, heldout: torch.Tensor, *, quantile: float = 0.05, seed: int = 0
) -> dict:
    """Fraction of generated images much closer to the training set than to unseen real images.

    ``heldout`` is split in two halves: H (the reference) and C (calibration); T is a random
    training subset of len(H) images. See the module docstring.
    """
    if len(heldout) < 10:
        raise DataError(f"the copy-ratio test needs at least 10 held-out images, got {len(heldout)}")
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(heldout), generator=g)
    half = len(heldout) // 2
    ref, calib = heldout[perm[:half]], heldout[perm[half:]]
    t = train[torch.randperm(len(train), generator=g)[: len(ref)]]

    def ratio(x: torch.Tensor) -> torch.Tensor:
        return nearest_distances(x, t)[0] / nearest_distances(x, ref)[0].clamp(min=1e-12)

    r_gen, r_cal = ratio(generated), ratio(calib)
    return {
        **_flag_below_quantile(r_gen, r_cal, quantile),
        "generated_ratio_median": float(r_gen.median()),
        "heldout_ratio_median": float(r_cal.median()),
        "reference_size": len(ref),
    }
