"""A plain strided-conv encoder and a conv / residual decoder for any square size."""

from __future__ import annotations

import math

import torch
from torch import nn

from radgen.nn.blocks import DecoderResBlock, group_norm


def n_halvings(size: int, *, floor_to: int = 4, max_steps: int = 6) -> int:
    """Number of x2 steps between a 4x4 map and ``size`` (rounded up; 28 -> 3, 64 -> 4, 128 -> 5)."""
    return max(1, min(max_steps, math.ceil(math.log2(size / floor_to))))


class ConvEncoder(nn.Module):
    """Conv 4/2/1 + GN + LeakyReLU(0.2) stages, then average-pooled to 4x4 and flattened."""

    def __init__(self, cin: int, size: int, widths: list[int]):
        super().__init__()
        steps = n_halvings(size)
        ws = [widths[min(i, len(widths) - 1)] for i in range(steps)]
        layers: list[nn.Module] = []
        c = cin
        for w in ws:
            layers += [nn.Conv2d(c, w, 4, stride=2, padding=1, bias=False), group_norm(w), nn.LeakyReLU(0.2)]
            c = w
        self.net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(4))
        self.out_features = c * 16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)  # (B, C', 4, 4) -> (B, 16 C')


class ConvDecoder(nn.Module):
    """z -> linear -> W0@4x4 -> x2 stages (ConvTranspose 4/2/1 + GN + ReLU, or residual
    interpolation blocks) -> 3x3 conv to C channels (logits) -> exact size."""

    def __init__(self, zin: int, size: int, channels: int, widths: list[int], *, residual: bool = False):
        super().__init__()
        steps = n_halvings(size)
        ws = [widths[min(i, len(widths) - 1)] for i in range(steps)][::-1]  # deepest first
        self.w0 = ws[0]
        self.fc = nn.Linear(zin, ws[0] * 16)
        layers: list[nn.Module] = []
        c = ws[0]
        for w in ws[1:] + [ws[-1]]:
            if residual:
                layers.append(DecoderResBlock(c, w, scale=2))
            else:
                layers += [nn.ConvTranspose2d(c, w, 4, stride=2, padding=1, bias=False), group_norm(w), nn.ReLU()]
            c = w
        self.net = nn.Sequential(*layers)
        self.out = nn.Conv2d(c, channels, 3, padding=1)
        self.size = size

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(-1, self.w0, 4, 4)  # (B, W0*16) -> (B, W0, 4, 4)
        h = self.out(self.net(h))
        if h.shape[-1] != self.size:
            h = nn.functional.interpolate(h, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return h
