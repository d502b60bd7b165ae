"""The Source base class that every dataset loader subclasses, and the shared helpers.

A Source knows one on-disk format. ``read`` turns it into ``{split: ImageSet}`` with
the requested ``Preprocess`` applied, reporting (not hiding) bad and missing files
through the ``ReadContext``. Loading, caching and split-making around it live in
``radgen.data.load``.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from radgen.data.base import ImageSet, Task
from radgen.data.transforms import Preprocess
from radgen.errors import BadFileError, ConfigError, MissingDataError

log = logging.getLogger(__name__)
OnBadFile = Literal["error", "skip"]


@dataclass
class ReadContext:
    on_bad_file: OnBadFile = "skip"
    progress: bool = True
    notes: list[str] = field(default_factory=list)
    bad_files: list[tuple[str, str]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def bad(self, err: BadFileError) -> None:
        """Record a bad file, or raise it when ``on_bad_file='error'``."""
        if self.on_bad_file == "error":
            raise err
        self.bad_files.append((err.path, err.problem))


@dataclass
class Record:
    """One file-backed item before decoding."""

    path: str
    label: int | np.ndarray
    patient: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Source:
    """Base class of a dataset source. Subclasses set the class attributes and ``read``.

    Constructor keyword arguments are the source's own options (``-o key=value`` on
    the CLI, ``data.options`` in YAML); unknown ones are rejected with the valid list.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    default_path: ClassVar[str | None] = None  # relative to the data root
    expensive: ClassVar[bool] = True  # decoding is slow enough that a cache pays off
    default_size: ClassVar[int | None] = None  # size used when the config gives none
    path_kind: ClassVar[Literal["file", "dir", "any"]] = "any"

    def __init__(self, path: Path):
        self.path = Path(path)

    # -- construction helpers -------------------------------------------------------
    @classmethod
    def option_names(cls) -> list[str]:
        params = list(inspect.signature(cls.__init__).parameters.values())[2:]
        return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]

    @classmethod
    def create(cls, path: Path, options: dict[str, Any]) -> Source:
        valid = cls.option_names()
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ConfigError(
                f"dataset {cls.name!r} has no option {unknown[0]!r}; valid: {', '.join(valid) or '(none)'}"
            )
        return cls(path, **options)

    @classmethod
    def missing(cls, path: Path) -> MissingDataError:
        """The error raised when ``path`` does not exist (sources may add a download hint)."""
        what = "file" if cls.path_kind == "file" else "folder"
        return MissingDataError(
            f"{path}: no such {what} for dataset {cls.name!r}; put it there, or pass --path / --data-dir "
            f"(or set RADGEN_DATA_DIR)"
        )

    # -- what subclasses provide ------------------------------------------------------
    def read(self, pre: Preprocess, ctx: ReadContext) -> dict[str, ImageSet]:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """The source's options as given (part of the cache key)."""
        return {k: getattr(self, k) for k in self.option_names()}

    def files(self) -> list[Path]:
        """The files whose content determines the dataset (for the cache fingerprint)."""
        if self.path.is_file():
            return [self.path]
        return sorted(p for p in self.path.rglob("*") if p.is_file() and not _hidden(p, self.path))

    def fingerprint(self) -> str:
        h = hashlib.sha1()
        for p in self.files():
            st = p.stat()
            h.update(f"{p.relative_to(self.path.parent)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        return h.hexdigest()

    def pixels_available(self) -> bool:
        return True

    def describe(self) -> dict[str, Any]:
        """Cheap, source-specific facts for ``radgen data inspect`` (no pixel decoding)."""
        return {}


def _hidden(p: Path, root: Path) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in p.relative_to(root).parts)


def progress(items: Iterable, *, total: int | None = None, desc: str, enabled: bool) -> Iterable:
    return tqdm(items, total=total, desc=desc, unit="img", leave=False, disable=not enabled or None, mininterval=0.5)


