"""The (arm, seed) grid of an experiment on worker processes.

``radgen augment`` trains one small classifier per arm and seed; they are independent. On a CPU
one fit rarely keeps every core busy (small convolutions at batch 64 scale poorly past one
thread), so ``workers: W`` runs W fits at a time in spawned worker processes with
``cores // W`` torch threads each, over the whole grid (not one arm at a time: an arm of 3 seeds
on 2 workers would leave a core idle for its third seed). ``benchmarks/grid.py`` measures it
against one fit at a time with every core.

Each fit is the same code as one by one (:func:`radgen.classifiers.judge.train_seeds` with one
seed), and CPU kernels are deterministic for a given thread count, so a worker's result equals the
same fit run in this process under ``torch.set_num_threads`` of the worker's threads (tested).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import torch

from radgen.classifiers.train import ClassifierTrainConfig
from radgen.data.base import ImageSet
from radgen.errors import ConfigError


@dataclass
class FitJob:
    """One fit: its training sets in turn (finetune: synthetic, then real), val, test and one seed's config."""

    key: Any  # handed back with the result, e.g. (arm name, seed)
    stages: list[ImageSet]
    val: ImageSet
    test: ImageSet
    classifier: str
    options: dict[str, Any]
    cfg: ClassifierTrainConfig
    stage_changes: list[dict[str, Any]] | None = None


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity on Linux, else ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_workers(workers: int | str) -> int:
    """``auto``: as many workers as usable cores, at most 2 (measured on 2 cores only); an int as given."""
    if workers == "auto":
        return max(1, min(2, usable_cores()))
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ConfigError(f"workers={workers!r} must be a whole number >= 1 or 'auto'")
    return workers


def fit_one(job: FitJob) -> tuple[Any, dict[str, Any]]:
    """Train and score one job in this process (the worker's body)."""
    from radgen.classifiers.judge import train_seeds

    (row,) = train_seeds(
        job.stages,
        job.val,
        job.test,
        classifier=job.classifier,
        options=job.options,
        cfgs=[job.cfg],
        stage_changes=job.stage_changes,
    )
    return job.key, row


def _init_worker(threads: int) -> None:
    """A worker's start: its torch threads, and (Linux) death with its parent, so a killed grid leaves no
    worker behind (``prctl(PR_SET_PDEATHSIG, SIGKILL)``; SIGKILL of the parent cannot be caught otherwise)."""
    torch.set_num_threads(threads)
    _die_with_parent()


def _die_with_parent() -> None:
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        pr_set_pdeathsig = 1  # <linux/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _stop_workers(ex: ProcessPoolExecutor, ctx) -> None:
    """Cancel what has not started and end the running workers now (a signal or an error in the parent):
    ``shutdown(wait=True)`` would wait for every running fit to finish."""
    ex.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + 5  # SIGTERM first; a worker still starting (importing torch) may outlive it
    while (alive := ctx.active_children()) and time.monotonic() < deadline:
        for p in alive:
            p.terminate()
        for p in alive:
            p.join(0.2)
    for p in ctx.active_children():  # then SIGKILL, which cannot be caught or held
        p.kill()
        p.join(5)


def run_grid(
    jobs: list[FitJob], *, workers: int, threads: int | None = None, on_done: Callable[[Any], None] | None = None
) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Yield ``(job.key, row)`` as fits finish (any order), ``workers`` at a time, each with
    ``threads`` torch threads (default: usable cores // workers, at least 1). ``workers=1`` runs
    in this process, in order, with this process's threads."""
    if workers == 1:
        for job in jobs:
            out = fit_one(job)
            if on_done:
                on_done(out[0])
            yield out
        return
    threads = threads or max(1, usable_cores() // workers)
    ctx = torch.multiprocessing.get_context("spawn")  # fork after torch has started threads is unsafe
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(threads,)) as ex:
        pending = {ex.submit(fit_one, job) for job in jobs}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    out = f.result()
                    if on_done:
                        on_done(out[0])
                    yield out
        except BaseException:
            _stop_workers(ex, ctx)
            raise
