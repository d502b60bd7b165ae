"""Differentiable augmentation for discriminators trained on few images.

DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training",
Sec. 3 and their reference code): the discriminator only ever sees augmented images, real and
generated alike, and the augmentations are differentiable so that the generator's gradient
passes through them. The operations here are the ones that keep a chest X-ray a plausible chest
X-ray: translation (1/8 of the side, zero padding), cutout (a square of 1/2 the side set to 0),
brightness (+U[-0.5, 0.5)) and contrast (x (U[0.5, 1.5)) about the image mean); no flips (the
heart is on the left) and no colour (one channel). Images are in [-1, 1] as the discriminator
sees them, where 0 is the padding value of the reference code.

Each operation is applied to each image independently with probability ``p`` (ADA's per-operation
probability, Karras et al. 2020, Sec. 2.2; DiffAugment itself is ``p = 1``). With the adaptive
schedule (ADA, Sec. 3), ``p`` follows the overfitting heuristic r_t = E[sign(D(x_real) - m)]
(``m`` the midpoint between the real and fake targets of the loss): every ``interval`` discriminator
steps, p <- clip(p + sign(r_t - target) * N / (kimg * 1000), 0, 1), N the real images seen in
that interval, so p can move from 0 to 1 in ``kimg`` thousand images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

AugmentOp = Literal["translation", "cutout", "brightness", "contrast"]
AUGMENT_OPS: tuple[str, ...] = ("translation", "cutout", "brightness", "contrast")
TRANSLATION_RATIO = 0.125  # DiffAugment: shifts up to 1/8 of the side
CUTOUT_RATIO = 0.5  # DiffAugment: a square of half the side


def _rand(shape: tuple[int, ...], x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """U[0, 1) of ``shape`` on ``x``'s device (drawn on the generator's device, then moved)."""
    dev = generator.device if generator is not None else x.device
    return torch.rand(shape, generator=generator, device=dev, dtype=x.dtype).to(x.device)


def _randint(low: int, high: int, shape: tuple[int, ...], x: torch.Tensor, generator: torch.Generator | None):
    dev = generator.device if generator is not None else x.device
    return torch.randint(low, high, shape, generator=generator, device=dev).to(x.device)


def brightness(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """x + (u - 0.5), one u ~ U[0, 1) per image (DiffAugment's ``rand_brightness``)."""
    return x + (_rand((x.shape[0], 1, 1, 1), x, generator) - 0.5)


def contrast(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """(x - mean) * (u + 0.5) + mean, mean over (C, H, W) of each image (DiffAugment's ``rand_contrast``)."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand((x.shape[0], 1, 1, 1), x, generator) + 0.5) + mean


def translation(
    x: torch.Tensor, generator: torch.Generator | None = None, *, ratio: float = TRANSLATION_RATIO
) -> torch.Tensor:
    """Shift each image by integers (dy, dx) in [-r, r], r = round(ratio * side), filling with 0."""
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = _randint(-sy, sy + 1, (b, 1, 1), x, generator)
    dx = _randint(-sx, sx + 1, (b, 1, 1), x, generator)
    rows = (torch.arange(h, device=x.device)[None, :, None] + dy + 1).clamp(0, h + 1)  # (B, H, 1), index into padded
    cols = (torch.arange(w, device=x.device)[None, None, :] + dx + 1).clamp(0, w + 1)  # (B, 1, W)
    padded = F.pad(x, [1, 1, 1, 1])  # (B, C, H+2, W+2): a zero border that out-of-range indices land on
    idx = (rows * (w + 2) + cols).reshape(b, 1, h * w).expand(-1, x.shape[1], -1)  # (B, C, HW) flat indices
    return padded.flatten(2).gather(2, idx).view_as(x)


def cutout(x: torch.Tensor, generator: torch.Generator | None = None, *, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    """Set a square of side round(ratio * side) at a uniform centre to 0 (clipped at the border)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = _randint(0, h + (1 - ch % 2), (b, 1, 1), x, generator)
    cx = _randint(0, w + (1 - cw % 2), (b, 1, 1), x, generator)
    ys = torch.arange(h, device=x.device)[None, :, None] - cy + ch // 2  # (B, H, 1): row within the square
    xs = torch.arange(w, device=x.device)[None, None, :] - cx + cw // 2  # (B, 1, W)
    inside = (ys >= 0) & (ys < ch) & (xs >= 0) & (xs < cw)  # (B, H, W)
    return x * (~inside).unsqueeze(1).to(x.dtype)


OPS = {"translation": translation, "cutout": cutout, "brightness": brightness, "contrast": contrast}


class DiffAugment(nn.Module):
    """The discriminator's augmentation: ``ops`` in order, each applied per image with probability ``p``.

    ``p`` is a buffer (saved in checkpoints, so a resumed adaptive run continues from it). ``observe``
    takes the discriminator's centred outputs on real training images and, when ``adaptive``, moves
    ``p`` by ADA's rule (module docstring); nothing here reads a device value back to the host."""

    def __init__(
        self,
        ops: Sequence[str],
        *,
        p: float = 1.0,
        adaptive: bool = False,
        target: float = 0.6,
        interval: int = 4,
        kimg: float = 10.0,
    ):
        super().__init__()
        unknown = [o for o in ops if o not in OPS]
        if unknown or not ops:
            raise ValueError(f"augmentation ops {list(ops)}: need one or more of {', '.join(AUGMENT_OPS)}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"augmentation probability {p} must be in [0, 1]")
        self.ops = tuple(ops)
        self.adaptive, self.target, self.interval, self.kimg = adaptive, float(target), int(interval), float(kimg)
        self.register_buffer("p", torch.tensor(float(p)))
        self._sign_sum: torch.Tensor | None = None  # sum of sign(D(x) - m) since the last update
        self._seen = 0  # real images observed since the last update
        self._batches = 0

    def forward(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, C, H, W) in [-1, 1] -> the same shape; differentiable in ``x``."""
        b = x.shape[0]
        for name in self.ops:
            out = OPS[name](x, generator)
            keep = _rand((b, 1, 1, 1), x, generator) < self.p  # (B, 1, 1, 1): this image gets this op
            x = torch.where(keep, out, x)
        return x

    @torch.no_grad()
    def observe(self, d_real_centred: torch.Tensor) -> torch.Tensor:
        """Record sign(D(x_real) - m) of one training batch; returns this batch's r_t (a detached scalar)."""
        signs = torch.sign(d_real_centred.detach().float())
        r_t = signs.mean()
        if not self.adaptive:
            return r_t
        self._sign_sum = signs.sum() if self._sign_sum is None else self._sign_sum + signs.sum()
        self._seen += int(d_real_centred.shape[0])
        self._batches += 1
        if self._batches >= self.interval:
            r = self._sign_sum / signs.new_tensor(float(max(1, self._seen * signs[0].numel())))
            step = torch.sign(r - self.target) * (self._seen / (self.kimg * 1000.0))
            self.p.copy_((self.p + step).clamp(0.0, 1.0))
            self._sign_sum, self._seen, self._batches = None, 0, 0
        return r_t
