"""The KL autoencoder (shapes, KL against its closed form, the latent scale, the discriminator warm-up)
and the latent diffusion model (cached = on-the-fly latents, overfitting, the two-stage export)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from radgen.errors import ConfigError, MissingDataError
from radgen.models import build_model, load_exported, save_exported

TINY_AE = {"block_out_channels": [8, 8, 8], "norm_groups": 4, "latent_channels": 2, "mid_block": "resnet"}


def tiny_ae(size=28, **over):
    torch.manual_seed(0)
    return build_model({"name": "autoencoder_kl", **TINY_AE, **over}, image_size=size, channels=1, num_classes=2)


def tiny_ldm(**over):
    torch.manual_seed(0)
    cfg = {
        "name": "latent_diffusion",
        "block_out_channels": [16],
        "norm_groups": 8,
        "layers_per_block": 1,
        "attention_resolutions": [],
        "autoencoder_config": TINY_AE,
        "sample_steps": 3,
        **over,
    }
    return build_model(cfg, image_size=28, channels=1, num_classes=2)


def images(n=6, size=28, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, generator=g), torch.tensor([0, 1] * (n // 2))


@pytest.mark.parametrize("downsample,widths", [(4, [8, 8, 8]), (8, [8, 8, 8, 8])])
def test_autoencoder_shapes_and_round_trip(downsample, widths):
    ae = tiny_ae(64, downsample=downsample, block_out_channels=widths, latent_channels=3).eval()
    x, _ = images(2, 64)
    mu, logvar = ae.encode(x)
    assert mu.shape == logvar.shape == (2, 3, 64 // downsample, 64 // downsample) == (2, *ae.latent_shape)
    rec = ae.reconstruct(x)
    assert rec.shape == x.shape and 0 <= float(rec.min()) <= float(rec.max()) <= 1
    torch.testing.assert_close(rec, ae.decode(mu))  # reconstruct decodes the posterior mean
    with pytest.raises(ConfigError, match="downsample=8 needs 4"):
        tiny_ae(64, downsample=8)  # 3 widths are f=4
    with pytest.raises(ConfigError, match="not divisible by model.downsample=8"):
        tiny_ae(28, downsample=8, block_out_channels=[8, 8, 8, 8])


def test_kl_term_against_torch_distributions_and_in_the_loss():
    ae = tiny_ae()
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(3, 2, 7, 7, generator=g), torch.randn(3, 2, 7, 7, generator=g)
    q, p = torch.distributions.Normal(mu, (0.5 * logvar).exp()), torch.distributions.Normal(0.0, 1.0)
    ref = torch.distributions.kl_divergence(q, p).flatten(1).mean(1)
    torch.testing.assert_close(ae.kl_term(mu, logvar), ref, rtol=1e-5, atol=1e-6)
    x, y = images()
    out = ae((x, y))
    m, lv = ae.encode(x)
    torch.testing.assert_close(out.logs["loss/kl"], ae.kl_term(m, lv).mean().detach())
    # the total is L1 + 0.2 (1 - SSIM) + 1e-4 KL, each a mean over the batch
    total = out.logs["loss/l1"] + 0.2 * out.logs["loss/ssim"] + 1e-4 * out.logs["loss/kl"]
    torch.testing.assert_close(out.loss.detach(), total, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("size", [16, 32])
def test_ms_ssim_loss_is_the_diversity_metric(size):
    """structural: ms_ssim trains on 1 - the metric's MS-SSIM (one implementation, radgen.losses.ms_ssim);
    at 16 px the window shrinks to 7 px and its sigma to 1.5 * 7 / 11, checked against torchmetrics directly."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as msssim

    from radgen.metrics.diversity import ms_ssim, ms_ssim_settings

    ae = tiny_ae(size, structural="ms_ssim")
    x, y = images(4, size)
    torch.manual_seed(3)
    out = ae((x, y))
    torch.manual_seed(3)
    mu, logvar = ae.encode(x)
    x_hat = (ae.decode_signed(mu + (0.5 * logvar).exp() * torch.randn_like(mu)) + 1.0) / 2.0  # as forward draws it
    with torch.no_grad():
        metric = ms_ssim(x_hat, x)
    torch.testing.assert_close(out.logs["loss/ssim"], (1.0 - metric).mean(), rtol=1e-5, atol=1e-6)
    k, betas = ms_ssim_settings(size)
    ref = msssim(
        x_hat.detach(),
        x,
        data_range=1.0,
        kernel_size=k,
        sigma=1.5 * k / 11,
        betas=betas,
        normalize="relu",
        reduction="none",
    )
    torch.testing.assert_close(metric, ref, rtol=1e-5, atol=1e-6)
    assert (k, len(betas)) == ((7, 2) if size == 16 else (11, 2))


