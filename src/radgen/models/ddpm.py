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
or DDIM with S steps and eta (Song et al. 2021). EMA weights (``ema_decay``) are updated
after every optimizer step and used for sampling.
Loss: MSE between predicted and true noise, averaged over pixels and the batch.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F

from radgen.diffusion import make_scheduler, sample_loop
from radgen.errors import ConfigError
from radgen.models.base import GenerativeModel, ModelConfig, ModelOutput, register_model
from radgen.nn.gan import to_signed, to_unit


@dataclass
class DDPMConfig(ModelConfig):
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
    sampler: Literal["ddpm", "ddim"] = "ddpm"
    sample_steps: int = 50  # DDIM steps (DDPM always uses all T)
    eta: float = 0.0
    preview_steps: int = 20  # DDIM steps for the sample grids written during training
    ema_decay: float = 0.999  # 0 disables EMA


@register_model(
    "ddpm",
    "DDPM (Ho et al. 2020), design document 001: diffusers UNet, T=200 linear schedule, "
    "class-conditional with classifier-free guidance, DDIM, EMA",
)
class DDPM(GenerativeModel):
    Config = DDPMConfig
    loss_statement = "DDPM: MSE between predicted and true noise, mean over pixels and batch; t uniform over 0..T-1"

    def __init__(self, config: DDPMConfig):
        super().__init__(config)
        from diffusers import UNet2DModel

        c = config
        size = int(c.image_size)
        levels = len(c.block_out_channels)
        if size % 2 ** (levels - 1):
            raise ConfigError(
                f"image size {size} is not divisible by 2^{levels - 1} for a {levels}-level UNet; "
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
            in_channels=int(c.channels),
            out_channels=int(c.channels),
            block_out_channels=tuple(c.block_out_channels),
            layers_per_block=c.layers_per_block,
            down_block_types=down,
            up_block_types=up,
            norm_num_groups=c.norm_groups,
            attention_head_dim=min(8, c.block_out_channels[0]),
            num_class_embeds=self.k + 1 if self.k else None,  # +1: the null class
        )
        self.ema = copy.deepcopy(self.unet).requires_grad_(False) if c.ema_decay > 0 else None
        self.train_scheduler = make_scheduler(
            "ddpm", timesteps=c.timesteps, schedule=c.beta_schedule, beta_start=c.beta_start, beta_end=c.beta_end
        )

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
        x, y = batch
        x0 = to_signed(x)
        b = x0.shape[0]
        t = torch.randint(0, self.config.timesteps, (b,), device=x0.device)
        noise = torch.randn_like(x0)
        x_t = self.train_scheduler.add_noise(x0, noise, t)
        labels = None
        if self.k:
            drop = torch.rand(b, device=x0.device) < self.config.cond_drop_prob
            labels = torch.where(drop, torch.full_like(y, self.k), y.long())
        pred = self.unet(x_t, t, class_labels=labels).sample
        loss = F.mse_loss(pred, noise)
        return ModelOutput(loss, {"loss/total": loss.detach(), "loss/mse": loss.detach()})

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
        sched = make_scheduler(
            kind, timesteps=c.timesteps, schedule=c.beta_schedule, beta_start=c.beta_start, beta_end=c.beta_end
        )
        n_steps = c.timesteps if kind == "ddpm" else (steps or c.sample_steps)
        net = self.ema if (use_ema and self.ema is not None) else self.unet
        x = sample_loop(
            self._eps_fn(net),
            sched,
            (n, *self.image_shape),
            steps=n_steps,
            generator=generator,
            labels=None if y is None else y.to(self._device),
            null_label=self.k if self.k else None,
            guidance_scale=c.guidance_scale if guidance_scale is None else guidance_scale,
            eta=c.eta if eta is None else eta,
            device=self._device,
            progress=progress,
        )
        return to_unit(x)

    @torch.no_grad()
    def preview(self, n: int, *, labels=None, generator=None) -> torch.Tensor:
        """Cheap DDIM samples for the grids written during training."""
        return self.sample(
            n, labels=labels, generator=generator, sampler="ddim", steps=self.config.preview_steps, progress=False
        )
