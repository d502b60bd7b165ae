"""One contract suite parametrised over every registered model: a model is tested the moment it registers."""

from __future__ import annotations

import typing

import pytest
import torch

from radgen.models import MODELS, build_model, load_exported, save_exported
from radgen.training.config import load_run_config, shipped_configs

# Small widths keep the suite fast; each entry only shrinks sizes, never changes the maths.
SMALL = {
    "latent_dim": 4,
    "hidden": [32, 32],
    "widths": [8, 16, 32],
    "components": 3,
    "base_width": 8,
    "code_hidden": [16],
    "block_out_channels": [8, 16],
    "norm_groups": 8,
    "layers_per_block": 1,
    "attention_resolutions": [14, 32],
    "sampler": "ddim",
    "sample_steps": 4,
    "encoder_width": 1 / 16,  # ImageNet backbones (design document 003) at 1/16 of their channels
    "transition_channels": 8,
    "decoder_hidden": [16],
}
# Shipped configs whose model sections differ in structure, not only in sizes (design document 003, Table 4):
# each is a contract case of its own, at the small sizes above.
CONFIG_CASES = sorted(f"config:{k}" for k in shipped_configs() if k.startswith("seed003_table4_"))
# The small-data options of adversarial models (DiffAugment/ADA, spectral norm, lazy R1, generator EMA; hinge
# loss where the family has it), all on: "lsgan+stabilisers" is lsgan with these. Critics take a fixed
# augmentation probability (ADA's r_t needs real/fake targets). gvae's two-module EMA is tested in
# test_gan_stabilisers.py (its contract steps are the suite's slowest).
STABILISED = {
    "augment": ["translation", "cutout", "brightness", "contrast"],
    "augment_p": 0.5,
    "spectral_norm": "discriminator",
    "discriminator_norm": "none",
    "r1_weight": 1.0,
    "r1_every": 4,
    "ema_decay": 0.9,
}
VARIANTS = {
    "lsgan+stabilisers": ("lsgan", {**STABILISED, "loss": "hinge", "augment_schedule": "adaptive", "ada_interval": 1}),
    "wgan_gp+stabilisers": ("wgan_gp", STABILISED),
}
CASES = [*MODELS.names(), *CONFIG_CASES, *VARIANTS]
# The 25-step overfit test takes one config per structure: linear decoder + label, Decoder 1 without the transition
# net, Decoder 2 with it, DenseNet121 (the other five repeat these with another z, K or normalisation).
OVERFIT_CASES = [
    *MODELS.names(),
    *VARIANTS,
    *(f"config:seed003_table4_{v}" for v in ("fs_gmvae_v1", "gmvae_v3", "gmvae_v6", "gmvae_v8")),
]

TINY_AUTOENCODER = {
    "block_out_channels": [8, 8, 8],
    "norm_groups": 4,
    "latent_channels": 2,
    "mid_block": "resnet",
    "structural": "none",  # torchmetrics SSIM costs ~0.2 s a call; tests/models/test_latent_diffusion.py covers it
}
# Per-model tiny configs where SMALL's shared sizes do not fit (the latent UNet sees 7 px latents at 28 px: one level).
TINY = {
    "autoencoder_kl": TINY_AUTOENCODER,
    "latent_diffusion": {"block_out_channels": [8], "autoencoder_config": TINY_AUTOENCODER, "sample_steps": 3},
}


def model_section(case: str) -> dict:
    if case in VARIANTS:
        name, options = VARIANTS[case]
        return {"name": name, **options}
    if case.startswith("config:"):
        return dict(load_run_config(case.removeprefix("config:")).model)
    return {"name": case}


def make(case: str, size: int = 28, channels: int = 1, **over):
    section = model_section(case)
    cls = MODELS.get(section["name"]).cls.Config
    fields = set(cls.__dataclass_fields__)
    small = {k: v for k, v in {**SMALL, **TINY.get(case, {})}.items() if k in fields}
    torch.manual_seed(0)
    return build_model({**section, **small, **over}, image_size=size, channels=channels, num_classes=2)