def test_latent_scale_is_measured_on_training_latents_and_exported(tmp_path):
    ae = tiny_ae().eval()
    x, y = images(40)
    stats = ae.measure_latent_scale(x, seed=3)
    # the same latents, drawn independently of the method: z = mu + sigma * eps with the method's seeded eps
    with torch.no_grad():
        mu, logvar = ae.encode(x)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(3))
    z = (mu + (0.5 * logvar).exp() * eps).double().numpy()
    assert stats["latent_std"] == pytest.approx(np.std(z, ddof=1), rel=1e-6)
    assert float(ae.latent_scale) == pytest.approx(1 / np.std(z, ddof=1), rel=1e-5)
    assert float(ae.latent_shift) == pytest.approx(np.mean(z), abs=1e-6)
    scaled = (z - float(ae.latent_shift)) * float(ae.latent_scale)
    assert np.mean(scaled) == pytest.approx(0.0, abs=1e-5) and np.std(scaled, ddof=1) == pytest.approx(1.0, rel=1e-5)
    assert float(ae.latent_scale) != pytest.approx(1.0, abs=1e-3)  # the measurement changed the default
    save_exported(ae, tmp_path / "ae")
    loaded, _ = load_exported(tmp_path / "ae")
    assert float(loaded.latent_scale) == float(ae.latent_scale)
    # the latent model reads them from the autoencoder it was built on
    ldm = tiny_ldm(autoencoder=str(tmp_path / "ae"), autoencoder_config={})
    assert float(ldm.autoencoder.latent_scale) == float(ae.latent_scale)


def test_discriminator_warm_up():
    ae = tiny_ae(disc_weight=0.5, disc_start_epoch=1.0)
    assert list(ae.optimizer_groups()) == ["autoencoder", "discriminator"]
    x, y = images()
    ae.set_epoch(0.5)
    assert ae.group_steps(0) == {"autoencoder": 1, "discriminator": 0}
    torch.manual_seed(0)
    before = ae((x, y))
    ae.set_epoch(1.0)
    assert ae.group_steps(0) == {"autoencoder": 1, "discriminator": 1}
    torch.manual_seed(0)
    after = ae((x, y))
    torch.testing.assert_close(after.loss, before.loss + 0.5 * before.logs["loss/g"], rtol=1e-5, atol=1e-6)
    assert float(ae((x, y), group="discriminator").loss) > 0  # hinge loss of an untrained critic


def test_cached_latents_give_the_same_training_inputs_as_encoding_on_the_fly():
    ldm = tiny_ldm()
    x, y = images()
    post = ldm.encode_posterior(x)
    assert post.shape == (6, 4, 7, 7)  # mu and sigma of 2 latent channels
    torch.manual_seed(5)
    a = ldm.to_diffusion_space(post)
    torch.manual_seed(5)
    b = ldm.to_diffusion_space(x)
    assert torch.equal(a, b)
    torch.manual_seed(5)
    assert torch.equal(ldm((post, y)).loss, (torch.manual_seed(5), ldm((x, y)).loss)[1])


def test_a_tiny_latent_model_overfits_a_few_images():
    ldm = tiny_ldm(loss_weighting="none", prediction_type="epsilon")
    x, y = images(8)
    post = ldm.encode_posterior(x)
    opt = torch.optim.Adam(ldm.optimizer_groups()["model"], lr=3e-3)
    losses = []
    for step in range(80):
        torch.manual_seed(step % 4)  # a few fixed (z, t, noise) draws, revisited
        out = ldm((post, y))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss.detach()))
        if step >= 16 and np.mean(losses[-8:]) < 0.5 * np.mean(losses[:8]):
            break
    assert np.mean(losses[-8:]) < 0.5 * np.mean(losses[:8])
    assert all(not p.requires_grad for p in ldm.autoencoder.parameters())


def test_two_stage_export_round_trip_and_the_sha256_check(tmp_path):
    ae = tiny_ae()
    ae.measure_latent_scale(images(8)[0])
    save_exported(ae, tmp_path / "ae")
    ldm = tiny_ldm(autoencoder=str(tmp_path / "ae"), autoencoder_config={}).eval()
    assert ldm.autoencoder_loaded and len(ldm.config.autoencoder_sha256) == 64
    assert ldm.config.autoencoder_config["latent_channels"] == 2
    torch.testing.assert_close(
        ldm.autoencoder.state_dict()["vae.decoder.conv_out.weight"], ae.vae.decoder.conv_out.weight
    )
    save_exported(ldm, tmp_path / "ldm")
    meta = yaml.safe_load((tmp_path / "ldm" / "config.yaml").read_text())
    assert meta["model"]["autoencoder_sha256"] == ldm.config.autoencoder_sha256
    (tmp_path / "ae" / "weights.safetensors").rename(tmp_path / "moved")  # the export does not need the first stage
    loaded, _ = load_exported(tmp_path / "ldm")
    assert loaded.config == ldm.config and not loaded.autoencoder_loaded
    kw = {"labels": torch.tensor([0, 1]), "steps": 3, "progress": False}
    torch.testing.assert_close(
        loaded.sample(2, generator=torch.Generator().manual_seed(2), **kw),
        ldm.sample(2, generator=torch.Generator().manual_seed(2), **kw),
        rtol=0,
        atol=1e-6,
    )
    with pytest.raises(MissingDataError, match="no exported autoencoder"):
        loaded.prepare_training_data(None)  # training needs the first stage itself
    # a different autoencoder at the recorded path is refused when training reads it
    with torch.no_grad():
        ae.vae.decoder.conv_out.weight.add_(1.0)
    save_exported(ae, tmp_path / "ae")
    with pytest.raises(ConfigError, match="sha256"):
        loaded.prepare_training_data(None)
    assert load_exported(tmp_path / "ldm")[0].config == ldm.config  # ... but the export still loads
    with pytest.raises(ConfigError, match="model.autoencoder is not set"):
        tiny_ldm(autoencoder_config={})


