"""The preprocessed cache: one folder of uncompressed ``.npy`` arrays per key, opened memory-mapped.

Layout of ``<cache folder>/<source>-<key>/`` (the key: ``radgen.data.load.cache_key``)::

    manifest.json            splits (class names, task, meta columns), notes, bad files, info, and for
                             every array file its dtype, shape and size in bytes
    <split>.pixels.npy       (N, 1, H, W) uint8, or float32 in [0, 1]
    <split>.labels.npy       (N,) int64 or (N, K) float32
    <split>.meta.<col>.npy   (N,) one metadata column (str or numbers; never objects)

``.npy`` is NumPy's documented uncompressed format (a short text header, then the raw
array): ``np.load(mmap_mode=...)`` maps it, so a training process touches only the pages
of the images its batches read, and every process on a node (DDP ranks, DataLoader
workers) shares those pages through the page cache. Nothing is pickled
(``allow_pickle=False`` both ways).

The folder is written under a hidden temporary name beside its final place and renamed
into place when complete (one atomic rename), so a reader sees a whole cache or none.
A file whose size disagrees with the manifest (a truncated copy, a full disk) makes the
cache unreadable: ``open_cache`` raises ``CacheDamaged`` and the loader rebuilds it.

``NpyRowWriter`` writes a split's pixels chunk by chunk straight into its ``.npy`` file
(the streaming build: no process ever holds all decoded images). Caches written by
older radgen versions (``<source>-<key>.npz``, one zip of arrays) stay readable, into
memory (``load_legacy_npz``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radgen.data.base import ImageSet, Storage

FORMAT = "radgen-npy-cache"
LAYOUT_VERSION = 1  # bump when the folder layout changes
MANIFEST = "manifest.json"
PIXEL_MMAP_MODE = "c"  # copy-on-write: reads share the page cache like "r"; a stray in-place write stays private


class CacheDamaged(Exception):
    """The cache folder is incomplete or a file disagrees with its manifest (it is rebuilt, never trusted)."""


# -- one .npy file written in chunks ---------------------------------------------------------
def _npy_header(path: Path) -> tuple[tuple[int, int], tuple[int, ...], np.dtype, int]:
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f)
        if fortran:
            raise CacheDamaged(f"{path}: Fortran-ordered array")
        return version, shape, dtype, f.tell()


class NpyRowWriter:
    """Write the rows of an (N, *row_shape) array to a ``.npy`` file in chunks.

    The file is created for ``capacity`` rows (sparse until written); ``close`` rewrites
    the header for the rows actually written (bad files leave fewer) at the same header
    length, and truncates the file there. The result is an ordinary ``.npy``.
    """

    def __init__(self, path: Path, *, dtype: np.dtype, row_shape: tuple[int, ...], capacity: int):
        self.path, self.dtype, self.row_shape = Path(path), np.dtype(dtype), tuple(row_shape)
        self.capacity, self.rows = int(capacity), 0
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize
        np.lib.format.open_memmap(self.path, mode="w+", dtype=self.dtype, shape=(self.capacity, *self.row_shape))
        self._version, _, _, self._offset = _npy_header(self.path)
        self._f = open(self.path, "r+b")  # noqa: SIM115 (closed in close())

    def write(self, block: np.ndarray) -> None:
        """Append ``block`` (k, *row_shape) after the rows written so far."""
        if block.shape[1:] != self.row_shape or block.dtype != self.dtype:
            raise ValueError(f"block {block.shape} {block.dtype} does not fit rows {self.row_shape} {self.dtype}")
        if self.rows + len(block) > self.capacity:
            raise ValueError(f"{self.rows + len(block)} rows exceed the capacity {self.capacity}")
        self._f.seek(self._offset + self.rows * self.row_bytes)
        self._f.write(memoryview(np.ascontiguousarray(block)).cast("B"))
        self.rows += len(block)

    def close(self) -> None:
        f = self._f
        if self.rows != self.capacity:
            prefix = 10 if self._version == (1, 0) else 12  # magic (6) + version (2) + header length (2 or 4)
            descr = np.lib.format.dtype_to_descr(self.dtype)
            text = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {(self.rows, *self.row_shape)!r}, }}"
            room = self._offset - prefix
            assert len(text) + 1 <= room, "a smaller row count never needs a longer header"
            f.seek(prefix)
            f.write((text.ljust(room - 1) + "\n").encode("latin1"))
            f.truncate(self._offset + self.rows * self.row_bytes)
        f.flush()
        os.fsync(f.fileno())
        f.close()

    def abort(self) -> None:
        self._f.close()


# -- a whole cache folder ------------------------------------------------------------------------
def _array_file(split: str, what: str) -> str:
    return f"{split}.{what}.npy"


def _plain(col: np.ndarray) -> np.ndarray:
    """Metadata as a pickle-free array: object columns (mixed types, None) become strings."""
    arr = np.asarray(col)
    return arr.astype(str) if arr.dtype == object else arr


def _save_array(folder: Path, name: str, arr: np.ndarray) -> None:
    np.save(folder / name, np.ascontiguousarray(arr), allow_pickle=False)


def new_build_dir(final: Path) -> Path:
    """A fresh hidden folder beside ``final`` to build a cache in (``commit`` renames it into place)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))


