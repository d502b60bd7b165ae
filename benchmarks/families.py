"""Training and sampling throughput of every model family, the engine against a plain loop, and peers.

For each family at its design document's resolution (batch sizes a 2-core CPU can time):
  plain img/s   the same model, loader and batch in a hand-written PyTorch loop (benchmarks/plain_loop.py)
  engine img/s  radgen's Lightning engine with radgen train's callbacks; overhead = engine / plain step time - 1
                (median over paired repeats)
  fixed cost    the engine's cost per step measured on a negligible model (microseconds), over the family's
                plain step time: the overhead without this machine's drift
  peer img/s    pythae's trainer on the same encoder/decoder networks, where a peer exists (MLP VAE, ResNet VAE)
  loader share  time to fetch a batch / plain step time
  sample img/s  radgen.sampling.generate, batch 64
  peak RSS      the family's own subprocess (VmHWM), MiB

Plain and engine are timed in alternation, ``--repeats`` times, and the median of the per-repeat
medians is reported: this 2-core machine's timings drift by +-15 % from minute to minute.

    .venv/bin/python benchmarks/families.py            # all families (about 10 minutes)
    .venv/bin/python benchmarks/families.py --only vae resnet_vae
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

from common import save  # noqa: F401  (also puts src/ on the path)

# family: (model options, image size, channels, batch, timed steps, design document)
FAMILIES: dict[str, tuple[dict, int, int, int, int, str]] = {
    "vae": ({"latent_dim": 64}, 28, 1, 256, 40, "002"),
    "resnet_vae": ({"latent_dim": 64}, 64, 3, 16, 6, "000"),
    "cvae": ({"latent_dim": 64, "conditional": "one_hot"}, 64, 1, 64, 10, "001"),
    "gmvae": ({"latent_dim": 32, "components": 10}, 64, 1, 64, 10, "003"),
    "lsgan": ({"conditional": "none"}, 64, 1, 64, 10, "003"),
    "wgan_gp": ({"base_width": 32}, 28, 1, 32, 20, "004"),
    "vae_gan": ({"latent_dim": 128, "base_width": 32}, 28, 1, 32, 10, "004"),
    "gvae": ({"latent_dim": 1000, "base_width": 32}, 28, 1, 32, 10, "004"),
    "ddpm": (
        {
            "block_out_channels": [8, 16, 32],
            "attention_resolutions": [],
            "layers_per_block": 1,
            "norm_groups": 8,
            "timesteps": 200,
            "sampler": "ddim",
            "sample_steps": 16,
        },
        64,
        1,
        16,
        6,
        "001 (demo UNet, DDIM-16)",
    ),
}
PEERS = {"vae", "resnet_vae"}


def _pythae_vae(model, image_size: int, channels: int, recon: str):
    """pythae's VAE wrapped around radgen's own encoder and decoder networks (the same architecture)."""
    import torch
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    class Enc(BaseEncoder):
        def __init__(self):
            BaseEncoder.__init__(self)
            self.m = model

        def forward(self, x):
            mu, logvar = self.m.encode(x, None)
            return ModelOutput(embedding=mu, log_covariance=logvar)

    class Dec(BaseDecoder):
        def __init__(self):
            BaseDecoder.__init__(self)
            self.m = model

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.m.decode_logits(z, None)))

    cfg = VAEConfig(
        input_dim=(channels, image_size, image_size),
        latent_dim=int(model.config.latent_dim),
        reconstruction_loss=recon,
    )
    return VAE(cfg, encoder=Enc(), decoder=Dec())


def pythae_step_times(model, images, *, batch_size: int, steps: int, warmup: int, recon: str) -> list[float]:
    """pythae's own BaseTrainer.train_step over ``steps + warmup`` batches; per-step times from its step-end
    callback.
    """
    import tempfile

    from pythae.data.datasets import BaseDataset
    from pythae.trainers import BaseTrainer, BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    times: list[float] = []

    class Clock(TrainingCallback):
        last = None

        def on_train_step_end(self, training_config, **kwargs):
            now = time.perf_counter()
            if self.last is not None:
                times.append(now - self.last)
            self.last = now

    n = (steps + warmup + 1) * batch_size
    peer = _pythae_vae(model, images.image_size[0], model.config.channels, recon)
    data = BaseDataset(
        images.images[:n].expand(-1, int(model.config.channels), -1, -1).contiguous(), images.labels[:n]
    )
    with tempfile.TemporaryDirectory() as tmp:
        cfg = BaseTrainerConfig(
            output_dir=tmp, num_epochs=1, per_device_train_batch_size=batch_size, learning_rate=1e-4, no_cuda=True
        )
        trainer = BaseTrainer(peer, data, training_config=cfg, callbacks=[Clock()])
        trainer.prepare_training()  # optimizer, output folder, callbacks: what its train() does before the epochs
        trainer.train_step(0)
    return times[warmup:]


def peak_rss_mib() -> float:
    """This process's peak resident memory. Linux's VmHWM belongs to the process image, so it starts
    afresh at exec; ru_maxrss would also carry the parent's peak across fork + exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(family: str, repeats: int) -> dict:
    import logging

    import torch

    from plain_loop import loader_batch_times, plain_step_times, sampling_time
    from radgen.models.base import build_model, model_config_from_dict
    from radgen.training.profile import engine_step_times, random_images

    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.ERROR)
    opts, size, ch, batch, steps, doc = FAMILIES[family]

    def make():
        return build_model(
            model_config_from_dict({"name": family, **opts}), image_size=size, channels=ch, num_classes=2
        )

    images = random_images((steps + 4) * batch, image_size=size, channels=ch)
    plain, engine, peer = [], [], []
    for _ in range(repeats):
        torch.manual_seed(0)
        plain.append(plain_step_times(make(), images, batch_size=batch, steps=steps, warmup=2).median_s)
        torch.manual_seed(0)
        engine.append(engine_step_times(make(), images, batch_size=batch, steps=steps, warmup=2).median_s)
        if family in PEERS:
            torch.manual_seed(0)
            peer.append(
                statistics.median(
                    pythae_step_times(
                        make(),
                        images,
                        batch_size=batch,
                        steps=steps,
                        warmup=2,
                        recon="bce" if family == "vae" else "mse",
                    )
                )
            )
    p, e = statistics.median(plain), statistics.median(engine)
    paired = (
        statistics.median(ei / pi for ei, pi in zip(engine, plain)) - 1
    )  # each repeat's engine run against the plain run beside it
    loader = loader_batch_times(images, batch_size=batch).median_s
    model = make()
    n_sample = 64 if family != "ddpm" else 16
    sample = sampling_time(model, n_sample, repeats=2)
    row = {
        "family": family,
        "document": doc,
        "px": f"{size} x{ch}",
        "batch": batch,
        "parameters": sum(q.numel() for q in model.parameters()),
        "plain_img_s": batch / p,
        "engine_img_s": batch / e,
        "engine_overhead": paired,
        "loader_share": loader / p,
        "peer": "pythae 0.1.2" if peer else None,
        "peer_img_s": batch / statistics.median(peer) if peer else None,
        "sample_img_s": sample.images_per_s,
        "repeats": {"plain_s": plain, "engine_s": engine, "peer_s": peer},
    }
    row["peak_rss_mib"] = peak_rss_mib()
    return row


