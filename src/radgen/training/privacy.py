"""Differentially private training (``train.privacy``): DP-SGD (Abadi et al. 2016) through Opacus.

For every optimizer group whose gradients depend on real images (``GenerativeModel.private_modules``: the
whole model for the VAE family, the UNet for the DDPM, only the discriminator for a GAN, whose generator sees
real images only through the discriminator's privatised outputs, which is post-processing), each step:

1. draws its batch by Poisson sampling (every training image independently with probability q = 1 / ceil(N / B):
   Opacus's ``DPDataLoader``; batches vary in size around B, an epoch is 1 / q steps);
2. computes per-image gradients (Opacus's ``GradSampleModule`` hooks on the private sub-network), clips each to
   L2 norm C = ``max_grad_norm`` and adds Gaussian noise of standard deviation sigma C to their sum
   (Opacus's ``DPOptimizer`` around the group's Adam);
3. counts the step in an accountant (``accountant``: PRV, Gopi et al. 2021, the default; or RDP, Mironov 2017).

sigma is chosen before training (Opacus's ``get_noise_multiplier``) so that the planned number of private steps
spends at most ``epsilon`` at ``delta``; the epsilon actually spent is read from the accountant after fitting
(less when training stops early) and recorded in ``run.json``, ``metrics.json``, the report and a release's
datasheet. Within a GAN's discriminator step the per-image gradient of real image i includes the fake image
paired with it in the batch; clipping bounds their joint contribution, which is what removing image i changes.

Refused, each in one line before anything is written: models that declare no private sub-network; BatchNorm
(per-image gradients are undefined when images in a batch interact; Opacus's ``ModuleValidator`` names the layer:
use GroupNorm/LayerNorm, e.g. ``model.discriminator_norm=layer`` for a GAN); ``train.gradient_clip`` (DP clips
per image); mixed precision and ``train.compile``; more than one device or node (Opacus's accounting under DDP
needs its distributed sampler, which the engine does not wire); resuming a private run (the accountant's state is
not in the checkpoint). In-place activations (``nn.LeakyReLU(inplace=True)``) of a private network are made
out-of-place (the same values; Opacus's backward hooks forbid in-place edits). Noise comes from torch's default
generator, not a cryptographically secure one (Opacus ``secure_mode`` off): the guarantee holds against an
attacker who cannot predict torch's PRNG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch

from radgen.errors import ConfigError
from radgen.models.base import CapabilityError

OPACUS_HINT = "pip install 'radgen[privacy]' (opacus==1.6.0)"


@dataclass
class PrivacyConfig:
    """``train.privacy``: DP-SGD (Abadi et al., CCS 2016) through Opacus to a target (epsilon, delta) for the run."""

    epsilon: float = 8.0  # target epsilon for the whole run
    delta: float = 1e-5  # must be below 1 / (training images)
    max_grad_norm: float = 1.0  # C: per-image gradient clipping norm
    accountant: Literal["prv", "rdp"] = "prv"


def check_privacy_config(p: PrivacyConfig, train) -> None:
    """Settings that cannot give a correct guarantee, refused when the config is read (``train`` a TrainConfig)."""
    if not (math.isfinite(p.epsilon) and p.epsilon > 0):
        raise ConfigError(f"train.privacy.epsilon={p.epsilon} must be > 0 and finite (no privacy: train.privacy=null)")
    if not 0 < p.delta < 1:
        raise ConfigError(f"train.privacy.delta={p.delta} must be in (0, 1), e.g. 1e-5 (below 1 / training images)")
    if not (math.isfinite(p.max_grad_norm) and p.max_grad_norm > 0):
        raise ConfigError(f"train.privacy.max_grad_norm={p.max_grad_norm} must be > 0, e.g. 1.0")
    if train.gradient_clip is not None:
        raise ConfigError(
            "train.gradient_clip is set with train.privacy: DP-SGD clips each image's gradient at "
            "train.privacy.max_grad_norm instead; set train.gradient_clip=null"
        )
    if train.precision != "32-true":
        raise ConfigError(f"train.precision={train.precision} with train.privacy: private training runs in 32-true")
    if train.compile:
        raise ConfigError("train.compile with train.privacy: Opacus's per-image gradient hooks need the eager model")
    one = train.devices in (1, "1") or (isinstance(train.devices, list) and len(train.devices) == 1)
    many = train.num_nodes != 1 or train.strategy not in ("auto", "single_device") or not one
    if many:
        raise ConfigError(
            f"train.privacy with devices={train.devices!r}, num_nodes={train.num_nodes}, strategy={train.strategy!r}: "
            "private training runs on one device (the accountant does not follow DDP's sampling); set train.devices=1"
        )


def _opacus():
    try:
        import opacus  # noqa: F401
    except ImportError:
        raise ConfigError(f"train.privacy needs Opacus: {OPACUS_HINT}") from None
    import opacus

    return opacus


def epsilon_spent(noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str) -> float:
    """epsilon after ``steps`` Poisson-subsampled Gaussian steps, from Opacus's accountant of that name."""
    _opacus()
    from opacus.accountants import create_accountant

    acc = create_accountant(accountant)
    if steps == 0:
        return 0.0
    acc.history = [(noise_multiplier, sample_rate, steps)]
    return float(acc.get_epsilon(delta))


