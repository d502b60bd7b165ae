"""Array datasets stored as ``.npz``: the chest X-ray kit in ``../shared/data`` and MedMNIST.

Both load with ``np.load(..., allow_pickle=False)``: nothing is unpickled.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from radgen.data.base import ImageSet
from radgen.data.download import download, md5sum
from radgen.data.folders import patient_column
from radgen.data.patients import kaggle_subtype
from radgen.data.source import ReadContext, Source, arrays_to_imageset
from radgen.data.transforms import Preprocess
from radgen.errors import BadFileError, ConfigError, MissingDataError

SPLITS = ("train", "val", "test")


def _check_npz_members(path: Path) -> None:
    """Refuse, before anything is allocated, an .npz whose members are not plain arrays: a pickled (object)
    array, or a header that declares more bytes than the member holds (a crafted shape asked for 931 GiB)."""
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    read = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = read(f)
                    header_end = f.tell()
                if dtype.hasobject:
                    raise BadFileError(
                        path,
                        f"array {info.filename[:-4]!r} holds Python objects (pickled data); "
                        "radgen reads only plain numeric arrays",
                    )
                declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if declared > info.file_size - header_end:
                    raise BadFileError(
                        path,
                        f"array {info.filename[:-4]!r} declares shape {shape} ({declared / 2**30:.3g} GiB) but holds "
                        f"{info.file_size - header_end} bytes: a truncated or crafted file",
                    )
    except BadFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise BadFileError(
            path, f"not a readable .npz ({' '.join(str(exc).split())[:120] or type(exc).__name__})"
        ) from None


def load_npz(path: Path, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read the named arrays of an .npz without unpickling; one-line errors for bad files."""
    if path.exists() and not path.is_file():
        raise BadFileError(path, "not a regular file (a FIFO, device or folder); give an .npz file")
    _check_npz_members(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in required if k not in z.files]
            if missing:
                raise BadFileError(path, f"missing arrays {missing}; found {sorted(z.files)}")
            return {k: z[k] for k in z.files}
    except BadFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise BadFileError(path, f"not a readable .npz ({' '.join(str(exc).split()) or type(exc).__name__})") from None


def _as_images(arr: np.ndarray, path: Path, key: str) -> np.ndarray:
    if arr.ndim == 4 and arr.shape[-1] in (1, 3):  # MedMNIST colour sets are (N, H, W, 3)
        arr = arr.mean(-1).round().astype(np.uint8) if arr.shape[-1] == 3 else arr[..., 0]
    if arr.ndim != 3 or arr.dtype != np.uint8:
        raise BadFileError(
            path, f"array {key!r} has shape {arr.shape} and dtype {arr.dtype}; expected (N, H, W) uint8"
        )
    return arr


class ChestXrayArraysSource(Source):
    """The Kaggle chest X-ray dataset as 64/128 px arrays (MANIFEST sections 7 and 9)."""

    name = "chest_xray_arrays"
    description = (
        "Kaggle chest X-ray arrays (.npz with {train,val,test}_{images,labels,files}); 0 = NORMAL, 1 = PNEUMONIA"
    )
    default_path = None
    expensive = False
    path_kind = "file"
    class_names: ClassVar[tuple[str, ...]] = ("NORMAL", "PNEUMONIA")

    def __init__(self, path: Path):
        super().__init__(path)

    def read(self, pre: Preprocess, ctx: ReadContext) -> dict[str, ImageSet]:
        z = load_npz(self.path, tuple(f"{s}_{k}" for s in SPLITS for k in ("images", "labels")))
        out: dict[str, ImageSet] = {}
        for split in SPLITS:
            imgs = _as_images(z[f"{split}_images"], self.path, f"{split}_images")
            labels = z[f"{split}_labels"].reshape(-1)
            if len(labels) != len(imgs):
                raise BadFileError(self.path, f"{split}: {len(imgs)} images but {len(labels)} labels")
            if len(imgs) == 0:
                ctx.notes.append(
                    f"split {split!r} is empty in {self.path.name}; carve a patient-level one from "
                    "train with --val-from-train"
                )
                continue
            files = z.get(f"{split}_files")
            meta: dict[str, np.ndarray] = {}
            patients = None
            if files is not None and len(files) == len(imgs):
                patients = patient_column(files)
                meta["file"] = files.astype(str)
                meta["subtype"] = np.array([kaggle_subtype(str(f)) for f in files], dtype=str)
            out[split] = arrays_to_imageset(
                imgs,
                labels,
                class_names=self.class_names,
                pre=pre,
                ctx=ctx,
                path_prefix=f"{self.path.name}:{split}",
                patients=patients,
                meta=meta,
            )
        return out

    def describe(self) -> dict[str, Any]:
        return {"format": "npz arrays", "file": self.path.name}


