"""DDPM (Ho et al. 2020) as design document 001 describes: T = 200, linear beta from 1e-4
to 0.02, epsilon prediction with an MSE loss, a UNet with skip connections and a
sinusoidal time embedding.

Network: diffusers' ``UNet2DModel`` (its sinusoidal projection has the width of the first
block, 32 by default as in 001, followed by an MLP to 4x that). Default topology: widths
32/64/128/128, two ResNet layers per level, attention at 16x16 (6.3 M parameters at 64 px).
Conditioning: a class embedding added to the time embedding, trained with label dropout
(probability ``cond_drop_prob``: the label becomes the extra "null" class), so sampling
can use classifier-free guidance (Ho & Salimans 2022); or train on one class only, the
document's way, with ``data.keep_classes``. Samplers: ancestral DDPM over all T steps,
DDIM with S steps and eta (Song et al. 2021), DPM-Solver++ (Lu et al. 2022) or UniPC
(Zhao et al. 2023) with S steps. EMA weights (``ema_decay``) are updated after every
optimizer step and used for sampling.

Modern options (``radgen.diffusion.parametrization``): ``prediction_type`` epsilon (001) |
v_prediction (Salimans & Ho 2022) | sample, and ``loss_weighting: min_snr`` (Hang et al.
2023, gamma ``snr_gamma``). Loss: MSE between the network output and its target, mean over
pixels per image, times the image's timestep weight (1 without weighting), mean over the
batch. ``seed001_ddpm`` keeps 001's settings: epsilon, unweighted.

Subclasses diffuse somewhere else by overriding two narrow hooks, ``to_diffusion_space``
(images in [0, 1] -> the tensors the UNet denoises) and ``from_diffusion_space`` (back), and
``diffusion_shape`` (the latent diffusion model: an autoencoder's latents).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F

from radgen.diffusion import make_scheduler, sample_loop
from radgen.diffusion.parametrization import alpha_sigma, min_snr_weight, snr, training_target
from radgen.errors import ConfigError
from radgen.models.base import GenerativeModel, ModelConfig, ModelOutput, register_model
from radgen.nn.gan import to_signed, to_unit


@dataclass
class DDPMConfig(ModelConfig):
    """DDPM's settings: timesteps, beta schedule, UNet widths, conditioning, prediction target and sampler."""

    timesteps: int = 200
    beta_schedule: Literal["linear", "cosine"] = "linear"
    beta_start: float = 1e-4
    beta_end: float = 0.02
    block_out_channels: list[int] = field(default_factory=lambda: [32, 64, 128, 128])
    attention_resolutions: list[int] = field(default_factory=lambda: [16])
    layers_per_block: int = 2
    norm_groups: int = 32
    conditional: Literal["none", "class"] = "none"
    cond_drop_prob: float = 0.1
    guidance_scale: float = 3.0
    prediction_type: Literal["epsilon", "v_prediction", "sample"] = "epsilon"
    loss_weighting: Literal["none", "min_snr"] = "none"
    snr_gamma: float = 5.0  # min-SNR-gamma's gamma (Hang et al. 2023 use 5)
    sampler: Literal["ddpm", "ddim", "dpmsolver++", "unipc"] = "ddpm"
    sample_steps: int = 50  # DDIM / DPM-Solver++ / UniPC steps (DDPM always uses all T)
    eta: float = 0.0
    preview_steps: int = 20  # DDIM steps for the sample grids written during training
    ema_decay: float = 0.999  # 0 disables EMA


