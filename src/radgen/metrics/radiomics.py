"""radgen's weight-free radiomics features: first-order intensity statistics and GLCM texture (Haralick 1973).

A view that no network weights shape, beside the domain extractors (issue 34; in the spirit of the Frechet
Radiomics Distance, Konz et al. 2024, which MONAI ships via pyradiomics; neither is installed here, so radgen
computes its own named set in NumPy). The Frechet distance on these features is ``FD_radiomics``
(``radgen.metrics.features``, extractor ``radiomics``); the evaluation protocol gives it the same real-vs-real
floor and ratio as every view.

Input: (N, C, H, W) images in [0, 1]; colour is averaged to grey. Every feature is on a fixed, data-independent
scale of order 1 (so the Frechet distance is not dominated by one unit), 24 in all, in ``RADIOMICS_FEATURES``'s
order:

First order (12), on the grey values x of all pixels: ``mean``; ``std`` (population); ``skewness``
(E[(x-m)^3]/s^3); ``log_kurtosis`` (log of Pearson's E[(x-m)^4]/s^4); ``entropy`` and ``uniformity`` of the
32-bin histogram on [0, 1] (entropy in bits / log2 32, uniformity = sum p^2); ``energy`` (mean x^2); ``p10``,
``median``, ``p90`` (linear-interpolated percentiles, NumPy's default); ``iqr`` (p75 - p25); ``mad`` (mean
|x - mean|). A constant image has skewness 0 and log-kurtosis 0.

GLCM (6 x 2 distances): grey levels quantised to L = 16 on fixed bins of [0, 1] (q = min(floor(16 x), 15)); for
distance d in (1, 3) the symmetric co-occurrence matrix of the four directions 0, 45, 90, 135 degrees (offsets
(0, d), (-d, d), (-d, 0), (-d, -d)), each normalised to sum 1; features averaged over the directions:
``contrast`` sum (i-j)^2 p / (L-1)^2; ``dissimilarity`` sum |i-j| p / (L-1); ``homogeneity`` sum p / (1+(i-j)^2);
``asm`` sum p^2; ``glcm_entropy`` -sum p log p / log(L^2); ``correlation`` sum (i-mu)(j-mu) p / sigma^2 (the
symmetric matrix has one mu and sigma; 1 where sigma = 0, as scikit-image defines it).
"""

from __future__ import annotations

import numpy as np
import torch

LEVELS = 16
HIST_BINS = 32
GLCM_DISTANCES = (1, 3)
FIRST_ORDER = (
    "mean",
    "std",
    "skewness",
    "log_kurtosis",
    "entropy",
    "uniformity",
    "energy",
    "p10",
    "median",
    "p90",
    "iqr",
    "mad",
)
GLCM_NAMES = ("contrast", "dissimilarity", "homogeneity", "asm", "glcm_entropy", "correlation")
RADIOMICS_FEATURES = FIRST_ORDER + tuple(f"{n}_d{d}" for d in GLCM_DISTANCES for n in GLCM_NAMES)


def _grey(images) -> np.ndarray:
    x = images.detach().cpu().double().numpy() if isinstance(images, torch.Tensor) else np.asarray(images, float)
    if x.ndim == 3:
        x = x[:, None]
    return x.mean(1)  # (N, H, W)


def first_order(x: np.ndarray) -> np.ndarray:
    """(N, H, W) grey images in [0, 1] -> (N, 12) first-order features, in ``FIRST_ORDER``'s order."""
    v = x.reshape(len(x), -1)
    m = v.mean(1, keepdims=True)
    c = v - m
    var = (c**2).mean(1)
    s = np.sqrt(var)
    safe = np.where(var > 0, var, 1.0)
    skew = np.where(var > 0, (c**3).mean(1) / safe**1.5, 0.0)
    kurt = np.where(var > 0, (c**4).mean(1) / safe**2, 1.0)
    idx = np.clip((v * HIST_BINS).astype(np.int64), 0, HIST_BINS - 1)
    hist = np.stack([np.bincount(i, minlength=HIST_BINS) for i in idx]) / v.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(hist > 0, hist * np.log2(hist), 0.0).sum(1) / np.log2(HIST_BINS)
    p10, p25, p50, p75, p90 = np.percentile(v, [10, 25, 50, 75, 90], axis=1)
    return np.stack(
        [
            m[:, 0],
            s,
            skew,
            np.log(kurt),
            ent,
            (hist**2).sum(1),
            (v**2).mean(1),
            p10,
            p50,
            p90,
            p75 - p25,
            np.abs(c).mean(1),
        ],
        1,
    )


def glcm(q: np.ndarray, offset: tuple[int, int], levels: int = LEVELS) -> np.ndarray:
    """(N, levels, levels) symmetric, normalised co-occurrence matrices of quantised images q (N, H, W) for the
    pixel pairs (r, c) and (r + dr, c + dc) inside the image."""
    dr, dc = offset
    n, h, w = q.shape
    r0, r1 = max(0, -dr), min(h, h - dr)
    c0, c1 = max(0, -dc), min(w, w - dc)
    a = q[:, r0:r1, c0:c1].reshape(n, -1)
    b = q[:, r0 + dr : r1 + dr, c0 + dc : c1 + dc].reshape(n, -1)
    base = (np.arange(n) * levels * levels)[:, None]
    counts = np.bincount((base + a * levels + b).ravel(), minlength=n * levels * levels).reshape(n, levels, levels)
    counts = counts + counts.transpose(0, 2, 1)
    return counts / np.maximum(counts.sum((1, 2), keepdims=True), 1)


def glcm_features(p: np.ndarray) -> np.ndarray:
    """(N, L, L) normalised symmetric GLCMs -> (N, 6) features in ``GLCM_NAMES``'s order."""
    lv = p.shape[-1]
    i, j = np.meshgrid(np.arange(lv), np.arange(lv), indexing="ij")
    mu = (i * p).sum((1, 2))
    var = (((i - mu[:, None, None]) ** 2) * p).sum((1, 2))
    cov = ((i - mu[:, None, None]) * (j - mu[:, None, None]) * p).sum((1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(p > 0, p * np.log(p), 0.0).sum((1, 2)) / np.log(lv * lv)
        corr = np.where(var > 1e-15, cov / np.where(var > 1e-15, var, 1.0), 1.0)
    return np.stack(
        [
            ((i - j) ** 2 * p).sum((1, 2)) / (lv - 1) ** 2,
            (np.abs(i - j) * p).sum((1, 2)) / (lv - 1),
            (p / (1 + (i - j) ** 2)).sum((1, 2)),
            (p**2).sum((1, 2)),
            ent,
            corr,
        ],
        1,
    )


def quantise(x: np.ndarray, levels: int = LEVELS) -> np.ndarray:
    """Grey values in [0, 1] -> integer levels 0..levels-1 on fixed equal bins."""
    return np.clip(np.floor(x * levels), 0, levels - 1).astype(np.int64)


def radiomics_features(images) -> np.ndarray:
    """(N, C, H, W) (or (N, H, W)) images in [0, 1] -> (N, 24) float64 features, ``RADIOMICS_FEATURES``'s order."""
    x = np.clip(_grey(images), 0.0, 1.0)
    q = quantise(x)
    parts = [first_order(x)]
    for d in GLCM_DISTANCES:
        offsets = ((0, d), (-d, d), (-d, 0), (-d, -d))
        parts.append(np.mean([glcm_features(glcm(q, o)) for o in offsets], axis=0))
    return np.concatenate(parts, 1)
