"""DDPM: schedules vs closed forms, q(x_t|x_0), sampling loops vs references from the papers, guidance, EMA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radgen.data import load_dataset
from radgen.diffusion import alphas_cumprod_closed_form, guided_epsilon, make_scheduler, sample_loop
from radgen.models import build_model

T = 200


def dummy_eps(x, t, labels=None):
    return 0.5 * x * (t.float().view(-1, *[1] * (x.ndim - 1)) + 1) / T  # deterministic in x and t


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_alphas_cumprod_against_closed_form(schedule):
    s = make_scheduler("ddpm", timesteps=T, schedule=schedule, beta_start=1e-4, beta_end=0.02)
    ref = alphas_cumprod_closed_form(schedule, T)
    for t in (0, T // 2, T - 1):
        assert float(s.alphas_cumprod[t]) == pytest.approx(ref[t], rel=1e-5)
    if schedule == "linear":  # by hand: alpha_bar_0 = 1 - 1e-4; alpha_bar at T is the product of all (1 - beta_t)
        assert ref[0] == pytest.approx(1 - 1e-4)
        assert ref[-1] == pytest.approx(np.prod(1 - np.linspace(1e-4, 0.02, T)))


def test_q_xt_given_x0_mean_and_variance():
    s = make_scheduler("ddpm", timesteps=T, schedule="linear", beta_start=1e-4, beta_end=0.02)
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((200_000,), 0.6)
    for t in (10, 100, 199):
        xt = s.add_noise(x0, torch.randn(x0.shape, generator=g), torch.full((x0.numel(),), t))
        ab = float(s.alphas_cumprod[t])
        assert float(xt.mean()) == pytest.approx(0.6 * ab**0.5, abs=5e-3)
        assert float(xt.var()) == pytest.approx(1 - ab, abs=5e-3)


def reference_ddpm(shape, seed):
    """Ho et al. 2020, eq. 11 + posterior variance beta_tilde, x_0 clipped to [-1, 1]."""
    ab = torch.tensor(alphas_cumprod_closed_form("linear", T), dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g)
    for t in range(T - 1, -1, -1):
        a_t, a_prev = ab[t], (ab[t - 1] if t > 0 else torch.tensor(1.0))
        beta_t = 1 - a_t / a_prev
        eps = dummy_eps(x, torch.full((shape[0],), t))
        x0 = ((x - (1 - a_t).sqrt() * eps) / a_t.sqrt()).clamp(-1, 1)
        mean = a_prev.sqrt() * beta_t / (1 - a_t) * x0 + (1 - beta_t).sqrt() * (1 - a_prev) / (1 - a_t) * x
        if t > 0:
            var = (1 - a_prev) / (1 - a_t) * beta_t
            x = mean + var.sqrt() * torch.randn(shape, generator=g)
        else:
            x = mean
    return x.clamp(-1, 1)


def reference_ddim(shape, seed, steps, eta):
    """Song et al. 2021, eq. 12, 'leading' spacing t_i = i * T/S."""
    ab = torch.tensor(alphas_cumprod_closed_form("linear", T), dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g)
    ratio = T // steps
    for t in reversed(range(0, T, ratio)):
        a_t = ab[t]
        a_prev = ab[t - ratio] if t - ratio >= 0 else torch.tensor(1.0)
        eps = dummy_eps(x, torch.full((shape[0],), t))
        x0 = ((x - (1 - a_t).sqrt() * eps) / a_t.sqrt()).clamp(-1, 1)
        sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev - sigma**2).sqrt() * eps
        if eta > 0:
            x = x + sigma * torch.randn(shape, generator=g)
    return x.clamp(-1, 1)


def test_full_ddpm_loop_matches_the_paper_reference():
    s = make_scheduler("ddpm", timesteps=T, schedule="linear", beta_start=1e-4, beta_end=0.02)
    out = sample_loop(dummy_eps, s, (3, 1, 4, 4), steps=T, generator=torch.Generator().manual_seed(11), progress=False)
    torch.testing.assert_close(out, reference_ddpm((3, 1, 4, 4), 11), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("steps,eta", [(50, 0.0), (20, 0.0), (50, 1.0)])
def test_ddim_loop_matches_the_paper_reference(steps, eta):
    s = make_scheduler("ddim", timesteps=T, schedule="linear", beta_start=1e-4, beta_end=0.02)
    out = sample_loop(
        dummy_eps, s, (3, 1, 4, 4), steps=steps, eta=eta, generator=torch.Generator().manual_seed(5), progress=False
    )
    torch.testing.assert_close(out, reference_ddim((3, 1, 4, 4), 5, steps, eta), rtol=1e-4, atol=1e-4)


def test_ddim_with_all_steps_and_eta_one_is_the_ddpm_step():
    ddpm = make_scheduler("ddpm", timesteps=T, schedule="linear", beta_start=1e-4, beta_end=0.02)
    ddim = make_scheduler("ddim", timesteps=T, schedule="linear", beta_start=1e-4, beta_end=0.02)
    ddpm.set_timesteps(T)
    ddim.set_timesteps(T)
    # small x keeps the predicted x_0 inside [-1, 1]: with clipping active, DDPM's mean uses the
    # clipped x_0 while DDIM keeps the network's epsilon, and the two differ by design
    x = 0.05 * torch.randn(2, 1, 5, 5, generator=torch.Generator().manual_seed(0))
    for t in (199, 120, 40, 1):
        eps = dummy_eps(x, torch.full((2,), t))
        a = ddpm.step(eps, t, x, generator=torch.Generator().manual_seed(t)).prev_sample
        out = ddim.step(eps, t, x, eta=1.0, generator=torch.Generator().manual_seed(t))
        assert float(out.pred_original_sample.abs().max()) < 1.0  # the regime where the identity holds
        torch.testing.assert_close(a, out.prev_sample, rtol=1e-4, atol=1e-5)


def test_guidance_scale_zero_is_unconditional_and_one_is_conditional():
    def eps_fn(x, t, labels):
        return x + labels.float().view(-1, 1, 1, 1)  # label 2 is the null class

    x, t, y = torch.zeros(3, 1, 2, 2), torch.zeros(3, dtype=torch.long), torch.tensor([0, 1, 1])
    torch.testing.assert_close(guided_epsilon(eps_fn, x, t, y, null_label=2, scale=0.0), torch.full((3, 1, 2, 2), 2.0))
    torch.testing.assert_close(guided_epsilon(eps_fn, x, t, y, null_label=2, scale=1.0), eps_fn(x, t, y))
    w = 3.0
    torch.testing.assert_close(
        guided_epsilon(eps_fn, x, t, y, null_label=2, scale=w),
        2.0 + w * (y.float().view(-1, 1, 1, 1) - 2.0).expand(3, 1, 2, 2),
    )


def tiny_ddpm(**over):
    torch.manual_seed(0)
    cfg = {
        "name": "ddpm",
        "block_out_channels": [8, 16],
        "attention_resolutions": [],
        "norm_groups": 8,
        "layers_per_block": 1,
        **over,
    }
    return build_model(cfg, image_size=28, channels=1, num_classes=2)


def test_ema_update_formula_and_sampling_uses_ema():
    m = tiny_ddpm(ema_decay=0.9)
    p, e = next(m.unet.parameters()), next(m.ema.parameters())
    with torch.no_grad():
        p.add_(1.0)
    before = e.detach().clone()
    m.after_optimizer_step("model")
    torch.testing.assert_close(e, before + 0.1 * (p.detach() - before))
    a = m.sample(2, generator=torch.Generator().manual_seed(0), sampler="ddim", steps=5, progress=False)
    b = m.sample(2, generator=torch.Generator().manual_seed(0), sampler="ddim", steps=5, progress=False, use_ema=False)
    assert not torch.equal(a, b)


def test_conditional_ddpm_label_dropout_and_one_class_training():
    m = tiny_ddpm(conditional="class", cond_drop_prob=1.0)  # every label dropped -> the null class
    seen = []
    m.unet.register_forward_pre_hook(
        lambda mod, args, kwargs: seen.append(kwargs["class_labels"].clone()), with_kwargs=True
    )
    m((torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 0, 1])))
    assert torch.equal(seen[0], torch.full((4,), 2))
    ds = load_dataset("pneumoniamnist", keep_classes=["normal"], progress=False)
    assert ds["train"].class_counts() == {"normal": 1214, "pneumonia": 0}


def test_ddpm_overfits_a_small_batch():
    ds = load_dataset("pneumoniamnist", progress=False)["train"]
    x, y = ds.images[:8], ds.labels[:8]
    m = tiny_ddpm()
    opt = torch.optim.Adam(m.optimizer_groups()["model"], lr=3e-3)
    losses = []
    for step in range(120):
        torch.manual_seed(step % 4)  # a few fixed (t, noise) draws, revisited
        out = m((x, y))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss.detach()))
        if step >= 16 and np.mean(losses[-8:]) < 0.5 * np.mean(losses[:8]):
            break
    assert np.mean(losses[-8:]) < 0.5 * np.mean(losses[:8])


@pytest.mark.data_kit  # reaches the kit through the CLI or a subprocess
def test_ddpm_trains_through_the_engine_and_samples_from_the_cli(tmp_path):
    from radgen.cli import main

    out = tmp_path / "runs"
    rc = main(
        [
            "train",
            "seed001_ddpm",
            "--output-dir",
            str(out),
            "--no-progress",
            "--set",
            "data.name=pneumoniamnist",
            "--set",
            "model.block_out_channels=[8, 16]",
            "--set",
            "model.norm_groups=8",
            "--set",
            "model.layers_per_block=1",
            "--set",
            "model.attention_resolutions=[]",
            "--set",
            "model.preview_steps=3",
            "--set",
            "train.epochs=1",
            "--set",
            "train.limit_train_batches=3",
            "--set",
            "train.limit_val_batches=1",
            "--set",
            "train.sample_count=4",
            "--set",
            "train.sample_every=1",
        ]
    )
    assert rc == 0
    run = next(out.iterdir())
    assert (run / "samples/epoch_0001.png").is_file() and (run / "export/weights.safetensors").is_file()
    assert (
        main(
            [
                "sample",
                str(run),
                "--n",
                "2",
                "--label",
                "pneumonia",
                "--sampler",
                "ddim",
                "--steps",
                "3",
                "--guidance",
                "2",
                "--out",
                str(tmp_path / "s"),
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "s").glob("sample_*.png"))) == 2
