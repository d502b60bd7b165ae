"""Per-image preprocessing applied once, before caching: centre crop, resize, equalize.

Images here are 2-D numpy arrays, uint8 (8-bit sources) or float32 in [0, 1]
(windowed CT). Resizing uses Pillow's Lanczos filter on the whole image
(``reducing_gap=None``), the same call that built the arrays in ``../shared/data``, so
a folder of JPEGs resized by radgen matches those arrays. Channel replication and
ImageNet normalisation are views applied at access time (``ImageSet``), not here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from PIL import Image

from radgen.errors import ConfigError

Crop = Literal["none", "center"]
Equalize = Literal["none", "histogram"]
_CROPS = ("none", "center")
_EQUALIZE = ("none", "histogram")


def center_crop_square(img: np.ndarray) -> np.ndarray:
    """The largest centred square of ``img`` (keeps the aspect ratio before a resize)."""
    h, w = img.shape
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return img[top : top + s, left : left + s]


def resize(img: np.ndarray, size: int) -> np.ndarray:
    """Lanczos resize of a 2-D uint8 or float32 image to ``size`` x ``size``."""
    if img.shape == (size, size):
        return img
    if img.dtype == np.uint8:
        return np.asarray(Image.fromarray(img, mode="L").resize((size, size), Image.LANCZOS, reducing_gap=None))
    out = np.asarray(
        Image.fromarray(img.astype(np.float32), mode="F").resize((size, size), Image.LANCZOS, reducing_gap=None)
    )
    return np.clip(out, 0.0, 1.0).astype(np.float32)  # Lanczos overshoots at edges


def equalize_histogram(img: np.ndarray) -> np.ndarray:
    """Global histogram equalization (design document 003) on 256 levels.

    uint8 in, uint8 out: ``lut[v] = round(255 * (cdf[v] - cdf_min) / (N - cdf_min))``.
    float32 in [0, 1]: the same mapping on 256 bins, interpolated, float32 out.
    """
    if img.dtype == np.uint8:
        hist = np.bincount(img.ravel(), minlength=256)
        cdf = np.cumsum(hist)
        cdf_min = cdf[np.nonzero(hist)[0][0]]
        denom = cdf[-1] - cdf_min
        if denom == 0:  # constant image: nothing to spread
            return img.copy()
        lut = np.round(255.0 * (cdf - cdf_min) / denom).clip(0, 255).astype(np.uint8)
        return lut[img]
    hist, edges = np.histogram(img, bins=256, range=(0.0, 1.0))
    cdf = np.cumsum(hist).astype(np.float64)
    cdf_min = cdf[np.nonzero(hist)[0][0]] if hist.any() else 0.0
    denom = cdf[-1] - cdf_min
    if denom == 0:
        return img.astype(np.float32, copy=True)
    centres = (edges[:-1] + edges[1:]) / 2
    return np.interp(img, centres, (cdf - cdf_min) / denom).astype(np.float32)


MAX_SIZE = 4096  # px per side: above the largest clinical X-ray detector matrix (~3,000); 100,000 ran out of memory


@dataclass(frozen=True)
class Preprocess:
    """crop -> resize -> equalize, in that order. ``size=None`` keeps the stored size."""

    size: int | None = None
    crop: Crop = "none"
    equalize: Equalize = "none"

    def __post_init__(self) -> None:
        if self.size is not None and (not isinstance(self.size, int) or not 4 <= self.size <= MAX_SIZE):
            raise ConfigError(f"size={self.size!r} must be an integer from 4 to {MAX_SIZE} (pixels per side)")
        if self.crop not in _CROPS:
            raise ConfigError(f"crop={self.crop!r} is not supported; valid: {', '.join(_CROPS)}")
        if self.equalize not in _EQUALIZE:
            raise ConfigError(f"equalize={self.equalize!r} is not supported; valid: {', '.join(_EQUALIZE)}")

    @property
    def is_identity(self) -> bool:
        return self.size is None and self.crop == "none" and self.equalize == "none"

    def as_dict(self) -> dict:
        return asdict(self)

    def __call__(self, img: np.ndarray) -> np.ndarray:
        if self.crop == "center":
            img = center_crop_square(img)
        if self.size is not None:
            img = resize(img, self.size)
        if self.equalize == "histogram":
            img = equalize_histogram(img)
        return img

    def apply_stack(self, arr: np.ndarray) -> np.ndarray:
        """Apply to every image of an (N, H, W) array."""
        if self.is_identity:
            return arr
        if len(arr) == 0:
            side = self.size or min(arr.shape[1:])
            return np.zeros((0, side, side), dtype=arr.dtype)
        return np.stack([self(a) for a in arr])
