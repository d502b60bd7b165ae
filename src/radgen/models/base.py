"""The contract every generative model keeps, and the MODELS registry.

- ``__init__(config)`` only; sub-networks are built from the config.
- ``forward(batch, *, group) -> ModelOutput(loss, logs, stats)``: a named output.
  ``logs`` are detached scalars with stable names (``loss/total``, ``loss/recon``,
  ``loss/kl``...); ``stats`` are detached per-batch tensors the engine aggregates over
  an epoch (``kl_per_dim``, ``mu``).
- ``optimizer_groups() -> {group: params}``; ``group_steps(batch_idx) -> {group: steps}`` says how
  many optimizer steps each group takes on a batch (GANs: n_critic, generator repeats).
  The engine loops over groups; it never asks which model it drives.
- ``sample(n, *, labels=None, generator=None)`` -> (n, C, H, W) in [0, 1].
- Registered by name with a one-line description that cites the paper. Presets are
  registered names that only change config defaults (``enhanced_cvae`` is ``cvae`` with
  a residual decoder and an SSIM term), never copied classes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from radgen.config import from_dict
from radgen.errors import ConfigError
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
    loss: torch.Tensor
    logs: dict[str, torch.Tensor] = field(default_factory=dict)
    stats: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSpec:
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
    spec = MODELS.get(base)
    MODELS.add(name, ModelSpec(spec.cls, {**spec.defaults, **defaults}), description)


class GenerativeModel(nn.Module):
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    #: what the reduction of each loss term is, for run.json and the docs
    loss_statement: ClassVar[str] = ""

    def __init__(self, config: ModelConfig):
        super().__init__()
        for key in ("image_size", "channels", "num_classes"):
            if getattr(config, key) is None:
                raise ConfigError(f"model.{key} is not set; build models with build_model(config, data=...) or set it")
        type(self).check_image_size(config, int(config.image_size))
        self.config = config
        self.progress_epoch = 0.0  # fractional epoch, set by the engine (KL warm-up)
        self.pretrained: dict[str, Any] = {}  # what load_pretrained read, for run.json and the export

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
        labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
        if labels.numel() == 1:
            labels = labels.expand(n)
        if labels.numel() != n:
            raise ConfigError(f"{labels.numel()} labels for {n} samples")
        bad = labels[(labels < 0) | (labels >= int(self.config.num_classes))]
        if bad.numel():
            raise ConfigError(f"label {int(bad[0])} was not trained; valid: 0..{self.config.num_classes - 1}")
        return labels

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
