"""``radgen train``: one training run."""

from __future__ import annotations

import argparse

from radgen.cli.options import add_allow_changed_data, add_no_progress, add_set_option, call_api


def register_train(sub) -> None:
    p = sub.add_parser("train", help="train a model from a YAML config (a new run directory each time)")
    p.add_argument("config", nargs="?", help="YAML file or shipped config name (`radgen list configs`)")
    add_set_option(p, "override a config value, e.g. --set train.epochs=5 (repeatable)")
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue a run from its last checkpoint (same step counter, optimizer state, RNG)",
    )
    p.add_argument("--output-dir", help="parent folder of the run directory (default: runs)")
    p.add_argument("--name", help="run-directory prefix (default: the model name)")
    add_no_progress(p, "no progress bar")
    add_allow_changed_data(p, "--resume")
    p.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    """``radgen train`` (``radgen.api.train``)."""
    from radgen.api import train

    result = call_api(train, args, overrides=args.set)
    s = result.summary
    print(f"run       {result.run_dir}")
    print(
        f"epochs    {s.get('epochs_run')}  ({s.get('seconds_per_epoch')} s/epoch)  best "
        f"{s.get('monitor')} {s.get('best_loss'):.4f} at epoch {s.get('best_epoch')}"
        if s.get("best_loss") is not None
        else f"epochs    {s.get('epochs_run')}"
    )
    print(f"export    {result.run_dir / 'export'}  (config.yaml + weights.safetensors)")
    return 0
