"""The ``radgen`` command line: argument parsing only, dispatching to library functions.

Errors radgen raises on purpose (``RadgenError``) print as one line,
``radgen: error: <what, which file or value, and the fix>``, with exit status 2.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any

from radgen import __version__, runfolder, signals
from radgen.errors import RadgenError, Terminated, one_line

log = logging.getLogger("radgen")


def _add_data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data options")
    g.add_argument("--path", help="file or folder of the dataset (default: its place under the data root)")
    g.add_argument("--data-dir", help="data root (default: $RADGEN_DATA_DIR, ../shared/data, ~/.cache/radgen)")
    g.add_argument("--size", type=int, help="resize to SIZE x SIZE pixels (Lanczos)")
    g.add_argument("--channels", type=int, choices=(1, 3), default=1, help="1 (grey) or 3 (grey replicated)")
    g.add_argument("--crop", choices=("none", "center"), default="none", help="centre square crop before resizing")
    g.add_argument("--equalize", choices=("none", "histogram"), default="none", help="histogram equalization")
    g.add_argument("--normalize", choices=("none", "imagenet"), default="none", help="ImageNet mean/std normalisation")
    g.add_argument("--split-ratio", type=float, help="train fraction for sources with one split (patient-level)")
    g.add_argument(
        "--val-from-train", type=float, help="carve a patient-level validation split of this fraction from train"
    )
    g.add_argument("--seed", type=int, default=0, help="seed of the splits (default 0)")
    g.add_argument(
        "--on-bad-file",
        choices=("error", "skip"),
        default="skip",
        help="stop at a bad file, or skip and count (default)",
    )
    g.add_argument("--no-cache", action="store_true", help="neither read nor write the preprocessed cache")
    g.add_argument(
        "--storage",
        choices=("auto", "memory", "mmap"),
        default="auto",
        help="pixels memory-mapped from the cache (auto: and streamed into it beyond --max-memory-gb), or in RAM",
    )
    g.add_argument(
        "--max-memory-gb",
        type=float,
        help="memory budget for decoded pixels (default 25 %% of RAM); beyond it they stream",
    )
    g.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="source-specific option (see `radgen list datasets -v`), repeatable",
    )


def _data_config(args: argparse.Namespace, name: str):
    from radgen.config import parse_override
    from radgen.data import DataConfig

    options: dict[str, Any] = {}
    for text in args.option:
        keys, value = parse_override(text)
        options[".".join(keys)] = value
    from radgen.data.detect import describe_detection

    name, path = describe_detection(name, args.path)
    return DataConfig(
        name=name,
        path=path,
        data_dir=args.data_dir,
        size=args.size,
        channels=args.channels,
        crop=args.crop,
        equalize=args.equalize,
        normalize=args.normalize,
        split_ratio=args.split_ratio,
        val_from_train=args.val_from_train,
        seed=args.seed,
        on_bad_file=args.on_bad_file,
        cache=not args.no_cache,
        storage=args.storage,
        max_memory_gb=args.max_memory_gb,
        options=options,
    )


def _add_set_option(p: argparse.ArgumentParser, text: str) -> None:
    """The repeatable ``--set KEY=VALUE`` override every config-driven command takes."""
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=text)


def cmd_list(args: argparse.Namespace) -> int:
    """``radgen list``: the registered datasets, models, shipped configs, feature extractors or classifiers."""
    if args.what == "features":
        from radgen.metrics.features import FEATURES

        for e in FEATURES:
            print(f"{e.name:<16} {e.description}")
        return 0
    if args.what == "models":
        from radgen.models import MODELS

        width = max(len(e.name) for e in MODELS)
        for e in MODELS:
            print(f"{e.name:<{width}}  {e.description}")
            if args.verbose and e.obj.defaults:
                print(f"{'':<{width}}  preset of {e.obj.cls.__name__}: {e.obj.defaults}")
        return 0
    if args.what == "classifiers":
        from radgen.classifiers.judge import DEFAULT_JUDGE, JUDGES
        from radgen.classifiers.nets import CLASSIFIERS

        print("judges (network + training settings; `radgen classify --classifier NAME`):")
        for e in JUDGES:
            star = "*" if e.name == DEFAULT_JUDGE else " "
            print(f"  {e.name:<10} {star} {e.description}")
        print("networks:")
        for e in CLASSIFIERS:
            print(f"  {e.name:<10}   {e.description}")
        print("\n* default judge of `radgen classify` and `radgen augment`.")
        return 0
    if args.what == "configs":
        from radgen.training.config import shipped_configs

        for name, path in sorted(shipped_configs().items()):
            first = next((ln.lstrip("# ").strip() for ln in path.read_text().splitlines() if ln.startswith("#")), "")
            print(f"{name:<28} {first}")
        print("\nTrain one with `radgen train NAME [--set key=value ...]`.")
        return 0
    if args.what == "datasets":
        from radgen.data import DATASETS, DEFAULT_DATASET

        width = max(len(e.name) for e in DATASETS)
        for e in DATASETS:
            star = "*" if e.name == DEFAULT_DATASET else " "
            print(f"{e.name:<{width}} {star} {e.description}")
            if args.verbose:
                opts = e.obj.option_names()
                path = e.obj.default_path or "(required: --path)"
                print(f"{'':<{width}}   path: {path}; options: {', '.join(opts) or 'none'}")
        print("\n* default dataset. Load one with radgen.data.load_dataset(NAME) or `radgen data inspect NAME`.")
    return 0


def cmd_data_inspect(args: argparse.Namespace) -> int:
    """``radgen data inspect``: a dataset's splits, classes, sizes and patients (and a grid with --grid)."""
    from radgen.data import DEFAULT_DATASET
    from radgen.data.inspect import format_summary, inspect_dataset

    cfg = _data_config(args, args.name or DEFAULT_DATASET)
    if args.grid:
        from radgen.outputs import check_figure_path

        check_figure_path(args.grid, overwrite=True, option="--grid")  # before the (slow) load
    summary, ds = inspect_dataset(cfg, progress=not args.json and sys.stderr.isatty())
    if args.grid:
        if ds is None:
            raise RadgenError(f"--grid needs images, and dataset {cfg.name!r} has none here (labels only)")
        from radgen.viz import examples_per_class, save_class_grid

        split = "train" if "train" in ds else next(iter(ds))
        s = ds[split]
        rows = examples_per_class(
            s.images if s.normalize == "none" else s.with_view(normalize="none").images,
            s.labels,
            s.class_names,
            per_class=args.per_class,
            seed=cfg.seed,
        )
        save_class_grid(rows, args.grid, title=f"{cfg.name} / {split}")
        summary["grid"] = str(args.grid)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(format_summary(summary))
        if args.grid:
            print(f"grid      {args.grid}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """``radgen train``: one training run (``radgen.api.train``)."""
    from radgen.api import train

    result = train(
        args.config,
        overrides=args.set,
        output_dir=args.output_dir,
        name=args.name,
        resume=args.resume,
        progress=sys.stderr.isatty() and not args.no_progress,
        allow_changed_data=args.allow_changed_data,
    )
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


def cmd_sample(args: argparse.Namespace) -> int:
    """``radgen sample``: samples and their grid from an exported run."""
    from radgen.models import load_exported
    from radgen.models.export import label_index
    from radgen.sampling import check_output, write_samples

    check_output(args.out, args.overwrite)  # before loading anything
    model, meta = load_exported(args.run)
    label = label_index(args.label, meta.get("data", {}).get("class_names", []))
    extra = {
        k: v
        for k, v in (
            ("sampler", args.sampler),
            ("steps", args.steps),
            ("guidance_scale", args.guidance),
            ("eta", args.eta),
        )
        if v is not None
    }
    if not set(extra) <= set(model.sample_options):
        raise RadgenError(
            f"--sampler/--steps/--guidance/--eta apply to diffusion models; {model.config.name!r} is not one"
        )
    out = write_samples(
        model,
        args.out,
        n=args.n,
        label=label,
        seed=args.seed,
        batch_size=args.batch_size,
        overwrite=args.overwrite,
        **extra,
    )
    print(f"wrote {args.n} samples and grid.png to {out}")
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    """``radgen reconstruct``: reconstructions (from the posterior mean) of real images."""
    from radgen.sampling import write_reconstructions

    out = write_reconstructions(
        args.run, args.out, data=args.data, split=args.split, n=args.n, overwrite=args.overwrite
    )
    print(f"wrote {args.n} reconstructions (from mu) and grid.png to {out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``radgen evaluate``: the evaluation protocol on a run (``radgen.api.evaluate``); prints metrics.md."""
    from radgen.api import evaluate

    feats = tuple(f.strip() for f in args.features.split(",") if f.strip())
    folder, _ = evaluate(
        args.run,
        real=args.real,
        n=args.n,
        features=feats,
        seed=args.seed,
        inception_weights=args.inception_weights,
        reference=args.reference,
        allow_changed_data=args.allow_changed_data,
        extractor_seeds=args.extractor_seeds,
    )
    print((folder / runfolder.EVAL_MARKDOWN).read_text())
    print(f"written to {folder}")
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    """``radgen classify``: the judge alone on real data, over seeds (``radgen.api.classify``)."""
    from radgen.api import classify
    from radgen.config import to_dict

    data = _data_config(args, args.data)
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
    out, _ = classify(d, overrides=args.set, progress=not args.no_progress and sys.stderr.isatty())
    print((out / runfolder.CLASSIFY_SUMMARY).read_text())
    print(f"written to {out} (results.json, summary.md, confusion.png, roc.png)")
    return 0


def cmd_augment(args: argparse.Namespace) -> int:
    """``radgen augment``: the augmentation experiment from its YAML config (``radgen.api.augment``)."""
    from radgen.api import augment

    path = args.config_opt or args.config
    if not path:
        raise RadgenError(
            "give the experiment's YAML config: radgen augment --config FILE (see examples/augment_chest_xray.yaml)"
        )
    overrides = [*args.set, *(["allow_changed_data=true"] if args.allow_changed_data else [])]
    out, summary = augment(path, overrides=overrides, output_dir=args.output_dir, progress=not args.no_progress)
    print((out / runfolder.AUGMENT_SUMMARY).read_text())
    print(f"written to {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``radgen export``: a trained model in another tool's format (``radgen.api.export``)."""
    from radgen.api import export

    out = export(args.run, format=args.format, out=args.out)
    info = json.loads((out / "radgen.json").read_text())
    print(f"exported {args.run} to {out} ({args.format}); load it with {info['load_with']}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``radgen demo``: train, evaluate, augment and report end to end."""
    from radgen.experiments.demo import DemoSettings, run_demo

    out = run_demo(
        DemoSettings(
            data=args.data,
            data_dir=args.data_dir,
            path=args.path,
            quick=args.quick,
            seeds=args.seeds,
            output_dir=args.output_dir,
            size=args.size,
            budget=args.budget,
            device=args.device,
            judge=args.judge,
            extractor_seeds=args.extractor_seeds,
        ),
        progress=not args.no_progress,
    )
    summary = out / runfolder.DEMO_AUGMENT / runfolder.AUGMENT_SUMMARY
    if summary.is_file():
        print(summary.read_text())
    print(f"report    {out / runfolder.REPORT_HTML}  (self-contained; Markdown twin {runfolder.REPORT_MD})")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``radgen report``: report.md and report.html for one or more run/experiment folders."""
    from pathlib import Path

    from radgen.reports import write_report

    out = Path(args.out) if args.out else (Path(args.runs[0]) if len(args.runs) == 1 else None)
    if out is None:
        raise RadgenError("several directories: say where the report goes with --out DIR")
    html, md = write_report(args.runs, out)
    print(f"report    {html}  (Markdown twin {md})")
    return 0


def cmd_latent(args: argparse.Namespace) -> int:
    """``radgen latent``: a latent-space figure of a run (traversal, grid, scatter, t-SNE, interpolation or KL)."""
    from radgen.analysis.latent import latent_plot

    dims = [int(d) for d in args.dims.split(",")] if args.dims else None
    path, _ = latent_plot(
        args.run,
        args.plot,
        out=args.out,
        overwrite=args.overwrite,
        split=args.split,
        n=args.n,
        label=args.label,
        dims=dims,
        steps=args.steps,
        seed=args.seed,
        data=args.data,
    )
    print(f"wrote {path}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    """``radgen reproduce``: one design document's table, reproduced into a fresh folder."""
    from radgen.experiments.reproduce import run_reproduction

    out, result = run_reproduction(
        args.name,
        output_dir=args.output_dir,
        epochs=args.epochs,
        quick=args.quick,
        progress=not args.no_progress and sys.stderr.isatty(),
        include_all=args.all,
        overrides=tuple(args.set),
        inception_weights=args.inception_weights,
        data=args.data,
        versions=tuple(v.strip() for v in (args.versions or "").split(",") if v.strip()),
    )
    print(result["markdown"])
    print(f"written to {out} (table.md, table.html, results.json, figures/, runs/) in {result['seconds']:.0f} s")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    """``radgen release``: a synthetic dataset with its datasheet and audit (``radgen.api.release``)."""
    from radgen.api import release

    fractions = tuple(float(x) for x in args.splits.split(",")) if args.splits else (1.0, 0.0, 0.0)
    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    out, sheet = release(
        args.run,
        n=args.n,
        out=args.out,
        formats=formats,
        splits=fractions,
        augment=args.augment,
        force=args.force,
        overwrite=args.overwrite,
        seed=args.seed,
        name=args.name,
        progress=not args.no_progress,
        allow_changed_data=args.allow_changed_data,
    )
    audit = sheet["memorization_audit"]
    print(
        f"released {sheet['n']} synthetic images to {out} ({', '.join(sheet['formats'])}); memorization audit: "
        f"{audit['fraction_flagged']:.1%} flagged (nominal {audit['nominal_rate']:.0%}); see {out}/DATASHEET.md"
    )
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    """``radgen version``: radgen's, torch's and Python's versions."""
    import torch

    print(f"radgen {__version__} (torch {torch.__version__}, python {sys.version.split()[0]})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``radgen`` argument parser: one sub-command per ``cmd_*`` function."""
    parser = argparse.ArgumentParser(
        prog="radgen", description="Generative models of medical images, and whether their samples help a real task."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("--version", action="version", version=f"radgen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("list", help="list registered datasets, models, or shipped configs")
    p.add_argument("what", choices=("datasets", "models", "configs", "features", "classifiers"))
    p.add_argument("-v", "--verbose", action="store_true", help="also show default paths and options")
    p.set_defaults(func=cmd_list)

    data = sub.add_parser("data", help="dataset tools")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION")
    dsub.required = True
    p = dsub.add_parser("inspect", help="counts per split and class, imbalance, sizes, modes, bad files")
    p.add_argument(
        "name", nargs="?", help="registered dataset name (default: chest_xray_full_64); see `radgen list datasets`"
    )
    _add_data_options(p)
    p.add_argument("--grid", help="save a PNG grid of examples per class")
    p.add_argument("--per-class", type=int, default=8, help="images per class in --grid (default 8)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_data_inspect)

    p = sub.add_parser("train", help="train a model from a YAML config (a new run directory each time)")
    p.add_argument("config", nargs="?", help="YAML file or shipped config name (`radgen list configs`)")
    _add_set_option(p, "override a config value, e.g. --set train.epochs=5 (repeatable)")
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue a run from its last checkpoint (same step counter, optimizer state, RNG)",
    )
    p.add_argument("--output-dir", help="parent folder of the run directory (default: runs)")
    p.add_argument("--name", help="run-directory prefix (default: the model name)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_allow_changed_data(p, "--resume")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="sample a trained model to PNG files and a grid")
    p.add_argument("run", help="run directory or export folder")
    p.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--label", help="class name or index, for class-conditional models")
    p.add_argument("--out", required=True, help="output folder (must not exist unless --overwrite)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument(
        "--sampler",
        choices=("ddpm", "ddim", "dpmsolver++", "unipc"),
        help="diffusion models: ancestral DDPM over all T steps, DDIM, DPM-Solver++ or UniPC",
    )
    p.add_argument("--steps", type=int, help="diffusion models: DDIM / DPM-Solver++ / UniPC steps")
    p.add_argument(
        "--guidance", type=float, help="diffusion models: classifier-free guidance scale (0 = unconditional)"
    )
    p.add_argument("--eta", type=float, help="diffusion models: DDIM eta (0 deterministic, 1 = DDPM variance)")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("reconstruct", help="reconstruct real images through a trained VAE (decodes mu, not a sample)")
    p.add_argument("run", help="run directory")
    p.add_argument("--data", help="dataset name (default: the run's dataset)")
    p.add_argument(
        "--split", default="test", help="split to reconstruct (default test; falls back to val, then train)"
    )
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--out", required=True, help="output folder (must not exist unless --overwrite)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_reconstruct)

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
        default=1,
        help="trainings of each radgen-trained extractor; every FD is their mean with a two-level bootstrap "
        "interval (default 1; radgen demo uses 3)",
    )
    _add_allow_changed_data(p, "the evaluation")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "classify",
        help="train and test a classifier (judge) alone over seeds: test metrics mean +- std, confusion matrix, ROC",
    )
    p.add_argument("--data", default="pneumoniamnist", help="multiclass dataset (default pneumoniamnist)")
    _add_data_options(p)
    p.add_argument(
        "--classifier", default="resnet18", help="judge: resnet18 (default) or cnn001 (`radgen list classifiers`)"
    )
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    p.add_argument("--epochs", type=int, help="epochs (default: the judge's)")
    p.add_argument("--batch-size", type=int, help="batch size (default: the judge's)")
    p.add_argument("--lr", type=float, help="peak learning rate (default: the judge's)")
    p.add_argument("--seed0", type=int, help="first training seed (default 0)")
    p.add_argument("--max-train", type=int, help="stratified subsample of the training split (smoke runs)")
    _add_set_option(p, "override, e.g. --set train.augment=none --set classifier_options.width=16 (repeatable)")
    p.add_argument("--output-dir", help="parent folder of the output (default: runs)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_classify)

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
    _add_set_option(p, "override a config value, e.g. --set seeds=3 (repeatable)")
    p.add_argument("--output-dir", help="parent folder of the output (default: runs)")
    p.add_argument("--no-progress", action="store_true")
    _add_allow_changed_data(p, "the experiment")
    p.set_defaults(func=cmd_augment)

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
        help="demo: the 30-minute main job; full: 5x the generators' epochs, every arm, 10 seeds (hours on a CPU)",
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
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "report",
        help="build report.html (self-contained) and report.md from demo, run, augmentation or evaluation directories",
    )
    p.add_argument("runs", nargs="+", help="directories")
    p.add_argument("--out", help="output folder (default: the directory, when there is one)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "latent", help="latent-space plots of a trained run: traversal, grid (z=2), scatter, tsne, interpolate, kl"
    )
    p.add_argument("run", help="run directory")
    p.add_argument("--plot", required=True, choices=("traversal", "grid", "scatter", "tsne", "interpolate", "kl"))
    p.add_argument("--out", help="PNG path (default RUN/latent/PLOT.png)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--split", default="test", help="real images for scatter/tsne/interpolate/kl (default test)")
    p.add_argument("--data", help="dataset name (default: the run's dataset)")
    p.add_argument("--n", type=int, default=2000, help="real images for scatter/tsne/kl (default 2000)")
    p.add_argument("--label", help="class (name or index) for conditional models")
    p.add_argument("--dims", help="traversal: comma-separated latent dimensions (default the first 8)")
    p.add_argument("--steps", type=int, default=10, help="interpolation steps (default 10)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_latent)

    from radgen.experiments.reproduce import REPRODUCTIONS

    p = sub.add_parser(
        "reproduce", help="a design document's experiment as one command: " + ", ".join(REPRODUCTIONS.names())
    )
    p.add_argument("name", choices=REPRODUCTIONS.names())
    p.add_argument("--epochs", type=int, help="epochs per model (default: the document's; long on a CPU)")
    p.add_argument("--quick", action="store_true", help="smoke run: a few batches per epoch")
    p.add_argument("--all", action="store_true", help="also the settings the document did not tabulate")
    _add_set_option(p, "override for every training run, e.g. train.limit_train_batches=200 (repeatable)")
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
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser(
        "release",
        help="a shareable synthetic dataset (Kaggle folder layout + MedMNIST-style .npz, optionally DICOM) "
        "with DATASHEET.md: generator, real data, budget, evaluation, memorization audit",
    )
    p.add_argument("run", help="run directory (made by radgen train)")
    p.add_argument("--n", type=int, required=True, help="number of synthetic images")
    p.add_argument("--out", required=True, help="output folder (must not exist unless --overwrite)")
    p.add_argument("--format", default="png,npz", help="comma-separated: png, npz, dicom (default png,npz)")
    p.add_argument("--splits", help="train,val,test fractions of the release (default 1,0,0)")
    p.add_argument("--augment", metavar="AUGMENT_RUN", help="an augmentation run whose verdict goes in the datasheet")
    p.add_argument("--force", action="store_true", help="release even when the memorization audit refuses")
    p.add_argument("--name", help="dataset name (default synthetic-<run folder name>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    _add_allow_changed_data(p, "the release")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser(
        "export",
        help="a trained model in another tool's format: --format diffusers (a DDPM as a pipeline folder that "
        "diffusers' DDPMPipeline, or radgen's ClassConditionalDDPMPipeline, loads)",
    )
    p.add_argument("run", help="run directory or export folder")
    p.add_argument("--format", required=True, choices=["diffusers"], help="the target format")
    p.add_argument("--out", required=True, help="output folder (must not exist)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("version", help="print versions")
    p.set_defaults(func=cmd_version)
    return parser


def _add_allow_changed_data(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--allow-changed-data",
        action="store_true",
        help=f"go on with {what} although the run's training data changed since it was trained (recorded)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2), format="radgen: %(levelname)s: %(message)s")
    func: Callable[[argparse.Namespace], int] = args.func
    signals.install()
    try:
        return func(args)
    except RadgenError as exc:
        print(f"radgen: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except Terminated as exc:
        print(f"radgen: {one_line(exc)}", file=sys.stderr)
        return signals.exit_status(Terminated.signum)
    except KeyboardInterrupt as exc:
        print("radgen: interrupted" + (f"; {one_line(exc)}" if str(exc) else ""), file=sys.stderr)
        return signals.exit_status(signal.SIGINT)
    except SystemExit:  # a library's exit after a signal (Lightning: Ctrl-C -> sys.exit(1)): still non-zero
        if signals.received() is None:
            raise
        print(f"radgen: stopped by signal {signals.received()}", file=sys.stderr)
        return signals.exit_status(signals.received())
    except BrokenPipeError:  # output piped into `head` and closed early
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, RuntimeError) as exc:  # a write that failed outside radgen's atomic writers
        from radgen.errors import OutputError

        code = getattr(exc, "errno", None)
        if not (OutputError.is_disk_full(exc) or code in (errno.EACCES, errno.EPERM, errno.EROFS)):
            raise
        where = getattr(exc, "filename", None) or "."
        print(f"radgen: error: {one_line(OutputError.from_os(exc, where))}", file=sys.stderr)
        return 2