RELEASE_KEY = "radgen_release"  # the .npz member (a JSON string, no pickle) that marks a radgen release
RELEASE_FORMAT = "radgen-release-npz"


def release_metadata(path: Path) -> dict[str, Any] | None:
    """The metadata a radgen release wrote into its .npz (``class_names``, ``name``...), or None."""
    import json

    try:
        with np.load(path, allow_pickle=False) as z:
            if RELEASE_KEY not in z.files:
                return None
            meta = json.loads(str(z[RELEASE_KEY]))
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == RELEASE_FORMAT else None


class RadgenReleaseSource(Source):
    """A synthetic release's MedMNIST-style .npz written by ``radgen release`` ({split}_images, {split}_labels,
    and ``radgen_release``: its name and class names), read back with the class names it was released with."""

    name = "radgen_release"
    description = "a radgen release's .npz ({split}_images/_labels and radgen_release metadata: class names kept)"
    default_path = None
    expensive = False
    path_kind = "file"

    def __init__(self, path: Path):
        super().__init__(path)

    def read(self, pre: Preprocess, ctx: ReadContext) -> dict[str, ImageSet]:
        meta = release_metadata(self.path)
        if meta is None or not isinstance(meta.get("class_names"), list):
            raise BadFileError(self.path, f"no {RELEASE_KEY} metadata with class names: not a radgen release .npz")
        classes = tuple(str(c) for c in meta["class_names"])
        z = load_npz(self.path, (RELEASE_KEY,))
        out: dict[str, ImageSet] = {}
        for split in SPLITS:
            if f"{split}_images" not in z or not len(z[f"{split}_images"]):
                continue
            imgs = _as_images(z[f"{split}_images"], self.path, f"{split}_images")
            labels = z[f"{split}_labels"].reshape(-1)
            if len(labels) != len(imgs):
                raise BadFileError(self.path, f"{split}: {len(imgs)} images but {len(labels)} labels")
            out[split] = arrays_to_imageset(
                imgs, labels, class_names=classes, pre=pre, ctx=ctx, path_prefix=f"{self.path.name}:{split}"
            )
        return out

    def describe(self) -> dict[str, Any]:
        return {"format": "radgen release npz", "file": self.path.name}


class ChestXrayFull64(ChestXrayArraysSource):
    """Every official split of the Kaggle chest X-ray set at 64 px, from the data kit's npz."""

    name = "chest_xray_full_64"
    description = (
        "Kaggle chest X-ray, every official split (train/val/test 4,877/16/613) at 64 "
        "px, built from 224 px copies (MANIFEST section 9)"
    )
    default_path = "chest_xray_pneumonia/chest_xray_full_64.npz"


class ChestXray64(ChestXrayArraysSource):
    """The Kaggle chest X-ray training split at 64 px, from the data kit's npz."""

    name = "chest_xray_64"
    description = (
        "Kaggle chest X-ray train split (1,401 images) at 64 px from the native "
        "originals (MANIFEST section 7); no val/test"
    )
    default_path = "chest_xray_pneumonia/chest_xray_64.npz"


class ChestXray128(ChestXrayArraysSource):
    """The Kaggle chest X-ray training split at 128 px, from the data kit's npz."""

    name = "chest_xray_128"
    description = (
        "Kaggle chest X-ray train split (1,401 images) at 128 px from the native "
        "originals (MANIFEST section 7); no val/test"
    )
    default_path = "chest_xray_pneumonia/chest_xray_128.npz"


# MedMNIST v2 / MedMNIST+ (Yang et al., Scientific Data 2023): official URLs and md5s.
_ZENODO = "https://zenodo.org/records/10519652/files/{flag}{suffix}.npz?download=1"
MEDMNIST_INFO: dict[str, dict[str, Any]] = {
    "pneumoniamnist": {
        "labels": ("normal", "pneumonia"),
        "task": "multiclass",
        "md5": {
            28: "28209eda62fecd6e6a2d98b1501bb15f",
            64: "8f4eceb4ccffa70c672198ea285246c6",
            128: "05b46931834c231683c68f40c47b2971",
            224: "d6a3c71de1b945ea11211b03746c1fe1",
        },
    },
    "chestmnist": {
        "labels": (
            "atelectasis",
            "cardiomegaly",
            "effusion",
            "infiltration",
            "mass",
            "nodule",
            "pneumonia",
            "pneumothorax",
            "consolidation",
            "edema",
            "emphysema",
            "fibrosis",
            "pleural",
            "hernia",
        ),
        "task": "multilabel",
        "md5": {
            28: "02c8a6516a18b556561a56cbdd36c4a8",
            64: "9de6cd0b934ebb5b7426cfba5efbae16",
            128: "db107e5590b27930b62dbaf558aebee3",
            224: "45bd33e6f06c3e8cdb481c74a89152aa",
        },
    },
}
MEDMNIST_SIZES = (28, 64, 128, 224)


