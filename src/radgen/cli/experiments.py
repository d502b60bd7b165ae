"""``radgen classify``, ``radgen augment``, ``radgen demo`` and ``radgen reproduce``: the experiments."""

from __future__ import annotations

import argparse
from typing import Any

from radgen import runfolder
from radgen.cli.options import (
    add_allow_changed_data,
    add_data_options,
    add_no_progress,
    add_set_option,
    call_api,
    data_config,
)
from radgen.errors import RadgenError


def register_classify(sub) -> None:
    p = sub.add_parser(
        "classify",
        help="train and test a classifier (judge) alone over seeds: test metrics mean +- std, confusion matrix, ROC",
    )
    p.add_argument("--data", default="pneumoniamnist", help="multiclass dataset (default pneumoniamnist)")
    add_data_options(p)
    p.add_argument(
        "--classifier", default="resnet18", help="judge: resnet18 (default) or cnn001 (`radgen list classifiers`)"
    )
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    p.add_argument("--epochs", type=int, help="epochs (default: the judge's)")
    p.add_argument("--batch-size", type=int, help="batch size (default: the judge's)")
    p.add_argument("--lr", type=float, help="peak learning rate (default: the judge's)")
    p.add_argument("--seed0", type=int, help="first training seed (default 0)")
    p.add_argument("--max-train", type=int, help="stratified subsample of the training split (smoke runs)")
    add_set_option(p, "override, e.g. --set train.augment=none --set classifier_options.width=16 (repeatable)")
    p.add_argument("--output-dir", help="parent folder of the output (default: runs)")
    add_no_progress(p)
    p.set_defaults(func=run_classify)


def run_classify(args: argparse.Namespace) -> int:
    """``radgen classify``: the judge alone on real data, over seeds (``radgen.api.classify``)."""
    from radgen.api import classify
    from radgen.config import to_dict
    from radgen.progress import on_terminal

    data = data_config(args, args.data)
    d: dict[str, Any] = {"data": to_dict(data), "judge": args.classifier, "seeds": args.seeds}
    train = {
        k: v
        for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size), ("lr", args.lr), ("seed", args.seed0))
        if v is not None
    }
    if train:
        d["train"] = train
    if args.max_train is not None:
        d["max_train"] = args.max_train
    if args.output_dir:
        d["output_dir"] = args.output_dir
    out, _ = classify(d, overrides=args.set, progress=not args.no_progress and on_terminal())
    print((out / runfolder.CLASSIFY_SUMMARY).read_text())
    print(f"written to {out} (results.json, summary.md, confusion.png, roc.png)")
    return 0


def register_augment(sub) -> None:
    p = sub.add_parser(
        "augment",
        help="the augmentation experiment: classifier arms (real, weighted, oversample, classic, "
        "+synthetic, synthetic only, duplicate control, synthetic pretrain + real finetune, amount sweep, "
        "filtered) over seeds, Holm-corrected, with power",
    )
    p.add_argument(
        "config", nargs="?", help="YAML file: data, classifier, train, generators (label: run dir), arms, ratio, seeds"
    )
    p.add_argument("--config", dest="config_opt", metavar="CONFIG", help="the same, as an option")
    add_set_option(p, "override a config value, e.g. --set seeds=3 (repeatable)")
    p.add_argument("--output-dir", help="parent folder of the output (default: runs)")
    add_no_progress(p)
    add_allow_changed_data(p, "the experiment")
    p.set_defaults(func=run_augment)


def run_augment(args: argparse.Namespace) -> int:
    """``radgen augment``: the augmentation experiment from its YAML config (``radgen.api.augment``)."""
    from radgen.api import augment

    path = args.config_opt or args.config
    if not path:
        raise RadgenError(
            "give the experiment's YAML config: radgen augment --config FILE (see examples/augment_chest_xray.yaml)"
        )
    overrides = [*args.set, *(["allow_changed_data=true"] if args.allow_changed_data else [])]
    out, _ = call_api(augment, args, config=path, overrides=overrides)
    print((out / runfolder.AUGMENT_SUMMARY).read_text())
    print(f"written to {out}")
    return 0


