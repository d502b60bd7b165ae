"""MNIST and Fashion-MNIST from the original IDX files (``.gz`` or raw).

The IDX header is checked (magic number: two zero bytes, a type code and the number
of dimensions) and so is the payload length against the header. The ``.gz`` md5 is
not checked (repackaged copies differ only in the gzip wrapper); when ``verify='md5'``
the md5 of the decompressed payload is compared with the official one instead.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from radgen.data.base import ImageSet
from radgen.data.source import ReadContext, Source, arrays_to_imageset
from radgen.data.transforms import Preprocess
from radgen.errors import BadFileError, ConfigError, MissingDataError

# type code -> numpy dtype (big-endian), from the IDX format description (LeCun et al.)
IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: Path, *, expect_ndim: int | None = None) -> tuple[np.ndarray, str]:
    """Parse an IDX file; return the array and the md5 of its decompressed bytes."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise BadFileError(
            path, f"cannot decompress ({' '.join(str(exc).split())}); the .gz file is truncated or corrupt"
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise BadFileError(
            path,
            f"bad IDX magic number {raw[:4].hex() or '(empty)'}; expected 0000 + type code + ndim "
            "(e.g. 00000803 for images)",
        )
    dtype, ndim = IDX_TYPES[raw[2]], raw[3]
    if expect_ndim is not None and ndim != expect_ndim:
        raise BadFileError(path, f"IDX file has {ndim} dimensions, expected {expect_ndim} (images: 3, labels: 1)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise BadFileError(path, "IDX header is truncated")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != expected:
        raise BadFileError(
            path,
            f"IDX payload is {len(raw)} bytes but the header {dims} says {expected}; the file is truncated or padded",
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True), hashlib.md5(
        raw
    ).hexdigest()  # copy: frombuffer is read-only


class IDXSource(Source):
    """A folder with ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``."""

    expensive = False
    path_kind = "dir"
    class_names: ClassVar[tuple[str, ...]] = ()
    payload_md5: ClassVar[dict[str, str]] = {}

    def __init__(self, path: Path, *, verify: str = "md5"):
        super().__init__(path)
        if verify not in ("md5", "none"):
            raise ConfigError(f"verify={verify!r}; valid: md5, none")
        self.verify = verify

    def _file(self, stem: str) -> Path:
        for cand in (self.path / f"{stem}.gz", self.path / stem):
            if cand.is_file():
                return cand
        raise MissingDataError(
            f"{self.path / (stem + '.gz')}: missing IDX file for dataset {self.name!r}; put the "
            "original file there (gzipped or not)"
        )

    def files(self) -> list[Path]:
        return [self._file(f"{p}-{k}") for p in ("train", "t10k") for k in ("images-idx3-ubyte", "labels-idx1-ubyte")]

    def read(self, pre: Preprocess, ctx: ReadContext) -> dict[str, ImageSet]:
        out = {}
        checked = {}
        for prefix, split in (("train", "train"), ("t10k", "test")):
            parts = {}
            for kind, ndim in (("images-idx3-ubyte", 3), ("labels-idx1-ubyte", 1)):
                f = self._file(f"{prefix}-{kind}")
                arr, md5 = read_idx(f, expect_ndim=ndim)
                stem = f"{prefix}-{kind}"
                if self.verify == "md5" and stem in self.payload_md5:
                    if md5 != self.payload_md5[stem]:
                        raise BadFileError(
                            f,
                            f"decompressed payload md5 {md5} is not the official "
                            f"{self.payload_md5[stem]}; replace the file, or set -o verify=none",
                        )
                    checked[stem] = True
                parts[kind] = arr
            imgs, labels = parts["images-idx3-ubyte"], parts["labels-idx1-ubyte"]
            if len(imgs) != len(labels):
                raise BadFileError(self.path, f"{prefix}: {len(imgs)} images but {len(labels)} labels")
            if imgs.dtype != np.uint8:
                raise BadFileError(
                    self._file(f"{prefix}-images-idx3-ubyte"), f"image type {imgs.dtype} is not unsigned bytes"
                )
            if labels.size and (labels.min() < 0 or labels.max() >= len(self.class_names)):
                raise BadFileError(
                    self._file(f"{prefix}-labels-idx1-ubyte"), f"labels outside 0..{len(self.class_names) - 1}"
                )
            out[split] = arrays_to_imageset(
                np.ascontiguousarray(imgs),
                labels,
                class_names=self.class_names,
                pre=pre,
                ctx=ctx,
                path_prefix=f"{self.path.name}/{prefix}",
            )
        ctx.info["payload_md5_verified"] = sorted(checked)
        return out

    def describe(self) -> dict[str, Any]:
        return {"format": "IDX", "verify": self.verify}


class MNIST(IDXSource):
    """MNIST handwritten digits (LeCun et al. 1998) from its IDX files."""

    name = "mnist"
    description = "MNIST handwritten digits (LeCun et al. 1998), IDX files, train/test 60,000/10,000 at 28 px"
    default_path = "mnist"
    class_names = tuple(str(i) for i in range(10))
    payload_md5 = {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    }


class FashionMNIST(IDXSource):
    """Fashion-MNIST (Xiao et al. 2017) from its IDX files."""

    name = "fashion_mnist"
    description = "Fashion-MNIST (Xiao et al. 2017), IDX files, train/test 60,000/10,000 at 28 px"
    default_path = "fashion_mnist"
    class_names = (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )
    payload_md5 = {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    }
