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

from radgen.data.base import ImageSet, Task
from radgen.data.cache import PIXEL_MMAP_MODE, NpyRowWriter
from radgen.data.transforms import Preprocess
from radgen.errors import BadFileError, ConfigError, DataError, MissingDataError
from radgen.registry import Registry

log = logging.getLogger(__name__)
OnBadFile = Literal["error", "skip"]


Stream = Literal["auto", "never", "always"]
STREAM_CHUNK_BYTES = 64 * 2**20  # decoded images buffered per write when streaming (64 MiB)


@dataclass
class ReadContext:
    """What a read is allowed to do, and what it noticed.

    Streaming: ``decode_records`` writes a split's decoded pixels chunk by chunk into
    ``stream_dir`` (the cache folder being built) instead of memory when ``stream`` is
    ``'always'``, or ``'auto'`` and the pixels read so far plus this split's would exceed
    ``budget_bytes``.
    """

    on_bad_file: OnBadFile = "skip"
    progress: bool = True
    notes: list[str] = field(default_factory=list)
    bad_files: list[tuple[str, str]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    stream: Stream = "never"
    budget_bytes: float = float("inf")
    stream_dir: Path | None = None
    budget_hint: str = ""  # how the user raises the budget, for the error message
    planned_bytes: int = field(default=0, init=False)  # pixel bytes of the splits read so far
    streamed: list[str] = field(default_factory=list, init=False)  # splits written straight to the cache

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
    fetchable: ClassVar[bool] = False  # ``fetch`` can download the files where they are missing (MedMNIST)
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
    def locate(cls, data_root: Path, options: dict[str, Any]) -> Path:
        """Where the files are when no path is given: ``default_path`` under the data root (sources that search
        several places override this); a source without one needs ``--path``."""
        if cls.default_path is None:
            raise ConfigError(f"dataset {cls.name!r} needs a path: pass --path DIR (or data.path in YAML)")
        return data_root / cls.default_path

    def fetch(self) -> None:
        """Put the missing files at ``self.path`` (``fetchable`` sources download them); by default they are
        missing data."""
        raise type(self).missing(self.path)

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
    """A bar over ``items`` (images) where ``radgen.progress`` draws bars (a terminal), else the items alone."""
    from radgen.progress import bar

    return bar(items, total=total, desc=desc, unit="img", progress=enabled, mininterval=0.5)


def decode_records(
    records: Sequence[Record],
    decode: Callable[[Record], tuple[np.ndarray, dict[str, Any]]],
    pre: Preprocess,
    ctx: ReadContext,
    *,
    class_names: tuple[str, ...],
    task: Task = "multiclass",
    desc: str,
    split: str | None = None,
) -> ImageSet:
    """Decode and preprocess ``records`` into one split; bad files are skipped or raised per ``ctx``.

    ``decode(record)`` returns a 2-D uint8/float32 image and extra metadata columns. The
    pixels go into one preallocated array, in memory, or (streaming, see ``ReadContext``)
    into ``<stream_dir>/<split>.pixels.npy`` in chunks of ``STREAM_CHUNK_BYTES``, so at
    most one chunk of decoded images is held at a time. ``split`` names the file
    (default: the last part of ``desc``).
    """
    split = split or desc.rsplit("/", 1)[-1]
    n = len(records)
    kept: list[Record] = []
    extras: list[dict[str, Any]] = []
    buf: np.ndarray | None = None  # the whole split (in memory) or one chunk (streaming)
    writer: NpyRowWriter | None = None
    filled = 0  # rows of buf in use
    chunks = 0
    first: np.ndarray | None = None
    try:
        for rec in progress(records, total=n, desc=desc, enabled=ctx.progress):
            try:
                img, extra = decode(rec)
                img = pre(img)
            except BadFileError as err:
                ctx.bad(err)
                continue
            if first is None:
                first = img
                buf, writer = _pixel_target(ctx, split, img, n, desc)
            elif img.shape != first.shape:
                raise ConfigError(
                    f"{rec.path}: image is {img.shape[1]}x{img.shape[0]} but earlier ones are "
                    f"{first.shape[1]}x{first.shape[0]}; set a size (--size N) to resize all images"
                )
            elif img.dtype != first.dtype:
                raise DataError(f"{rec.path}: decoded as {img.dtype} but earlier images are {first.dtype}")
            if writer is not None and filled == len(buf):
                writer.write(buf[:filled])
                chunks, filled = chunks + 1, 0
            buf[filled, 0] = img
            filled += 1
            kept.append(rec)
            extras.append(extra)
        if writer is not None:
            if filled:
                writer.write(buf[:filled])
                chunks += 1
            buf = None
            writer.close()
            writer = None
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if first is not None and buf is None:  # streamed: map the finished file
        ctx.streamed.append(split)
        ctx.info.setdefault("streamed", {})[split] = {"images": len(kept), "chunks": chunks}
        pixels = torch.from_numpy(np.load(ctx.stream_dir / f"{split}.pixels.npy", mmap_mode=PIXEL_MMAP_MODE))
        return _imageset(pixels, kept, extras, class_names=class_names, task=task, storage="mmap")
    if buf is None:
        return build_imageset([], [], [], class_names=class_names, task=task, size_hint=pre.size)
    pixels = torch.from_numpy(buf if filled == len(buf) else buf[:filled].copy())
    return _imageset(pixels, kept, extras, class_names=class_names, task=task, storage="memory")


def _pixel_target(
    ctx: ReadContext, split: str, img: np.ndarray, n: int, desc: str
) -> tuple[np.ndarray, NpyRowWriter | None]:
    """Where a split's pixels go: (whole-split array, None) in memory, or (chunk buffer, file writer)."""
    need = n * img.nbytes
    ctx.planned_bytes += need
    stream = ctx.stream == "always" or (ctx.stream == "auto" and ctx.planned_bytes > ctx.budget_bytes)
    if not stream:
        return np.empty((n, 1, *img.shape), dtype=img.dtype), None
    if ctx.stream_dir is None:
        raise ConfigError(
            f"{desc}: the preprocessed images need {ctx.planned_bytes / 1e9:.2f} GB, more than the memory budget of "
            f"{ctx.budget_bytes / 1e9:.2f} GB, and streaming them needs the cache; turn it on (data.cache=true, no "
            f"--no-cache) with a writable RADGEN_CACHE_DIR, or raise the budget{ctx.budget_hint}"
        )
    rows = max(1, min(n, STREAM_CHUNK_BYTES // img.nbytes))
    log.info("%s: streaming %d images (%.2f GB) to the cache in chunks of %d", desc, n, need / 1e9, rows)
    writer = NpyRowWriter(
        ctx.stream_dir / f"{split}.pixels.npy", dtype=img.dtype, row_shape=(1, *img.shape), capacity=n
    )
    return np.empty((rows, 1, *img.shape), dtype=img.dtype), writer


def _imageset(
    pixels: torch.Tensor,
    records: list[Record],
    extras: list[dict[str, Any]],
    *,
    class_names: tuple[str, ...],
    task: Task,
    storage: str,
) -> ImageSet:
    return ImageSet(
        pixels=pixels,
        labels=_labels(records, class_names, task),
        class_names=class_names,
        meta=_meta(records, extras),
        task=task,
        storage=storage,  # type: ignore[arg-type]
    )


def _labels(records: list[Record], class_names: tuple[str, ...], task: Task) -> torch.Tensor:
    if task == "multilabel":
        if not records:
            return torch.zeros((0, len(class_names)))
        return torch.from_numpy(np.stack([np.asarray(r.label, dtype=np.float32) for r in records]))
    return torch.tensor([int(r.label) for r in records], dtype=torch.int64)


def _meta(records: list[Record], extras: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    meta: dict[str, np.ndarray] = {
        "path": np.array([r.path for r in records], dtype=str),
        "patient": np.array([r.patient for r in records], dtype=str),
    }
    keys = sorted({k for e in extras for k in e} | {k for r in records for k in r.extra})
    for k in keys:
        col = [e.get(k, r.extra.get(k, "")) for e, r in zip(extras, records)]
        meta[k] = np.array(col)
    return meta


def build_imageset(
    images: list[np.ndarray],
    records: list[Record],
    extras: list[dict[str, Any]],
    *,
    class_names: tuple[str, ...],
    task: Task,
    size_hint: int | None,
) -> ImageSet:
    """An ImageSet from decoded images and their records (labels, patients, paths, extra columns)."""
    if images:
        dtype = np.uint8 if all(i.dtype == np.uint8 for i in images) else np.float32
        if dtype == np.float32:
            images = [i.astype(np.float32) / 255.0 if i.dtype == np.uint8 else i for i in images]
        pixels = torch.from_numpy(np.stack(images)[:, None])
    else:
        side = size_hint or 1
        pixels = torch.zeros((0, 1, side, side), dtype=torch.uint8)
    labels = _labels(records, class_names, task)
    meta = _meta(records, extras)
    return ImageSet(pixels=pixels, labels=labels, class_names=class_names, meta=meta, task=task)


def check_class_labels(labels: np.ndarray, num_classes: int, *, where: str) -> np.ndarray:
    """``labels`` as int64 class indices, or a DataError naming ``where``, the first bad value and how many there
    are: labels must be whole numbers in ``[0, num_classes)`` (no NaN, no negative, no 7 or 255 in a 2-class
    set), so no image is silently dropped from a count or a class."""
    arr = np.asarray(labels).reshape(-1)
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{where}: labels are {arr.dtype}, not class numbers; give labels 0..{num_classes - 1}")
    as_float = arr.astype(np.float64)
    bad = ~np.isfinite(as_float) | (as_float != np.round(as_float)) | (as_float < 0) | (as_float >= num_classes)
    if bad.any():
        first = arr[np.argmax(bad)].item()
        raise DataError(
            f"{where}: {int(bad.sum())} of {arr.size} labels are not class numbers 0..{num_classes - 1} "
            f"(e.g. {first!r}); fix the labels, or name the classes so that every label has one"
        )
    return as_float.astype(np.int64)


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
        raise DataError(f"expected (N, H, W) images, got shape {images.shape}")
    if not pre.is_identity and len(images) > 2000 and ctx.progress:
        processed = np.stack(
            [pre(a) for a in progress(images, total=len(images), desc=f"preprocess {path_prefix}", enabled=True)]
        )
    else:
        processed = pre.apply_stack(images)
    if task == "multilabel":
        lab = torch.from_numpy(np.asarray(labels, dtype=np.float32))
    else:
        lab = torch.from_numpy(check_class_labels(labels, len(class_names), where=path_prefix))
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


DATASETS: Registry[type[Source]] = Registry("dataset")  # every source, by name (filled in radgen.data)
