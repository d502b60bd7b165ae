"""``radgen evaluate`` and ``radgen report``: the evaluation protocol on a run, and reports of run folders."""

from __future__ import annotations

import argparse

from radgen import runfolder
from radgen.cli.options import add_allow_changed_data, add_no_progress, call_api


def register_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="distribution, diversity, memorization, reconstruction and likelihood metrics of a trained run",
    )
    p.add_argument("run", help="run directory")
    p.add_argument("--real", help="real dataset to compare with (default: the run's dataset)")
    p.add_argument(
        "--n", type=int, default=1000, help="images per set (default 1000, capped at the reference split's size)"
    )
    p.add_argument(
        "--reference",
        choices=("auto", "val", "test"),
        default="auto",
        help="reference set: auto (the run's held-out val split when it has >= 200 images, else test, "
        "labelled shifted)",
    )
    p.add_argument(
        "--features",
        default="radgen-cnn001,radgen-ae001",
        help="comma-separated extractors: radgen-cnn001 (supervised), radgen-ae001 (label-free), inception",
    )
    p.add_argument(
        "--inception-weights", help="path of pt_inception-2015-12-05-6726825d.pth for the inception extractor"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--extractor-seeds",
        type=int,
        default=3,
        help="trainings of each radgen-trained extractor (seeds 0..K-1, each cached); every FD is their mean with a "
        "two-level bootstrap interval, and rank probabilities count their spread (default 3; 1 is faster and "
        "cannot tell an extractor's training noise from a difference between generators)",
    )
    add_allow_changed_data(p, "the evaluation")
    add_no_progress(p, "no progress (default: a bar on a terminal, else a line per step on stderr)")
    p.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    """``radgen evaluate`` (``radgen.api.evaluate``); prints metrics.md."""
    from radgen.api import evaluate

    feats = tuple(f.strip() for f in args.features.split(",") if f.strip())
    folder, _ = call_api(evaluate, args, run_dir=args.run, features=feats)
    print((folder / runfolder.EVAL_MARKDOWN).read_text())
    print(f"written to {folder}")
    return 0


def register_report(sub) -> None:
    p = sub.add_parser(
        "report",
        help="build report.html (self-contained) and report.md from demo, run, augmentation or evaluation directories",
    )
    p.add_argument("runs", nargs="+", help="directories")
    p.add_argument("--out", help="output folder (default: the directory, when there is one)")
    p.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    """``radgen report`` (``radgen.api.report``)."""
    from radgen.api import report

    html, md = call_api(report, args)
    print(f"report    {html}  (Markdown twin {md})")
    return 0
