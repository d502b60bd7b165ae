"""The augmentation grid's fits three ways, on the same jobs and the same 2 cores:

- ``before``: one fit at a time with every core, convolutions in NCHW layout and cnn001's ReLU before its
  max-pooling (the grid until 7d8eb36; the old forward is restored for this way only, ``old_cnn001_order``);
- ``channels-last``: one fit at a time with every core, NHWC weights and batches (``train.channels_last``,
  the default since 7d8eb36);
- ``2 workers``: ``workers: 2`` (two spawned worker processes, one torch thread each), channels-last.

Jobs: J fits of a judge (default ``cnn001`` at 64 px, the demo's) of E epochs on N random 1-channel
images with 128-image val and test splits (selection and scoring included, as in an arm), each its
own seed. The workers' wall time includes starting them (spawn, importing torch and radgen) and
sending the images. One untimed fit each way warms the process up first. Each repeat runs the three ways in a
rotated order; the result per way is the
median of the paired ratios (``before`` time / that way's time) beside each way's median time.

    .venv/bin/python benchmarks/grid.py [--jobs 4] [--n 4096] [--epochs 1] [--repeats 3] [--judge cnn001]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from dataclasses import replace

import torch
import torch.nn.functional as F

from common import save
from radgen.classifiers.grid import FitJob, run_grid, usable_cores
from radgen.classifiers.judge import JUDGES
from radgen.classifiers.nets import PneumoniaCNN
from radgen.data.base import ImageSet

SIZES = {"cnn001": 64, "resnet18": 28}


def images(n: int, size: int, seed: int) -> ImageSet:
    g = torch.Generator().manual_seed(seed)
    return ImageSet(
        pixels=torch.randint(0, 256, (n, 1, size, size), dtype=torch.uint8, generator=g),
        labels=(torch.rand(n, generator=g) < 0.73).long(),  # the chest X-ray kit's PNEUMONIA share
        class_names=("NORMAL", "PNEUMONIA"),
    )


@contextlib.contextmanager
def old_cnn001_order():
    """cnn001 as it ran before: ReLU, then max-pooling (the same numbers; radgen now pools first)."""

    def features(self, x):
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        return F.relu(self.fc1(h.flatten(1)))

    new = PneumoniaCNN.features
    PneumoniaCNN.features = features
    try:
        yield
    finally:
        PneumoniaCNN.features = new


WAYS = {  # name: (workers, channels_last)
    "before (NCHW, ReLU then pool, one at a time)": (1, False),
    "channels-last, pool then ReLU, one at a time": (1, True),
    "channels-last, pool then ReLU, 2 workers x 1 thread": (2, True),
}


def timed(jobs: list[FitJob], workers: int, channels_last: bool) -> float:
    jobs = [replace(j, cfg=replace(j.cfg, channels_last=channels_last)) for j in jobs]
    before = workers == 1 and not channels_last
    t0 = time.perf_counter()
    with old_cnn001_order() if before else contextlib.nullcontext():
        rows = list(run_grid(jobs, workers=workers))
    assert len(rows) == len(jobs)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=4, help="fits in the grid (e.g. 2 arms x 2 seeds)")
    ap.add_argument("--n", type=int, default=4096, help="training images per fit")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="paired runs (each runs every way once)")
    ap.add_argument("--judge", default="cnn001", choices=sorted(SIZES))
    args = ap.parse_args()
    judge, size = JUDGES.get(args.judge), SIZES[args.judge]
    train, val, test = images(args.n, size, 0), images(128, size, 1), images(128, size, 2)
    cfg = replace(judge.train, epochs=args.epochs, patience=None)
    jobs = [
        FitJob(s, [train], val, test, judge.classifier, dict(judge.options), replace(cfg, seed=s))
        for s in range(args.jobs)
    ]
    names = list(WAYS)
    for n in names:  # warm-up, untimed: the first fit of a process pays one-off costs (kernels, allocator)
        timed(jobs[:1], *WAYS[n])
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.repeats):
        order = names[r % len(names) :] + names[: r % len(names)]  # rotate which way goes first
        for n in order:
            times[n].append(timed(jobs, *WAYS[n]))
        print(f"repeat {r + 1}: " + ", ".join(f"{n} {times[n][-1]:.1f} s" for n in names), flush=True)
    base = times[names[0]]
    rows = []
    for n in names:
        ratios = [b / t for b, t in zip(base, times[n])]
        rows.append(
            {
                "way": n,
                "judge": f"{args.judge} ({size} px)",
                "fits x epochs x images": f"{args.jobs} x {args.epochs} x {args.n}",
                "wall s (median)": f"{statistics.median(times[n]):.1f}",
                "speed-up vs before (median of paired ratios)": f"{statistics.median(ratios):.2f}x",
                "paired ratios": ", ".join(f"{x:.2f}" for x in ratios),
            }
        )
        print(rows[-1], flush=True)
    save(
        "grid",
        rows,
        list(rows[0]),
        "The augmentation grid: channels-last, cnn001 pooling first, and worker processes, against the grid before",
        notes=f"{usable_cores()} usable cores, {torch.get_num_threads()} torch threads for one fit at a time. "
        "The workers' time includes spawning them and sending the images. A worker's fit equals the "
        "in-process fit at the same thread count bit for bit (tests/classifiers/test_grid.py); channels-last "
        "gives the NCHW loss and gradients to float32 rounding, and pooling before the ReLU gives cnn001's "
        "outputs and gradients bit for bit (tests/classifiers/test_classifiers.py).",
    )


if __name__ == "__main__":
    main()
