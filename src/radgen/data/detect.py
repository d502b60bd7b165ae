"""A file or folder path wherever a dataset name goes: detect which registered source reads it.

MONAI's ``LoadImage``, Hugging Face ``datasets`` ("imagefolder") and torchxrayvision take a folder; so does
radgen: ``load_dataset("/data/chest_xray")``, ``radgen data inspect /data/chest_xray``,
``--set data.name=/data/chest_xray``. Each rule below looks at the path's own contents (file names, the keys
of an ``.npz``, IDX payload checksums, DICOM magic bytes); none decodes images. Exactly one rule must match:
none is a one-line error listing what was tried, several (a folder holding both a CSV and DICOM files, say)
is a one-line error listing the candidates and asking for the name with ``--path``.

| what the path is | source |
|---|---|
| ``.npz`` with ``{split}_images``, ``{split}_labels``, ``{split}_files`` | ``chest_xray_full_64`` (Kaggle arrays) |
| ``.npz`` with MedMNIST's six arrays, one binary label column | ``pneumoniamnist`` |
| ``.npz`` with MedMNIST's six arrays, 14 label columns | ``chestmnist`` |
| IDX files (or their folder) whose payload md5 matches MNIST / Fashion-MNIST | ``mnist`` / ``fashion_mnist`` |
| ``Data_Entry_2017*.csv[.gz]`` (or its folder) | ``cxr14`` |
| ``.nii`` / ``.nii.gz`` (or a folder of them) | ``ct_nifti`` |
| a ``.dcm`` file, or a folder of DICOM files | ``ct_dicom`` |
| a class-per-folder tree (optionally under train/val/test) of NORMAL/PNEUMONIA | ``chest_xray_folder`` |
| a folder with one ``.npz`` and no class tree | as the ``.npz`` |
| any other class-per-folder tree | ``image_folder`` |
"""

from __future__ import annotations

import gzip
import hashlib
import zipfile
from pathlib import Path

from radgen.errors import ConfigError, DataError

RULES = (
    "Kaggle chest X-ray arrays (.npz)",
    "MedMNIST .npz",
    "IDX files (MNIST, Fashion-MNIST)",
    "NIH ChestX-ray14 CSV",
    "NIfTI volume(s)",
    "DICOM series",
    "class-per-folder image tree",
)
_MEDMNIST_KEYS = {f"{s}_{k}" for s in ("train", "val", "test") for k in ("images", "labels")}
_IDX_STEM = "train-labels-idx1-ubyte"


def looks_like_path(name: str) -> bool:
    """True when ``name`` is meant as a path rather than a registered dataset name."""
    return "/" in name or name.startswith(".") or name.startswith("~") or Path(name).exists()


def names_a_path(name: str) -> bool:
    """True when a dataset ``name`` is a path to detect (``detect_source``): not registered, and looks like one."""
    from radgen.data.source import DATASETS

    return name not in DATASETS.names() and looks_like_path(name)


def _npz_keys_and_label_columns(path: Path) -> tuple[set[str], int | None]:
    """The array names of an .npz and the column count of ``train_labels`` (only that small array is read)."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            names = set(z.files)
            shape = z["train_labels"].shape if "train_labels" in names else None
    except (OSError, EOFError, zipfile.BadZipFile, ValueError, KeyError) as exc:
        reason = " ".join(str(exc).split())[:120] if not isinstance(exc, ValueError) else "not a zip of arrays"
        raise DataError(f"{path}: not a readable .npz ({reason or type(exc).__name__})") from None
    return names, None if shape is None else (1 if len(shape) == 1 else int(shape[1]))


def _npz_source(path: Path) -> list[tuple[str, Path, str]]:
    keys, cols = _npz_keys_and_label_columns(path)
    if "radgen_release" in keys:  # written by radgen release: its own metadata names the classes
        return [("radgen_release", path, "a radgen release .npz (its radgen_release metadata)")]
    if {"train_images", "train_labels", "train_files"} <= keys:
        name = _by_file_name(path, ("chest_xray_full_64", "chest_xray_64", "chest_xray_128"))
        return [(name, path, "an .npz with {split}_images/_labels/_files (Kaggle chest X-ray arrays)")]
    if _MEDMNIST_KEYS <= keys:
        if cols == 1:
            return [("pneumoniamnist", path, "a MedMNIST .npz with one label column")]
        if cols == 14:
            return [("chestmnist", path, "a MedMNIST .npz with 14 label columns")]
        raise DataError(
            f"{path}: a MedMNIST .npz with {cols} label columns; radgen reads PneumoniaMNIST (1) and ChestMNIST (14): "
            "convert it to a class-per-folder tree (image_folder)"
        )
    return []


def _by_file_name(path: Path, names: tuple[str, ...]) -> str:
    """The source among ``names`` whose default file has ``path``'s name (its description fits), else the first."""
    from radgen.data.source import DATASETS

    return next((n for n in names if Path(DATASETS.get(n).default_path or "").name == path.name), names[0])