def batch(channels: int = 1, size: int = 28, n: int = 6):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, channels, size, size, generator=g), torch.tensor([0, 1] * (n // 2))


@pytest.mark.parametrize("name", CASES)
def test_every_group_gives_a_finite_loss_with_scalar_logs(name):
    m = make(name)
    for group in m.optimizer_groups():
        out = m(batch(), group=group)
        assert out.loss.ndim == 0 and torch.isfinite(out.loss)
        assert out.logs and all(v.ndim == 0 and not v.requires_grad and torch.isfinite(v) for v in out.logs.values())
        assert any(k.startswith("loss/") for k in out.logs)


@pytest.mark.parametrize("name", CASES)
def test_a_step_of_each_group_updates_that_group_and_only_it(name):
    m = make(name)
    groups = m.optimizer_groups()
    trainable = [p for p in m.parameters() if p.requires_grad]  # EMA copies are buffers-in-spirit: frozen
    assert sum(len(p) for p in groups.values()) == len(trainable)  # every trainable parameter has an owner
    owner = {id(p): g for g, ps in groups.items() for p in ps}
    for group, params in groups.items():
        before = {n: p.detach().clone() for n, p in m.named_parameters()}
        opt = torch.optim.Adam(params, lr=1e-2)
        m.zero_grad(set_to_none=True)
        m(batch(), group=group).loss.backward()
        opt.step()
        for n, p in m.named_parameters():
            moved = not torch.equal(p.detach(), before[n])
            if id(p) not in owner:
                assert not moved, f"frozen parameter {n} moved"
                continue
            if owner[id(p)] != group:
                assert not moved, f"{group} step moved {n}, which belongs to {owner[id(p)]}"
        assert sum(
            not torch.equal(p.detach(), before[n]) for n, p in m.named_parameters() if owner.get(id(p)) == group
        ) >= 0.8 * len(params)


@pytest.mark.parametrize("name", OVERFIT_CASES)
def test_each_groups_loss_falls_when_it_alone_trains(name):
    """Overfit smoke: with the other players fixed and the noise fixed, a group's own loss goes down."""
    m = make(name)
    x, y = batch()
    for group, params in m.optimizer_groups().items():
        opt = torch.optim.Adam(params, lr=2e-3)
        losses = []
        for _ in range(25):
            torch.manual_seed(123)  # same z and eps every step
            out = m((x, y), group=group)
            opt.zero_grad()
            out.loss.backward()
            opt.step()
            losses.append(float(out.loss.detach()))
        assert min(losses[-5:]) < losses[0], f"{name}/{group}: {losses[0]:.4f} -> {losses[-1]:.4f}"


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("channels,size", [(1, 28), (3, 64)])
def test_seeded_samples_in_unit_range_and_deterministic(name, channels, size):
    m = make(name, size, channels).eval()
    labels = torch.tensor([0, 1, 1]) if m.supports_labels else None
    a = m.sample(3, labels=labels, generator=torch.Generator().manual_seed(4))
    b = m.sample(3, labels=labels, generator=torch.Generator().manual_seed(4))
    assert a.shape == (3, channels, size, size) and torch.equal(a, b)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0


@pytest.mark.parametrize("name", CASES)
def test_export_round_trip_is_identical(name, tmp_path):
    family = MODELS.get(model_section(name)["name"]).cls.Config
    field = family.__dataclass_fields__.get("conditional")
    choices = typing.get_args(field.type) if field is not None and not isinstance(field.type, str) else ()
    if field is not None and isinstance(field.type, str):  # postponed annotations
        choices = typing.get_args(typing.get_type_hints(family)["conditional"])
    cond = next((c for c in choices if c != "none"), None)
    m = make(name, conditional=cond) if cond else make(name)
    m.eval()
    save_exported(m, tmp_path / "e")
    loaded, _ = load_exported(tmp_path / "e")
    assert type(loaded) is type(m) and loaded.config == m.config
    labels = torch.tensor([1, 0]) if m.supports_labels else None
    torch.testing.assert_close(
        m.sample(2, labels=labels, generator=torch.Generator().manual_seed(9)),
        loaded.sample(2, labels=labels, generator=torch.Generator().manual_seed(9)),
        rtol=0,
        atol=1e-6,
    )
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == ["config.yaml", "weights.safetensors"]
