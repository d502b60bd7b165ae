"""DCGAN-style generator/discriminator for any size 4*2^k or 7*2^k, and 004's ResNet blocks.

``to_signed``/``to_unit`` are the only place images move between [0, 1] (data, outputs)
and [-1, 1] (tanh generators, critics; design document 004 normalises to [-1, 1]).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from radgen.errors import ConfigError

Norm = Literal["batch", "layer", "none"]


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return x * 2.0 - 1.0


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clamped."""
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0)


def start_size(size: int) -> tuple[int, int]:
    """(s0, k): ``size = s0 * 2^k`` with s0 >= 4 as small as halving allows (64 -> (4, 4), 28 -> (7, 2))."""
    s, k = size, 0
    while s % 2 == 0 and s // 2 >= 4:
        s //= 2
        k += 1
    if k == 0:
        near = sorted({s0 * 2**j for s0 in range(4, 8) for j in range(1, 8)}, key=lambda v: (abs(v - size), v))[:2]
        raise ConfigError(
            f"image size {size} px cannot be reached by doubling from a 4-7 px start (sizes 4..7 x 2^k, k >= 1); "
            f"set data.size to {' or '.join(map(str, sorted(near)))}"
        )
    return s, k


def norm_layer(kind: Norm, c: int) -> nn.Module:
    """The normalisation layer ``kind`` names for ``c`` channels: BatchNorm, layer norm (GroupNorm of 1) or none."""
    if kind == "batch":
        return nn.BatchNorm2d(c)
    if kind == "layer":  # layer norm over (C, H, W): safe with a per-sample gradient penalty
        return nn.GroupNorm(1, c)
    return nn.Identity()


class DCGANGenerator(nn.Module):
    """z -> ConvTranspose(s0) -> [ConvTranspose 4/2/1 + BN + ReLU] x (k-1) -> ConvTranspose 4/2/1 -> tanh.
    Widths halve at each doubling from ``base * 2^(k-1)`` (capped at 8 * base) down to ``base``
    (Radford et al. 2016; design document 003 Fig. 7)."""

    def __init__(self, zin: int, size: int, channels: int, *, base: int = 64):
        super().__init__()
        s0, k = start_size(size)
        widths = [min(base * 2 ** (k - 1 - i), 8 * base) for i in range(k)]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(zin, widths[0], s0, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])  # (B, Z) -> (B, Z, 1, 1) -> (B, C, H, W) in [-1, 1]


class DCGANDiscriminator(nn.Module):
    """Conv 4/2/1 + LeakyReLU(0.2) (no norm on the first layer), then Conv 4/2/1 + norm +
    LeakyReLU down to s0, then Conv(s0) -> one score. ``features`` returns the last hidden map."""

    def __init__(self, cin: int, size: int, *, base: int = 64, norm: Norm = "batch", out_dim: int = 1):
        super().__init__()
        s0, k = start_size(size)
        widths = [min(base * 2**i, 8 * base) for i in range(k)]
        layers: list[nn.Module] = [nn.Conv2d(cin, widths[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(a, b, 4, 2, 1, bias=norm == "none"), norm_layer(norm, b), nn.LeakyReLU(0.2, True)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(widths[-1], out_dim, s0, 1, 0)
        self.feature_dim = widths[-1] * s0 * s0

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).flatten(1)  # (B, out_dim)


class GVAEResBlock(nn.Module):
    """Design document 004's ResNet block: conv3x3 -> norm -> LeakyReLU -> dropout(0.3) ->
    conv3x3 -> norm, plus a (1x1-projected) shortcut. Resolution changes happen in the
    explicit Upsampling / AvgPool layers of 004's tables, not inside blocks."""

    def __init__(self, cin: int, cout: int, *, norm: Norm = "batch", dropout: float = 0.3):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=norm == "none"),
            norm_layer(norm, cout),
            nn.LeakyReLU(0.2, True),
            nn.Dropout2d(dropout),
            nn.Conv2d(cout, cout, 3, padding=1, bias=norm == "none"),
            norm_layer(norm, cout),
        )
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.body(x) + self.skip(x), 0.2)


def spectral_normalise(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018, Eq. 8: W / sigma(W), sigma by one power iteration
    per training forward) on every convolution and linear layer of ``module``, in place, through
    ``torch.nn.utils.parametrizations.spectral_norm``. Returns ``module``."""
    from torch.nn.utils.parametrizations import spectral_norm

    for name, child in list(module.named_children()):
        if isinstance(child, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            setattr(module, name, spectral_norm(child))
        else:
            spectral_normalise(child)
    return module
