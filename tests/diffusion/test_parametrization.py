"""Prediction types (epsilon, v, x_0), min-SNR-gamma weights, and the DPM-Solver++ / UniPC samplers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radgen.diffusion import alphas_cumprod_closed_form, make_scheduler, sample_loop
from radgen.diffusion.parametrization import (
    alpha_sigma,
    eps_from_v,
    min_snr_weight,
    snr,
    training_target,
    velocity,
    x0_from_v,
)
from radgen.models import build_model

T = 200


def sched(kind="ddpm", **kw):
    return make_scheduler(kind, timesteps=T, schedule="linear", beta_start=1e-4, beta_end=0.02, **kw)


def test_v_prediction_conversions_are_exact_and_match_diffusers():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(64, 1, 4, 4, generator=g, dtype=torch.float64), torch.randn(64, 1, 4, 4, generator=g)
    eps = eps.double()
    t = torch.randint(0, T, (64,), generator=g)
    ab = torch.tensor(alphas_cumprod_closed_form("linear", T))  # float64, independent of diffusers
    a, s = ab[t].sqrt().view(-1, 1, 1, 1), (1 - ab[t]).sqrt().view(-1, 1, 1, 1)
    x_t = a * x0 + s * eps
    v = velocity(x0, eps, a, s)
    torch.testing.assert_close(v, a * eps - s * x0, rtol=0, atol=0)
    torch.testing.assert_close(x0_from_v(x_t, v, a, s), x0, rtol=0, atol=1e-12)  # x_0 = alpha x_t - sigma v
    torch.testing.assert_close(eps_from_v(x_t, v, a, s), eps, rtol=0, atol=1e-12)  # eps = sigma x_t + alpha v
    # diffusers' own v (what its schedulers invert when prediction_type=v_prediction), in float32
    sc = sched()
    ref = sc.get_velocity(x0.float(), eps.float(), t)
    a32, s32 = alpha_sigma(sc.alphas_cumprod, t, 4)
    torch.testing.assert_close(velocity(x0.float(), eps.float(), a32, s32), ref, rtol=1e-5, atol=1e-6)
    assert torch.equal(training_target("v_prediction", x0, eps, a, s), v)
    assert torch.equal(training_target("sample", x0, eps, a, s), x0)
    assert torch.equal(training_target("epsilon", x0, eps, a, s), eps)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_min_snr_weights_against_the_formula(prediction_type):
    gamma = 5.0
    sc = sched()
    ab = sc.alphas_cumprod.double().numpy()  # the scheduler's float32 alpha_bar, in float64
    r = ab / (1 - ab)  # SNR(t) by hand
    exact = alphas_cumprod_closed_form("linear", T)
    np.testing.assert_allclose(r, exact / (1 - exact), rtol=1e-3)  # float32 alpha_bar: 1 - alpha_bar_0 ~ 1e-4
    ref = {
        "epsilon": np.minimum(r, gamma) / r,
        "v_prediction": np.minimum(r, gamma) / (r + 1),
        "sample": np.minimum(r, gamma),
    }[prediction_type]
    t = torch.arange(T)
    got = min_snr_weight(snr(sc.alphas_cumprod, t), gamma=gamma, prediction_type=prediction_type)
    np.testing.assert_allclose(got.double().numpy(), ref, rtol=1e-6)
    # where SNR < gamma (late t) the epsilon weight is exactly 1; at t = 0 (SNR ~ 1e4) it is gamma / SNR
    low = r < gamma
    assert low.any() and (~low).any()
    if prediction_type == "epsilon":
        assert np.allclose(got.numpy()[low], 1.0) and got[0] == pytest.approx(gamma / r[0], rel=1e-4)


@pytest.mark.parametrize("prediction_type", ["v_prediction", "sample"])
def test_forward_regresses_the_target_with_min_snr_weights(prediction_type):
    torch.manual_seed(0)
    m = build_model(
        {
            "name": "ddpm",
            "block_out_channels": [8, 16],
            "attention_resolutions": [],
            "norm_groups": 8,
            "layers_per_block": 1,
            "prediction_type": prediction_type,
            "loss_weighting": "min_snr",
            "snr_gamma": 2.0,
        },
        image_size=8,
        channels=1,
        num_classes=2,
    )
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(7)
    out = m((x, torch.zeros(5, dtype=torch.long)))
    torch.manual_seed(7)  # the same draws, in the model's order: t, then the noise
    t = torch.randint(0, T, (5,))
    eps = torch.randn(5, 1, 8, 8)
    ab = torch.tensor(alphas_cumprod_closed_form("linear", T), dtype=torch.float32)[t].view(-1, 1, 1, 1)
    x0 = 2 * x - 1
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    target = ab.sqrt() * eps - (1 - ab).sqrt() * x0 if prediction_type == "v_prediction" else x0
    with torch.no_grad():
        per = ((m.unet(x_t, t).sample - target) ** 2).mean((1, 2, 3))
    r = (ab / (1 - ab)).flatten()
    w = torch.clamp(r, max=2.0) / (r + 1) if prediction_type == "v_prediction" else torch.clamp(r, max=2.0)
    torch.testing.assert_close(out.loss.detach(), (w * per).mean(), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(out.logs["loss/mse"], per.mean(), rtol=1e-4, atol=1e-6)
    assert "min-SNR-2" in m.describe_losses() and prediction_type in m.describe_losses()


def dummy_eps(x, t, labels=None):
    return 0.5 * x * (t.float().view(-1, *[1] * (x.ndim - 1)) + 1) / T  # a fixed denoiser, smooth in x and t


def run(kind, steps, seed=5):
    x = sample_loop(
        dummy_eps,
        sched(kind),
        (4, 1, 4, 4),
        steps=steps,
        generator=torch.Generator().manual_seed(seed),
        progress=False,
    )
    return x


@pytest.mark.parametrize("solver", ["dpmsolver++", "unipc"])
def test_ode_solvers_with_many_steps_approach_ddim_with_many_steps(solver):
    """DDIM (eta 0), DPM-Solver++ and UniPC integrate the same probability-flow ODE (Lu et al. 2022,
    Zhao et al. 2023): with many steps they agree, and the gap shrinks as steps grow."""
    ddim = run("ddim", T)
    gaps = {n: float((run(solver, n) - ddim).abs().max()) for n in (5, 50, 150)}
    assert gaps[150] < 2e-3, gaps  # |x| ~ 1: agreement to 0.2 %, the two discretisations' own error
    assert gaps[150] < gaps[50] < gaps[5], gaps
    assert gaps[5] > 5 * gaps[150], gaps  # the comparison can fail: few steps are visibly off


@pytest.mark.parametrize("sampler", ["dpmsolver++", "unipc"])
def test_v_prediction_ddpm_samples_with_the_ode_solvers(sampler):
    torch.manual_seed(0)
    m = build_model(
        {
            "name": "ddpm",
            "block_out_channels": [8, 16],
            "attention_resolutions": [],
            "norm_groups": 8,
            "layers_per_block": 1,
            "prediction_type": "v_prediction",
            "conditional": "class",
        },
        image_size=8,
        channels=1,
        num_classes=2,
    ).eval()
    kw = {"labels": torch.tensor([0, 1]), "sampler": sampler, "steps": 6, "progress": False}
    a = m.sample(2, generator=torch.Generator().manual_seed(1), **kw)
    b = m.sample(2, generator=torch.Generator().manual_seed(1), **kw)
    assert a.shape == (2, 1, 8, 8) and torch.equal(a, b) and 0 <= float(a.min()) <= float(a.max()) <= 1
    assert m.make_scheduler(sampler).config.prediction_type == "v_prediction"


def test_seed001_ddpm_keeps_design_document_001s_settings():
    from radgen.training.config import load_run_config

    cfg = load_run_config("seed001_ddpm").model_config()
    assert (cfg.timesteps, cfg.beta_schedule, cfg.beta_start, cfg.beta_end) == (200, "linear", 1e-4, 0.02)
    assert (cfg.prediction_type, cfg.loss_weighting) == ("epsilon", "none")
    assert (cfg.conditional, cfg.cond_drop_prob, cfg.guidance_scale, cfg.sampler) == ("class", 0.1, 3.0, "ddim")