def commit(tmp: Path, final: Path) -> None:
    """Rename the complete folder ``tmp`` onto ``final``, replacing a damaged ``final``.

    If another process completed ``final`` meanwhile, its copy is kept (both hold the same
    arrays) and ``tmp`` is left for the caller to remove.
    """
    if final.exists():
        try:
            read_manifest(final, check_files=True)
            return  # a complete cache appeared meanwhile (another process); keep it
        except CacheDamaged:
            aside = final.parent / f".{final.name}.damaged-{os.getpid()}"
            os.replace(final, aside)
            shutil.rmtree(aside, ignore_errors=True)
    try:
        os.replace(tmp, final)
    except OSError:
        if not final.is_dir():
            raise  # a complete cache won the race otherwise; ours is removed by the caller


def write_cache(
    folder: Path, splits: dict[str, ImageSet], *, notes: list[str], bad_files: list[Any], info: dict[str, Any]
) -> None:
    """Write every array of ``splits`` not already in ``folder`` (streamed pixels are), then the manifest."""
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "layout": LAYOUT_VERSION,
        "splits": {},
        "notes": notes,
        "bad_files": bad_files,
        "info": info,
        "arrays": {},
    }
    for name, s in splits.items():
        px = folder / _array_file(name, "pixels")
        streamed = px.is_file() and s.storage == "mmap" and s.rows is None and _npy_header(px)[1][0] == len(s)
        if not streamed:
            _save_array(folder, px.name, s.stored().numpy())
        _save_array(folder, _array_file(name, "labels"), s.labels.numpy())
        for k, v in s.meta.items():
            _save_array(folder, _array_file(name, f"meta.{k}"), _plain(v))
        manifest["splits"][name] = {"class_names": list(s.class_names), "task": s.task, "meta": list(s.meta)}
    for f in sorted(folder.glob("*.npy")):
        _, shape, dtype, _ = _npy_header(f)
        manifest["arrays"][f.name] = {"dtype": dtype.str, "shape": list(shape), "bytes": f.stat().st_size}
    (folder / MANIFEST).write_text(json.dumps(manifest, default=str))


