"""Differentially private training (train.privacy): the epsilon radgen records is Opacus's, the CVAE and the
GAN's discriminator train privately, and settings that cannot give a correct guarantee are refused up front."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("opacus")

from opacus.accountants import PRVAccountant, RDPAccountant  # noqa: E402
from opacus.accountants.utils import get_noise_multiplier  # noqa: E402

from radgen.errors import ConfigError  # noqa: E402
from radgen.training import load_run_config, train  # noqa: E402
from radgen.training.privacy import epsilon_spent  # noqa: E402

PRIVACY = "train.privacy={epsilon: 8, delta: 1.0e-5, max_grad_norm: 1.0}"
CVAE = "model={name: cvae, latent_dim: 4, widths: [8, 16], conditional: one_hot}"
GAN = "model={name: lsgan, latent_dim: 8, base_width: 8, discriminator_norm: layer}"


def tiny(tmp_path, *overrides: str):
    base = [
        "train.progress_bar=false",
        f"output_dir={tmp_path}",
        "train.epochs=1",
        "train.batch_size=256",
        "train.limit_train_batches=3",
        "train.limit_val_batches=1",
        "train.sample_every=0",
        "train.checkpoint_every=0",
        "train.sample_count=4",
    ]
    return load_run_config("tiny", [*base, *overrides])


@pytest.fixture(scope="module")
def dp_cvae(tmp_path_factory):
    """A tiny CVAE trained 3 DP-SGD steps on PneumoniaMNIST (seconds)."""
    return train(tiny(tmp_path_factory.mktemp("dp"), CVAE, PRIVACY), progress=False)


def test_recorded_epsilon_is_opacus_accountants(dp_cvae):
    info = json.loads((dp_cvae.run_dir / "run.json").read_text())["privacy"]
    summary = json.loads((dp_cvae.run_dir / "metrics.json").read_text())["privacy"]
    assert info == summary and info["steps_taken"] == info["steps_planned"] == 3
    n_train = json.loads((dp_cvae.run_dir / "run.json").read_text())["data"]["splits"]["train"]
    q = 1 / -(-n_train // 256)  # 1 / ceil(N / B), as DPDataLoader.from_data_loader sets it
    assert info["sample_rate"] == pytest.approx(q, rel=1e-12)
    sigma = get_noise_multiplier(target_epsilon=8, target_delta=1e-5, sample_rate=q, steps=3, accountant="prv")
    assert info["noise_multiplier"] == pytest.approx(sigma, rel=1e-12)
    acc = PRVAccountant()
    for _ in range(3):
        acc.step(noise_multiplier=sigma, sample_rate=q)
    assert info["epsilon_spent"] == pytest.approx(acc.get_epsilon(1e-5), rel=1e-9)
    assert info["epsilon_spent"] <= 8.0 + 0.1  # get_noise_multiplier's tolerance
    assert info["accountant"] == "prv" and info["delta"] == 1e-5 and info["private_groups"] == ["model"]


@pytest.mark.parametrize(("sigma", "q", "steps"), [(1.0, 0.01, 100), (0.7, 0.05, 40), (2.0, 0.002, 1000)])
def test_epsilon_spent_equals_opacus_for_the_same_steps(sigma, q, steps):
    for name, cls in (("rdp", RDPAccountant), ("prv", PRVAccountant)):
        acc = cls()
        for _ in range(steps):
            acc.step(noise_multiplier=sigma, sample_rate=q)
        assert epsilon_spent(sigma, q, steps, 1e-5, name) == pytest.approx(acc.get_epsilon(1e-5), rel=1e-9)


def test_dp_cvae_trains_and_exports(dp_cvae):
    from radgen.models import load_exported

    model, _ = load_exported(dp_cvae.run_dir)
    x = model.sample(4, labels=torch.tensor([0, 1, 0, 1]), generator=torch.Generator().manual_seed(0))
    assert x.shape == (4, 1, 28, 28) and torch.isfinite(x).all()
    rows = [json.loads(line) for line in (dp_cvae.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["train_batches"] == 3  # Poisson batches: their sizes vary around 256
    assert rows[-1]["train_images"] != 3 * 256


def test_only_the_gans_discriminator_is_private(tmp_path):
    r = train(tiny(tmp_path, GAN, PRIVACY), progress=False)
    p = json.loads((r.run_dir / "run.json").read_text())["privacy"]
    assert p["private_groups"] == ["discriminator"] and p["public_groups"] == ["generator"]
    assert p["steps_taken"] == 3 and 0 < p["epsilon_spent"] <= 8.1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model={name: lsgan, latent_dim: 8, base_width: 8}"], "BatchNorm.*discriminator_norm=layer"),
        (["model={name: wgan_gp, latent_dim: 8, base_width: 8}"], "gradient penalty"),
        ([CVAE, "train.gradient_clip=1.0"], "gradient_clip"),
        ([CVAE, "train.devices=2"], "one device"),
        ([CVAE, "train.strategy=ddp"], "one device"),
        ([CVAE, "train.privacy={epsilon: 8, delta: 0.01}"], "delta=0.01 is not below"),
        ([CVAE, "train.privacy={epsilon: -1}"], "epsilon=-1"),
        (["model={name: vae, latent_dim: 4, free_bits: 0.1}"], "free_bits"),
    ],
)
def test_settings_that_break_the_guarantee_are_refused_before_any_folder(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message) as exc:
        cfg = tiny(tmp_path, PRIVACY, *overrides) if "privacy" not in overrides[-1] else tiny(tmp_path, *overrides)
        train(cfg, progress=False)
    assert "\n" not in str(exc.value)
    assert not any(tmp_path.iterdir())  # nothing written


def test_resuming_a_private_run_is_refused(dp_cvae):
    from radgen.training.run import resume_config

    with pytest.raises(ConfigError, match="accountant"):
        train(resume_config(dp_cvae.run_dir), resume=dp_cvae.run_dir, progress=False)


def test_the_ddpm_unet_trains_privately(tmp_path):
    ddpm = (
        "model={name: ddpm, block_out_channels: [8, 16], attention_resolutions: [], norm_groups: 8, "
        "layers_per_block: 1, timesteps: 20, preview_steps: 2}"
    )
    r = train(tiny(tmp_path, ddpm, PRIVACY, "train.batch_size=32", "train.limit_train_batches=2"), progress=False)
    p = json.loads((r.run_dir / "run.json").read_text())["privacy"]
    assert p["private_groups"] == ["model"] and p["steps_taken"] == 2 and 0 < p["epsilon_spent"] <= 8.1


def test_evaluate_reports_the_epsilon_spent(dp_cvae):
    from radgen.api import evaluate

    folder, m = evaluate(
        dp_cvae.run_dir, n=60, features=("radgen-cnn001",), bootstrap=2, extractor_epochs=1, extractor_seeds=1
    )
    info = json.loads((dp_cvae.run_dir / "run.json").read_text())["privacy"]
    assert m["training_privacy"]["epsilon_spent"] == info["epsilon_spent"]
    assert "Trained with DP-SGD" in (folder / "metrics.md").read_text()


def test_the_report_states_the_epsilon_spent(dp_cvae, tmp_path):
    from radgen.reports import write_report

    info = json.loads((dp_cvae.run_dir / "run.json").read_text())["privacy"]
    write_report([dp_cvae.run_dir], tmp_path / "report")
    md = next((tmp_path / "report").glob("*.md")).read_text()
    assert f"epsilon {info['epsilon_spent']:.3g} spent at delta 1e-05 (PRV accountant" in md
