"""The copy audit (``radgen.metrics.copy_audit``) against a training set of CXR14's size: generated images audited
per second against every one of N training images (default 112,000, 64 px), and the one-off cost of preparing
the training side (grey, high-pass, centre crops pooled to the coarse side). Target: 1,000 generated images
against 112,000 training images within a stage budget (under 10 minutes on this 2-core CPU).

The pixels are random (uint8, as a memory-mapped cache holds them): the search's cost does not depend on what
the images show. ``--n-train`` and ``--n-gen`` change the sizes; ``--device cuda`` runs it on a GPU.
"""

from __future__ import annotations

import argparse
import time

import torch

from common import save
from radgen.metrics.copy_audit import Geometry, copy_scores


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-train", type=int, default=112_000)
    ap.add_argument("--n-gen", type=int, default=1000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    train = torch.randint(0, 256, (args.n_train, 1, args.size, args.size), dtype=torch.uint8, generator=g)
    gen = torch.rand(args.n_gen, 1, args.size, args.size, generator=g)
    geo = Geometry.for_size(args.size)
    cache: dict = {}
    t0 = time.perf_counter()
    copy_scores(gen[:1], train, device=args.device, _train_cache=cache)  # prepares the training side once
    prep = time.perf_counter() - t0
    t0 = time.perf_counter()
    copy_scores(gen, train, device=args.device, _train_cache=cache)
    search = time.perf_counter() - t0
    rows = [
        {
            "training images": f"{args.n_train:,}",
            "generated images": f"{args.n_gen:,}",
            "px": args.size,
            "device": args.device,
            "prepare training side (s)": f"{prep:.1f}",
            "search (s)": f"{search:.1f}",
            "generated images / s": f"{args.n_gen / search:.1f}",
            "image pairs / s (millions)": f"{args.n_gen * args.n_train / search / 1e6:.0f}",
        }
    ]
    n_var = 2 * len(range(-geo.shift, geo.shift + 1, geo.coarse_step)) ** 2
    notes = (
        f"Geometry: working side {geo.work} px, shifts up to {geo.shift} px, centre crop {geo.crop} px, coarse side "
        f"{geo.coarse} px (coarse shift step {geo.coarse_step} px: {n_var} variants of each generated image against "
        "every training image), 32 candidates re-scored exactly at every shift. A release audits its held-out "
        "split as well (the same cost per image). Measured while other jobs shared the 2 cores."
    )
    print(
        save(
            "copy_audit", rows, list(rows[0]), "Copy audit: every generated image against every training image", notes
        )
    )


if __name__ == "__main__":
    main()
