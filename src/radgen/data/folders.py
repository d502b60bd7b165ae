"""Image folders: a generic one-sub-folder-per-class layout, and the Kaggle chest X-ray layout.

Accepted layouts (``ROOT`` is the path given):
``ROOT/{train,val,test}/<class>/*.ext`` (split folders), or ``ROOT/<class>/*.ext``
(no split folders: everything is ``train``; use ``--split-ratio`` for a seeded test
split, as design document 000 did with 8:2). A root holding a single folder with that
layout (the Kaggle zip's ``chest_xray/``) is entered automatically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from radgen.data.base import ImageSet
from radgen.data.decode import IMAGE_SUFFIXES, decode_image
from radgen.data.patients import kaggle_patient_id, kaggle_subtype
from radgen.data.source import ReadContext, Record, Source, decode_records
from radgen.data.transforms import Preprocess
from radgen.errors import DataError

SPLIT_NAMES = ("train", "val", "test")


def _subdirs(p: Path) -> list[Path]:
    return sorted(d for d in p.iterdir() if d.is_dir() and not d.name.startswith(".") and d.name != "__MACOSX")


def _images_in(d: Path) -> list[Path]:
    return sorted(
        f for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")
    )


def find_layout(root: Path) -> tuple[Path, dict[str, Path]]:
    """Return (effective root, {split: folder}) for a class-folder tree."""
    if not root.is_dir():
        raise DataError(
            f"{root}: not a folder; expected ROOT/<class>/*.jpeg or ROOT/{{train,val,test}}/<class>/*.jpeg"
        )
    for _ in range(3):  # enter wrapper folders such as the Kaggle zip's chest_xray/
        subs = _subdirs(root)
        split_dirs = {d.name.lower(): d for d in subs if d.name.lower() in SPLIT_NAMES}
        if split_dirs:
            return root, {s: split_dirs[s] for s in SPLIT_NAMES if s in split_dirs}
        if len(subs) == 1 and not _images_in(subs[0]) and _subdirs(subs[0]):
            root = subs[0]
            continue
        break
    if not _subdirs(root):
        raise DataError(
            f"{root}: no class sub-folders; expected ROOT/<class>/*.jpeg or ROOT/{{train,val,test}}/<class>/*.jpeg"
        )
    return root, {"train": root}


class ImageFolderSource(Source):
    """Any folder with one sub-folder per class, optionally inside train/val/test folders."""

    name = "image_folder"
    description = (
        "any folder with one sub-folder per class (optionally inside train/val/test folders); PNG, JPEG, BMP, TIFF"
    )
    default_path = None
    default_size = 64
    path_kind = "dir"
    fixed_classes: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, path: Path, *, classes: list[str] | None = None):
        super().__init__(path)
        self.classes = list(classes) if classes else None

    # file name -> (patient id, extra metadata); generic folders have neither
    def parse_name(self, name: str) -> tuple[str, dict[str, Any]]:
        return "", {}

    def class_names(self, split_dirs: dict[str, Path]) -> tuple[str, ...]:
        if self.fixed_classes:
            return self.fixed_classes
        if self.classes:
            return tuple(self.classes)
        names = sorted({d.name for folder in split_dirs.values() for d in _subdirs(folder)})
        return tuple(names)

    def records(self) -> tuple[tuple[str, ...], dict[str, list[Record]]]:
        """(class names, each split's records). An empty class folder is refused in train; in val or test it is a
        class with no images there (listed in ``empty_classes``, printed as a note by ``read``)."""
        self.empty_classes: list[str] = []
        root, split_dirs = find_layout(self.path)
        classes = self.class_names(split_dirs)
        out: dict[str, list[Record]] = {}
        for split, folder in split_dirs.items():
            present = {d.name: d for d in _subdirs(folder)}
            recs: list[Record] = []
            for label, cls in enumerate(classes):
                d = present.get(cls)
                if d is None:
                    raise DataError(
                        f"{folder / cls}: class folder is missing; expected one folder per class: {', '.join(classes)}"
                    )
                files = _images_in(d)
                if not files and split == "train":  # a class nothing can learn: refused
                    raise DataError(
                        f"{d}: class folder is empty (no {', '.join(s.lstrip('.') for s in IMAGE_SUFFIXES[:3])} files)"
                    )
                if not files:  # a small val/test split may lack a class (a release writes its folder anyway)
                    self.empty_classes.append(f"{split}/{cls}")
                for f in files:
                    patient, extra = self.parse_name(f.name)
                    recs.append(Record(str(f.relative_to(root)), label, patient, extra))
            extra_dirs = sorted(set(present) - set(classes))
            if extra_dirs and (self.fixed_classes or self.classes):
                raise DataError(f"{folder}: unexpected folders {extra_dirs}; expected only {', '.join(classes)}")
            out[split] = recs
        self._root = root
        return classes, out

    def read(self, pre: Preprocess, ctx: ReadContext) -> dict[str, ImageSet]:
        classes, by_split = self.records()
        root = self._root
        if self.empty_classes:
            ctx.notes.append(
                f"class folders with no images (a class absent from that split): {', '.join(self.empty_classes)}"
            )

        def decode(rec: Record):
            return decode_image(root / rec.path, target_size=pre.size if pre.crop == "none" else None)

        return {
            split: decode_records(recs, decode, pre, ctx, class_names=classes, desc=f"{self.name}/{split}")
            for split, recs in by_split.items()
        }

    def describe(self) -> dict[str, Any]:
        root, split_dirs = find_layout(self.path)
        return {
            "layout": "split folders" if split_dirs.get("train") != root else "class folders only (one split)",
            "root": str(root),
        }


class KaggleChestXraySource(ImageFolderSource):
    """The Kaggle 'Chest X-Ray Images (Pneumonia)' layout (Kermany et al. 2018), patients from file names."""

    name = "chest_xray_folder"
    description = (
        "Kaggle 'Chest X-Ray Images (Pneumonia)' folder layout ROOT/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg "
        "(Kermany et al. 2018); patient ids from file names"
    )
    default_path = "chest_xray_sample"
    fixed_classes = ("NORMAL", "PNEUMONIA")

    def __init__(self, path: Path):
        super().__init__(path)

    def parse_name(self, name: str) -> tuple[str, dict[str, Any]]:
        return kaggle_patient_id(name), {"subtype": kaggle_subtype(name)}


def patient_column(paths: np.ndarray) -> np.ndarray:
    """The patient id of each Kaggle chest X-ray file path."""
    return np.array([kaggle_patient_id(str(p)) for p in paths], dtype=str)