def medmnist_filename(flag: str, size: int) -> str:
    """MedMNIST's npz file name for ``flag`` at ``size`` px (``pneumoniamnist_64.npz``; 28 px has no suffix)."""
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


class MedMNISTSource(Source):
    """A MedMNIST ``.npz`` with its official splits. ``file_size`` picks the official file."""

    name = "medmnist"
    description = "MedMNIST v2 .npz (official train/val/test; sizes 28/64/128/224; md5-verified download when online)"
    expensive = False
    path_kind = "file"
    fetchable = True  # fetch downloads the official file (md5-verified)
    flag: ClassVar[str] = ""

    def __init__(self, path: Path, *, file_size: int = 28, verify: str = "md5"):
        super().__init__(path)
        if file_size not in MEDMNIST_SIZES:
            raise ConfigError(
                f"file_size={file_size!r} is not a MedMNIST size; valid: {', '.join(map(str, MEDMNIST_SIZES))}"
            )
        if verify not in ("md5", "none"):
            raise ConfigError(f"verify={verify!r}; valid: md5, none")
        self.file_size = file_size
        self.verify = verify

    @classmethod
    def locate(cls, data_root: Path, options: dict[str, Any]) -> Path:
        """First existing candidate, else where a download would go."""
        name = medmnist_filename(cls.flag, int(options.get("file_size", 28)))
        candidates = [data_root / cls.flag / name, data_root / name, data_root / "medmnist" / name]
        for c in candidates:
            if c.is_file():
                return c
        return candidates[0]

    def fetch(self) -> None:
        """Download the official file (online only), md5-verified."""
        md5 = MEDMNIST_INFO[self.flag]["md5"][self.file_size]
        url = _ZENODO.format(flag=self.flag, suffix="" if self.file_size == 28 else f"_{self.file_size}")
        dest = self.path
        if not os.access(dest.parent if dest.parent.exists() else dest.parent.parent, os.W_OK):
            raise MissingDataError(
                f"{dest}: missing, and its folder is not writable for a download; download {url} "
                "there by hand or pass --data-dir"
            )
        download(url, dest, md5=md5)

    def read(self, pre: Preprocess, ctx: ReadContext) -> dict[str, ImageSet]:
        if not self.path.is_file():
            self.fetch()
        info = MEDMNIST_INFO[self.flag]
        if self.verify == "md5":
            expected = info["md5"][self.file_size]
            got = md5sum(self.path)
            if got != expected:
                raise BadFileError(
                    self.path,
                    f"md5 {got} is not the official {self.flag} {self.file_size} px file "
                    f"({expected}); replace it, or set -o verify=none to use it anyway",
                )
        z = load_npz(self.path, tuple(f"{s}_{k}" for s in SPLITS for k in ("images", "labels")))
        out = {}
        for split in SPLITS:
            imgs = _as_images(z[f"{split}_images"], self.path, f"{split}_images")
            labels = z[f"{split}_labels"]
            if info["task"] == "multiclass":
                labels = labels.reshape(-1)
            out[split] = arrays_to_imageset(
                imgs,
                labels,
                class_names=info["labels"],
                pre=pre,
                ctx=ctx,
                path_prefix=f"{self.path.name}:{split}",
                task=info["task"],
            )
        ctx.info["md5_verified"] = self.verify == "md5"
        return out

    def describe(self) -> dict[str, Any]:
        return {"format": "MedMNIST npz", "flag": self.flag, "file_size": self.file_size, "verify": self.verify}


class PneumoniaMNIST(MedMNISTSource):
    """PneumoniaMNIST (MedMNIST v2, Yang et al. 2023): normal vs pneumonia, official splits."""

    name = "pneumoniamnist"
    description = (
        "PneumoniaMNIST (MedMNIST v2): paediatric chest X-rays, normal vs pneumonia, "
        "official splits 4,708/524/624 at 28 px"
    )
    flag = "pneumoniamnist"


class ChestMNIST(MedMNISTSource):
    """ChestMNIST (MedMNIST v2): NIH ChestX-ray14's 14 labels, multi-label, official splits."""

    name = "chestmnist"
    description = "ChestMNIST (MedMNIST v2): NIH ChestX-ray14 at 28-224 px, 14 labels (multi-label), official splits"
    flag = "chestmnist"
