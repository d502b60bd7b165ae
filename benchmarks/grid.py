"""The augmentation grid's fits on worker processes (``workers: 2``, one torch thread each) against
one fit at a time with every core (``workers: 1``, the process's threads), on the same jobs.

Jobs: J fits of a judge (default ``cnn001`` at 64 px, the demo's) of E epochs on N random 1-channel
images with 128-image val and test splits (selection and scoring included, as in an arm), each its
own seed. The workers' wall time includes starting them (spawn, importing torch and radgen) and
sending the images. Paired runs alternate which way goes first; the result is the median of the
paired ratios (one-at-a-time time / workers time) beside each way's median time.

    .venv/bin/python benchmarks/grid.py [--jobs 6] [--n 1024] [--epochs 1] [--repeats 3] [--judge cnn001]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch

from common import save
from radgen.classifiers.grid import FitJob, run_grid, usable_cores
from radgen.classifiers.judge import JUDGES
from radgen.data.base import ImageSet

SIZES = {"cnn001": 64, "resnet18": 28}


def images(n: int, size: int, seed: int) -> ImageSet:
    g = torch.Generator().manual_seed(seed)
    return ImageSet(
        pixels=torch.randint(0, 256, (n, 1, size, size), dtype=torch.uint8, generator=g),
        labels=(torch.rand(n, generator=g) < 0.73).long(),  # the chest X-ray kit's PNEUMONIA share
        class_names=("NORMAL", "PNEUMONIA"),
    )


def timed(jobs: list[FitJob], workers: int) -> float:
    t0 = time.perf_counter()
    rows = list(run_grid(jobs, workers=workers))
    assert len(rows) == len(jobs)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=6, help="fits in the grid (e.g. 2 arms x 3 seeds)")
    ap.add_argument("--n", type=int, default=1024, help="training images per fit")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="paired runs")
    ap.add_argument("--judge", default="cnn001", choices=sorted(SIZES))
    args = ap.parse_args()
    judge, size = JUDGES.get(args.judge), SIZES[args.judge]
    train, val, test = images(args.n, size, 0), images(128, size, 1), images(128, size, 2)
    cfg = replace(judge.train, epochs=args.epochs, patience=None)
    jobs = [
        FitJob(s, [train], val, test, judge.classifier, dict(judge.options), replace(cfg, seed=s))
        for s in range(args.jobs)
    ]
    alone, workers, ratios = [], [], []
    for r in range(args.repeats):  # alternate which goes first
        if r % 2 == 0:
            a, b = timed(jobs, 1), timed(jobs, 2)
        else:
            b, a = timed(jobs, 2), timed(jobs, 1)
        alone.append(a)
        workers.append(b)
        ratios.append(a / b)
        print(f"repeat {r + 1}: one at a time {a:.1f} s, 2 workers {b:.1f} s, ratio {a / b:.2f}", flush=True)
    rows = [
        {
            "judge": f"{args.judge} ({size} px)",
            "fits x epochs x images": f"{args.jobs} x {args.epochs} x {args.n}",
            f"one at a time, {torch.get_num_threads()} threads (s, median)": f"{statistics.median(alone):.1f}",
            "2 workers x 1 thread (s, median)": f"{statistics.median(workers):.1f}",
            "speed-up (median of paired ratios)": f"{statistics.median(ratios):.2f}x",
            "paired ratios": ", ".join(f"{x:.2f}" for x in ratios),
        }
    ]
    print(rows[0], flush=True)
    save(
        "grid",
        rows,
        list(rows[0]),
        "The augmentation grid on 2 worker processes vs one fit at a time",
        notes=f"{usable_cores()} usable cores. The workers' time includes spawning them and sending the images. "
        "Each fit is the same code either way (tests/classifiers/test_grid.py: a worker's fit equals the "
        "in-process fit at the same thread count, bit for bit).",
    )


if __name__ == "__main__":
    main()
