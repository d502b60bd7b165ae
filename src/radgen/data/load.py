"""``load_dataset``: source -> preprocess -> cache -> splits -> view options.

The first load at a given source, size and set of options writes a preprocessed cache
(a folder of uncompressed ``.npy`` arrays, no pickles; ``radgen.data.cache``) keyed by
the source files' names, sizes and mtimes and the options; later loads map it into
memory (``data.storage``: ``auto``/``mmap`` map it, ``memory`` reads it into RAM).
When the preprocessed pixels would exceed the memory budget (``data.max_memory_gb``,
default ``DEFAULT_MEMORY_FRACTION`` of physical RAM), file-backed sources decode
straight into the cache in chunks instead of into memory. Splits made from options
(``split_ratio``, ``val_from_train``) are recomputed on each load: they are cheap,
seeded, and on mapped data only row indices.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radgen.data.base import DataSplits, ImageSet
from radgen.data.cache import CacheDamaged, commit, load_legacy_npz, new_build_dir, open_cache, write_cache
from radgen.data.detect import detect_source, names_a_path
from radgen.data.root import cache_dir, data_root
from radgen.data.source import DATASETS, ReadContext, Source
from radgen.data.splits import split_imageset
from radgen.data.transforms import Preprocess
from radgen.dataconfig import STORAGES, DataConfig
from radgen.errors import ConfigError, DataError

log = logging.getLogger(__name__)
CACHE_VERSION = 2  # bump when preprocessing semantics change (the folder layout has its own version)
DEFAULT_MEMORY_FRACTION = 0.25  # of physical RAM: each DDP rank holds its own in-memory copy, and batches,
# model and optimiser need the rest


def resolve_path(cfg: DataConfig, cls: type[Source]) -> Path:
    """The file or folder a source reads: ``cfg.path``, else the source's place under the data root."""
    root = data_root(cfg.data_dir)
    if cfg.path:
        p = Path(cfg.path).expanduser()
        return p if p.is_absolute() or p.exists() else root / p
    return cls.locate(root, cfg.options)


def resolve_name(cfg: DataConfig) -> DataConfig:
    """``cfg`` with a path given as its name replaced by the detected source and that path (``data/detect.py``)."""
    if not names_a_path(cfg.name):
        return cfg
    name, path, _ = detect_source(cfg.name)
    return replace(cfg, name=name, path=str(path.resolve()))


def make_source(cfg: DataConfig) -> Source:
    """The registered source ``cfg`` names (a path given as the name is detected), ready to read."""
    cfg = resolve_name(cfg)
    cls = DATASETS.get(cfg.name)
    path = resolve_path(cfg, cls)
    if not path.exists() and not cls.fetchable:
        raise cls.missing(path)
    return cls.create(path, dict(cfg.options))


def _preprocess(cfg: DataConfig, source: Source) -> Preprocess:
    return Preprocess(
        size=cfg.size if cfg.size is not None else source.default_size, crop=cfg.crop, equalize=cfg.equalize
    )


