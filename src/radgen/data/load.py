"""``load_dataset``: source -> preprocess -> cache -> splits -> view options.

The first load at a given source, size and set of options writes a preprocessed cache
(``.npz``, no pickles) keyed by the source files' names, sizes and mtimes and the
options; later loads read it. Splits made from options (``split_ratio``,
``val_from_train``) are recomputed on each load: they are cheap and seeded.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from radgen.data.base import DataSplits, ImageSet
from radgen.data.root import cache_dir, data_root
from radgen.data.source import ReadContext, Source
from radgen.data.splits import split_imageset
from radgen.data.transforms import Preprocess
from radgen.errors import ConfigError, DataError
from radgen.io import atomic_path
from radgen.registry import Registry

log = logging.getLogger(__name__)
DATASETS: Registry[type[Source]] = Registry("dataset")
CACHE_VERSION = 2  # bump when the cache layout or preprocessing semantics change


@dataclass
class DataConfig:
    """Everything that decides which images a run sees. YAML section ``data``."""

    name: str = "chest_xray_full_64"
    path: str | None = None  # file or folder; default: the source's place under the data root
    data_dir: str | None = None  # data root; default RADGEN_DATA_DIR, ../shared/data, ~/.cache/radgen
    size: int | None = None  # square side in px; None keeps the stored size (arrays) or the source default
    channels: int = 1  # 1, or 3 (grey replicated, design document 000)
    crop: Literal["none", "center"] = "none"
    equalize: Literal["none", "histogram"] = "none"
    normalize: Literal["none", "imagenet"] = "none"
    split_ratio: float | None = None  # train fraction when the source has a single split (000: 0.8)
    val_from_train: float | None = None  # patient-level validation fraction carved from train
    seed: int = 0  # for split_ratio and val_from_train
    keep_classes: list[str] | None = None  # keep only these classes in every split (e.g. [NORMAL]: train on one class)
    on_bad_file: Literal["error", "skip"] = "skip"
    cache: bool = True
    options: dict[str, Any] = field(default_factory=dict)  # source-specific, see `radgen list datasets`


def resolve_path(cfg: DataConfig, cls: type[Source]) -> Path:
    root = data_root(cfg.data_dir)
    if cfg.path:
        p = Path(cfg.path).expanduser()
        return p if p.is_absolute() or p.exists() else root / p
    locate = getattr(cls, "locate", None)
    if locate is not None:
        return locate(root, cfg.options)
    if cls.default_path is None:
        raise ConfigError(f"dataset {cls.name!r} needs a path: pass --path DIR (or data.path in YAML)")
    return root / cls.default_path


def make_source(cfg: DataConfig) -> Source:
    cls = DATASETS.get(cfg.name)
    path = resolve_path(cfg, cls)
    if not path.exists() and not hasattr(cls, "fetch"):
        raise cls.missing(path)
    return cls.create(path, dict(cfg.options))


def _preprocess(cfg: DataConfig, source: Source) -> Preprocess:
    return Preprocess(
        size=cfg.size if cfg.size is not None else source.default_size, crop=cfg.crop, equalize=cfg.equalize
    )


def cache_key(source: Source, pre: Preprocess) -> str:
    payload = {
        "v": CACHE_VERSION,
        "source": source.name,
        "path": str(source.path.resolve()),
        "files": source.fingerprint(),
        "pre": pre.as_dict(),
        "options": source.options(),
    }
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _save_cache(path: Path, splits: dict[str, ImageSet], ctx: ReadContext) -> None:
    arrays: dict[str, np.ndarray] = {}
    manifest = {"splits": {}, "notes": ctx.notes, "bad_files": ctx.bad_files, "info": ctx.info}
    for name, s in splits.items():
        arrays[f"{name}__pixels"] = s.pixels.numpy()
        arrays[f"{name}__labels"] = s.labels.numpy()
        for k, v in s.meta.items():
            arrays[f"{name}__meta__{k}"] = np.asarray(v)
        manifest["splits"][name] = {"class_names": list(s.class_names), "task": s.task, "meta": list(s.meta)}
    arrays["__manifest__"] = np.array(json.dumps(manifest, default=str))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def _load_cache(path: Path) -> tuple[dict[str, ImageSet], ReadContext]:
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
    ctx = ReadContext(
        notes=list(manifest["notes"]), bad_files=[tuple(b) for b in manifest["bad_files"]], info=manifest["info"]
    )
    return splits, ctx


def read_source(
    source: Source,
    pre: Preprocess,
    *,
    on_bad_file: str = "skip",
    cache_folder: Path | None = None,
    progress: bool = True,
) -> tuple[dict[str, ImageSet], ReadContext, bool]:
    """Read the preprocessed splits of ``source``, through the cache in ``cache_folder`` if given."""
    if on_bad_file not in ("error", "skip"):
        raise ConfigError(f"on_bad_file={on_bad_file!r}; valid: error, skip")
    cpath = None
    if cache_folder is not None and (source.expensive or not pre.is_identity):
        cpath = cache_folder / f"{source.name}-{cache_key(source, pre)}.npz"
        if cpath.is_file():
            try:
                splits, ctx = _load_cache(cpath)
                log.info("loaded %s from cache %s", source.name, cpath)
                return splits, ctx, True
            except Exception as exc:  # a damaged cache is rebuilt, never trusted
                log.warning("ignoring unreadable cache %s (%s); rebuilding", cpath, exc)
    ctx = ReadContext(on_bad_file=on_bad_file, progress=progress)  # type: ignore[arg-type]
    splits = source.read(pre, ctx)
    if not splits or all(len(s) == 0 for s in splits.values()):
        raise DataError(f"{source.path}: no readable images ({len(ctx.bad_files)} bad files skipped)")
    if cpath is not None:
        try:
            _save_cache(cpath, splits, ctx)
        except OSError as exc:
            log.warning("could not write cache %s (%s); continuing without it", cpath, exc)
    return splits, ctx, False


def load_dataset(cfg: DataConfig | str | None = None, *, progress: bool = True, **overrides: Any) -> DataSplits:
    """Load a registered dataset as ``DataSplits`` (float32 (N, C, H, W) images in [0, 1]).

    ``load_dataset("pneumoniamnist", size=64, val_from_train=0.1)`` or with a DataConfig.
    """
    if cfg is None:
        cfg = DataConfig(**overrides)
    elif isinstance(cfg, str):
        cfg = DataConfig(name=cfg, **overrides)
    elif overrides:
        raise TypeError("pass either a DataConfig or keyword overrides, not both")
    if cfg.channels not in (1, 3):
        raise ConfigError(f"channels={cfg.channels!r}; valid: 1, 3")
    source = make_source(cfg)
    pre = _preprocess(cfg, source)
    folder = cache_dir(data_root(cfg.data_dir)) if cfg.cache else None
    splits, ctx, from_cache = read_source(
        source, pre, on_bad_file=cfg.on_bad_file, cache_folder=folder, progress=progress
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
    return DataSplits(
        name=cfg.name,
        path=str(source.path),
        splits=splits,
        notes=notes,
        bad_files=list(ctx.bad_files),
        info=dict(ctx.info),
        from_cache=from_cache,
    )