def decode_records(
    records: Sequence[Record],
    decode: Callable[[Record], tuple[np.ndarray, dict[str, Any]]],
    pre: Preprocess,
    ctx: ReadContext,
    *,
    class_names: tuple[str, ...],
    task: Task = "multiclass",
    desc: str,
) -> ImageSet:
    """Decode, preprocess and stack ``records``; bad files are skipped or raised per ``ctx``.

    ``decode(record)`` returns a 2-D uint8/float32 image and extra metadata columns.
    """
    images: list[np.ndarray] = []
    kept: list[Record] = []
    extras: list[dict[str, Any]] = []
    for rec in progress(records, total=len(records), desc=desc, enabled=ctx.progress):
        try:
            img, extra = decode(rec)
            img = pre(img)
        except BadFileError as err:
            ctx.bad(err)
            continue
        if images and img.shape != images[0].shape:
            raise ConfigError(
                f"{rec.path}: image is {img.shape[1]}x{img.shape[0]} but earlier ones are "
                f"{images[0].shape[1]}x{images[0].shape[0]}; set a size (--size N) to resize all images"
            )
        images.append(img)
        kept.append(rec)
        extras.append(extra)
    return build_imageset(images, kept, extras, class_names=class_names, task=task, size_hint=pre.size)


def build_imageset(
    images: list[np.ndarray],
    records: list[Record],
    extras: list[dict[str, Any]],
    *,
    class_names: tuple[str, ...],
    task: Task,
    size_hint: int | None,
) -> ImageSet:
    if images:
        dtype = np.uint8 if all(i.dtype == np.uint8 for i in images) else np.float32
        if dtype == np.float32:
            images = [i.astype(np.float32) / 255.0 if i.dtype == np.uint8 else i for i in images]
        pixels = torch.from_numpy(np.stack(images)[:, None])
    else:
        side = size_hint or 1
        pixels = torch.zeros((0, 1, side, side), dtype=torch.uint8)
    if task == "multilabel":
        labels = (
            torch.from_numpy(np.stack([np.asarray(r.label, dtype=np.float32) for r in records]))
            if records
            else torch.zeros((0, len(class_names)))
        )
    else:
        labels = torch.tensor([int(r.label) for r in records], dtype=torch.int64)
    meta: dict[str, np.ndarray] = {
        "path": np.array([r.path for r in records], dtype=str),
        "patient": np.array([r.patient for r in records], dtype=str),
    }
    keys = sorted({k for e in extras for k in e} | {k for r in records for k in r.extra})
    for k in keys:
        col = [e.get(k, r.extra.get(k, "")) for e, r in zip(extras, records)]
        meta[k] = np.array(col)
    return ImageSet(pixels=pixels, labels=labels, class_names=class_names, meta=meta, task=task)


def arrays_to_imageset(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    class_names: tuple[str, ...],
    pre: Preprocess,
    ctx: ReadContext,
    path_prefix: str,
    patients: np.ndarray | None = None,
    task: Task = "multiclass",
    meta: dict[str, np.ndarray] | None = None,
) -> ImageSet:
    """(N, H, W) uint8 arrays -> ImageSet, applying ``pre`` image by image."""
    if images.ndim != 3:
        raise ValueError(f"expected (N, H, W) images, got shape {images.shape}")
    if not pre.is_identity and len(images) > 2000 and ctx.progress:
        processed = np.stack(
            [pre(a) for a in progress(images, total=len(images), desc=f"preprocess {path_prefix}", enabled=True)]
        )
    else:
        processed = pre.apply_stack(images)
    if task == "multilabel":
        lab = torch.from_numpy(np.asarray(labels, dtype=np.float32))
    else:
        lab = torch.from_numpy(np.asarray(labels).reshape(-1).astype(np.int64))
    cols = {
        "path": np.array([f"{path_prefix}#{i}" for i in range(len(images))], dtype=str),
        "patient": patients if patients is not None else np.full(len(images), "", dtype=str),
    }
    cols.update(meta or {})
    return ImageSet(
        pixels=torch.from_numpy(np.ascontiguousarray(processed)[:, None]),
        labels=lab,
        class_names=class_names,
        meta=cols,
        task=task,
    )