def read_manifest(folder: Path, *, check_files: bool = True) -> dict[str, Any]:
    """A cache folder's manifest, checked for format, layout and (with ``check_files``) every file's size."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise CacheDamaged(f"{folder}: no readable {MANIFEST} ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("layout") != LAYOUT_VERSION:
        raise CacheDamaged(f"{folder}: not a radgen cache of layout {LAYOUT_VERSION}")
    _check_structure(folder, manifest)
    if check_files:
        for name, a in manifest["arrays"].items():
            f = folder / name
            if f.is_symlink():  # a link to another cache of the same size would be served as this one
                raise CacheDamaged(f"{f}: a symbolic link, not a file this cache wrote")
            size = f.stat().st_size if f.is_file() else -1
            if size != a["bytes"]:
                raise CacheDamaged(f"{f}: {size} bytes, the manifest says {a['bytes']} (truncated or replaced)")
    return manifest


def _check_structure(folder: Path, manifest: dict[str, Any]) -> None:
    """Every field a reader uses has its type; else ``CacheDamaged`` (and the cache is rebuilt), never a KeyError
    or TypeError on every later load."""
    arrays, splits = manifest.get("arrays"), manifest.get("splits")
    ok = isinstance(arrays, dict) and isinstance(splits, dict) and bool(splits)
    ok = ok and all(
        isinstance(n, str)
        and "/" not in n
        and isinstance(a, dict)
        and isinstance(a.get("bytes"), int)
        and isinstance(a.get("shape"), list)
        and isinstance(a.get("dtype"), str)
        for n, a in (arrays or {}).items()
    )
    ok = ok and all(
        isinstance(m, dict)
        and isinstance(m.get("class_names"), list)
        and isinstance(m.get("task"), str)
        and isinstance(m.get("meta"), list)
        and all(_array_file(name, w) in arrays for w in ("pixels", "labels", *(f"meta.{k}" for k in m["meta"])))
        for name, m in (splits or {}).items()
    )
    if not ok:
        raise CacheDamaged(f"{folder}: {MANIFEST} is not laid out as radgen writes it")


def _open(folder: Path, name: str, spec: dict[str, Any], mode: str | None) -> np.ndarray:
    try:
        arr = np.load(folder / name, mmap_mode=mode, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CacheDamaged(f"{folder / name}: {exc}") from None
    if list(arr.shape) != spec["shape"] or arr.dtype.str != spec["dtype"]:
        raise CacheDamaged(f"{folder / name}: {arr.shape} {arr.dtype}, the manifest says {spec}")
    return arr


def open_cache(folder: Path, *, storage: Storage) -> tuple[dict[str, ImageSet], dict[str, Any]]:
    """The splits of a complete cache, memory-mapped (``storage='mmap'``) or read into memory.

    Returns (splits, manifest). Raises ``CacheDamaged`` for an incomplete or truncated cache.
    """
    manifest = read_manifest(folder, check_files=True)
    arrays = manifest["arrays"]
    splits: dict[str, ImageSet] = {}
    for name, m in manifest["splits"].items():
        get = lambda what, mode: _open(folder, _array_file(name, what), arrays[_array_file(name, what)], mode)  # noqa: B023, E731
        mapped = storage == "mmap"
        pixels = get("pixels", PIXEL_MMAP_MODE if mapped else None)
        labels = get("labels", PIXEL_MMAP_MODE if mapped else None)
        try:
            splits[name] = ImageSet(
                pixels=torch.from_numpy(pixels),
                labels=torch.from_numpy(labels),
                class_names=tuple(m["class_names"]),
                meta={k: get(f"meta.{k}", "r" if mapped else None) for k in m["meta"]},
                task=m["task"],
                storage=storage,
            )
        except ValueError as exc:  # lengths that disagree
            raise CacheDamaged(f"{folder}: split {name!r}: {exc}") from None
    return splits, manifest


def load_legacy_npz(path: Path) -> tuple[dict[str, ImageSet], dict[str, Any]]:
    """A cache written by radgen before the ``.npy`` layout: one ``.npz``, read into memory."""
    with np.load(path, allow_pickle=False) as z:
        manifest = json.loads(str(z["__manifest__"]))
        splits = {}
        for name, m in manifest["splits"].items():
            splits[name] = ImageSet(
                pixels=torch.from_numpy(z[f"{name}__pixels"]),
                labels=torch.from_numpy(z[f"{name}__labels"]),
                class_names=tuple(m["class_names"]),
                meta={k: z[f"{name}__meta__{k}"] for k in m["meta"]},
                task=m["task"],
            )
    return splits, manifest
