"""Residual blocks with GroupNorm (design document 000 section 2.1) and a label embedding."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from radgen.errors import ConfigError

GN_GROUPS = 8  # GroupNorm groups: 8 divides every width used (32..512); stable at batch 16


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with at most ``GN_GROUPS`` groups over ``channels``."""
    return nn.GroupNorm(min(GN_GROUPS, channels), channels)


class EncoderResBlock(nn.Module):
    """Block(u; s) = ReLU(F(u; s) + SC(u; s)); F = two 3x3 convs with GN (+ReLU between);
    SC = identity, or a 1x1 projection with stride ``s`` when shape changes."""

    def __init__(self, cin: int, cout: int, *, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.gn1 = group_norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.gn2 = group_norm(cout)
        self.shortcut = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), group_norm(cout))
        )

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.gn1(self.conv1(u)))
        h = self.gn2(self.conv2(h))
        return F.relu(h + self.shortcut(u))


class DecoderResBlock(nn.Module):
    """Block_dec(u; s): upsampling by interpolation (x``scale``) + 3x3 conv replaces the strided
    conv; the shortcut interpolates (and projects with a 1x1 conv when channels change)."""

    def __init__(self, cin: int, cout: int, *, scale: int = 1, mode: str = "nearest"):
        super().__init__()
        self.scale, self.mode = scale, mode
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.gn1 = group_norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.gn2 = group_norm(cout)
        self.proj = (
            nn.Identity() if cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), group_norm(cout))
        )

    def _up(self, u: torch.Tensor) -> torch.Tensor:
        return u if self.scale == 1 else F.interpolate(u, scale_factor=self.scale, mode=self.mode)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        up = self._up(u)
        h = F.relu(self.gn1(self.conv1(up)))
        h = self.gn2(self.conv2(h))
        return F.relu(h + self.proj(up))


class LabelEmbedding(nn.Module):
    """Class label -> vector: ``one_hot`` (fixed, K dims) or ``embedding`` (learned, ``dim``)."""

    def __init__(self, num_classes: int, *, kind: str = "one_hot", dim: int = 16):
        super().__init__()
        if kind not in ("one_hot", "embedding"):
            raise ConfigError(f"label embedding {kind!r}; valid: one_hot, embedding")
        self.num_classes, self.kind = num_classes, kind
        self.dim = num_classes if kind == "one_hot" else dim
        self.table = nn.Embedding(num_classes, dim) if kind == "embedding" else None

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if self.table is None:
            return F.one_hot(y.long(), self.num_classes).float()
        return self.table(y.long())
