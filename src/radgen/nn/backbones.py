"""ImageNet backbones in plain torch with torchvision's state-dict layout: VGG16 and DenseNet121 features.

Design document 003 (Sec. 4, 5.1, Table 5) encodes chest X-rays with the convolutional part of
VGG16 (Simonyan & Zisserman 2015, configuration D: 13 3x3 convolutions, 5 max pools; 14,714,688
parameters) or DenseNet121 (Huang et al. 2017: a 7x7 stem, dense blocks of 6/12/24/16 bottleneck
layers with growth rate 32 and bottleneck width 4 x 32, transitions that halve the channels;
6,953,856 parameters). Both are written here from the papers; module names reproduce the keys of
torchvision's ``vgg16().state_dict()`` and ``densenet121().state_dict()`` (``features.0.weight``,
``features.denseblock1.denselayer1.norm1.weight``, ...), so an ImageNet weight file that a user
already has loads as is. radgen never downloads weights and never unpickles: files are read with
``torch.load(weights_only=True)`` or from ``.safetensors``.

``width`` scales every channel count (1.0 is the published network, the only width weights load
into); tests use a small width so the suite stays fast.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from radgen.errors import ConfigError, MissingDataError
from radgen.io import sha256_file
from radgen.nn.weights import read_state_dict as load_state_dict_file

VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")  # config D
DENSENET121_BLOCKS = (6, 12, 24, 16)  # bottleneck layers per dense block
DENSENET_GROWTH = 32  # k, channels each layer adds
DENSENET_BN_SIZE = 4  # bottleneck width = 4 k
DENSENET_INIT = 64  # stem channels
DOWNSAMPLING = 32  # both networks divide the side by 2^5 (VGG: 5 pools; DenseNet: stem conv, stem pool, 3 transitions)
# Keys of torchvision's whole-network state dicts that the feature extractors do not use (their classifier heads).
HEAD_PREFIXES = ("classifier.",)
# torchvision's DenseNet files on download.pytorch.org name dense-layer modules "norm.1" for "norm1" (pre-0.4 layout).
_OLD_DENSE_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12])\.(weight|bias|running_mean|running_var|num_batches_tracked)$"
)


def _scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


class VGG16Features(nn.Module):
    """``torchvision.models.vgg16().features``: (B, C, H, W) -> (B, 512, H/32, W/32).

    Each number of ``VGG16_CFG`` is Conv2d(3x3, padding 1) + ReLU, each "M" MaxPool2d(2, 2); the
    Sequential's indices (0, 2, 5, 7, 10, ...) are torchvision's, under the same ``features.`` prefix.
    """

    arch = "vgg16"

    def __init__(self, in_channels: int = 3, *, width: float = 1.0):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for v in VGG16_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                w = _scaled(int(v), width)
                layers += [nn.Conv2d(c, w, 3, padding=1), nn.ReLU(inplace=True)]
                c = w
        self.features = nn.Sequential(*layers)
        self.out_channels = c
        for m in self.modules():  # He et al. 2015 (fan-out, ReLU), zero biases: torchvision's VGG initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class DenseLayer(nn.Module):
    """BN-ReLU-Conv1x1(4k) - BN-ReLU-Conv3x3(k) on all earlier maps concatenated (Huang et al. 2017, DenseNet-B)."""

    def __init__(self, cin: int, growth: int, bn_size: int):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        h = self.conv1(self.relu1(self.norm1(torch.cat(features, 1))))
        return self.conv2(self.relu2(self.norm2(h)))


class DenseBlock(nn.ModuleDict):
    """DenseNet's dense block: ``n_layers`` bottleneck layers, each fed every earlier output (Huang et al. 2017)."""

    def __init__(self, n_layers: int, cin: int, growth: int, bn_size: int):
        super().__init__()
        for i in range(n_layers):
            self[f"denselayer{i + 1}"] = DenseLayer(cin + i * growth, growth, bn_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)  # (B, cin + L k, H, W)


class Transition(nn.Sequential):
    """BN-ReLU-Conv1x1 halving the channels (compression 0.5, DenseNet-BC) - AvgPool 2x2."""

    def __init__(self, cin: int, cout: int):
        super().__init__(
            OrderedDict(
                norm=nn.BatchNorm2d(cin),
                relu=nn.ReLU(inplace=True),
                conv=nn.Conv2d(cin, cout, 1, bias=False),
                pool=nn.AvgPool2d(2, 2),
            )
        )


