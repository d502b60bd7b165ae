"""Red-team cases (issue 16, deliverable 3): settings that cannot work are refused when the config is read,
before any folder is made; a diverging loss stops the run like a NaN does."""

from __future__ import annotations

import math

import pytest
import torch

from radgen.cli import main
from radgen.errors import ConfigError
from radgen.models.base import ModelOutput, build_model
from radgen.training import load_run_config
from radgen.training.config import TrainConfig
from radgen.training.module import DIVERGE_FACTOR, DIVERGE_WARMUP, EngineModule, NonFiniteLossError


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epochs=-1", "train.epochs=-1 must be at least 1"),
        ("train.epochs=0", "train.epochs=0 must be at least 1"),
        ("train.batch_size=0", "train.batch_size=0 must be at least 1"),
        ("train.batch_size=-4", "train.batch_size=-4 must be at least 1"),
        ("train.lr=-0.001", "train.lr=-0.001 must be > 0"),
        ("train.lr=.nan", "train.lr=nan must be > 0"),
        ("train.lr_groups={model: 0}", "train.lr_groups.model=0.0 must be > 0"),
        ("train.strategy=bogus", "not a strategy; valid: auto, ddp"),
        ("train.devices=abc", "train.devices='abc' is not valid; valid: a count >= 1"),
        ("train.limit_train_batches=0", "a batch count >= 1 or a fraction"),
        ("train.betas=[0.9]", "two numbers in [0, 1)"),
        ("name=../x", "cannot be part of a file name"),
    ],
)
def test_unworkable_settings_are_refused_when_the_config_is_read(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[").replace(")", r"\)")):
        load_run_config("tiny", [override])


@pytest.mark.parametrize(
    ("model", "size", "valid"),
    [("lsgan", 29, "28 or 32"), ("wgan_gp", 29, "28 or 32"), ("gvae", 30, "28 or 32"), ("ddpm", 29, "24 or 32")],
)
def test_image_sizes_a_model_cannot_take_name_the_valid_choice(model, size, valid):
    with pytest.raises(ConfigError, match=f"set data.size to {valid}"):
        load_run_config("tiny", [f"model={{name: {model}}}", f"data.size={size}"])
    with pytest.raises(ConfigError, match=f"set data.size to {valid}"):  # the same check when the model is built
        build_model({"name": model}, image_size=size, channels=1, num_classes=2)


def test_cli_refuses_before_any_folder_is_made(tmp_path, capsys):
    for override in ("train.epochs=-1", "train.batch_size=0", "train.devices=abc"):
        code = main(["train", "tiny", "--output-dir", str(tmp_path / "runs"), "--set", override, "--no-progress"])
        assert code == 2
        err = capsys.readouterr().err
        assert err.startswith("radgen: error: train.") and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def _engine() -> EngineModule:
    model = build_model({"name": "vae", "latent_dim": 2, "hidden": [8]}, image_size=8, channels=1, num_classes=2)
    return EngineModule(model, TrainConfig())


def _feed(engine: EngineModule, values: list[float]) -> None:
    for v in values:
        engine._check_finite(ModelOutput(loss=torch.tensor(v), logs={"loss/total": torch.tensor(v)}), "model")


@pytest.mark.parametrize("device_every", [1, 10])  # the CPU's every-step check and an accelerator's batched one
def test_a_diverging_loss_stops_like_a_nan(device_every, monkeypatch):
    monkeypatch.setitem(EngineModule.FINITE_CHECK_EVERY, "cpu", device_every)
    engine = _engine()
    first = [500.0 + i for i in range(DIVERGE_WARMUP)]
    _feed(engine, first)
    engine._flush_finite_check()
    ref = sum(first) / len(first)
    assert engine.loss_reference["model"] == pytest.approx(ref, rel=1e-12)
    _feed(engine, [ref * DIVERGE_FACTOR * 0.99])  # below the bound: continues
    engine._flush_finite_check()
    with pytest.raises(NonFiniteLossError, match=r"loss/total diverged to 1e\+29 at step 0 .*above 1e\+06 x"):
        _feed(engine, [1e29])
        engine._flush_finite_check()


def test_losses_that_start_near_zero_stop_above_the_absolute_floor():
    engine = _engine()
    _feed(engine, [1e-3] * DIVERGE_WARMUP)  # a critic's loss near 0: the reference is floored at 1
    _feed(engine, [0.5e6])
    with pytest.raises(NonFiniteLossError, match="diverged"):
        _feed(engine, [1.5e6])


def test_nan_message_is_unchanged_in_form():
    engine = _engine()
    with pytest.raises(NonFiniteLossError, match=r"loss/total became nan at step 0 \(epoch 0, group 'model'\)"):
        _feed(engine, [math.nan])
