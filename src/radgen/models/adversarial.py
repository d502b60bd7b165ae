"""Adversarial models: the shared base, LSGAN (DCGAN) and WGAN-GP.

Real images enter discriminators in [-1, 1] (``to_signed``); generators end in tanh and
``sample`` returns ``to_unit`` of their output. A class-conditional option concatenates
the one-hot label to z and, as constant maps, to the discriminator's input channels, so
one model can generate the minority class. Adversarial models keep the last checkpoint
as the exported one (their losses do not rank checkpoints), and warn when training
collapses: discriminator loss near zero for several epochs, or near-identical samples
(pairwise MS-SSIM, checked on every sample grid).

Options for small training sets, shared by every adversarial model and off by default (the
design documents' configs train as they did): differentiable augmentation of everything the
discriminator sees (``augment``, DiffAugment, Zhao et al. 2020; ``augment_schedule: adaptive`` moves
its probability by ADA's r_t heuristic, Karras et al. 2020), spectral normalisation of the
discriminator (``spectral_norm``, Miyato et al. 2018), a lazy R1 penalty on real images
(``r1_weight``, ``r1_every``: Mescheder et al. 2018, Eq. 9; lazy as in StyleGAN2, Karras et al.
2020b, Sec. 4: every k-th discriminator step, weighted by k), and an exponential moving average of
the generator's weights (``ema_decay``; Karras et al. 2018, Yazici et al. 2019) that ``sample`` and
the export use. Two learning rates (TTUR, Heusel et al. 2017) are ``train.lr_groups``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from radgen.errors import ConfigError
from radgen.losses import (
    gradient_penalty,
    hinge_discriminator,
    hinge_generator,
    ls_discriminator,
    ls_generator,
    r1_penalty,
)
from radgen.models.base import CapabilityError, GenerativeModel, ModelConfig, ModelOutput, register_model
from radgen.models.latent import LOGVAR_CLAMP
from radgen.nn.augment import AugmentOp, DiffAugment
from radgen.nn.gan import (
    DCGANDiscriminator,
    DCGANGenerator,
    Norm,
    spectral_normalise,
    start_size,
    to_signed,
    to_unit,
)

D_COLLAPSE_LOSS = 1e-3  # epoch-mean discriminator loss below this: D wins outright
D_COLLAPSE_EPOCHS = 3


@dataclass
class AdversarialConfig(ModelConfig):
    """Settings shared by the GAN family: latent size, widths, conditioning and the small-data stabilisers."""

    latent_dim: int = 100
    base_width: int = 64  # DCGAN ngf/ndf: widths base, 2*base, ... (capped at 8*base)
    conditional: Literal["none", "one_hot"] = "none"
    # -- small-data options (module docstring); the defaults train as the design documents did --
    augment: list[AugmentOp] = field(default_factory=list)  # DiffAugment ops on D's inputs; [] = off
    augment_p: float = 1.0  # probability per op per image (DiffAugment: 1); the start value when adaptive
    augment_schedule: Literal["fixed", "adaptive"] = "fixed"  # adaptive: ADA's r_t heuristic moves augment_p
    ada_target: float = 0.6  # ADA's target for r_t = E[sign(D(x_real) - m)] (Karras et al. 2020: 0.6)
    ada_kimg: float = 10.0  # thousand real images for p to move 0 -> 1 (ADA: 500 for 100k-image runs)
    ada_interval: int = 4  # discriminator steps between adjustments of p (ADA: 4)
    spectral_norm: Literal["none", "discriminator"] = "none"
    discriminator_norm: Literal["default", "batch", "layer", "none"] = "default"  # default: the family's own
    r1_weight: float = 0.0  # gamma; the D loss gains gamma/2 * E||grad_x D(x)||^2 on reals; 0 = off
    r1_every: int = 16  # lazy R1: every k-th discriminator step, weighted by k (StyleGAN2: 16)
    ema_decay: float = 0.0  # generator EMA: theta_ema <- decay * theta_ema + (1 - decay) * theta; 0 = off


class AdversarialModel(GenerativeModel):
    """Subclasses build ``self.generator``/``self.discriminator``, define the group losses, score real
    images with ``discriminate_real`` in the discriminator's step and call ``add_stabilisers()`` last
    in ``__init__``."""

    Config = AdversarialConfig
    checkpoint_selection = "last"
    latent_decoder = True
    d_loss_key: ClassVar[str | None] = "loss/d"
    #: the optimizer group that trains the generator (its step updates the EMA)
    generator_group: ClassVar[str] = "generator"
    #: the sub-networks ``generate`` runs; the EMA keeps an averaged copy of each
    generator_modules: ClassVar[tuple[str, ...]] = ("generator",)
    #: the discriminator group (R1 and ADA count its steps)
    discriminator_group: ClassVar[str] = "discriminator"

    @classmethod
    def check_image_size(cls, config: ModelConfig, size: int) -> None:
        """DCGAN networks double from a 4-7 px start (``nn.gan.start_size``)."""
        super().check_image_size(config, size)
        start_size(size)

    def __init__(self, config: AdversarialConfig):
        super().__init__(config)
        self.config: AdversarialConfig = config
        self.k = int(config.num_classes) if config.conditional != "none" else 0
        self._low_d_epochs = 0
        self._d_steps = 0  # training discriminator steps taken (lazy R1 schedule)
        self._shared: tuple[torch.Tensor, torch.Tensor] | None = None  # (x, fake) made by begin_batch
        self.augment: DiffAugment | None = None
        self.ema: nn.ModuleDict | None = None
        c = config
        if c.r1_weight < 0 or c.r1_every < 1:
            raise ConfigError(f"model.r1_weight={c.r1_weight} must be >= 0 and model.r1_every={c.r1_every} >= 1")
        if not 0.0 <= c.ema_decay < 1.0:
            raise ConfigError(f"model.ema_decay={c.ema_decay} must be in [0, 1) (0 turns the EMA off)")
        if not 0.0 <= c.augment_p <= 1.0:
            raise ConfigError(f"model.augment_p={c.augment_p} must be in [0, 1]")
        if c.augment_schedule == "adaptive" and not c.augment:
            raise ConfigError("model.augment_schedule=adaptive needs model.augment ops, e.g. [translation, cutout]")
        if c.augment_schedule == "adaptive" and self.real_score_midpoint() is None:
            raise ConfigError(
                f"model.augment_schedule=adaptive needs a discriminator with real/fake targets; {c.name}'s critic "
                f"scores are unbounded (ADA's r_t has no midpoint): use augment_schedule=fixed"
            )

    # -- one fake batch per step ---------------------------------------------------------------------
    def shares_fake_batch(self, batch_idx: int) -> bool:
        """Whether ``begin_batch`` makes the batch's fakes (models whose maths allows it override)."""
        return False

    def begin_batch(self, batch, batch_idx: int = 0) -> None:
        """The PyTorch DCGAN recipe's step: generate once, with the generator's graph when a generator
        step follows on this batch; the discriminator's step sees the batch detached and the first
        generator step reuses it (later generator steps on the same batch generate anew, since the
        generator has changed)."""
        self._shared = None
        if not self.shares_fake_batch(batch_idx):
            return
        x, y = batch
        with torch.set_grad_enabled(
            torch.is_grad_enabled() and self.group_steps(batch_idx).get(self.generator_group, 1) > 0
        ):
            self._shared = (x, self.generate(self.noise(x.shape[0]), self.condition_labels(y)))

    def end_batch(self) -> None:
        self._shared = None

    def fakes_for(self, x: torch.Tensor, y: torch.Tensor | None, group: str) -> torch.Tensor:
        """The fakes for ``group``'s step on images ``x``: the batch's shared fakes (the generator's
        step consumes them) or freshly generated ones."""
        if self._shared is not None and self._shared[0] is x:
            fake = self._shared[1]
            if group == self.generator_group:
                self._shared = None
            if group != self.generator_group or fake.requires_grad:
                return fake
        return self.generate(self.noise(x.shape[0]), y)

    # -- stabilisers -----------------------------------------------------------------------------
    def d_norm(self, family_default: Norm) -> Norm:
        """The discriminator's normalisation: ``model.discriminator_norm`` or the family's own."""
        return family_default if self.config.discriminator_norm == "default" else self.config.discriminator_norm

    def real_score_midpoint(self) -> float | None:
        """m in ADA's r_t = E[sign(D(x_real) - m)]: between the loss's real and fake targets (None: a critic)."""
        return 0.0

    def add_stabilisers(self) -> None:
        """Called at the end of a subclass's ``__init__``, once its networks exist."""
        c = self.config
        if c.augment:
            self.augment = DiffAugment(
                c.augment,
                p=c.augment_p,
                adaptive=c.augment_schedule == "adaptive",
                target=c.ada_target,
                interval=c.ada_interval,
                kimg=c.ada_kimg,
            )
        if c.spectral_norm == "discriminator":
            spectral_normalise(self.discriminator)
        if c.ema_decay > 0:
            self.ema = nn.ModuleDict(
                {n: copy.deepcopy(getattr(self, n)).requires_grad_(False) for n in self.generator_modules}
            )

    @torch.no_grad()
    def after_optimizer_step(self, group: str) -> None:
        """After a generator step: theta_ema <- decay * theta_ema + (1 - decay) * theta; buffers
        (BatchNorm statistics) are copied, as StyleGAN's EMA does."""
        if self.ema is None or group != self.generator_group:
            return
        for name in self.generator_modules:
            live, avg = getattr(self, name), self.ema[name]
            torch._foreach_lerp_(list(avg.parameters()), list(live.parameters()), 1.0 - self.config.ema_decay)
            for b_avg, b_live in zip(avg.buffers(), live.buffers()):
                b_avg.copy_(b_live)

    @contextmanager
    def averaged_generator(self) -> Iterator[None]:
        """Within this block the generator's sub-networks are their EMA copies (no-op without EMA)."""
        if self.ema is None:
            yield
            return
        live = {n: self._modules[n] for n in self.generator_modules}
        try:
            for n in self.generator_modules:
                self._modules[n] = self.ema[n]
            yield
        finally:
            self._modules.update(live)

    def discriminate_real(
        self, real_signed: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor]]:
        """D on real images in the discriminator's step: (scores, penalty to add to the loss or None, logs).

        In training steps it feeds ADA's r_t and, every ``r1_every``-th step, returns the lazy R1
        term r1_every * gamma / 2 * E||grad_x D(x)||^2 (the gradient w.r.t. the un-augmented image,
        through the augmentation, as StyleGAN2-ADA takes it)."""
        c = self.config
        training = self.training and torch.is_grad_enabled()
        lazy_r1 = training and c.r1_weight > 0 and self._d_steps % c.r1_every == 0
        if training:
            self._d_steps += 1
        real = real_signed.detach().requires_grad_(True) if lazy_r1 else real_signed
        d_real = self.discriminate(real, y)
        logs: dict[str, torch.Tensor] = {}
        penalty = None
        if lazy_r1:
            r1 = r1_penalty(d_real, real)
            penalty = (c.r1_every * c.r1_weight / 2) * r1
            logs["r1"] = r1.detach()
        mid = self.real_score_midpoint()
        if self.augment is not None and training and mid is not None:
            logs["augment/r_t"] = self.augment.observe(d_real - mid)
            logs["augment/p"] = self.augment.p.detach().clone()
        return d_real, penalty, logs

    membership_attack = "the discriminator's score of the real image (Hayes et al. 2019, LOGAN), no augmentation"

    @torch.no_grad()
    def membership_score(self, x, y=None, *, generator=None) -> torch.Tensor:
        """D(x) for real images x in [0, 1] (eval mode: no augmentation); higher = judged more real = member."""
        was = self.training
        self.eval()
        try:
            return self.discriminate(to_signed(x), self.condition_labels(y)).reshape(x.shape[0], -1).mean(1)
        finally:
            self.train(was)

    def private_modules(self) -> dict[str, nn.Module]:
        """Only the discriminator sees real images; the generator learns from its (privatised) outputs alone."""
        c = self.config
        groups = set(self.optimizer_groups())
        if groups != {self.generator_group, self.discriminator_group}:
            raise CapabilityError(
                f"model {c.name!r} trains {sorted(groups)}; networks besides the discriminator see real images "
                "(an encoder), so DP training covers lsgan only"
            )
        if c.augment_schedule == "adaptive":
            raise CapabilityError(
                "ADA adapts its probability to D's scores on real images, outside the privacy accounting; use "
                "model.augment_schedule=fixed"
            )
        if c.r1_weight > 0 or c.spectral_norm != "none":
            raise CapabilityError(
                "the R1 penalty and spectral normalisation are not supported by per-image gradients; set "
                "model.r1_weight=0 and model.spectral_norm=none"
            )
        return {self.discriminator_group: self.discriminator}

    def describe_losses(self) -> str:
        c, extra = self.config, []
        if c.augment:
            extra.append(
                f"D sees DiffAugment({', '.join(c.augment)}) of real and generated images, each op with probability "
                + (
                    f"p adapted by ADA (target r_t {c.ada_target})"
                    if c.augment_schedule == "adaptive"
                    else f"{c.augment_p}"
                )
            )
        if c.r1_weight > 0:
            extra.append(
                f"D + {c.r1_every} * {c.r1_weight}/2 * E||grad_x D(x)||^2 on reals every {c.r1_every} D steps"
            )
        if c.spectral_norm != "none":
            extra.append("spectrally normalised D")
        if c.ema_decay > 0:
            extra.append(f"samples from a generator EMA (decay {c.ema_decay})")
        return "; ".join([self.loss_statement, *extra])

    @property
    def supports_labels(self) -> bool:
        return self.k > 0

    def label_vector(self, y: torch.Tensor | None) -> torch.Tensor | None:
        """The one-hot label (conditional models), to z and as constant maps to the discriminator's input."""
        return F.one_hot(y.long(), self.k).float() if self.k and y is not None else None

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, generator=generator, device=self._device)

    def generate(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Generator output in [-1, 1]."""
        return self.generator(self.condition(z, y))

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Generator output in [0, 1]."""
        return to_unit(self.generate(z, self.condition_labels(y)))

    def discriminate(self, x_signed: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """D's scores; in training, of the augmented images (the same ``DiffAugment`` for real and fake)."""
        if self.augment is not None and self.training:
            x_signed = self.augment(x_signed)
        return self.discriminator(self.condition(x_signed, y))

    @torch.no_grad()
    def sample(
        self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Samples in [0, 1], from the generator's EMA when the model keeps one."""
        y = self.check_labels(labels, n)
        if y is not None:
            y = y.to(self._device)
        with self.averaged_generator():
            return to_unit(self.generate(self.noise(n, generator), y))

    def collapse_check(self, epoch_logs: dict[str, float]) -> str | None:
        """Called once per epoch with the epoch means; returns a warning or None."""
        if self.d_loss_key is None or self.d_loss_key not in epoch_logs:
            return None
        self._low_d_epochs = self._low_d_epochs + 1 if epoch_logs[self.d_loss_key] < D_COLLAPSE_LOSS else 0
        if self._low_d_epochs >= D_COLLAPSE_EPOCHS:
            return (
                f"{self.d_loss_key} has stayed below {D_COLLAPSE_LOSS} for {self._low_d_epochs} "
                "epochs: the discriminator wins and the "
                f"generator gets no signal; lower the discriminator's lr (train.lr_groups) or raise generator steps"
            )
        return None


class GaussianEncoderGAN(AdversarialModel):
    """Adversarial models with an encoder to q(z|x) = N(mu, sigma^2) (VAE-GAN, the 004 hybrid)."""

    encoding = "gaussian"

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(self.condition(to_signed(x), y)).chunk(2, dim=1)
        return mu, logvar.clamp(*LOGVAR_CLAMP)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Decode the posterior mean."""
        y = self.condition_labels(y)
        mu, _ = self.encode(x, y)
        return to_unit(self.generate(mu, y))


@dataclass
class LSGANConfig(AdversarialConfig):
    """LSGAN's settings: generator steps per discriminator step and the loss (least squares or hinge)."""

    generator_steps: int = 1  # generator updates per discriminator update (design document 003 used 3)
    loss: Literal["least_squares", "hinge"] = "least_squares"  # hinge: Lim & Ye 2017, Miyato et al. 2018
    fake_batch: Literal["shared", "per_group"] = "shared"  # shared: one fake batch per step (the DCGAN recipe)


LOSS_STATEMENTS = {
    "least_squares": (
        "LSGAN: D = 1/2 E[(D(x)-1)^2] + 1/2 E[D(G(z))^2], G = 1/2 E[(D(G(z))-1)^2], each a mean over the batch"
    ),
    "hinge": "hinge GAN: D = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))], G = -E[D(G(z))], means over the batch",
}


@register_model(
    "lsgan",
    "least-squares GAN (Mao et al. 2017) on DCGAN networks (Radford et al. 2016), design document 003; "
    "class-conditional option; hinge loss, DiffAugment/ADA, spectral norm, R1 and generator EMA as options",
)
class LSGAN(AdversarialModel):
    """Least-squares GAN (Mao et al. 2017) on DCGAN networks (Radford et al. 2016)."""

    Config = LSGANConfig
    loss_statement = LOSS_STATEMENTS["least_squares"]

    def __init__(self, config: LSGANConfig):
        super().__init__(config)
        if config.generator_steps < 1:
            raise ConfigError(f"model.generator_steps={config.generator_steps} must be >= 1")
        c = config
        self.loss_statement = LOSS_STATEMENTS[c.loss]
        self.generator = DCGANGenerator(c.latent_dim + self.k, int(c.image_size), int(c.channels), base=c.base_width)
        self.discriminator = DCGANDiscriminator(
            int(c.channels) + self.k, int(c.image_size), base=c.base_width, norm=self.d_norm("batch")
        )
        self.add_stabilisers()

    def real_score_midpoint(self) -> float:
        return 0.5 if self.config.loss == "least_squares" else 0.0  # LS targets 1 and 0; hinge margins +-1

    def shares_fake_batch(self, batch_idx: int) -> bool:
        return self.config.fake_batch == "shared"

    def optimizer_groups(self):
        return {"discriminator": list(self.discriminator.parameters()), "generator": list(self.generator.parameters())}

    def group_steps(self, batch_idx: int = 0):
        return {"discriminator": 1, "generator": self.config.generator_steps}

    def forward(self, batch, *, group: str = "discriminator") -> ModelOutput:
        x, y = batch
        y = self.condition_labels(y)
        fake = self.fakes_for(x, y, group)
        hinge = self.config.loss == "hinge"
        if group == "discriminator":
            d_real, penalty, logs = self.discriminate_real(to_signed(x), y)
            d_fake = self.discriminate(fake.detach(), y)
            loss = hinge_discriminator(d_real, d_fake) if hinge else ls_discriminator(d_real, d_fake)
            logs = {
                "loss/d": loss.detach(),
                "d/real": d_real.mean().detach(),
                "d/fake": d_fake.mean().detach(),
                **logs,
            }
            return ModelOutput(loss if penalty is None else loss + penalty, logs)
        d_fake = self.discriminate(fake, y)
        loss = hinge_generator(d_fake) if hinge else ls_generator(d_fake)
        return ModelOutput(loss, {"loss/g": loss.detach()})


@dataclass
class WGANGPConfig(AdversarialConfig):
    """WGAN-GP's settings: critic steps per generator step and the gradient-penalty weight."""

    n_critic: int = 5  # critic updates per generator update (Gulrajani et al. 2017)
    gp_weight: float = 10.0  # lambda
    fake_batch: Literal["shared", "per_group"] = "shared"  # shared: a generator step reuses its batch's critic fakes


@register_model(
    "wgan_gp",
    "Wasserstein GAN with gradient penalty (Gulrajani et al. 2017), critic without BatchNorm; a "
    "baseline of design document 004",
)
class WGANGP(AdversarialModel):
    """Wasserstein GAN with gradient penalty (Gulrajani et al. 2017)."""

    Config = WGANGPConfig
    d_loss_key = None  # a critic's loss is not bounded below by 0: no "D wins" test
    discriminator_group = "critic"
    loss_statement = (
        "WGAN-GP: critic = E[D(G(z))] - E[D(x)] + lambda E[(||grad D(x_hat)||_2 - "
        "1)^2], generator = -E[D(G(z))], means over the batch"
    )

    def __init__(self, config: WGANGPConfig):
        super().__init__(config)
        c = config
        if c.n_critic < 1:
            raise ConfigError(f"model.n_critic={c.n_critic} must be >= 1")
        self.generator = DCGANGenerator(c.latent_dim + self.k, int(c.image_size), int(c.channels), base=c.base_width)
        self.discriminator = DCGANDiscriminator(
            int(c.channels) + self.k, int(c.image_size), base=c.base_width, norm=self.d_norm("layer")
        )
        self.add_stabilisers()

    def real_score_midpoint(self) -> None:
        return None  # a critic's scores have no real/fake targets

    def private_modules(self) -> dict[str, nn.Module]:
        """Refused: the gradient penalty differentiates the critic's input gradient; per-image hooks do not."""
        raise CapabilityError(
            "wgan_gp's gradient penalty needs second derivatives that Opacus's per-image gradients do not give; "
            "train lsgan with model.discriminator_norm=layer under train.privacy"
        )

    def shares_fake_batch(self, batch_idx: int) -> bool:
        return self.config.fake_batch == "shared"

    def optimizer_groups(self):
        return {"critic": list(self.discriminator.parameters()), "generator": list(self.generator.parameters())}

    def group_steps(self, batch_idx: int = 0):
        return {"critic": 1, "generator": 1 if (batch_idx + 1) % self.config.n_critic == 0 else 0}

    def forward(self, batch, *, group: str = "critic") -> ModelOutput:
        x, y = batch
        y = self.condition_labels(y)
        fake = self.fakes_for(x, y, group)
        if group == "critic":
            real = to_signed(x)
            d_real, penalty, logs = self.discriminate_real(real, y)
            d_real, d_fake = d_real.mean(), self.discriminate(fake.detach(), y).mean()
            gp = gradient_penalty(lambda t: self.discriminate(t, y), real, fake)
            loss = d_fake - d_real + self.config.gp_weight * gp
            logs = {"loss/critic": loss.detach(), "wasserstein": (d_real - d_fake).detach(), "gp": gp.detach(), **logs}
            return ModelOutput(loss if penalty is None else loss + penalty, logs)
        loss = -self.discriminate(fake, y).mean()
        return ModelOutput(loss, {"loss/g": loss.detach()})