@register_model(
    "ddpm",
    "DDPM (Ho et al. 2020), design document 001: diffusers UNet, T=200 linear schedule, "
    "class-conditional with classifier-free guidance, DDIM, EMA",
)
class DDPM(GenerativeModel):
    """Denoising diffusion probabilistic model (Ho et al. 2020) on a diffusers UNet."""

    Config = DDPMConfig

    @classmethod
    def check_image_size(cls, config, size: int) -> None:
        """Pixel-space diffusion: the UNet halves the image ``levels - 1`` times. (A subclass that diffuses
        elsewhere overrides this; its space's size is checked when it is built.)"""
        super().check_image_size(config, size)
        if cls.space != "image":
            return
        levels = len(config.block_out_channels)
        step = 2 ** (levels - 1)
        if size % step:
            raise ConfigError(
                f"image size {size} is not divisible by 2^{levels - 1} for a {levels}-level UNet; set data.size to "
                f"{max(step, size // step * step)} or {size // step * step + step}, or use model.block_out_channels "
                "with fewer levels (28 px: [32, 64, 128])"
            )

    def __init__(self, config: DDPMConfig):
        super().__init__(config)
        from diffusers import UNet2DModel

        c = config
        if c.snr_gamma <= 0:
            raise ConfigError(f"model.snr_gamma={c.snr_gamma} must be > 0 (Hang et al. 2023 use 5)")
        channels, size = self.diffusion_shape[0], self.diffusion_shape[1]
        levels = len(c.block_out_channels)
        if size % 2 ** (levels - 1):
            raise ConfigError(
                f"{self.space} size {size} is not divisible by 2^{levels - 1} for a {levels}-level UNet; "
                "use model.block_out_channels with fewer levels (28 px: [32, 64, 128])"
            )
        if any(w % c.norm_groups for w in c.block_out_channels):
            raise ConfigError(
                f"model.block_out_channels {c.block_out_channels} must all be divisible by "
                f"model.norm_groups={c.norm_groups}"
            )
        res = [size // 2**i for i in range(levels)]
        down = tuple("AttnDownBlock2D" if r in c.attention_resolutions else "DownBlock2D" for r in res)
        up = tuple("AttnUpBlock2D" if r in c.attention_resolutions else "UpBlock2D" for r in reversed(res))
        self.k = int(c.num_classes) if c.conditional == "class" else 0
        self.unet = UNet2DModel(
            sample_size=size,
            in_channels=channels,
            out_channels=channels,
            block_out_channels=tuple(c.block_out_channels),
            layers_per_block=c.layers_per_block,
            down_block_types=down,
            up_block_types=up,
            norm_num_groups=c.norm_groups,
            attention_head_dim=min(8, c.block_out_channels[0]),
            num_class_embeds=self.k + 1 if self.k else None,  # +1: the null class
        )
        self.ema = copy.deepcopy(self.unet).requires_grad_(False) if c.ema_decay > 0 else None
        self.train_scheduler = self.make_scheduler("ddpm")

    space: ClassVar[str] = "image"  # what the UNet denoises, for messages
    bounded: ClassVar[bool] = True  # the diffusion space is [-1, 1]: x_0 predictions and samples are clipped to it

    @property
    def diffusion_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of what the UNet denoises: the image itself here."""
        return self.image_shape

    def to_diffusion_space(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] -> the UNet's space: [-1, 1] pixels here."""
        return to_signed(x)

    def from_diffusion_space(self, z: torch.Tensor) -> torch.Tensor:
        """The sampler's output -> images in [0, 1]."""
        return to_unit(z)

    def make_scheduler(self, kind: str):
        c = self.config
        return make_scheduler(
            kind,
            timesteps=c.timesteps,
            schedule=c.beta_schedule,
            beta_start=c.beta_start,
            beta_end=c.beta_end,
            prediction_type=c.prediction_type,
            clip_sample=self.bounded,
        )

    def describe_losses(self) -> str:
        c = self.config
        target = {"epsilon": "true noise", "v_prediction": "v = alpha_t eps - sigma_t x_0", "sample": "x_0"}[
            c.prediction_type
        ]
        weight = (
            f"x min-SNR-{c.snr_gamma:g} weight of t (Hang et al. 2023, {c.prediction_type} form)"
            if c.loss_weighting == "min_snr"
            else "unweighted"
        )
        return (
            f"{type(self).__name__}: MSE between predicted and {target} ({c.prediction_type}), mean over the "
            f"{self.space}'s elements per item, {weight}, mean over the batch; t uniform over 0..T-1"
        )

    sample_options = ("sampler", "steps", "guidance_scale", "eta", "use_ema", "progress")

    @property
    def supports_labels(self) -> bool:
        return self.k > 0

    def optimizer_groups(self):
        return {"model": list(self.unet.parameters())}

    @torch.no_grad()
    def after_optimizer_step(self, group: str) -> None:
        if self.ema is not None:
            torch._foreach_lerp_(
                list(self.ema.parameters()), list(self.unet.parameters()), 1.0 - self.config.ema_decay
            )

    def forward(self, batch, *, group: str = "model") -> ModelOutput:
        c = self.config
        x, y = batch
        x0 = self.to_diffusion_space(x)  # (B, C, H, W) in the UNet's space
        b = x0.shape[0]
        t = torch.randint(0, c.timesteps, (b,), device=x0.device)
        noise = torch.randn_like(x0)
        x_t = self.train_scheduler.add_noise(x0, noise, t)
        labels = None
        if self.k:
            drop = torch.rand(b, device=x0.device) < c.cond_drop_prob
            labels = torch.where(drop, torch.full_like(y, self.k), y.long())
        pred = self.unet(x_t, t, class_labels=labels).sample
        alpha, sigma = alpha_sigma(self.train_scheduler.alphas_cumprod, t, x0.ndim)
        target = training_target(c.prediction_type, x0, noise, alpha, sigma)
        per_item = F.mse_loss(pred, target, reduction="none").flatten(1).mean(1)  # (B,)
        mse = per_item.mean()
        if c.loss_weighting == "min_snr":
            w = min_snr_weight(
                snr(self.train_scheduler.alphas_cumprod, t), gamma=c.snr_gamma, prediction_type=c.prediction_type
            )
            loss = (w * per_item).mean()
        else:
            loss = mse
        return ModelOutput(loss, {"loss/total": loss.detach(), "loss/mse": mse.detach()})

    membership_attack = (
        "negative denoising error (the training loss's MSE) at t = 5, 10, 25 and 50 % of T, fixed noise"
    )
    MEMBERSHIP_T = (0.05, 0.1, 0.25, 0.5)

    @torch.no_grad()
    def membership_score(self, x, y=None, *, generator=None) -> torch.Tensor:
        """-(mean over t in ``MEMBERSHIP_T`` x T of the per-image MSE of the network's prediction), with the
        sampling network (EMA when kept) and the true label (Carlini et al. 2023; Matsumoto et al. 2023)."""
        c = self.config
        x0 = self.to_diffusion_space(x)
        net = self.ema if self.ema is not None else self.unet
        labels = y.long() if (self.k and y is not None) else None
        err = torch.zeros(x0.shape[0], device=x0.device)
        for frac in self.MEMBERSHIP_T:
            t = torch.full((x0.shape[0],), int(frac * (c.timesteps - 1)), device=x0.device, dtype=torch.long)
            noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
            x_t = self.train_scheduler.add_noise(x0, noise, t)
            pred = net(x_t, t, class_labels=labels).sample
            alpha, sigma = alpha_sigma(self.train_scheduler.alphas_cumprod, t, x0.ndim)
            target = training_target(c.prediction_type, x0, noise, alpha, sigma)
            err += F.mse_loss(pred, target, reduction="none").flatten(1).mean(1)
        return -err / len(self.MEMBERSHIP_T)

    def private_modules(self) -> dict[str, torch.nn.Module]:
        """Only the UNet is trained (on noised real images)."""
        return {"model": self.unet}

    def _eps_fn(self, net):
        return lambda x, t, labels: net(x, t, class_labels=labels).sample

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        labels=None,
        generator=None,
        sampler: str | None = None,
        steps: int | None = None,
        guidance_scale: float | None = None,
        eta: float | None = None,
        use_ema: bool = True,
        progress: bool = True,
    ) -> torch.Tensor:
        c = self.config
        y = self.check_labels(labels, n)
        kind = sampler or c.sampler
        sched = self.make_scheduler(kind)
        n_steps = c.timesteps if kind == "ddpm" else (steps or c.sample_steps)
        top = c.timesteps - 1 if kind in ("dpmsolver++", "unipc") else c.timesteps  # at T, two steps share a t: NaN
        if not 1 <= n_steps <= top:
            raise ConfigError(f"steps={n_steps} for sampler {kind} must be in 1..{top} (T={c.timesteps})")
        net = self.ema if (use_ema and self.ema is not None) else self.unet
        x = sample_loop(
            self._eps_fn(net),
            sched,
            (n, *self.diffusion_shape),
            steps=n_steps,
            generator=generator,
            labels=None if y is None else y.to(self._device),
            null_label=self.k if self.k else None,
            guidance_scale=c.guidance_scale if guidance_scale is None else guidance_scale,
            eta=c.eta if eta is None else eta,
            device=self._device,
            progress=progress,
            clamp=self.bounded,
        )
        return self.from_diffusion_space(x)

    @torch.no_grad()
    def preview(self, n: int, *, labels=None, generator=None) -> torch.Tensor:
        """Cheap DDIM samples for the grids written during training."""
        return self.sample(
            n, labels=labels, generator=generator, sampler="ddim", steps=self.config.preview_steps, progress=False
        )
