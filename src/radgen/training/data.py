"""Data loaders for in-memory image sets: one gather per batch, seeded per-epoch shuffles."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from radgen.data.base import ImageSet


class EpochSeededSampler(Sampler[int]):
    """A permutation drawn from (seed, epoch): the same order after a resume, and a new
    order each epoch. Lightning calls ``set_epoch`` (DDP wraps this sampler per rank)."""

    def __init__(self, n: int, *, seed: int, shuffle: bool = True):
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def skip_next(self, k: int, *, epoch: int) -> None:
        """The next pass is ``epoch``'s order from position ``k`` on (a resume inside an epoch)."""
        self._skip, self.epoch = int(k), int(epoch)

    def __iter__(self):
        skip, self._skip = self._skip, 0
        if not self.shuffle:
            return iter(range(skip, self.n))
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g)[skip:].tolist())

    def __len__(self) -> int:
        return self.n


class BatchView(Dataset):
    """Wraps an ImageSet so that a DataLoader fetches a whole batch with one tensor gather."""

    def __init__(self, images: ImageSet):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images[i]

    def __getitems__(self, indices: list[int]):
        return self.images.batch(torch.as_tensor(indices, dtype=torch.long))


class TensorBatchView(Dataset):
    """(inputs, labels) tensors computed once (a model's ``prepare_training_data``), one gather per batch."""

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor):
        if len(inputs) != len(labels):
            raise ValueError(f"{len(inputs)} inputs but {len(labels)} labels")
        self.inputs, self.labels = inputs, labels

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int):
        return self.inputs[i], self.labels[i]

    def __getitems__(self, indices: list[int]):
        idx = torch.as_tensor(indices, dtype=torch.long)
        return self.inputs[idx], self.labels[idx]


def _batch_as_is(batch):
    return batch


def make_loader(
    images: ImageSet | tuple[torch.Tensor, torch.Tensor],
    *,
    batch_size: int,
    shuffle: bool,
    seed: int,
    num_workers: int = 0,
    drop_last: bool = False,
    pin_memory: bool = False,
) -> DataLoader:
    """Batches of an ImageSet, or of (inputs, labels) tensors."""
    view = TensorBatchView(*images) if isinstance(images, tuple) else BatchView(images)
    return DataLoader(
        view,
        batch_size=batch_size,
        sampler=EpochSeededSampler(len(view), seed=seed, shuffle=shuffle),
        collate_fn=_batch_as_is,
        num_workers=num_workers,
        drop_last=drop_last,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )
