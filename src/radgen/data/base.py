"""The two containers every loader returns.

``ImageSet``: one split of one dataset. Pixels are stored once, compactly, as
(N, 1, H, W) uint8 for 8-bit sources or float32 in [0, 1] (windowed CT); what users
and models get is always float32 (N, C, H, W) in [0, 1] (or ImageNet-normalised when
asked), with C=3 made by replicating the grey channel (design document 000) at access
time, so it costs no memory.

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
    """

    pixels: torch.Tensor  # (N, 1, H, W) uint8, or float32 in [0, 1]
    labels: torch.Tensor  # (N,) int64 for multiclass, (N, K) float32 multi-hot for multilabel
    class_names: tuple[str, ...]
    meta: dict[str, np.ndarray] = field(default_factory=dict)
    task: Task = "multiclass"
    channels: int = 1
    normalize: Normalize = "none"

    def __post_init__(self) -> None:
        n = self.pixels.shape[0]
        if self.pixels.ndim != 4 or self.pixels.shape[1] != 1:
            raise ValueError(f"pixels must be (N, 1, H, W), got {tuple(self.pixels.shape)}")
        if self.pixels.dtype not in (torch.uint8, torch.float32):
            raise ValueError(f"pixels must be uint8 or float32, got {self.pixels.dtype}")
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
        return int(self.pixels.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.pixels.shape[2]), int(self.pixels.shape[3])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    # -- access ---------------------------------------------------------------------
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
        return self._to_float(self.pixels[index]), self.labels[index]

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        # One tensor gather per batch instead of one per item (DataLoader calls this).
        idx = torch.as_tensor(indices, dtype=torch.long)
        x = self._to_float(self.pixels[idx])
        y = self.labels[idx]
        return list(zip(x.unbind(0), y.unbind(0)))

    @property
    def images(self) -> torch.Tensor:
        """All images as float32 (N, C, H, W), in [0, 1] unless ImageNet-normalised."""
        return self._to_float(self.pixels)

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
        idx = np.asarray(indices, dtype=np.int64)
        t = torch.from_numpy(idx)
        return replace(
            self, pixels=self.pixels[t], labels=self.labels[t], meta={k: v[idx] for k, v in self.meta.items()}
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
            pixels=torch.cat([s.pixels for s in sets]),
            labels=torch.cat([s.labels for s in sets]),
            meta={k: np.concatenate([s.meta[k] for s in sets]) for k in sorted(keys)},
        )


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
