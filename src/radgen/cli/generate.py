"""``radgen sample``, ``radgen reconstruct`` and ``radgen latent``: images and figures from a trained run."""

from __future__ import annotations

import argparse

from radgen.cli.options import call_api


def register_sample(sub) -> None:
    p = sub.add_parser("sample", help="sample a trained model to PNG files and a grid")
    p.add_argument("run", help="run directory or export folder")
    p.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--label", help="class name (any case) or index, for class-conditional models")
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
    p.set_defaults(func=run_sample)


def run_sample(args: argparse.Namespace) -> int:
    """``radgen sample`` (``radgen.api.sample``)."""
    from radgen.api import sample

    out = call_api(sample, args, run_dir=args.run)
    print(f"wrote {args.n} samples and grid.png to {out}")
    return 0


def register_reconstruct(sub) -> None:
    p = sub.add_parser("reconstruct", help="reconstruct real images through a trained VAE (decodes mu, not a sample)")
    p.add_argument("run", help="run directory")
    p.add_argument("--data", help="dataset name (default: the run's dataset)")
    p.add_argument(
        "--split", default="test", help="split to reconstruct (default test; falls back to val, then train)"
    )
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--out", required=True, help="output folder (must not exist unless --overwrite)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=run_reconstruct)


def run_reconstruct(args: argparse.Namespace) -> int:
    """``radgen reconstruct`` (``radgen.api.reconstruct``)."""
    from radgen.api import reconstruct

    out = call_api(reconstruct, args, run_dir=args.run)
    print(f"wrote {args.n} reconstructions (from mu) and grid.png to {out}")
    return 0


def register_latent(sub) -> None:
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
    p.set_defaults(func=run_latent)


def run_latent(args: argparse.Namespace) -> int:
    """``radgen latent`` (``radgen.api.latent``)."""
    from radgen.api import latent

    dims = [int(d) for d in args.dims.split(",")] if args.dims else None
    path, _ = call_api(latent, args, run_dir=args.run, dims=dims)
    print(f"wrote {path}")
    return 0