def _payload_md5(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    h = hashlib.md5()
    with opener(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _idx_source(folder: Path) -> list[tuple[str, Path, str]]:
    from radgen.data.idx import MNIST, FashionMNIST

    label = next((p for p in (folder / f"{_IDX_STEM}.gz", folder / _IDX_STEM) if p.is_file()), None)
    if label is None:
        return []
    md5 = _payload_md5(label)
    for cls in (MNIST, FashionMNIST):
        if cls.payload_md5.get(_IDX_STEM) == md5:
            return [(cls.name, folder, f"IDX files whose {_IDX_STEM} payload md5 is {cls.name}'s")]
    raise DataError(
        f"{folder}: IDX files, but {label.name} is neither MNIST's nor Fashion-MNIST's (payload md5 {md5}); "
        "radgen registers only those two IDX datasets"
    )


def _is_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _folder_sources(folder: Path) -> list[tuple[str, Path, str]]:
    found: list[tuple[str, Path, str]] = []
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if any(p.name.startswith("Data_Entry_2017") and ".csv" in p.name for p in files):
        found.append(("cxr14", folder, "a folder with Data_Entry_2017*.csv"))
    found += _idx_source(folder)
    if any(p.name.endswith((".nii", ".nii.gz")) for p in files):
        found.append(("ct_nifti", folder, "a folder of NIfTI volumes"))
    if any(p.suffix.lower() == ".dcm" or (p.suffix == "" and _is_dicom(p)) for p in files[:64]):
        found.append(("ct_dicom", folder, "a folder of DICOM files"))
    if not found:  # a class tree is the folder's own layout; a lone .npz beside it (a radgen release) is a copy
        found += _class_tree(folder)
    npz = [p for p in files if p.suffix == ".npz"]
    if len(npz) == 1 and not found:
        found += _npz_source(npz[0])
    return found


def _class_tree(folder: Path) -> list[tuple[str, Path, str]]:
    from radgen.data.folders import _images_in, _subdirs, find_layout

    try:
        root, splits = find_layout(folder)
    except DataError:
        return []
    classes = {d.name for s in splits.values() for d in _subdirs(s) if _images_in(d)}
    if not classes:
        return []
    if classes <= {"NORMAL", "PNEUMONIA"}:
        return [("chest_xray_folder", folder, "a class-per-folder tree of NORMAL/PNEUMONIA (the Kaggle layout)")]
    return [("image_folder", folder, f"a class-per-folder tree ({len(classes)} classes)")]


def detect_source(path: str | Path) -> tuple[str, Path, str]:
    """(registered source name, the path to give it, why) for a file or folder; one-line errors otherwise."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{path}: no such file or folder, nor a registered dataset name (see `radgen list datasets`)")
    if not (p.is_dir() or p.is_file()):  # a FIFO or device: reading it could block forever
        raise DataError(f"{path}: not a regular file or folder (a FIFO, socket or device); give a data file or folder")
    if p.is_dir():
        found = _folder_sources(p)
    elif p.suffix == ".npz":
        found = _npz_source(p)
    elif p.name.endswith((".nii", ".nii.gz")):
        found = [("ct_nifti", p, "a NIfTI file")]
    elif p.name.startswith("Data_Entry_2017") and ".csv" in p.name:
        found = [("cxr14", p.parent, "a ChestX-ray14 Data_Entry_2017 CSV")]
    elif "-idx" in p.name and "-ubyte" in p.name:
        found = _idx_source(p.parent)
    elif p.suffix.lower() == ".dcm" or _is_dicom(p):
        found = [("ct_dicom", p.parent, "a DICOM file (its folder is read as a series)")]
    else:
        found = []
    if not found:
        raise DataError(f"{path}: no dataset format recognised; tried: {'; '.join(RULES)}")
    if len(found) > 1:
        names = ", ".join(f"{name} ({why})" for name, _, why in found)
        raise ConfigError(
            f"{path}: ambiguous, it could be read as {names}; give the name and the path, e.g. "
            f"`radgen data inspect {found[0][0]} --path {path}`"
        )
    return found[0]


def describe_detection(name: str, path: str | None) -> tuple[str, str | None]:
    """(source name, path) for a CLI ``NAME`` that may be a path: a path is detected, and what was found is said
    on stderr (``radgen: reading PATH as NAME: why``); a path given twice (as the name and ``--path``) is refused."""
    import sys

    if not names_a_path(name):
        return name, path
    if path is not None:
        raise ConfigError(f"{name} is a path and --path {path} another: give one (a path, or a dataset name + --path)")
    source, found, why = detect_source(name)
    print(f"radgen: reading {name} as {source}: {why}", file=sys.stderr)
    return source, str(found.resolve())
