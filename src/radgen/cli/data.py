"""``radgen data inspect``: a dataset's splits, classes, sizes and patients."""

from __future__ import annotations

import argparse
import json

from radgen.cli.options import add_data_options, data_config
from radgen.progress import on_terminal


def register_data(sub) -> None:
    data = sub.add_parser("data", help="dataset tools")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION")
    dsub.required = True
    p = dsub.add_parser("inspect", help="counts per split and class, imbalance, sizes, modes, bad files")
    p.add_argument(
        "name", nargs="?", help="registered dataset name (default: chest_xray_full_64); see `radgen list datasets`"
    )
    add_data_options(p)
    p.add_argument("--grid", help="save a PNG grid of examples per class")
    p.add_argument("--per-class", type=int, default=8, help="images per class in --grid (default 8)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_inspect)


def run_inspect(args: argparse.Namespace) -> int:
    """``radgen data inspect`` (``radgen.api.inspect_data``); a grid of examples per class with --grid."""
    from radgen.api import inspect_data
    from radgen.data import DEFAULT_DATASET
    from radgen.data.inspect import format_summary

    cfg = data_config(args, args.name or DEFAULT_DATASET)
    summary = inspect_data(cfg, grid=args.grid, per_class=args.per_class, progress=not args.json and on_terminal())
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(format_summary(summary))
        if args.grid:
            print(f"grid      {args.grid}")
    return 0
