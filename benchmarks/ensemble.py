"""The seeds of one augmentation arm trained together (a batched ensemble through torch.func)
against one classifier at a time, on the same data, epochs and settings.

Per classifier: S seeds x E epochs on N random 1-channel images at its resolution (the timing
does not depend on pixel values; no validation split, so selection costs nothing), alternating
the two ways in paired runs and reporting the median of the paired ratios (one-by-one time /
batched time) and each way's median time. ``cnn001`` at 64 px is the demo's judge; the strong
judge (ResNet-18 width 32 at 28 px) is measured with ``--include-resnet``.

    .venv/bin/python benchmarks/ensemble.py [--seeds 5] [--n 1024] [--repeats 3] [--include-resnet]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch

from common import save
from radgen.classifiers.ensemble import fit_classifiers_batched
from radgen.classifiers.judge import JUDGES, build_seeded
from radgen.classifiers.train import fit_classifier
from radgen.data.base import ImageSet


def images(n: int, size: int) -> ImageSet:
    g = torch.Generator().manual_seed(0)
    return ImageSet(
        pixels=torch.randint(0, 256, (n, 1, size, size), dtype=torch.uint8, generator=g),
        labels=(torch.rand(n, generator=g) < 0.73).long(),  # the chest X-ray kit's PNEUMONIA share
        class_names=("NORMAL", "PNEUMONIA"),
    )


def one_by_one(judge, train, cfgs) -> float:
    t0 = time.perf_counter()
    for c in cfgs:
        fit_classifier(build_seeded(judge.classifier, judge.options, train, c.seed), train, None, c)
    return time.perf_counter() - t0


def batched(judge, train, cfgs) -> float:
    t0 = time.perf_counter()
    fit_classifiers_batched(
        [build_seeded(judge.classifier, judge.options, train, c.seed) for c in cfgs], train, None, cfgs
    )
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--n", type=int, default=1024, help="training images")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="paired runs")
    ap.add_argument("--include-resnet", action="store_true", help="also the strong judge (slow on 2 cores)")
    args = ap.parse_args()
    cases = [("cnn001", 64)] + ([("resnet18", 28)] if args.include_resnet else [])
    rows = []
    for name, size in cases:
        judge = JUDGES.get(name)
        train = images(args.n, size)
        cfgs = [replace(judge.train, epochs=args.epochs, seed=s, patience=None) for s in range(args.seeds)]
        alone, together, ratios = [], [], []
        for r in range(args.repeats):  # alternate which goes first
            if r % 2 == 0:
                a, b = one_by_one(judge, train, cfgs), batched(judge, train, cfgs)
            else:
                b, a = batched(judge, train, cfgs), one_by_one(judge, train, cfgs)
            alone.append(a)
            together.append(b)
            ratios.append(a / b)
        rows.append(
            {
                "judge": f"{name} ({size} px)",
                "seeds x epochs x images": f"{args.seeds} x {args.epochs} x {args.n}",
                "one by one (s, median)": f"{statistics.median(alone):.1f}",
                "batched (s, median)": f"{statistics.median(together):.1f}",
                "speed-up (median of paired ratios)": f"{statistics.median(ratios):.2f}x",
                "paired ratios": ", ".join(f"{x:.2f}" for x in ratios),
            }
        )
        print(rows[-1], flush=True)
    save(
        "ensemble",
        rows,
        list(rows[0]),
        "An arm's seeds trained together (torch.func batched ensemble) vs one at a time",
        notes="Same data, settings and per-seed random streams in both ways (tests/classifiers: same weights to "
        "float32 rounding). Judges' own settings (batch, optimizer, schedule, augmentation), no validation split.",
    )


if __name__ == "__main__":
    main()
