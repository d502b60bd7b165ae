"""The contract every generative model keeps, and the MODELS registry.

- ``__init__(config)`` only; sub-networks are built from the config.
- ``forward(batch, *, group) -> ModelOutput(loss, logs, stats)``: a named output.
  ``logs`` are detached scalars with stable names (``loss/total``, ``loss/recon``,
  ``loss/kl``...); ``stats`` are detached per-batch tensors the engine aggregates over
  an epoch (``kl_per_dim``, ``mu``).
- ``optimizer_groups() -> {group: params}``; ``group_steps(batch_idx) -> {group: steps}`` says how
  many optimizer steps each group takes on a batch (GANs: n_critic, generator repeats).
  The engine loops over groups; it never asks which model it drives.
- ``sample(n, *, labels=None, generator=None)`` -> (n, C, H, W) in [0, 1]; ``labels`` is a tensor of class
  indices, or an index, a class name (``class_names``, any case) or a list of them (``check_labels``).
- Optional hooks, declared here with a default, which the engine and the metrics call
  unconditionally (pythae's ``BaseAE``/``BaseTrainer``): ``set_epoch`` (training progress,
  passed in before every step), ``after_optimizer_step`` (DDPM: EMA), ``collapse_check`` (GANs),
  ``preview`` (a cheap sampler for the grids written during training), ``checkpoint_selection``
  and ``sample_options``.
- Declared capabilities, never probed: ``encoding`` ("none", "gaussian" or "deterministic")
  says whether ``encode``/``reconstruct`` work, ``latent_decoder`` whether ``decode(z, y)`` does;
  where a capability is absent those methods raise ``CapabilityError``.
- Class conditioning in one place: ``condition(h, y)`` appends the label (``label_vector``) to a
  vector or, as constant maps, to a feature map; every family's networks take their input from it.
- Registered by name with a one-line description that cites the paper. Presets are
  registered names that only change config defaults (``enhanced_cvae`` is ``cvae`` with
  a residual decoder and an SSIM term), never copied classes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from radgen.config import from_dict
from radgen.errors import ConfigError, RadgenError
from radgen.registry import Registry


@dataclass
class ModelConfig:
    """Fields every model has. ``image_size``, ``channels`` and ``num_classes`` are filled
    from the dataset when left null; a value that disagrees with the data is an error."""

    name: str = ""
    image_size: int | None = None
    channels: int | None = None
    num_classes: int | None = None


@dataclass
class ModelOutput:
    """What ``forward`` returns: the loss to back-propagate and detached scalars to log."""

    loss: torch.Tensor
    logs: dict[str, torch.Tensor] = field(default_factory=dict)
    stats: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its class and the config defaults of its preset."""

    cls: type[GenerativeModel]
    defaults: dict[str, Any]


MODELS: Registry[ModelSpec] = Registry("model")


def register_model(name: str, description: str, **defaults: Any):
    """Class decorator: register ``cls`` under ``name`` (with config ``defaults`` for presets)."""

    def deco(cls):
        MODELS.add(name, ModelSpec(cls, dict(defaults)), description)
        return cls

    return deco


def register_preset(name: str, base: str, description: str, **defaults: Any) -> None:
    """Register ``name`` as the model ``base`` with other config defaults (a preset, not a copied class)."""
    spec = MODELS.get(base)
    MODELS.add(name, ModelSpec(spec.cls, {**spec.defaults, **defaults}), description)


class CapabilityError(RadgenError, TypeError):
    """A model was asked for something it does not declare (an encoder, a latent decoder)."""