def cache_key(source: Source, pre: Preprocess, on_bad_file: str = "skip") -> str:
    """The cache file's key: the source files, preprocessing, options and ``on_bad_file`` (a cache built
    while skipping bad files must not answer a load that asked to stop at the first one)."""
    payload = {
        "v": CACHE_VERSION,
        "on_bad_file": on_bad_file,
        "source": source.name,
        "path": str(source.path.resolve()),
        "files": source.fingerprint(),
        "pre": pre.as_dict(),
        "options": source.options(),
    }
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def physical_memory_bytes() -> int:
    """The machine's physical memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def memory_budget_bytes(max_memory_gb: float | None) -> float:
    """``max_memory_gb`` in bytes (1 GB = 1e9), or ``DEFAULT_MEMORY_FRACTION`` of physical RAM when None."""
    if max_memory_gb is None:
        return DEFAULT_MEMORY_FRACTION * physical_memory_bytes()
    if isinstance(max_memory_gb, bool) or not isinstance(max_memory_gb, int | float) or not max_memory_gb > 0:
        raise ConfigError(
            f"data.max_memory_gb={max_memory_gb!r} must be a positive number of GB (or null: 25 % of RAM)"
        )
    return float(max_memory_gb) * 1e9


def _context(manifest: dict[str, Any]) -> ReadContext:
    return ReadContext(
        notes=list(manifest["notes"]), bad_files=[tuple(b) for b in manifest["bad_files"]], info=manifest["info"]
    )


def read_source(
    source: Source,
    pre: Preprocess,
    *,
    on_bad_file: str = "skip",
    cache_folder: Path | None = None,
    progress: bool = True,
    storage: str = "auto",
    budget_bytes: float = float("inf"),
) -> tuple[dict[str, ImageSet], ReadContext, bool]:
    """Read the preprocessed splits of ``source``, through the cache in ``cache_folder`` if given.

    Returns (splits, context, from_cache). Steps:
    1. a complete cache folder is opened (memory-mapped unless ``storage='memory'``); a
       damaged one (truncated file, missing manifest) is rebuilt; a legacy ``.npz`` cache is
       read into memory when it fits ``budget_bytes``;
    2. otherwise the source is read into a hidden build folder beside the cache: splits
       whose pixels would exceed ``budget_bytes`` (all of them with ``storage='mmap'``) are
       streamed there in chunks, the rest held in memory;
    3. the build folder is completed (labels, metadata, manifest) and renamed into place;
       streamed or ``storage='mmap'`` splits are then returned memory-mapped from it.
    """
    if on_bad_file not in ("error", "skip"):
        raise ConfigError(f"on_bad_file={on_bad_file!r}; valid: error, skip")
    if storage not in STORAGES:
        raise ConfigError(f"data.storage={storage!r}; valid: {', '.join(STORAGES)}")
    if storage == "mmap" and cache_folder is None:
        raise ConfigError(
            "data.storage=mmap maps the preprocessed cache; turn the cache on (data.cache=true, no --no-cache)"
        )
    cdir = None
    if cache_folder is not None and (source.expensive or not pre.is_identity or storage == "mmap"):
        key = cache_key(source, pre, on_bad_file)
        cdir = cache_folder / f"{source.name}-{key}"
        legacy = cache_folder / f"{source.name}-{key}.npz"
        if cdir.is_dir():
            try:
                splits, manifest = open_cache(cdir, storage="memory" if storage == "memory" else "mmap")
                log.info("loaded %s from cache %s", source.name, cdir)
                return splits, _context(manifest), True
            except CacheDamaged as exc:  # a damaged cache is rebuilt, never trusted
                log.warning("rebuilding the damaged cache %s (%s)", cdir, exc)
        elif legacy.is_file() and storage != "mmap" and (storage == "memory" or legacy.stat().st_size <= budget_bytes):
            try:
                splits, manifest = load_legacy_npz(legacy)
                log.info("loaded %s from the legacy cache %s", source.name, legacy)
                return splits, _context(manifest), True
            except Exception as exc:  # noqa: BLE001 (any damage: rebuild)
                log.warning("ignoring unreadable cache %s (%s); rebuilding", legacy, exc)
    stream = {"auto": "auto", "memory": "never", "mmap": "always"}[storage]
    ctx = ReadContext(on_bad_file=on_bad_file, progress=progress, stream=stream, budget_bytes=budget_bytes)  # type: ignore[arg-type]
    ctx.budget_hint = " (data.max_memory_gb, --set data.max_memory_gb=...)"
    build = None
    if cdir is not None:
        try:
            build = ctx.stream_dir = new_build_dir(cdir)
        except OSError as exc:
            if storage == "mmap":  # mapping needs the cache on disk: no silent in-memory fallback
                raise DataError(
                    f"{cache_folder}: data.storage=mmap needs a cache folder it can write, and this one cannot be "
                    f"written ({exc.strerror or exc}); point RADGEN_CACHE_DIR at a writable folder or use "
                    "data.storage=memory"
                ) from None
            log.warning("cannot write the cache folder %s (%s); continuing without it", cache_folder, exc)
    try:
        splits = source.read(pre, ctx)
        if not splits or all(len(s) == 0 for s in splits.values()):
            raise DataError(f"{source.path}: no readable images ({len(ctx.bad_files)} bad files skipped)")
        if build is not None:
            try:
                write_cache(build, splits, notes=ctx.notes, bad_files=ctx.bad_files, info=ctx.info)
                commit(build, cdir)
            except OSError as exc:
                if ctx.streamed:
                    raise DataError(
                        f"{cdir}: could not finish the streamed cache ({exc}); free disk space there or point "
                        f"RADGEN_CACHE_DIR elsewhere"
                    ) from None
                log.warning("could not write cache %s (%s); continuing without it", cdir, exc)
                return splits, ctx, False
            if ctx.streamed or storage == "mmap":
                splits, _ = open_cache(cdir, storage="mmap")
    finally:
        if build is not None:
            shutil.rmtree(build, ignore_errors=True)
    return splits, ctx, False


def bad_files_line(bad_files: list[tuple[str, str]]) -> str | None:
    """``skipped N bad files, first: PATH (problem)``, or None when there were none."""
    if not bad_files:
        return None
    path, problem = bad_files[0]
    n = len(bad_files)
    return f"skipped {n} bad file{'s' if n != 1 else ''}, first: {path} ({problem})"


def check_not_empty(ds: DataSplits, keep: list[str] | None = None) -> None:
    """Every split has images; a class left without training images by skipped bad files (or a ``keep``
    class with none) is an error, and a declared class with none at all (a fixed label list) is printed."""
    why = bad_files_line(ds.bad_files)
    hint = f" ({why})" if why else ""
    for name, s in ds.items():
        if len(s) == 0:
            raise DataError(
                f"{ds.path}: split {name!r} of {ds.name!r} has no images{hint}; check the folder or options"
            )
    train = ds.splits.get("train")
    if train is not None and train.task == "multiclass":
        counts = train.class_counts()
        for c in keep or train.class_names:
            if counts.get(c, 0) == 0 and (ds.bad_files or keep):
                raise DataError(
                    f"{ds.path}: class {c!r} of {ds.name!r} has no training images{hint}; "
                    "add its images or drop it with data.keep_classes"
                )
            if counts.get(c, 0) == 0:  # a class the source declares (a fixed label list) but holds none of
                print(f"radgen: warning: {ds.name}: class {c!r} has no training images", file=sys.stderr)


def load_dataset(
    cfg: DataConfig | str | None = None, *, progress: bool = True, check_empty: bool = True, **overrides: Any
) -> DataSplits:
    """Load a registered dataset as ``DataSplits`` (float32 (N, C, H, W) images in [0, 1]).

    ``load_dataset("pneumoniamnist", size=64, val_from_train=0.1)`` or with a DataConfig.
    Skipped bad files are printed to stderr (``radgen: warning: skipped N bad files, first: ...``)
    and kept in ``bad_files``; an empty split, or a class without training images, is a DataError
    (``check_empty=False`` lets ``radgen data inspect`` show them instead).
    """
    if cfg is None:
        cfg = DataConfig(**overrides)
    elif isinstance(cfg, str):
        cfg = DataConfig(name=cfg, **overrides)
    elif overrides:
        raise ConfigError("pass either a DataConfig or keyword overrides, not both")
    if cfg.channels not in (1, 3):
        raise ConfigError(f"channels={cfg.channels!r}; valid: 1, 3")
    if cfg.storage not in STORAGES:
        raise ConfigError(f"data.storage={cfg.storage!r}; valid: {', '.join(STORAGES)}")
    budget = memory_budget_bytes(cfg.max_memory_gb)
    source = make_source(cfg)
    pre = _preprocess(cfg, source)
    folder = cache_dir(data_root(cfg.data_dir)) if cfg.cache else None
    splits, ctx, from_cache = read_source(
        source,
        pre,
        on_bad_file=cfg.on_bad_file,
        cache_folder=folder,
        progress=progress,
        storage=cfg.storage,
        budget_bytes=budget,
    )
    splits = dict(splits)
    notes = list(ctx.notes)

    if cfg.split_ratio is not None:
        if set(splits) != {"train"}:
            raise ConfigError(
                f"split_ratio applies to sources with a single split; {cfg.name!r} already has {', '.join(splits)}"
            )
        train, test = split_imageset(splits["train"], 1.0 - cfg.split_ratio, seed=cfg.seed)
        splits = {"train": train, "test": test}
        notes.append(f"train/test made with split_ratio={cfg.split_ratio} (patient-level, seed {cfg.seed})")
    if cfg.val_from_train is not None:
        if "train" not in splits:
            raise ConfigError(f"val_from_train needs a train split; {cfg.name!r} has {', '.join(splits)}")
        train, val = split_imageset(splits["train"], cfg.val_from_train, seed=cfg.seed)
        if "val" in splits:
            splits["val_official"] = splits.pop("val")
            notes.append("the official val split is kept as 'val_official'")
        splits["train"], splits["val"] = train, val
        notes.append(
            f"val carved from train with val_from_train={cfg.val_from_train} (patient-level, "
            f"class-stratified, seed {cfg.seed})"
        )
    if cfg.keep_classes:
        names = next(iter(splits.values())).class_names
        unknown = [c for c in cfg.keep_classes if c not in names]
        if unknown:
            raise ConfigError(
                f"keep_classes: {unknown[0]!r} is not a class of {cfg.name!r}; valid: {', '.join(names)}"
            )
        keep = torch.tensor([names.index(c) for c in cfg.keep_classes])
        splits = {
            k: v.subset(np.nonzero(torch.isin(v.labels, keep).numpy())[0])
            for k, v in splits.items()
            if v.task == "multiclass"
        }
        notes.append(f"kept classes {', '.join(cfg.keep_classes)} only")
    order = ["train", "val", "test", "val_official"]
    splits = {
        k: splits[k].with_view(channels=cfg.channels, normalize=cfg.normalize)
        for k in sorted(splits, key=lambda s: order.index(s) if s in order else 99)
    }
    ds = DataSplits(
        name=cfg.name,
        path=str(source.path),
        splits=splits,
        notes=notes,
        bad_files=[tuple(b) for b in ctx.bad_files],
        info={**ctx.info, "storage": _storage_of(splits)},
        from_cache=from_cache,
    )
    line = bad_files_line(ds.bad_files)
    if line:
        print(
            f"radgen: warning: {cfg.name}: {line}; data.on_bad_file=error (--on-bad-file error) stops at the first",
            file=sys.stderr,
        )
    if check_empty:
        check_not_empty(ds, cfg.keep_classes)
    return ds


def _storage_of(splits: dict[str, ImageSet]) -> str:
    kinds = {s.storage for s in splits.values()}
    return kinds.pop() if len(kinds) == 1 else "mixed"
