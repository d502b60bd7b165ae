"""``radgen release`` and ``radgen export``: a synthetic dataset to share, and a model in another tool's format."""

from __future__ import annotations

import argparse
import json

from radgen.cli.options import add_allow_changed_data, add_no_progress, call_api


def register_release(sub) -> None:
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
    add_no_progress(p)
    add_allow_changed_data(p, "the release")
    p.set_defaults(func=run_release)


def run_release(args: argparse.Namespace) -> int:
    """``radgen release``: a synthetic dataset with its datasheet and audit (``radgen.api.release``)."""
    from radgen.api import release

    fractions = tuple(float(x) for x in args.splits.split(",")) if args.splits else (1.0, 0.0, 0.0)
    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    out, sheet = call_api(release, args, run_dir=args.run, formats=formats, splits=fractions)
    audit = sheet["memorization_audit"]
    print(
        f"released {sheet['n']} synthetic images to {out} ({', '.join(sheet['formats'])}); memorization audit: "
        f"{audit['fraction_flagged']:.1%} flagged (nominal {audit['nominal_rate']:.0%}); see {out}/DATASHEET.md"
    )
    return 0


def register_export(sub) -> None:
    p = sub.add_parser(
        "export",
        help="a trained model in another tool's format: --format diffusers (a DDPM as a pipeline folder that "
        "diffusers' DDPMPipeline, or radgen's ClassConditionalDDPMPipeline, loads; a latent_diffusion model as "
        "unet/ + vae/ + scheduler/ that radgen's RadgenLatentPipeline loads)",
    )
    p.add_argument("run", help="run directory or export folder")
    p.add_argument("--format", required=True, choices=["diffusers"], help="the target format")
    p.add_argument("--out", required=True, help="output folder (must not exist)")
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    """``radgen export``: a trained model in another tool's format (``radgen.api.export``)."""
    from radgen.api import export

    out = call_api(export, args, run_dir=args.run)
    info = json.loads((out / "radgen.json").read_text())
    print(f"exported {args.run} to {out} ({args.format}); load it with {info['load_with']}")
    return 0
