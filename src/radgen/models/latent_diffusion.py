"""Latent diffusion (Rombach et al. 2022, "High-Resolution Image Synthesis with Latent Diffusion
Models"): the DDPM of ``ddpm.py`` run on the latents of a frozen ``autoencoder_kl``.

Two stages: ``radgen train autoencoder_kl`` (which measures the latent shift and scale on its
training latents), then ``radgen train latent_diffusion --set model.autoencoder=RUN``. The UNet
denoises z' = (z - shift) * scale with z ~ q(z|x) (unit variance, Rombach et al. appendix G);
samples are decoded by the autoencoder. Everything else is the DDPM's: class conditioning with
label dropout and classifier-free guidance (Ho & Salimans 2022), EMA, prediction types, min-SNR
weighting and the DDPM / DDIM / DPM-Solver++ / UniPC samplers. The defaults follow Rombach et al.'s
small-image configs: T = 1000, linear betas 0.0015..0.0195, with v-prediction and min-SNR-5
(Hang et al. 2023) and DPM-Solver++ at 20 steps.

The autoencoder travels with the model: its weights are a frozen submodule (in the same
``weights.safetensors``), its config is copied into ``model.autoencoder_config`` and the sha256 of
the weights it was read from into ``model.autoencoder_sha256``; reading the path again (a resume, a
retrain: ``prepare_training_data``) refuses weights whose sha256 differs; loading an export reads
nothing but the export.

``latent_cache``: ``encode_once`` encodes the training split once before fitting and keeps each
image's posterior mean and standard deviation, drawing a fresh z per batch (the same distribution as
encoding on the fly, without the encoder's cost per step); ``on_the_fly`` encodes every batch.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch

from radgen.config import to_dict
from radgen.errors import ConfigError, MissingDataError
from radgen.io import sha256_file
from radgen.models.autoencoder import AutoencoderKL
from radgen.models.base import CapabilityError, model_config_from_dict, register_model
from radgen.models.ddpm import DDPM, DDPMConfig
from radgen.runfolder import export_files

log = logging.getLogger(__name__)

ENCODE_BATCH = 128  # images per encoder call when caching latents


@dataclass
class LatentDiffusionConfig(DDPMConfig):
    """Latent diffusion's settings: the autoencoder run it diffuses in, and DDPM's settings."""

    autoencoder: str | None = None  # an autoencoder_kl run directory or its export/ folder
    autoencoder_sha256: str | None = None  # of the weights it was read from (filled at build)
    autoencoder_config: dict[str, Any] = field(default_factory=dict)  # its model config (filled at build)
    latent_cache: Literal["encode_once", "on_the_fly"] = "encode_once"


def read_autoencoder(config: LatentDiffusionConfig) -> tuple[dict[str, Any], dict[str, torch.Tensor], str]:
    """(its model config, its encoder/decoder state dict, the sha256 of its weights) from ``config.autoencoder``."""
    from safetensors.torch import load_file

    cfg_path, w_path = export_files(config.autoencoder)
    folder = cfg_path.parent
    if not cfg_path.is_file() or not w_path.is_file():
        raise MissingDataError(
            f"model.autoencoder={config.autoencoder}: no exported autoencoder there (config.yaml + "
            "weights.safetensors); train one with `radgen train autoencoder_kl` and pass its run directory"
        )
    from radgen.config import load_yaml

    meta = load_yaml(cfg_path)  # plain YAML only: a damaged or !!python/ file is a ConfigError naming it
    ae = dict((meta or {}).get("model") or {})
    if ae.get("name") != "autoencoder_kl":
        raise ConfigError(f"{cfg_path}: model {ae.get('name')!r} is not an autoencoder_kl")
    sha = sha256_file(w_path)
    if config.autoencoder_sha256 and config.autoencoder_sha256 != sha:
        raise ConfigError(
            f"{w_path}: sha256 {sha[:12]}... differs from model.autoencoder_sha256 "
            f"{config.autoencoder_sha256[:12]}...; "
            "the autoencoder changed since this model was built: point model.autoencoder at the original, or set "
            "model.autoencoder_sha256=null to train a new latent model on it"
        )
    for key in ("image_size", "channels"):
        want = getattr(config, key)
        if want is not None and ae.get(key) != want:
            raise ConfigError(f"the autoencoder at {folder} was trained with {key}={ae.get(key)}, the data has {want}")
    state = {k: v for k, v in load_file(str(w_path)).items() if not k.startswith("discriminator.")}
    return ae, state, sha


@register_model(
    "latent_diffusion",
    "latent diffusion (Rombach et al. 2022): class-conditional DDPM on a frozen KL autoencoder's latents, "
    "classifier-free guidance, EMA, v-prediction + min-SNR, DPM-Solver++",
    conditional="class",
    timesteps=1000,
    beta_start=0.0015,
    beta_end=0.0195,
    block_out_channels=[64, 128, 256],
    attention_resolutions=[8],
    prediction_type="v_prediction",
    loss_weighting="min_snr",
    sampler="dpmsolver++",
    sample_steps=20,
    preview_steps=10,
    guidance_scale=2.0,
)
class LatentDiffusion(DDPM):
    """DDPM in a frozen KL autoencoder's latent space (Rombach et al. 2022)."""

    Config = LatentDiffusionConfig
    space: ClassVar[str] = "latent"
    bounded: ClassVar[bool] = False  # latents are not confined to [-1, 1]

    def __init__(self, config: LatentDiffusionConfig):
        ae_dict, state, sha = dict(config.autoencoder_config), None, config.autoencoder_sha256
        if not ae_dict:  # a first build: the architecture and the weights come from the first stage's export
            if not config.autoencoder:
                raise ConfigError(
                    "model.autoencoder is not set: train the first stage with `radgen train autoencoder_kl ...`, "
                    "then --set model.autoencoder=RUN_DIRECTORY"
                )
            ae_dict, state, sha = read_autoencoder(config)
        ae_cfg = self._autoencoder_config(ae_dict, config)
        config = dataclasses.replace(config, autoencoder_config=to_dict(ae_cfg), autoencoder_sha256=sha)
        super().__init__(config)
        self.autoencoder = AutoencoderKL(ae_cfg).requires_grad_(False).eval()
        self.autoencoder_loaded = False  # True once the first stage's own weights are in (not an export's copy)
        if state is not None:
            self._load_autoencoder(state)
        self.encode_seconds = 0.0

    @staticmethod
    def _autoencoder_config(ae_dict: dict[str, Any], config: LatentDiffusionConfig):
        ae_dict = {
            **ae_dict,
            "name": "autoencoder_kl",
            "image_size": config.image_size,
            "channels": config.channels,
            "num_classes": config.num_classes,
            "disc_weight": 0.0,  # the discriminator stays behind: only the encoder and decoder are used
        }
        return model_config_from_dict(ae_dict)

    def _load_autoencoder(self, state: dict[str, torch.Tensor]) -> None:
        missing, unexpected = self.autoencoder.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ConfigError(
                f"model.autoencoder={self.config.autoencoder}: its weights do not match model.autoencoder_config "
                f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
        self.autoencoder_loaded = True

    def load_first_stage(self) -> None:
        """Read the first stage's weights from ``model.autoencoder`` (sha256 checked against the recorded one)
        when this model was built from a resolved config (a resume, a retrain); an export needs no reading."""
        if self.autoencoder_loaded:
            return
        if not self.config.autoencoder:
            raise ConfigError("model.autoencoder is not set; training needs the autoencoder_kl run directory")
        ae_dict, state, _ = read_autoencoder(self.config)
        if self._autoencoder_config(ae_dict, self.config) != self._autoencoder_config(
            self.config.autoencoder_config, self.config
        ):
            raise ConfigError(
                f"model.autoencoder={self.config.autoencoder}: its config differs from model.autoencoder_config; "
                "clear model.autoencoder_config to take the new one"
            )
        self._load_autoencoder(state)

    @property
    def diffusion_shape(self) -> tuple[int, int, int]:
        ae = self.config.autoencoder_config
        s = int(self.config.image_size) // int(ae["downsample"])
        return (int(ae["latent_channels"]), s, s)

    def train(self, mode: bool = True):
        super().train(mode)
        self.autoencoder.eval()  # frozen: always in inference mode
        return self

    # -- images <-> latents -------------------------------------------------------------------------
    def _cached_shape(self) -> tuple[int, int, int]:
        c, h, w = self.diffusion_shape
        return (2 * c, h, w)

    @torch.no_grad()
    def encode_posterior(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) in [0, 1] -> cat(mu, sigma) of q(z|x), (B, 2 c_lat, h, w)."""
        mu, logvar = self.autoencoder.encode(x)
        return torch.cat([mu, (0.5 * logvar).exp()], dim=1)

    def private_modules(self) -> dict[str, torch.nn.Module]:
        """Refused: the frozen autoencoder learned the same images without DP, so a private UNet guarantees nothing."""
        raise CapabilityError(
            "latent_diffusion's autoencoder was trained on the real images without differential privacy, so a "
            "private UNet would not bound what the model reveals; train ddpm with train.privacy instead"
        )

    def to_diffusion_space(self, x: torch.Tensor) -> torch.Tensor:
        """Images, or cached posteriors from ``prepare_training_data`` -> z' = (z - shift) * scale."""
        if tuple(x.shape[1:]) == self._cached_shape():
            post = x
        elif tuple(x.shape[1:]) == self.image_shape:
            post = self.encode_posterior(x)
        else:
            raise ValueError(f"batch of shape {tuple(x.shape)}: neither images {self.image_shape} nor cached latents")
        mu, sigma = post.chunk(2, dim=1)
        z = mu + sigma * torch.randn_like(mu)
        ae = self.autoencoder
        return (z - ae.latent_shift) * ae.latent_scale

    def from_diffusion_space(self, z: torch.Tensor) -> torch.Tensor:
        ae = self.autoencoder
        return ae.decode(z / ae.latent_scale + ae.latent_shift)

    def describe_losses(self) -> str:
        ae = self.autoencoder
        return (
            super().describe_losses()
            + f"; latents z' = (z - {float(ae.latent_shift):.4g}) x {float(ae.latent_scale):.4g}"
            " of a frozen autoencoder"
        )

    # -- the engine's hooks -------------------------------------------------------------------------------
    def prepare_training_data(self, train_set) -> tuple[torch.Tensor, torch.Tensor] | None:
        self.load_first_stage()
        if self.config.latent_cache == "on_the_fly":
            return None
        started = time.perf_counter()
        images = train_set.images
        post = torch.cat(
            [
                self.encode_posterior(images[i : i + ENCODE_BATCH].to(self._device)).cpu()
                for i in range(0, len(images), ENCODE_BATCH)
            ]
        )
        self.encode_seconds = time.perf_counter() - started
        log.info("latent_diffusion: encoded %d training images once in %.1f s", len(images), self.encode_seconds)
        return post, train_set.labels
