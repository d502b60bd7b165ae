"""The plain PyTorch loop the benchmarks time beside radgen's engine (``radgen.training.profile``).

* ``plain_step_times``: the loop a careful PyTorch user writes for the same model: one Adam per optimizer group
  (built as the engine builds it, fused kernel included), the other groups' parameters frozen while a group steps
  (what the engine's ``toggle_optimizer`` does), ``zero_grad(set_to_none=True)``, backward, step;
* ``loader_batch_times``: iterating the loader alone;
* ``sampling_time``: seconds to draw ``n`` samples.

It is a second training loop, kept here so that the library has one (the engine).
"""

from __future__ import annotations

import time
from typing import Any

import torch

from common import save  # noqa: F401  (also puts src/ on the path)
from radgen.data.base import ImageSet
from radgen.models.base import GenerativeModel
from radgen.training.profile import StepTiming, cycle_batches, timing_loader


def loader_batch_times(images: ImageSet, *, batch_size: int, steps: int = 20, warmup: int = 2) -> StepTiming:
    """Seconds per batch of iterating the loader alone (no model)."""
    timing = StepTiming(batch_size)
    it = cycle_batches(timing_loader(images, batch_size), steps + warmup)
    for i in range(steps + warmup):
        t0 = time.perf_counter()
        next(it)
        if i >= warmup:
            timing.times.append(time.perf_counter() - t0)
    return timing


def plain_step_times(
    model: GenerativeModel,
    images: ImageSet,
    *,
    batch_size: int,
    steps: int = 10,
    warmup: int = 2,
    lr: float = 1e-4,
    **train_options: Any,
) -> StepTiming:
    """Seconds per step of the loop a careful PyTorch user writes for the same model and batches."""
    from radgen.training.config import TrainConfig
    from radgen.training.module import build_optimizers

    groups = model.optimizer_groups()
    opts = dict(
        zip(groups, build_optimizers(model, TrainConfig(lr=lr, batch_size=batch_size, **train_options)))
    )  # the engine's optimizers
    many = len(groups) > 1
    model.train()
    timing = StepTiming(batch_size)
    last = None
    for i, batch in enumerate(cycle_batches(timing_loader(images, batch_size), steps + warmup)):
        model.begin_batch(batch, i)  # as the engine does: before any group is frozen
        for g, opt in opts.items():
            for _ in range(int(model.group_steps(i).get(g, 1))):
                if many:
                    for other, params in groups.items():
                        for p in params:
                            p.requires_grad_(other == g)
                out = model(batch, group=g)
                opt.zero_grad(set_to_none=True)
                out.loss.backward()
                opt.step()
                model.after_optimizer_step(g)
        model.end_batch()
        now = time.perf_counter()
        if last is not None and i >= warmup:
            timing.times.append(now - last)
        last = now
    for p in model.parameters():
        p.requires_grad_(True)
    return timing


@torch.no_grad()
def sampling_time(model: GenerativeModel, n: int, *, repeats: int = 3, seed: int = 0) -> StepTiming:
    """Seconds to draw ``n`` samples (median of ``repeats``, one untimed warm-up draw first)."""
    from radgen.sampling import generate

    model.eval()
    timing = StepTiming(n)
    label = 0 if model.supports_labels else None  # class-conditional models: one class, same cost as any other
    generate(model, min(n, 4), label=label, seed=seed, progress=False)
    for r in range(repeats):
        t0 = time.perf_counter()
        generate(model, n, label=label, seed=seed + r, progress=False)
        timing.times.append(time.perf_counter() - t0)
    return timing