class GenerativeModel(nn.Module):
    """The contract every model keeps: config, forward, optimizer groups, sample; declared capabilities."""

    Config: ClassVar[type[ModelConfig]] = ModelConfig
    #: what the reduction of each loss term is, for run.json and the docs
    loss_statement: ClassVar[str] = ""
    #: which checkpoint is exported: "loss" (the lowest monitored loss) or "last" (adversarial
    #: losses do not rank checkpoints)
    checkpoint_selection: ClassVar[Literal["loss", "last"]] = "loss"
    #: keywords ``sample`` takes beyond the contract's (DDPM: sampler, steps, guidance_scale, eta)
    sample_options: ClassVar[tuple[str, ...]] = ()
    #: what ``encode`` returns: "none" (no encoder), "gaussian" ((mu, logvar) of q(z|x[, y])) or
    #: "deterministic" (a code z = E(x)); ``reconstruct`` works unless "none"
    encoding: ClassVar[Literal["none", "gaussian", "deterministic"]] = "none"
    #: ``decode(z, y)`` maps a ``config.latent_dim``-sized code to images (VAEs and GANs; not DDPM)
    latent_decoder: ClassVar[bool] = False
    #: an explicit likelihood model (the VAE family): ``posterior``, ``prior_log_prob`` and ``kl_per_dim`` work,
    #: with ``loss_terms``, ``decode_logits`` and ``condition_labels``, so ELBO terms and the IWAE bound apply
    likelihood: ClassVar[bool] = False
    #: what ``membership_score`` measures (a model-based membership-inference attack); None: none declared
    membership_attack: ClassVar[str | None] = None

    def __init__(self, config: ModelConfig):
        super().__init__()
        for key in ("image_size", "channels", "num_classes"):
            if getattr(config, key) is None:
                raise ConfigError(f"model.{key} is not set; build models with build_model(config, data=...) or set it")
        type(self).check_image_size(config, int(config.image_size))
        self.config = config
        self.pretrained: dict[str, Any] = {}  # what load_pretrained read, for run.json and the export
        #: the training data's class names, index order (``load_exported`` and training set them); lets
        #: ``sample(n, labels="pneumonia")`` name a class. None when unknown.
        self.class_names: tuple[str, ...] | None = None

    @classmethod
    def check_image_size(cls, config: ModelConfig, size: int) -> None:
        """Raise a ConfigError naming the valid sizes when this family cannot take ``size`` px images
        (called when a run's config is read, if the size is known then, and when the model is built)."""
        if size < 1:
            raise ConfigError(f"image size {size} must be at least 1 px")

    # -- capabilities -----------------------------------------------------------------------
    @property
    def supports_labels(self) -> bool:
        return False

    @property
    def _device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c = self.config
        return (int(c.channels), int(c.image_size), int(c.image_size))

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"model": [p for p in self.parameters() if p.requires_grad]}

    def group_steps(self, batch_idx: int = 0) -> dict[str, int]:
        """Optimizer steps each group takes on batch ``batch_idx`` (0 skips the group)."""
        return dict.fromkeys(self.optimizer_groups(), 1)

    def load_pretrained(self) -> dict[str, Any]:
        """Read the pretrained weight files the config names into the sub-networks, and say what was read
        (path, sha256, or "random init"). ``build_model`` calls it; ``load_exported`` does not (an export
        holds every weight). Default: nothing to load."""
        return {}

    def begin_batch(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int = 0) -> None:
        """Called by the engine once per training batch, before any group's step and with every
        parameter trainable (no optimizer toggled): work that several groups' steps share is done
        here (a GAN's fake batch, made once with the generator's graph). Default: nothing."""

    def end_batch(self) -> None:
        """Called by the engine after the last group's step on a batch: drop what ``begin_batch`` kept."""

    def describe_losses(self) -> str:
        return self.loss_statement

    # -- training hooks (the engine calls them on every model; the defaults do nothing) ---------
    def prepare_training_data(self, train_set) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Called once before fitting with the training split. A model that trains on a transform of
        the images computed once (the latent diffusion model's cached latents) returns the
        ``(inputs, labels)`` tensors the engine batches instead; None (the default) trains on the images."""
        return None

    def after_fit(self, train_set) -> dict[str, Any]:
        """Called once after fitting (best weights loaded), before the export, with the training split;
        what it measures and stores (the autoencoder's latent scale) is returned for ``metrics.json``."""
        return {}

    def check_labels(self, labels: torch.Tensor | None, n: int) -> torch.Tensor | None:
        """Validate labels for sampling: required iff the model is conditional."""
        if not self.supports_labels:
            if labels is not None:
                raise ConfigError(f"model {self.config.name!r} was trained without labels; sample without --label")
            return None
        if labels is None:
            raise ConfigError(
                f"model {self.config.name!r} is class-conditional; pass labels (0..{self.config.num_classes - 1})"
            )
        if isinstance(labels, (str, int)) or (
            isinstance(labels, (list, tuple)) and any(isinstance(v, str) for v in labels)
        ):  # by class name (any case) or index: "pneumonia", ["NORMAL", 1]
            names = self.class_names
            items = [labels] if isinstance(labels, (str, int)) else list(labels)
            labels = [class_index(v, names, num_classes=int(self.config.num_classes)) for v in items]
        labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
        if labels.numel() == 1:
            labels = labels.expand(n)
        if labels.numel() != n:
            raise ConfigError(f"{labels.numel()} labels for {n} samples")
        bad = labels[(labels < 0) | (labels >= int(self.config.num_classes))]
        if bad.numel():
            raise ConfigError(f"label {int(bad[0])} was not trained; valid: 0..{self.config.num_classes - 1}")
        return labels

    # -- class conditioning (one place for every family) -------------------------------------------
    def label_vector(self, y: torch.Tensor | None) -> torch.Tensor | None:
        """(B,) class indices -> the (B, L) vector the networks are conditioned on (one-hot or a learned
        embedding); None for an unconditional model. Conditional families override it."""
        return None

    def condition(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """``h`` with the class label appended (Sohn et al. 2015; Mirza & Osindero 2014): a (B, F) vector
        becomes (B, F + L), a (B, C, H, W) map (B, C + L, H, W) with the label as L constant maps;
        an unconditional model returns ``h`` as it is."""
        lab = self.label_vector(y)
        if lab is None:
            return h
        if h.dim() == 2:
            return torch.cat([h, lab], 1)
        return torch.cat([h, lab[:, :, None, None].expand(-1, -1, *h.shape[-2:])], 1)  # (B, L) -> (B, L, H, W)

    def condition_labels(self, y: torch.Tensor | None) -> torch.Tensor | None:
        """The labels a model uses: ``y`` for a class-conditional model, None otherwise."""
        return y if self.supports_labels else None

    # -- optional hooks, called unconditionally by the engine ----------------------------------------
    def set_epoch(self, epoch: float) -> None:
        """The fractional epoch (``epoch + batch / batches``), passed in by the engine before every
        training step (the VAE family's KL warm-up reads it). Default: nothing."""

    def after_optimizer_step(self, group: str) -> None:
        """Called after every optimizer step of ``group`` (DDPM: the EMA update). Default: nothing."""

    def collapse_check(self, epoch_logs: dict[str, float]) -> str | None:
        """Called once per epoch with the epoch's mean logs; a warning to record, or None (default)."""
        return None

    def preview(
        self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """The samples drawn for the grids written during training; ``sample`` unless that is slow (DDPM)."""
        return self.sample(n, labels=labels, generator=generator)

    # -- capabilities (see ``encoding`` and ``latent_decoder``) ------------------------------------------
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Any:
        """(mu, logvar) of q(z|x[, y]) (``encoding == "gaussian"``) or a code (``"deterministic"``)."""
        raise CapabilityError(f"model {self.config.name!r} has no encoder; use a model of the VAE family or a hybrid")

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [0, 1] decoded from the encoding of ``x`` (its posterior mean where there is one)."""
        raise CapabilityError(
            f"model {self.config.name!r} has no encoder; reconstruction needs a model of the VAE family or a hybrid"
        )

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [0, 1] from (B, latent_dim) codes (``latent_decoder``)."""
        raise CapabilityError(f"model {self.config.name!r} has no latent space to decode from")

    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z|x[, y]) (``likelihood``)."""
        raise CapabilityError(f"model {self.config.name!r} has no explicit likelihood (the VAE family has)")

    def prior_log_prob(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) log p(z[ | y]) summed over latent dimensions (``likelihood``)."""
        raise CapabilityError(f"model {self.config.name!r} has no explicit prior (the VAE family has)")

    def kl_per_dim(self, mu: torch.Tensor, logvar: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | None:
        """(B, D) KL of q(z|x) to the prior per latent dimension, None without a closed form (``likelihood``)."""
        raise CapabilityError(f"model {self.config.name!r} has no explicit prior (the VAE family has)")

    # -- privacy (radgen.metrics.membership, radgen.training.privacy) ----------------------------------
    def membership_score(
        self, x: torch.Tensor, y: torch.Tensor | None = None, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """(B,) per-image score of images in [0, 1], higher meaning "more likely a training image": the family's
        model-based membership-inference attack, described by ``membership_attack``. Default: none declared."""
        raise CapabilityError(f"model {self.config.name!r} declares no model-based membership-inference attack")

    def private_modules(self) -> dict[str, nn.Module]:
        """``{optimizer group: the sub-network whose gradients depend on real images}`` for DP-SGD
        (``train.privacy``); groups not named only see those networks' outputs. Default: not declared."""
        raise CapabilityError(
            f"model {self.config.name!r} does not declare which networks see real images; differentially private "
            "training covers the VAE family (vae, cvae, resnet_vae), lsgan (discriminator_norm: layer) and ddpm"
        )

    # -- the contract -------------------------------------------------------------------------
    def forward(
        self, batch: tuple[torch.Tensor, torch.Tensor], *, group: str = "model"
    ) -> ModelOutput:  # pragma: no cover
        raise NotImplementedError

    @torch.no_grad()
    def sample(
        self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


def class_index(
    label: str | int, class_names: tuple[str, ...] | list[str] | None, *, num_classes: int | None = None
) -> int:
    """A class given by index or by name: the exact name first, then the one name equal to it ignoring case
    (``"pneumonia"`` is ``PNEUMONIA``), then a whole number written as text (``"1"``). Anything else is a one-line
    ConfigError naming the valid names; the index range is checked where the labels are used."""
    if isinstance(label, int) and not isinstance(label, bool):
        return label
    names = list(class_names or [])
    text = str(label).strip()
    if text in names:
        return names.index(text)
    folded = [i for i, name in enumerate(names) if name.casefold() == text.casefold()]
    if len(folded) == 1:
        return folded[0]
    try:
        return int(text)
    except ValueError:
        pass
    span = f" or an index 0..{num_classes - 1}" if num_classes else " or an index"
    raise ConfigError(
        f"unknown label {label!r}; valid: {', '.join(names) or '(no class names recorded)'} (any case){span}"
    )


def model_config_from_dict(section: dict[str, Any]) -> ModelConfig:
    """``{'name': 'vae', ...}`` -> the family's config, preset defaults applied, strictly checked."""
    if not isinstance(section, dict) or "name" not in section:
        raise ConfigError(f"model section needs a name; valid: {', '.join(MODELS.names())}")
    spec = MODELS.get(section["name"])
    return from_dict(spec.cls.Config, {**spec.defaults, **section}, prefix="model.")


def build_model(
    config: ModelConfig | dict[str, Any],
    *,
    image_size: int | None = None,
    channels: int | None = None,
    num_classes: int | None = None,
    pretrained: bool = True,
) -> GenerativeModel:
    """Build a registered model; data-derived fields fill nulls and must agree with set values.
    ``pretrained``: read the weight files the config names (``load_pretrained``); off when an export's
    weights will replace them."""
    cfg = model_config_from_dict(config) if isinstance(config, dict) else config
    updates = {}
    for key, value in (("image_size", image_size), ("channels", channels), ("num_classes", num_classes)):
        current = getattr(cfg, key)
        if value is None:
            continue
        if current is None:
            updates[key] = value
        elif current != value:
            raise ConfigError(
                f"model.{key}={current} but the data has {key}={value}; remove model.{key} or change the data options"
            )
    cfg = dataclasses.replace(cfg, **updates)
    spec = MODELS.get(cfg.name)
    model = spec.cls(cfg)
    if pretrained:
        model.pretrained = model.load_pretrained()
    return model
