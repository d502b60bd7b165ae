"""GANs for small training sets: DiffAugment/ADA, spectral norm, R1, hinge loss, generator EMA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radgen.errors import ConfigError
from radgen.losses import hinge_discriminator, hinge_generator, r1_penalty
from radgen.models import build_model
from radgen.nn.augment import DiffAugment, brightness, contrast, cutout, translation
from radgen.nn.gan import DCGANDiscriminator, spectral_normalise, to_signed

ALL_OPS = ["translation", "cutout", "brightness", "contrast"]


def lsgan(**over):
    torch.manual_seed(0)
    opts = {"name": "lsgan", "latent_dim": 4, "base_width": 8, **over}
    return build_model(opts, image_size=28, channels=1, num_classes=2)


def batch(n: int = 6, size: int = 28):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, size, size, generator=g), torch.tensor([0, 1] * (n // 2))


# -- augmentation ------------------------------------------------------------------------------
def test_each_op_equals_a_numpy_reference_with_the_same_draws():
    x = torch.randn(4, 2, 16, 16, dtype=torch.float64)
    xn = x.numpy()
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731  same draws as the op's
    # translation: shifts in [-2, 2] (1/8 of 16), zero fill
    d = torch.randint(-2, 3, (4, 1, 1), generator=g())
    gg = g()
    dy, dx = torch.randint(-2, 3, (4, 1, 1), generator=gg), torch.randint(-2, 3, (4, 1, 1), generator=gg)
    assert d.shape == dy.shape
    ref = np.zeros_like(xn)
    for i in range(4):
        for r in range(16):
            for c in range(16):
                rr, cc = r + int(dy[i]), c + int(dx[i])
                if 0 <= rr < 16 and 0 <= cc < 16:
                    ref[i, :, r, c] = xn[i, :, rr, cc]
    np.testing.assert_array_equal(translation(x, g()).numpy(), ref)
    # cutout: an 8 x 8 square centred at (cy, cx), clipped at the border, set to 0
    gg = g()
    cy, cx = torch.randint(0, 17, (4, 1, 1), generator=gg), torch.randint(0, 17, (4, 1, 1), generator=gg)
    ref = xn.copy()
    for i in range(4):
        y0, x0 = int(cy[i]) - 4, int(cx[i]) - 4
        ref[i, :, max(0, y0) : max(0, y0 + 8), max(0, x0) : max(0, x0 + 8)] = 0.0
    np.testing.assert_array_equal(cutout(x, g()).numpy(), ref)
    # brightness and contrast: one uniform per image
    u = torch.rand((4, 1, 1, 1), generator=g(), dtype=torch.float64).numpy()
    np.testing.assert_allclose(brightness(x, g()).numpy(), xn + (u - 0.5), rtol=0, atol=1e-12)
    m = xn.mean(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(contrast(x, g()).numpy(), (xn - m) * (u + 0.5) + m, rtol=0, atol=1e-12)


def test_augmentation_is_differentiable_and_p_zero_is_the_identity():
    aug = DiffAugment(ALL_OPS, p=1.0)
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: aug(t, generator=torch.Generator().manual_seed(3)), (x,))
    off = DiffAugment(ALL_OPS, p=0.0)
    assert torch.equal(off(x.detach()), x.detach())
    half = DiffAugment(["brightness"], p=0.5)(torch.zeros(4000, 1, 2, 2), generator=torch.Generator().manual_seed(0))
    frac = float((half.flatten(1).abs().sum(1) > 0).float().mean())  # images that were brightened
    assert 0.47 < frac < 0.53  # Binomial(4000, 0.5): sd 0.008


def test_discriminator_sees_the_same_augmentation_of_real_and_fake_and_gradients_reach_the_generator():
    m = lsgan(augment=ALL_OPS, augment_p=1.0)
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    m.augment.register_forward_hook(lambda mod, inp, out: seen.append((inp[0].detach(), out.detach())))
    d_inputs: list[torch.Tensor] = []
    m.discriminator.register_forward_pre_hook(lambda mod, inp: d_inputs.append(inp[0].detach()))
    x, y = batch()
    m(batch(), group="discriminator")
    assert len(seen) == 2 and len(d_inputs) == 2  # real and fake, through the one module
    torch.testing.assert_close(seen[0][0], to_signed(x))
    for (_, out), d_in in zip(seen, d_inputs):
        torch.testing.assert_close(d_in, out)  # D scored the augmented images
    assert not torch.equal(seen[0][1], seen[0][0])
    m.zero_grad()
    m(batch(), group="generator").loss.backward()
    assert len(seen) == 3  # the generator's step augments its fakes too
    grads = [p.grad for p in m.generator.parameters()]
    assert all(g is not None and float(g.abs().sum()) > 0 for g in grads)
    m.eval()
    seen.clear()
    m(batch(), group="discriminator")
    assert not seen  # validation scores un-augmented images


def test_ada_moves_p_by_its_rule_and_clips_at_zero():
    aug = DiffAugment(["translation"], p=0.0, adaptive=True, target=0.6, interval=2, kimg=0.1)  # 100 images: 0 -> 1
    over = torch.ones(10, 1)  # D(x) - m > 0 for every real image: r_t = 1 > 0.6
    aug.observe(over)
    assert float(aug.p) == 0.0  # not yet: every 2 batches
    aug.observe(over)
    assert float(aug.p) == pytest.approx(20 / 100)  # + N / (kimg * 1000), N = 20 images
    mixed = torch.tensor([[1.0]] * 5 + [[-1.0]] * 5)  # r_t = 0 < 0.6
    aug.observe(mixed), aug.observe(mixed)
    assert float(aug.p) == pytest.approx(0.0, abs=1e-7)
    aug.observe(mixed), aug.observe(mixed)
    assert float(aug.p) == 0.0  # clipped
    m = lsgan(augment=["translation"], augment_schedule="adaptive", augment_p=0.0, ada_interval=1, ada_kimg=0.006)
    out = m(batch(), group="discriminator")
    assert {"augment/p", "augment/r_t"} <= set(out.logs)
    step = 6 / 6.0 * float(torch.sign(out.logs["augment/r_t"] - 0.6))  # one batch of 6 images, kimg 0.006
    assert float(m.augment.p) == pytest.approx(min(1.0, max(0.0, step)))


def test_ada_is_refused_for_critics_and_bad_values_are_refused():
    with pytest.raises(ConfigError, match="critic"):
        build_model(
            {"name": "wgan_gp", "base_width": 8, "augment": ["cutout"], "augment_schedule": "adaptive"},
            image_size=28,
            channels=1,
            num_classes=2,
        )
    for bad in ({"ema_decay": 1.0}, {"r1_every": 0}, {"augment_p": 1.5}, {"augment_schedule": "adaptive"}):
        with pytest.raises(ConfigError):
            lsgan(**bad)
    with pytest.raises(ConfigError, match="flip"):
        lsgan(augment=["flip"])


# -- spectral norm, hinge, R1 --------------------------------------------------------------------
def test_spectral_norm_keeps_the_largest_singular_value_near_one_after_a_few_steps():
    torch.manual_seed(0)
    d = spectral_normalise(DCGANDiscriminator(1, 28, base=8, norm="none"))
    opt = torch.optim.Adam(d.parameters(), lr=2e-4)  # a GAN's learning rate
    x = torch.randn(8, 1, 28, 28)
    for _ in range(10):
        opt.zero_grad()
        d(x).mean().backward()
        opt.step()
    convs = [mod for mod in d.modules() if isinstance(mod, torch.nn.Conv2d)]
    # in training mode ``weight`` is what the next forward uses: W / sigma after one more power iteration
    sigmas = [float(torch.linalg.matrix_norm(c.weight.detach().flatten(1), ord=2)) for c in convs]
    raws = [
        float(torch.linalg.matrix_norm(c.parametrizations.weight.original.detach().flatten(1), ord=2)) for c in convs
    ]
    assert len(sigmas) == 3 and all(abs(s - 1.0) < 0.02 for s in sigmas), sigmas
    assert max(abs(r - 1.0) for r in raws) > 0.2  # the unnormalised weights are not near 1 themselves


def test_hinge_losses_match_their_formulas():
    d_real, d_fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 0.5])
    assert float(hinge_discriminator(d_real, d_fake)) == pytest.approx((0 + 0.5 + 2) / 3 + (0 + 1 + 1.5) / 3)
    assert float(hinge_generator(d_fake)) == pytest.approx(-(-2.0 + 0.0 + 0.5) / 3)
    m = lsgan(loss="hinge")
    assert "hinge" in m.describe_losses() and m.real_score_midpoint() == 0.0


def test_r1_equals_a_hand_computation_on_a_tiny_discriminator():
    """D(x) = v . tanh(W x): grad_x D = W^T (v * (1 - tanh(W x)^2)), R1 = E ||grad||^2."""
    rng = np.random.default_rng(0)
    w, v, x = rng.normal(size=(3, 4)), rng.normal(size=3), rng.normal(size=(5, 4))
    grads = (v * (1 - np.tanh(x @ w.T) ** 2)) @ w  # (5, 4): row i is grad at x_i
    expected = float((grads**2).sum(1).mean())
    wt, vt = torch.tensor(w), torch.tensor(v)
    xt = torch.tensor(x, requires_grad=True)
    d = torch.tanh(xt @ wt.T) @ vt
    got = r1_penalty(d, xt)
    assert float(got.detach()) == pytest.approx(expected, rel=1e-10)
    assert got.requires_grad  # create_graph: the penalty trains D


def test_lazy_r1_is_added_every_k_steps_weighted_by_k():
    m = lsgan(r1_weight=0.5, r1_every=2)
    terms = []
    for _ in range(4):
        torch.manual_seed(7)
        out = m(batch(), group="discriminator")
        terms.append(float(out.loss - out.logs["loss/d"]))
        assert ("r1" in out.logs) == (len(terms) % 2 == 1)
        if "r1" in out.logs:
            assert terms[-1] == pytest.approx(2 * 0.5 / 2 * float(out.logs["r1"]), rel=1e-5)
    assert terms[1] == 0.0 and terms[3] == 0.0 and terms[0] > 0


# -- generator EMA -------------------------------------------------------------------------------
def test_ema_equals_the_formula_after_n_steps_and_sampling_uses_it():
    decay = 0.9
    m = lsgan(ema_decay=decay)
    live = list(m.generator.parameters())
    ema = [p.detach().clone() for p in live]  # the EMA starts as a copy
    opt = torch.optim.SGD(live, lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        m(batch(), group="generator").loss.backward()
        opt.step()
        m.after_optimizer_step("generator")
        ema = [decay * e + (1 - decay) * p.detach() for e, p in zip(ema, live)]
        m.after_optimizer_step("discriminator")  # a D step leaves the EMA alone
    for e, p in zip(ema, m.ema["generator"].parameters()):
        torch.testing.assert_close(p, e, rtol=1e-6, atol=1e-7)
    assert max(float((e - p).abs().max()) for e, p in zip(ema, live)) > 1e-4  # EMA != live weights
    m.eval()
    labels = None
    s = m.sample(4, labels=labels, generator=torch.Generator().manual_seed(2))
    z = torch.randn(4, 4, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        by_hand = ((m.ema["generator"](z) + 1) / 2).clamp(0, 1)
        live_out = ((m.generator(z) + 1) / 2).clamp(0, 1)
    torch.testing.assert_close(s, by_hand)
    assert not torch.allclose(s, live_out)


# -- TTUR and the shipped configs ----------------------------------------------------------------
def test_ttur_gives_each_player_its_own_learning_rate():
    from radgen.training.config import TrainConfig
    from radgen.training.module import build_optimizers

    m = lsgan()
    opt_d, opt_g = build_optimizers(m, TrainConfig(lr=1e-3, lr_groups={"discriminator": 4e-4, "generator": 1e-4}))
    assert (opt_d.param_groups[0]["lr"], opt_g.param_groups[0]["lr"]) == (4e-4, 1e-4)
    assert {id(p) for p in opt_d.param_groups[0]["params"]} == {id(p) for p in m.discriminator.parameters()}


def test_design_document_configs_keep_the_options_off_and_the_small_data_preset_turns_them_on():
    from radgen.models.adversarial import AdversarialConfig
    from radgen.training.config import load_run_config, shipped_configs

    design = [n for n in shipped_configs() if n.startswith("seed") or n == "demo_lsgan"]
    adversarial = [c for c in (load_run_config(n).model_config() for n in design) if isinstance(c, AdversarialConfig)]
    assert len(adversarial) >= 4  # 004's wgan_gp, vae_gan, alpha_gan, gvae; the demo's lsgan
    for c in adversarial:
        assert (c.augment, c.spectral_norm, c.r1_weight, c.ema_decay) == ([], "none", 0.0, 0.0), c.name
    small = load_run_config("demo_gan_smalldata").model_config()
    assert small.augment and small.augment_schedule == "adaptive" and small.ema_decay > 0 and small.r1_weight > 0


# -- one fake batch per step ---------------------------------------------------------------------
def test_the_shared_fake_batch_gives_the_losses_of_generating_it_once_by_hand():
    """begin_batch makes the fakes with G's graph; D's step (G frozen, as toggle_optimizer leaves it) sees
    them detached; G's step reuses them through the updated D: the PyTorch DCGAN recipe's step."""
    import copy

    from radgen.losses import ls_discriminator, ls_generator

    m = lsgan()
    hand = copy.deepcopy(m)
    b = batch()
    x, _ = b
    calls = []
    m.generator.register_forward_hook(lambda *a: calls.append(1))
    opt_d = torch.optim.Adam(m.discriminator.parameters(), lr=1e-2)
    torch.manual_seed(3)
    m.begin_batch(b, 0)
    m.generator.requires_grad_(False)  # the engine's toggle_optimizer(D)
    out_d = m(b, group="discriminator")
    opt_d.zero_grad()
    out_d.loss.backward()
    opt_d.step()
    m.generator.requires_grad_(True)
    m.discriminator.requires_grad_(False)  # toggle_optimizer(G)
    out_g = m(b, group="generator")
    out_g.loss.backward()
    m.end_batch()
    assert len(calls) == 1  # one generator forward for both steps

    opt_h = torch.optim.Adam(hand.discriminator.parameters(), lr=1e-2)
    torch.manual_seed(3)
    fake = hand.generator(torch.randn(x.shape[0], 4))
    loss_d = ls_discriminator(hand.discriminator(to_signed(x)), hand.discriminator(fake.detach()))
    opt_h.zero_grad()
    loss_d.backward()
    opt_h.step()
    hand.generator.zero_grad()
    loss_g = ls_generator(hand.discriminator(fake))
    loss_g.backward()
    torch.testing.assert_close(out_d.loss.detach(), loss_d.detach(), rtol=1e-6, atol=0)
    torch.testing.assert_close(out_g.loss.detach(), loss_g.detach(), rtol=1e-6, atol=0)
    for p, q in zip(m.generator.parameters(), hand.generator.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-7)

    per_group = lsgan(fake_batch="per_group")
    calls.clear()
    per_group.generator.register_forward_hook(lambda *a: calls.append(1))
    per_group.begin_batch(b, 0)
    per_group(b, group="discriminator"), per_group(b, group="generator")
    assert len(calls) == 2  # what radgen did before: each group's step generates its own batch


def test_the_engine_generates_once_per_batch_and_exports_the_ema(tmp_path, data_dir):
    """The engine calls begin_batch before toggle_optimizer: one generator forward per training batch
    (fashion_mnist has no validation split and periodic grids are off; the one extra is final.png)."""
    import radgen.models.adversarial as adv
    from radgen.models import load_exported
    from radgen.training import load_run_config, train

    cfg = load_run_config(
        {
            "model": {"name": "lsgan", "latent_dim": 4, "base_width": 8, "ema_decay": 0.5},
            "data": {"name": "fashion_mnist"},
            "train": {
                "epochs": 1,
                "batch_size": 16,
                "limit_train_batches": 3,
                "sample_every": 0,
                "progress_bar": False,
            },
            "seed": 0,
            "output_dir": str(tmp_path),
        }
    )
    calls = []
    original = adv.AdversarialModel.generate

    def counted(self, z, y=None):
        calls.append(1)
        return original(self, z, y)

    adv.AdversarialModel.generate = counted
    try:
        r = train(cfg)
    finally:
        adv.AdversarialModel.generate = original
    assert len(calls) == 3 + 1  # 3 batches x 1 (fake_batch=per_group: 3 x 2, tested by hand above) + final.png
    key = "ema.generator.net.0.weight"
    torch.testing.assert_close(load_exported(r.run_dir)[0].state_dict()[key], r.model.state_dict()[key].cpu())
    assert not torch.equal(r.model.state_dict()[key], r.model.state_dict()["generator.net.0.weight"])


@pytest.mark.parametrize("name", ["gvae", "vae_gan", "alpha_gan"])
def test_every_adversarial_family_averages_its_own_generator_modules(name):
    m = build_model(
        {"name": name, "latent_dim": 4, "base_width": 8, "ema_decay": 0.5, "code_hidden": [8]}
        if name == "alpha_gan"
        else {"name": name, "latent_dim": 4, "base_width": 8, "ema_decay": 0.5},
        image_size=28,
        channels=1,
        num_classes=2,
    )
    assert set(m.ema) == set(m.generator_modules) and m.generator_group in m.optimizer_groups()
    first = m.generator_modules[0]
    live = next(getattr(m, first).parameters())
    before = next(m.ema[first].parameters()).detach().clone()
    with torch.no_grad():
        live.add_(1.0)
    m.after_optimizer_step(m.generator_group)
    torch.testing.assert_close(next(m.ema[first].parameters()), before + 0.5)  # 0.5 * old + 0.5 * (old + 1)
    with m.averaged_generator():
        assert all(getattr(m, n) is m.ema[n] for n in m.generator_modules)
    assert getattr(m, first) is not m.ema[first]  # restored