def fixed_cost(repeats: int) -> dict:
    """The engine's fixed cost per step, in seconds: engine minus plain step time on a model whose
    compute is negligible (MLP VAE, 8 px, hidden 8, batch 4; 300 timed steps per run), so this
    machine's drift (+-15 % of a step) is a few microseconds, not the milliseconds of a real step."""
    import logging

    import torch

    from plain_loop import plain_step_times
    from radgen.models.base import build_model, model_config_from_dict
    from radgen.training.profile import engine_step_times, random_images

    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.ERROR)

    def make():
        cfg = model_config_from_dict({"name": "vae", "latent_dim": 2, "hidden": [8]})
        return build_model(cfg, image_size=8, channels=1, num_classes=2)

    images = random_images(4 * 330, image_size=8)
    plain, engine = [], []
    for _ in range(max(9, 3 * repeats)):
        torch.manual_seed(0)
        plain.append(plain_step_times(make(), images, batch_size=4, steps=300, warmup=20).median_s)
        torch.manual_seed(0)
        engine.append(engine_step_times(make(), images, batch_size=4, steps=300, warmup=20).median_s)
    diffs = sorted(e - p for e, p in zip(engine, plain))
    q = statistics.quantiles(diffs, n=4)
    return {"fixed_cost_s": statistics.median(diffs), "iqr_s": [q[0], q[2]], "plain_s": plain, "engine_s": engine}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", choices=list(FAMILIES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--one", choices=[*FAMILIES, "fixed"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(fixed_cost(args.repeats) if args.one == "fixed" else one(args.one, args.repeats)))
        return

    def run(what: str) -> dict:
        print(f"== {what}", file=sys.stderr, flush=True)
        proc = subprocess.run(
            [sys.executable, __file__, "--one", what, "--repeats", str(args.repeats)], capture_output=True, text=True
        )
        if proc.returncode:
            raise SystemExit(f"{what} failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    fixed = run("fixed")
    rows = []
    for family in args.only or list(FAMILIES):
        rows.append(run(family))
    table = []
    for r in rows:
        peer = f"{r['peer_img_s']:.0f} ({r['peer']})" if r["peer"] else "—"
        vs_peer = f"{r['engine_img_s'] / r['peer_img_s']:.2f}x" if r["peer"] else "—"
        table.append(
            {
                "family": r["family"],
                "doc": r["document"],
                "px": r["px"],
                "batch": r["batch"],
                "parameters": f"{r['parameters']:,}",
                "plain img/s": f"{r['plain_img_s']:.0f}",
                "radgen img/s": f"{r['engine_img_s']:.0f}",
                "engine overhead": f"{100 * r['engine_overhead']:+.1f} %",
                "fixed cost / step": f"{100 * fixed['fixed_cost_s'] * r['plain_img_s'] / r['batch']:.1f} %",
                "peer img/s": peer,
                "radgen / peer": vs_peer,
                "loader / step": f"{100 * r['loader_share']:.1f} %",
                "sample img/s": f"{r['sample_img_s']:.1f}",
                "peak RSS MiB": f"{r['peak_rss_mib']:.0f}",
            }
        )
    cols = list(table[0])
    notes = (
        f"Engine fixed cost per step: {fixed['fixed_cost_s'] * 1e6:.0f} us, interquartile range "
        f"{fixed['iqr_s'][0] * 1e6:.0f}-{fixed['iqr_s'][1] * 1e6:.0f} us "
        f"(engine minus plain step on a negligible model, {len(fixed['plain_s'])} paired runs of 300 steps). "
        "'fixed cost / step' is it over each family's plain step time; 'engine overhead' is the "
        "median of paired engine/plain runs of the family itself, "
        "which carries this machine's drift (+-15 % of a step)."
    )
    print(
        save(
            "families",
            table,
            cols,
            "Training and sampling per family on this CPU: radgen's engine vs a plain PyTorch loop "
            "vs pythae (same networks, same batch)",
            notes,
        )
    )
    from common import RESULTS
    from radgen.io import write_json

    write_json(RESULTS / "families_raw.json", {"fixed_cost": fixed, "families": rows})


if __name__ == "__main__":
    main()
