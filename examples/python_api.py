"""radgen from Python: the same functions the CLI calls (`radgen train`, `radgen release`, ...).

    python examples/python_api.py [OUTPUT_FOLDER]

Trains the tiny MLP VAE on PneumoniaMNIST for one short epoch, samples it, and releases 64 synthetic images with
their datasheet. `radgen.evaluate(run.run_dir)` would add the evaluation protocol (it trains its feature
extractors once, so it takes a few minutes the first time).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import radgen


def main(out: Path) -> None:
    ds = radgen.load_dataset("pneumoniamnist", val_from_train=0.1, progress=False)
    print("splits", {s: len(ds[s]) for s in ds}, "classes", ds.class_names)

    run = radgen.train(
        "tiny",
        overrides=["train.epochs=1", "train.limit_train_batches=4", "train.sample_every=0"],
        output_dir=out / "runs",
        progress=False,
    )
    model = radgen.load(run.run_dir)
    x = model.sample(8)
    print("samples", tuple(x.shape), f"in [{float(x.min()):.2f}, {float(x.max()):.2f}]")

    folder, sheet = radgen.release(run.run_dir, n=64, out=out / "synthetic", progress=False)
    print(
        "released", sheet["n"], "images to", folder, "audit flagged", sheet["memorization_audit"]["fraction_flagged"]
    )


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