@pytest.mark.data_kit  # reaches the kit through the CLI or a subprocess
def test_two_stages_train_through_the_engine_and_sample_from_the_cli(tmp_path):
    from radgen.cli import main

    def train(config, *sets):
        out = tmp_path / config
        common = ["--output-dir", str(out), "--no-progress", "--set", "data.name=pneumoniamnist"]
        small = ["train.epochs=1", "train.limit_train_batches=2", "train.limit_val_batches=1", "train.sample_count=4"]
        args = ["train", config, *common, *[a for s in [*small, *sets] for a in ("--set", s)]]
        assert main(args) == 0
        return next(out.iterdir())

    ae_run = train(
        "ldm_autoencoder_64", "model.block_out_channels=[8, 8, 8]", "model.norm_groups=4", "model.latent_channels=2"
    )
    fit = yaml.safe_load((ae_run / "export" / "config.yaml").read_text())["fit"]
    n_train = json.loads((ae_run / "run.json").read_text())["data"]["splits"]["train"]
    assert fit["latent_images"] == n_train > 1000  # measured on the whole training split
    assert fit["latent_scale"] == pytest.approx(1 / fit["latent_std"])
    ldm_run = train(
        "ldm_64",
        f"model.autoencoder={ae_run}",
        "model.block_out_channels=[8]",
        "model.norm_groups=8",
        "model.attention_resolutions=[]",
        "model.preview_steps=2",
    )
    model, meta = load_exported(ldm_run)
    assert model.config.autoencoder_sha256 and float(model.autoencoder.latent_scale) == pytest.approx(
        fit["latent_scale"]
    )
    assert (ldm_run / "samples" / "final_by_class.png").is_file()
    sample = ["sample", str(ldm_run), "--n", "2", "--label", "pneumonia", "--steps", "3", "--out", str(tmp_path / "s")]
    assert main([*sample, "--sampler", "unipc"]) == 0
    assert len(list((tmp_path / "s").glob("sample_*.png"))) == 2


def test_the_engine_batches_every_cached_latent_once_per_epoch():
    from radgen.training.data import make_loader

    post, labels = torch.randn(70, 4, 7, 7), torch.arange(70) % 2
    loader = make_loader((post, labels), batch_size=32, shuffle=True, seed=0)
    seen = torch.cat([x for x, _ in loader])
    assert len(loader) == 3 and seen.shape == post.shape  # 32 + 32 + 6, not len(tuple) = 2 items
    torch.testing.assert_close(seen.sum(0), post.sum(0), rtol=1e-5, atol=1e-5)  # each item exactly once


@pytest.mark.parametrize(
    "ae_config, ldm_config, size",
    [
        ("ldm_autoencoder_64", "ldm_64", 64),
        ("ldm_autoencoder_128", "ldm_128", 128),
        ("demo_ldm_autoencoder", "demo_ldm", 64),
    ],
)
def test_shipped_latent_configs_give_the_latent_unet_the_same_4x16x16_latents(ae_config, ldm_config, size):
    """ldm_128's f=8 autoencoder makes the 16x16 latents that ldm_64's f=4 one makes at 64 px, so one UNet fits both;
    the configs are built as shipped (narrowed to 4 channels per level, which keeps f and the latent shape)."""
    from radgen.training.config import load_run_config

    ae_cfg, ldm_cfg = load_run_config(ae_config, []), load_run_config(ldm_config, [])
    assert ae_cfg.data.name == ldm_cfg.data.name and ae_cfg.data.val_from_train == ldm_cfg.data.val_from_train
    spec = {**ae_cfg.model, "block_out_channels": [4] * len(ae_cfg.model["block_out_channels"]), "norm_groups": 2}
    ae = build_model(spec, image_size=size, channels=1, num_classes=2)
    mu, logvar = ae.encode(torch.rand(2, 1, size, size))
    assert tuple(mu.shape) == tuple(logvar.shape) == (2, 4, 16, 16) == (2, *ae.latent_shape)
    assert ae.decode(mu).shape == (2, 1, size, size)
    assert ldm_cfg.model["name"] == "latent_diffusion" and ldm_cfg.model["autoencoder"] is None  # given at train time
