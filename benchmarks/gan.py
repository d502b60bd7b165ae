"""DCGAN workload: radgen's LSGAN through its engine against a plain PyTorch loop written the recipe's way.

The peer is the training loop of the PyTorch DCGAN example (pytorch/examples, dcgan/main.py): per
batch, generate one fake batch with the generator's graph, step D on the real batch and the fake
batch detached, then step G on D(fake) with the same fake batch. It runs radgen's own DCGAN
networks (64 px, one channel, nz = 100, ngf = ndf = 64: 6.34 M parameters, design document 003's
topology), the least-squares losses of radgen's LSGAN and the engine's optimizers (Adam 2e-4,
betas (0.5, 0.999), torch's fused kernel as the engine builds it), on the same loader and batch
(64 random 64 px images per step). radgen is timed through ``radgen.training.profile``'s engine
timing, with ``radgen train``'s callbacks; ``per_group`` is radgen with ``model.fake_batch:
per_group`` (each group's step generates its own fakes: what radgen did before issue 20).

Runs alternate (plain, radgen, radgen per_group) ``--repeats`` times; the table gives each median
and the median of the paired ratios (radgen img/s over the plain loop's img/s in the same repeat).
Target: radgen >= 0.97x the plain loop.

    .venv/bin/python benchmarks/gan.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

from common import save  # noqa: F401  (also puts src/ on the path)

SIZE, BATCH, NZ, WIDTH = 64, 64, 100, 64


def recipe_step_times(images, *, steps: int, warmup: int) -> list[float]:
    """Seconds per iteration of the PyTorch DCGAN recipe's loop on radgen's networks."""
    import torch

    from radgen.losses import ls_discriminator, ls_generator
    from radgen.nn.gan import DCGANDiscriminator, DCGANGenerator, to_signed
    from radgen.training.profile import cycle_batches, timing_loader

    net_g = DCGANGenerator(NZ, SIZE, 1, base=WIDTH)
    net_d = DCGANDiscriminator(1, SIZE, base=WIDTH, norm="batch")
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)
    times, last = [], None
    for i, (x, _) in enumerate(cycle_batches(timing_loader(images, BATCH), steps + warmup)):
        real = to_signed(x)
        fake = net_g(torch.randn(real.shape[0], NZ))  # (1) one fake batch, with G's graph
        opt_d.zero_grad(set_to_none=True)  # (2) D: real vs the fake batch detached
        loss_d = ls_discriminator(net_d(real), net_d(fake.detach()))
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)  # (3) G: the same fake batch through the updated D
        loss_g = ls_generator(net_d(fake))
        loss_g.backward()
        opt_g.step()
        now = time.perf_counter()
        if last is not None and i >= warmup:
            times.append(now - last)
        last = now
    return times


def radgen_step_times(images, *, steps: int, warmup: int, fake_batch: str) -> list[float]:
    from radgen.models.base import build_model
    from radgen.training.profile import engine_step_times

    model = build_model(
        {"name": "lsgan", "latent_dim": NZ, "base_width": WIDTH, "fake_batch": fake_batch},
        image_size=SIZE,
        channels=1,
        num_classes=2,
    )
    return engine_step_times(
        model, images, batch_size=BATCH, steps=steps, warmup=warmup, lr=2e-4, betas=[0.5, 0.999]
    ).times


def main() -> None:
    import logging

    import torch

    from radgen.training.profile import random_images

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.ERROR)
    images = random_images((args.steps + args.warmup + 4) * BATCH, image_size=SIZE)
    runs: dict[str, list[float]] = {"plain": [], "radgen": [], "per_group": []}
    for r in range(args.repeats):
        torch.manual_seed(r)
        runs["plain"].append(statistics.median(recipe_step_times(images, steps=args.steps, warmup=args.warmup)))
        for kind, fake_batch in (("radgen", "shared"), ("per_group", "per_group")):
            torch.manual_seed(r)
            t = radgen_step_times(images, steps=args.steps, warmup=args.warmup, fake_batch=fake_batch)
            runs[kind].append(statistics.median(t))
        print({k: round(v[-1], 4) for k, v in runs.items()}, flush=True)
    from radgen.nn.gan import DCGANDiscriminator, DCGANGenerator

    params = sum(
        p.numel()
        for m in (DCGANGenerator(NZ, SIZE, 1, base=WIDTH), DCGANDiscriminator(1, SIZE, base=WIDTH))
        for p in m.parameters()
    )
    rows = []
    for kind, label in (
        ("plain", "plain PyTorch, DCGAN recipe"),
        ("radgen", "radgen lsgan (engine)"),
        ("per_group", "radgen lsgan, fake_batch=per_group"),
    ):
        ratios = [p / t for p, t in zip(runs["plain"], runs[kind])]  # (plain s/step) / (this s/step) = img/s ratio
        rows.append(
            {
                "loop": label,
                "img_s": round(BATCH / statistics.median(runs[kind]), 1),
                "ms_per_step": round(1000 * statistics.median(runs[kind]), 1),
                "vs_plain": f"{statistics.median(ratios):.3f}x (paired runs: {min(ratios):.3f}-{max(ratios):.3f})",
                "repeats_s": [round(v, 4) for v in runs[kind]],
            }
        )
    notes = (
        f"DCGAN workload: {SIZE} px, 1 channel, nz={NZ}, ngf=ndf={WIDTH} ({params / 1e6:.2f} M parameters), "
        f"batch {BATCH}, one D and one G step per batch, least-squares losses, fused Adam 2e-4; median over "
        f"{args.steps} timed steps after {args.warmup} warm-up steps per run, {args.repeats} alternating repeats; "
        "vs_plain is the median of the paired img/s ratios (the range in brackets). "
        "Target: radgen lsgan >= 0.97x the plain loop."
    )
    print(
        save(
            "gan",
            rows,
            ["loop", "img_s", "ms_per_step", "vs_plain"],
            "DCGAN workload: radgen LSGAN vs the PyTorch DCGAN recipe",
            notes,
        )
    )


if __name__ == "__main__":
    main()