class DenseNet121Features(nn.Module):
    """``torchvision.models.densenet121().features``, then the ReLU that torchvision's ``DenseNet.forward``
    applies after it: (B, C, H, W) -> (B, 1024, H/32, W/32)."""

    arch = "densenet121"

    def __init__(self, in_channels: int = 3, *, width: float = 1.0):
        super().__init__()
        growth, c = _scaled(DENSENET_GROWTH, width), _scaled(DENSENET_INIT, width)
        parts: OrderedDict[str, nn.Module] = OrderedDict(
            conv0=nn.Conv2d(in_channels, c, 7, stride=2, padding=3, bias=False),
            norm0=nn.BatchNorm2d(c),
            relu0=nn.ReLU(inplace=True),
            pool0=nn.MaxPool2d(3, stride=2, padding=1),
        )
        for i, n in enumerate(DENSENET121_BLOCKS):
            parts[f"denseblock{i + 1}"] = DenseBlock(n, c, growth, DENSENET_BN_SIZE)
            c += n * growth
            if i < len(DENSENET121_BLOCKS) - 1:
                parts[f"transition{i + 1}"] = Transition(c, c // 2)
                c //= 2
        parts["norm5"] = nn.BatchNorm2d(c)
        self.features = nn.Sequential(parts)
        self.out_channels = c
        for m in self.modules():  # torchvision's DenseNet initialisation: He-normal convs, BN gamma 1 / beta 0
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.features(x))


BACKBONES: dict[str, type[nn.Module]] = {"vgg16": VGG16Features, "densenet121": DenseNet121Features}


def build_backbone(name: str, in_channels: int, *, width: float = 1.0) -> nn.Module:
    """The backbone ``name`` (vgg16 or densenet121) for ``in_channels`` inputs at ``width``."""
    if name not in BACKBONES:
        raise ConfigError(f"encoder {name!r} is not a backbone; valid: {', '.join(BACKBONES)}")
    if width <= 0:
        raise ConfigError(f"model.encoder_width={width} must be > 0 (1.0 is the published network)")
    return BACKBONES[name](in_channels, width=width)


# --------------------------------------------------------------------------- weight files
def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """An encoder's weight file as a plain state dict (``radgen.nn.weights.read_state_dict``); a missing file is a
    MissingDataError naming ``model.encoder_weights``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise MissingDataError(
            f"{path}: encoder weight file not found; "
            "set model.encoder_weights to a state-dict file, or null to train from scratch"
        )
    return load_state_dict_file(path)


def _to_backbone_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision layouts -> this module's: whole network (head dropped), ``.features`` alone (prefix added),
    and the old DenseNet names (``norm.1`` -> ``norm1``)."""
    out = {}
    for k, v in state.items():
        k = k.removeprefix("module.")  # saved from DataParallel
        if k.startswith(HEAD_PREFIXES):
            continue
        if not k.startswith("features."):
            k = "features." + k
        m = _OLD_DENSE_KEY.match(k)
        out[m.group(1) + m.group(2) + "." + m.group(3) if m else k] = v
    return out


def load_backbone_weights(net: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load a torchvision-layout ImageNet state dict into ``net``; returns ``{path, sha256, keys}``.

    A 1-channel backbone takes a 3-channel file's first convolution summed over its input channels
    (exact: conv(x repeated 3 times, W) = conv(x, sum_c W_c)). Any missing, unexpected or mis-shaped
    key is a one-line ``ConfigError`` naming the file and the first offenders.
    """
    path = Path(path).expanduser()
    state = _to_backbone_keys(read_state_dict(path))
    own = net.state_dict()
    first = next(iter(own))  # the stem convolution's weight
    if first in state and own[first].shape[1] == 1 and state[first].ndim == 4 and state[first].shape[1] == 3:
        state[first] = state[first].sum(1, keepdim=True)
    for k in own:  # files saved before torch 0.4.1 have no BatchNorm step counters; they are not weights
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = own[k]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} keys missing ({', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected ({', '.join(unexpected[:3])})")
        if shapes:
            parts.append(f"{len(shapes)} of another shape ({'; '.join(shapes[:2])})")
        raise ConfigError(
            f"{path}: not torchvision {net.arch} weights for this encoder: {', '.join(parts)}; "
            f"expected the state dict of torchvision.models.{net.arch}() (or of its .features), "
            "at model.encoder_width=1.0"
        )
    net.load_state_dict({k: state[k].to(own[k].dtype) for k in own})
    return {"path": str(path), "sha256": sha256_file(path), "keys": len(own)}
