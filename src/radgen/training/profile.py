"""Step timing of the engine: ``radgen train``'s Lightning module, trainer options and callbacks.

Used by ``radgen reproduce seed003-table5`` (time per epoch of each family) and by the benchmarks, which time a
plain PyTorch loop beside it (``benchmarks/plain_loop.py``). Every figure is a median over timed steps after warm-up
steps, measured iteration to iteration so that the loader's fetch and every per-step hook are included.
``engine_step_times``: radgen's ``EngineModule`` in an ``L.Trainer`` with the trainer options and callbacks
``radgen train`` uses (checkpoints, sample grids; no progress bar).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from radgen.data.base import ImageSet
from radgen.models.base import GenerativeModel


@dataclass
class StepTiming:
    """Seconds of each timed step at one batch size, with median and images per second."""

    batch_size: int
    times: list[float] = field(default_factory=list)  # seconds per timed step
    summary: dict[str, Any] = field(
        default_factory=dict
    )  # the engine's epoch means (losses), where the timing ran the engine

    @property
    def median_s(self) -> float:
        return statistics.median(self.times)

    @property
    def images_per_s(self) -> float:
        return self.batch_size / self.median_s

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "median_s": self.median_s,
            "images_per_s": self.images_per_s,
            "steps": len(self.times),
        }


def random_images(n: int, *, image_size: int, channels: int = 1, num_classes: int = 2, seed: int = 0) -> ImageSet:
    """``n`` uint8 noise images with random labels: a stand-in split for timing (stored as 1 channel, like
    every radgen split).
    """
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (n, 1, image_size, image_size), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, num_classes, (n,), generator=g)
    return ImageSet(
        pixels=pixels, labels=labels, class_names=tuple(f"c{i}" for i in range(num_classes)), channels=channels
    )


def timing_loader(images: ImageSet, batch_size: int, *, pin_memory: bool = False):
    """The shuffled, seeded, drop-last loader every timing iterates (``radgen.training.data.make_loader``)."""
    from radgen.training.data import make_loader

    return make_loader(images, batch_size=batch_size, shuffle=True, seed=0, drop_last=True, pin_memory=pin_memory)


def cycle_batches(loader, n: int):
    """``n`` batches from ``loader``, starting it again as often as needed."""
    while True:
        for batch in loader:
            yield batch
            n -= 1
            if n <= 0:
                return


def engine_step_times(
    model: GenerativeModel,
    images: ImageSet,
    *,
    batch_size: int,
    steps: int = 10,
    warmup: int = 2,
    lr: float = 1e-4,
    **train_options: Any,
) -> StepTiming:
    """The engine's steps with the callbacks of a ``radgen train`` run (checkpoints and sample
    grids in a temporary run directory, written after the timed steps); no progress bar."""
    import tempfile
    from pathlib import Path

    import lightning as L

    from radgen.training.config import TrainConfig
    from radgen.training.module import EngineModule
    from radgen.training.run import engine_callbacks, prepare_for_speed, quiet_lightning

    quiet_lightning()

    timing = StepTiming(batch_size)

    class _Clock(L.Callback):
        last: float | None = None

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            now = time.perf_counter()
            if self.last is not None and batch_idx > warmup:
                timing.times.append(now - self.last)
            self.last = now

    cfg = TrainConfig(lr=lr, batch_size=batch_size, epochs=1, progress_bar=False, **train_options)
    n_batches = steps + warmup + 1
    if len(images) < n_batches * batch_size:
        raise ValueError(
            f"engine timing needs {n_batches * batch_size} images for {n_batches} batches of "
            f"{batch_size}; got {len(images)}"
        )
    by_loss = model.checkpoint_selection == "loss"
    model = prepare_for_speed(model, cfg)  # channels_last weights, compiled forward: as radgen train does
    module = EngineModule(model, cfg)
    with tempfile.TemporaryDirectory() as run_dir:
        callbacks = engine_callbacks(
            cfg, Path(run_dir), seed=0, by_loss=by_loss, monitor="train/loss" if by_loss else "last epoch"
        )
        trainer = L.Trainer(
            max_epochs=1,
            accelerator=cfg.accelerator,
            devices=cfg.devices,
            precision=cfg.precision,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            limit_train_batches=n_batches,
            callbacks=[*callbacks, _Clock()],
            default_root_dir=run_dir,
        )
        trainer.fit(module, timing_loader(images, batch_size, pin_memory=cfg.accelerator in ("gpu", "cuda")))
    if "forward" in vars(model):
        del model.forward
    timing.summary = {k: v for k, v in module.acc["train"].summary().items() if isinstance(v, float)}
    return timing
