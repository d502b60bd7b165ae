"""Every long stage shows progress in the CLI (issue 35, deliverable 4): off a terminal (a log, pytest's capture,
a notebook), the augmentation stage prints a line per synthetic pool and per arm's classifier fits, and the
evaluation a line per step; with --no-progress, none of them."""

from __future__ import annotations

import re

import pytest
import torch
import yaml

from radgen.cli import main
from radgen.models import build_model
from radgen.models.export import save_exported
from radgen.training import load_run_config, train


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    """An (untrained) class-conditional VAE for 28 px PneumoniaMNIST, exported: enough to draw a pool."""
    torch.manual_seed(0)
    model = build_model(
        {"name": "cvae", "widths": [8, 16, 32], "latent_dim": 4}, image_size=28, channels=1, num_classes=2
    )
    folder = tmp_path_factory.mktemp("gen") / "export"
    return save_exported(
        model, folder, extra={"data": {"name": "pneumoniamnist", "class_names": ["normal", "pneumonia"]}}
    )


def _augment_config(tmp_path, generator) -> str:
    cfg = {
        "data": {"name": "pneumoniamnist", "val_from_train": 0.1},
        "classifier": "cnn001",
        "train": {"epochs": 1, "batch_size": 64},
        "generators": {"cvae": str(generator)},
        "arms": ["real", "synthetic"],
        "seeds": 2,
        "max_train": 200,
        "trial": {"sequential": False},
        "output_dir": str(tmp_path),
    }
    path = tmp_path / "augment.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_augment_prints_a_line_per_pool_and_per_arm(data_dir, tmp_path, generator, capsys):
    assert main(["augment", "--config", _augment_config(tmp_path, generator)]) == 0
    err = capsys.readouterr().err
    pools = re.findall(r"^radgen: synthetic pools \[(\d)/(\d)\] sampling (\d+) images from cvae", err, re.M)
    assert [p[:2] for p in pools] == [("1", "1")] and int(pools[0][2]) > 0
    arms = re.findall(r"^radgen: arms, seeds 0-1 \[(\d)/2\] (\S+): 2 classifier fits \(\+\d+ s\)$", err, re.M)
    assert arms == [("1", "real"), ("2", "+cvae")]


def test_augment_with_no_progress_prints_no_step_lines(data_dir, tmp_path, generator, capsys):
    assert main(["augment", "--config", _augment_config(tmp_path, generator), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "synthetic pools [" not in err and "arms, seeds" not in err


def test_evaluate_prints_a_line_per_step(data_dir, tmp_path, capsys):
    r = train(
        load_run_config(
            "tiny",
            ["train.progress_bar=false", f"output_dir={tmp_path}", "train.epochs=1", "train.limit_train_batches=5"],
        )
    )
    assert (
        main(["evaluate", str(r.run_dir), "--n", "60", "--features", "radgen-cnn001", "--extractor-seeds", "1"]) == 0
    )
    err = capsys.readouterr().err
    steps = re.findall(rf"^radgen: evaluate {re.escape(r.run_dir.name)} \[(\d)/(\d)\] (.+) \(\+\d+ s\)$", err, re.M)
    # real sets, sampling, pixels, one extractor, model-based privacy, reconstruction (a VAE encodes): 6 steps
    assert [(k, n) for k, n, _ in steps] == [(str(k), "6") for k in range(1, 7)]
    assert [t for *_, t in steps][1] == "sampling 60 images" and steps[3][2] == "features: radgen-cnn001"
    assert (
        main(
            [
                "evaluate",
                str(r.run_dir),
                "--n",
                "60",
                "--features",
                "radgen-cnn001",
                "--no-progress",
                "--extractor-seeds",
                "1",
            ]
        )
        == 0
    )
    assert "radgen: evaluate " not in capsys.readouterr().err
