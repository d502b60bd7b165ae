"""Registered generative models. ``radgen list models`` prints them."""

from radgen.models import (  # noqa: F401  (registration)
    adversarial,
    autoencoder,
    conditional_vae,
    ddpm,
    gmvae,
    gvae,
    latent_diffusion,
    resnet_vae,
    vae,
    vae_gan,
)
from radgen.models.base import (
    MODELS,
    GenerativeModel,
    ModelConfig,
    ModelOutput,
    build_model,
    model_config_from_dict,
    register_model,
    register_preset,
)
from radgen.models.export import load_exported, save_exported

__all__ = [
    "MODELS",
    "GenerativeModel",
    "ModelConfig",
    "ModelOutput",
    "build_model",
    "load_exported",
    "model_config_from_dict",
    "register_model",
    "register_preset",
    "save_exported",
]
