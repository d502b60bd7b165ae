"""The two containers every loader returns.

``ImageSet``: one split of one dataset. Pixels are stored once, compactly, as
(N, 1, H, W) uint8 for 8-bit sources or float32 in [0, 1] (windowed CT); what users
and models get is always float32 (N, C, H, W) in [0, 1] (or ImageNet-normalised when
asked), with C=3 made by replicating the grey channel (design document 000) at access
time, so it costs no memory.

Pixels live in memory (``storage='memory'``) or in the memory-mapped preprocessed cache
(``storage='mmap'``, see ``radgen.data.cache``): then a process touches only the pages
of the images it reads, and every process on a node shares them through the page
cache. A subset of memory-mapped pixels is a row index into the same mapping
(``rows``), not a copy; read pixels through ``stored``, never ``pixels`` directly.

``DataSplits``: the named splits of one dataset plus what the loader noticed (skipped
bad files, missing images, notes) so that nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import torch

from radgen.errors import ConfigError

Task = Literal["multiclass", "multilabel"]
Normalize = Literal["none", "imagenet"]
Storage = Literal["memory", "mmap"]
Index = int | slice | torch.Tensor | np.ndarray | list[int]

# ImageNet statistics (torchvision's convention); grey images use their channel mean.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_GREY_MEAN = 0.449  # mean of IMAGENET_MEAN
IMAGENET_GREY_STD = 0.226  # mean of IMAGENET_STD


@dataclass
class ImageSet(torch.utils.data.Dataset):
    """One split: stored pixels, labels, class names and per-item metadata columns.

    ``meta`` maps a column name to an array of length N. Every loader fills ``path``
    (source file, or file#index for arrays) and ``patient`` ('' when unknown); sources
    add their own (``orig_width``, ``orig_height``, ``mode``, ``slice_z``...).

    With ``rows`` set, image i of this set is ``pixels[rows[i]]`` (``pixels`` is then the
    shared, memory-mapped storage of a larger set); ``stored(index)`` applies it.
    """

    pixels: torch.Tensor  # (M, 1, H, W) uint8, or float32 in [0, 1]; M = N unless rows is set
    labels: torch.Tensor  # (N,) int64 for multiclass, (N, K) float32 multi-hot for multilabel
    class_names: tuple[str, ...]
    meta: dict[str, np.ndarray] = field(default_factory=dict)
    task: Task = "multiclass"
    channels: int = 1
    normalize: Normalize = "none"
    storage: Storage = "memory"  # where pixels live: in memory, or memory-mapped from the cache (read-only use)
    rows: torch.Tensor | None = None  # (N,) int64 rows of pixels that make this set; None: all, in order

    def __post_init__(self) -> None:
        if self.pixels.ndim != 4 or self.pixels.shape[1] != 1:
            raise ValueError(f"pixels must be (N, 1, H, W), got {tuple(self.pixels.shape)}")
        if self.pixels.dtype not in (torch.uint8, torch.float32):
            raise ValueError(f"pixels must be uint8 or float32, got {self.pixels.dtype}")
        if self.storage not in ("memory", "mmap"):
            raise ValueError(f"storage={self.storage!r}; valid: memory, mmap")
        if self.rows is not None:
            if self.rows.ndim != 1 or self.rows.dtype != torch.int64:
                raise ValueError(f"rows must be a 1-D int64 tensor, got {tuple(self.rows.shape)} {self.rows.dtype}")
            if len(self.rows) and not (0 <= int(self.rows.min()) and int(self.rows.max()) < self.pixels.shape[0]):
                raise ValueError(f"rows index outside the {self.pixels.shape[0]} stored images")
        n = len(self)
        if self.labels.shape[0] != n:
            raise ValueError(f"{self.labels.shape[0]} labels for {n} images")
        for key, col in self.meta.items():
            if len(col) != n:
                raise ValueError(f"meta column {key!r} has {len(col)} rows for {n} images")
        if self.channels not in (1, 3):
            raise ConfigError(f"channels={self.channels!r} is not supported; valid: 1, 3")
        if self.normalize not in ("none", "imagenet"):
            raise ConfigError(f"normalize={self.normalize!r} is not supported; valid: none, imagenet")

    # -- sizes --------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.pixels.shape[0] if self.rows is None else self.rows.shape[0])

    def __repr__(self) -> str:
        """One line: size, shape, dtype, storage and the class counts (never the pixels)."""
        h, w = self.image_size
        view = f", normalize={self.normalize}" if self.normalize != "none" else ""
        stored = str(self.pixels.dtype).removeprefix("torch.")
        return (
            f"ImageSet({len(self)} images, {self.channels}x{h}x{w} from {stored} ({self.storage}){view}, "
            f"{self.task}: {_counts_text(self.class_counts())})"
        )

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.pixels.shape[2]), int(self.pixels.shape[3])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    # -- access ---------------------------------------------------------------------
    def stored(self, index: Index | None = None) -> torch.Tensor:
        """Stored pixels (uint8 or float32, (B, 1, H, W)) of the images at ``index`` (all when None).

        A batch gather from memory-mapped storage reads only those images' pages.
        """
        if index is None:
            return self.pixels if self.rows is None else self.pixels[self.rows]
        if isinstance(index, list | np.ndarray):
            index = torch.as_tensor(np.asarray(index, dtype=np.int64))
        return self.pixels[index] if self.rows is None else self.pixels[self.rows[index]]

    def batch(self, indices: Index) -> tuple[torch.Tensor, torch.Tensor]:
        """(images float32 (B, C, H, W), labels) for ``indices``: one gather, the view applied."""
        idx = indices
        if isinstance(idx, list | np.ndarray):
            idx = torch.as_tensor(np.asarray(idx, dtype=np.int64))
        return self._to_float(self.stored(idx)), self.labels[idx]

    def _to_float(self, px: torch.Tensor) -> torch.Tensor:
        x = px.float().div_(255.0) if px.dtype == torch.uint8 else px.float()
        if self.channels == 3:
            x = x.expand(*x.shape[:-3], 3, *x.shape[-2:])
        if self.normalize == "imagenet":
            if self.channels == 3:
                mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
                std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
            else:
                mean, std = torch.tensor(IMAGENET_GREY_MEAN), torch.tensor(IMAGENET_GREY_STD)
            x = (x - mean) / std
        return x

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(image float32 (C, H, W), label) like a torchvision dataset."""
        return self._to_float(self.stored(index)), self.labels[index]

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        # One tensor gather per batch instead of one per item (DataLoader calls this).
        x, y = self.batch(torch.as_tensor(indices, dtype=torch.long))
        return list(zip(x.unbind(0), y.unbind(0)))

    @property
    def images(self) -> torch.Tensor:
        """All images as float32 (N, C, H, W), in [0, 1] unless ImageNet-normalised (reads every image)."""
        return self._to_float(self.stored())

    def item_meta(self, index: int) -> dict[str, Any]:
        return {k: (v[index].item() if hasattr(v[index], "item") else v[index]) for k, v in self.meta.items()}

    @property
    def paths(self) -> list[str]:
        return [str(p) for p in self.meta.get("path", np.array([""] * len(self)))]

    @property
    def patients(self) -> list[str]:
        return [str(p) for p in self.meta.get("patient", np.array([""] * len(self)))]

    # -- derived sets -----------------------------------------------------------------
    def subset(self, indices: np.ndarray | list[int]) -> ImageSet:
        """The images at ``indices``: copied when in memory, a row index into the mapping when memory-mapped."""
        idx = np.asarray(indices, dtype=np.int64)
        t = torch.from_numpy(idx)
        meta = {k: v[idx] for k, v in self.meta.items()}
        if self.storage == "mmap":
            rows = t if self.rows is None else self.rows[t]
            return replace(self, labels=self.labels[t], meta=meta, rows=rows)
        return replace(self, pixels=self.stored(t), labels=self.labels[t], meta=meta, rows=None)

    def in_memory(self) -> ImageSet:
        """This set with its pixels copied into memory (a no-op when they already are)."""
        if self.storage == "memory":
            return self
        return replace(
            self,
            pixels=self.stored().clone(),
            labels=self.labels.clone(),
            meta={k: np.array(v) for k, v in self.meta.items()},
            storage="memory",
            rows=None,
        )

    def with_view(self, *, channels: int | None = None, normalize: Normalize | None = None) -> ImageSet:
        return replace(
            self,
            channels=self.channels if channels is None else channels,
            normalize=self.normalize if normalize is None else normalize,
        )

    def class_counts(self) -> dict[str, int]:
        """Images per class (multilabel: positives per label)."""
        if self.task == "multilabel":
            counts = self.labels.sum(0).to(torch.int64).tolist() if len(self) else [0] * self.num_classes
        else:
            counts = torch.bincount(self.labels, minlength=self.num_classes).tolist()
        return dict(zip(self.class_names, (int(c) for c in counts)))

    @staticmethod
    def concat(sets: list[ImageSet]) -> ImageSet:
        first = sets[0]
        keys = set(first.meta)
        for s in sets[1:]:
            if s.class_names != first.class_names or s.image_size != first.image_size:
                raise ValueError("cannot concatenate image sets with different classes or sizes")
            keys &= set(s.meta)
        return replace(
            first,
            pixels=torch.cat([s.stored() for s in sets]),
            storage="memory",
            rows=None,
            labels=torch.cat([s.labels for s in sets]),
            meta={k: np.concatenate([s.meta[k] for s in sets]) for k in sorted(keys)},
        )


def _counts_text(counts: dict[str, int], most: int = 6) -> str:
    """``NORMAL 1292, PNEUMONIA 3585``; beyond ``most`` classes, ``... (+K more)``."""
    shown = ", ".join(f"{k} {v}" for k, v in list(counts.items())[:most])
    return shown + (f", ... (+{len(counts) - most} more)" if len(counts) > most else "")


@dataclass
class DataSplits(Mapping[str, ImageSet]):
    """Named splits of one dataset, plus everything the loader noticed."""

    name: str
    path: str
    splits: dict[str, ImageSet]
    notes: list[str] = field(default_factory=list)
    bad_files: list[tuple[str, str]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    from_cache: bool = False

    def __getitem__(self, split: str) -> ImageSet:
        try:
            return self.splits[split]
        except KeyError:
            raise ConfigError(
                f"dataset {self.name!r} has no split {split!r}; available: {', '.join(self.splits) or '(none)'}"
            ) from None

    def __repr__(self) -> str:
        """A few lines: name, path, each split's size and class counts, bad files (never the pixels)."""
        cached = ", from cache" if self.from_cache else ""
        lines = [f"DataSplits({self.name!r}, path={self.path!r}, {len(self.splits)} splits{cached})"]
        width = max((len(k) for k in self.splits), default=0)
        lines += [
            f"  {k:<{width}}  {len(v):>7} images  {_counts_text(v.class_counts())}" for k, v in self.splits.items()
        ]
        if self.splits:
            first = next(iter(self.splits.values()))
            h, w = first.image_size
            lines.append(f"  images {first.channels}x{h}x{w} in [0, 1]; {len(self.bad_files)} bad files skipped")
        return "\n".join(lines)

    def __contains__(self, split: object) -> bool:
        return split in self.splits  # Mapping's default would call __getitem__, which raises ConfigError

    def get(self, split: str, default: ImageSet | None = None) -> ImageSet | None:  # type: ignore[override]
        return self.splits.get(split, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.splits)

    def __len__(self) -> int:
        return len(self.splits)

    @property
    def class_names(self) -> tuple[str, ...]:
        return next(iter(self.splits.values())).class_names
