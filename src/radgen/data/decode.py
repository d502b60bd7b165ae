"""Decoding one image file into a 2-D greyscale array, with one-line errors."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from radgen.errors import BadFileError

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".pgm", ".ppm")


def decode_image(path: str | Path, *, target_size: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Read ``path`` as 2-D uint8 greyscale; return it with ``orig_width/height`` and ``mode``.

    When ``target_size`` is given, JPEGs are decoded at a reduced scale (libjpeg's DCT
    scaling via ``Image.draft``) that still leaves at least twice the target size, so a
    1400 px X-ray resized to 64 px decodes several times faster with no visible change.
    16-bit images are scaled to 8 bits by their full bit range, not clipped.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                orig_w, orig_h = im.size
                mode = im.mode
                if target_size is not None and im.format == "JPEG":
                    im.draft("L", (2 * target_size, 2 * target_size))
                im.load()
                arr = _to_grey_uint8(im)
    except FileNotFoundError:
        raise BadFileError(path, "file disappeared while reading") from None
    except UnidentifiedImageError:
        raise BadFileError(path, "not a readable image (unknown or corrupt format)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadFileError(
            path, f"corrupt or truncated image ({' '.join(str(exc).split()) or type(exc).__name__})"
        ) from None
    if arr.ndim != 2 or arr.size == 0:
        raise BadFileError(path, f"decoded to an empty or non-2-D image of shape {arr.shape}")
    return arr, {"orig_width": orig_w, "orig_height": orig_h, "mode": mode}


def stored_bit_top(peak: float) -> float:
    """The full scale of high-bit-depth pixels whose largest value is ``peak``: the smallest of 8, 10, 12, 14 and
    16 bits that holds it (2**bits - 1). Medical images are often 10-14-bit values in a 16-bit container (a
    12-bit X-ray's white is 4095): scaled by 65535 they load almost black."""
    for bits in (8, 10, 12, 14):
        if peak <= 2**bits - 1:
            return float(2**bits - 1)
    return 65535.0


def _to_grey_uint8(im: Image.Image) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        top = stored_bit_top(float(a.max())) if a.size else 255.0
        return np.clip(np.round(a / top * 255.0), 0, 255).astype(np.uint8)
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        return np.zeros(a.shape, np.uint8) if hi <= lo else np.round((a - lo) / (hi - lo) * 255).astype(np.uint8)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
    return np.asarray(im.convert("L"), dtype=np.uint8)