def register_demo(sub) -> None:
    p = sub.add_parser(
        "demo", help="the main job: train 3 generators, evaluate them, run the augmentation arms, write report.html"
    )
    p.add_argument(
        "--data",
        default="chest_xray_full_64",
        help="dataset (default chest_xray_full_64; also pneumoniamnist, chest_xray_128, chest_xray_folder)",
    )
    p.add_argument("--data-dir", help="data root (default: $RADGEN_DATA_DIR, ../shared/data, ~/.cache/radgen)")
    p.add_argument("--path", help="file or folder of the dataset (e.g. a Kaggle chest_xray folder)")
    p.add_argument("--size", type=int, help="resize images to SIZE px")
    p.add_argument("--quick", action="store_true", help="2-minute smoke version (32 px, tiny budgets)")
    p.add_argument(
        "--budget",
        choices=("demo", "full"),
        default="demo",
        help="demo: the 30-minute main job; full: 5x the generators' epochs, every arm, 10 seeds, and the "
        "privacy-utility table (each DP-capable generator again at epsilon 1 and 8) (hours on a CPU)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        help="the most classifier seeds per arm; seeds are added in looks until the primary comparisons are decisive "
        "(default 15, looks of 3; --quick 3; --budget full 10)",
    )
    p.add_argument("--judge", help="the arms' classifier (default cnn001; `radgen list classifiers`)")
    p.add_argument(
        "--extractor-seeds",
        type=int,
        default=3,
        help="trainings of radgen-cnn001 and radgen-ae001 (default 3): every FD is their mean with an interval over "
        "seeds and resamples, and the generator mixed in is the one ranked first under every view",
    )
    p.add_argument("--device", default="cpu", help="where generators and classifiers train: cpu (default), cuda, mps")
    p.add_argument("--output-dir", default="runs", help="parent folder (default runs)")
    add_no_progress(p)
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """``radgen demo``: train, evaluate, augment and report end to end (``radgen.api.demo``)."""
    from radgen.api import demo

    out = call_api(demo, args)
    summary = out / runfolder.DEMO_AUGMENT / runfolder.AUGMENT_SUMMARY
    if summary.is_file():
        print(summary.read_text())
    print(f"report    {out / runfolder.REPORT_HTML}  (self-contained; Markdown twin {runfolder.REPORT_MD})")
    return 0


def register_reproduce(sub) -> None:
    from radgen.experiments.reproduce import REPRODUCTIONS

    p = sub.add_parser(
        "reproduce", help="a design document's experiment as one command: " + ", ".join(REPRODUCTIONS.names())
    )
    p.add_argument("name", choices=REPRODUCTIONS.names())
    p.add_argument("--epochs", type=int, help="epochs per model (default: the document's; long on a CPU)")
    p.add_argument("--quick", action="store_true", help="smoke run: a few batches per epoch")
    p.add_argument("--all", action="store_true", help="also the settings the document did not tabulate")
    add_set_option(p, "override for every training run, e.g. train.limit_train_batches=200 (repeatable)")
    p.add_argument(
        "--inception-weights",
        metavar="FILE",
        help="pytorch-fid Inception weights: adds FID where the document reports FID",
    )
    p.add_argument(
        "--data",
        metavar="NAME",
        help="seed003-table4: train on this registered dataset with 003's preprocessing (e.g. chest_xray_folder: "
        "the kit's native-resolution Kaggle X-rays; the configs name CXR14, whose images the kit lacks)",
    )
    p.add_argument(
        "--versions",
        metavar="V1,V2",
        help="seed003-table4: only these rows, e.g. fs_gmvae_v3,gmvae_v3,gmvae_v4,gmvae_v5,gmvae_v7,gmvae_v8 (the "
        "frozen VGG16 versions with Decoder 1 or 2, which train on a CPU; default all nine)",
    )
    p.add_argument("--output-dir", default="runs")
    add_no_progress(p)
    p.set_defaults(func=run_reproduce)


def run_reproduce(args: argparse.Namespace) -> int:
    """``radgen reproduce``: one design document's table, reproduced into a fresh folder (``radgen.api.reproduce``)."""
    from radgen.api import reproduce

    versions = tuple(v.strip() for v in (args.versions or "").split(",") if v.strip())
    out, result = call_api(reproduce, args, include_all=args.all, overrides=tuple(args.set), versions=versions)
    print(result["markdown"])
    print(f"written to {out} (table.md, table.html, results.json, figures/, runs/) in {result['seconds']:.0f} s")
    return 0