class PrivateTraining:
    """Plans sigma for a run, wraps the private groups' networks, loader and optimizers, and keeps the
    accountant (module docstring). Built by the engine (``training.run``) when ``train.privacy`` is set."""

    def __init__(self, cfg: PrivacyConfig, model, *, n_train: int, batch_size: int, epochs: int, limit_batches, seed):
        opacus = _opacus()
        self.cfg, self.seed = cfg, seed
        if cfg.delta >= 1 / n_train:
            raise ConfigError(
                f"train.privacy.delta={cfg.delta} is not below 1 / {n_train} training images; use at most "
                f"{10 ** math.floor(math.log10(1 / n_train / 10)):g}"
            )
        if batch_size >= n_train:
            raise ConfigError(f"train.batch_size={batch_size} must be below the {n_train} training images for DP-SGD")
        try:
            self.modules: dict[str, torch.nn.Module] = model.private_modules()
        except CapabilityError as exc:
            raise ConfigError(f"train.privacy: {exc}") from None
        self.groups = list(model.optimizer_groups())
        self.public = [g for g in self.groups if g not in self.modules]
        from opacus.validators import ModuleValidator

        for group, module in self.modules.items():
            errors = ModuleValidator.validate(module, strict=False)
            if errors:
                if any("BatchNorm" in str(e) for e in errors):
                    why = (
                        "it has BatchNorm, which mixes the images of a batch (no per-image gradient); use a "
                        "GroupNorm/LayerNorm variant (a GAN: model.discriminator_norm=layer) or a model without it"
                    )
                else:
                    why = " ".join(str(errors[0]).split())[:200]
                raise ConfigError(
                    f"train.privacy: {model.config.name}'s {group} network cannot be trained privately: {why}"
                )
        per_epoch = math.ceil(n_train / batch_size)  # the plain loader's length, which DPDataLoader keeps
        self.sample_rate = 1 / per_epoch  # as DPDataLoader.from_data_loader sets it: q = 1 / len(loader)
        if isinstance(limit_batches, int) and not isinstance(limit_batches, bool):
            per_epoch = min(per_epoch, limit_batches)
        elif isinstance(limit_batches, float):
            per_epoch = max(1, int(per_epoch * limit_batches))
        per_batch = {g: sum(int(model.group_steps(i).get(g, 1)) for i in range(per_epoch)) for g in self.modules}
        self.steps_planned = epochs * max(per_batch.values())
        from opacus.accountants.utils import get_noise_multiplier

        self.noise_multiplier = float(
            get_noise_multiplier(
                target_epsilon=cfg.epsilon,
                target_delta=cfg.delta,
                sample_rate=self.sample_rate,
                steps=self.steps_planned,
                accountant=cfg.accountant,
            )
        )
        self.expected_batch_size = int(n_train * self.sample_rate)  # as Opacus's make_private sets it
        self.accountant = opacus.accountants.create_accountant(cfg.accountant)
        self.steps_taken = 0
        self.version = opacus.__version__
        self._wrapped = False

    def attach(self) -> None:
        """Per-image gradient hooks on every private network (the model keeps calling its own modules)."""
        from opacus import GradSampleModule

        if not self._wrapped:
            for module in self.modules.values():  # in-place activations break the per-image backward hooks
                for m in module.modules():
                    if getattr(m, "inplace", False) is True:
                        m.inplace = False
            self._gsm = {
                g: GradSampleModule(m, batch_first=True, loss_reduction="mean") for g, m in self.modules.items()
            }
            self._wrapped = True

    def select(self, group: str) -> None:
        """Before ``group``'s step: per-image hooks on for its own private network only (a GAN's generator step
        back-propagates through the frozen discriminator, whose hooks must not fire)."""
        for g, gsm in self._gsm.items():
            gsm.enable_hooks() if g == group else gsm.disable_hooks()

    def loader(self, loader):
        """The training loader with Poisson sampling (seeded from the run's seed)."""
        from opacus.data_loader import DPDataLoader

        return DPDataLoader.from_data_loader(loader, generator=torch.Generator().manual_seed(self.seed))

    def wrap_optimizers(self, group_names: list[str], opts: list) -> list:
        """The private groups' optimizers wrapped in Opacus's DPOptimizer, each step counted by the accountant."""
        from opacus.optimizers import DPOptimizer

        out = []
        for g, opt in zip(group_names, opts):
            if g in self.modules:
                dp = DPOptimizer(
                    opt,
                    noise_multiplier=self.noise_multiplier,
                    max_grad_norm=self.cfg.max_grad_norm,
                    expected_batch_size=self.expected_batch_size,
                    loss_reduction="mean",
                )
                dp.attach_step_hook(self._step_hook)  # DPOptimizer keeps one hook: it counts and accounts
                out.append(dp)
            else:
                out.append(opt)
        return out

    def _step_hook(self, optimizer) -> None:
        """After each private step's noise: the accountant's step (Opacus's own hook, called here)."""
        self.steps_taken += 1
        self.accountant.get_optimizer_hook_fn(sample_rate=self.sample_rate)(optimizer)

    def epsilon(self) -> float:
        return float(self.accountant.get_epsilon(self.cfg.delta)) if self.accountant.history else 0.0

    def plan(self) -> dict[str, Any]:
        """What run.json records before fitting."""
        return {
            "mechanism": "DP-SGD (Abadi et al. 2016): per-image clipping + Gaussian noise, Poisson sampling",
            "library": f"opacus {self.version}",
            "epsilon_target": self.cfg.epsilon,
            "delta": self.cfg.delta,
            "max_grad_norm": self.cfg.max_grad_norm,
            "noise_multiplier": self.noise_multiplier,
            "sample_rate": self.sample_rate,
            "expected_batch_size": self.expected_batch_size,
            "steps_planned": self.steps_planned,
            "accountant": self.cfg.accountant,
            "private_groups": list(self.modules),
            "public_groups": self.public,
            "secure_rng": False,
        }

    def record(self) -> dict[str, Any]:
        """The plan with what was spent (after fitting)."""
        return {**self.plan(), "steps_taken": self.steps_taken, "epsilon_spent": self.epsilon()}
