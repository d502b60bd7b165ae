"""DenseNet-121 (Huang et al. 2017) with torchxrayvision's parameter names, in plain torch.

torchxrayvision's chest X-ray DenseNet-121 (Cohen et al. 2022, "TorchXRayVision") takes one grey channel at
224 x 224 scaled to [-1024, 1024]; its ``features2`` are the ReLU of the last dense block's batch norm,
averaged over space: 1024-d. This module builds the same network (growth 32, blocks 6-12-24-16, 64 initial
features, bottleneck 4) with the same state-dict keys (``features.conv0.weight``,
``features.denseblock1.denselayer1.norm1.weight``, ``features.transition1.conv.weight``, ``features.norm5.*``),
so a state dict saved from torchxrayvision loads without torchxrayvision or torchvision installed.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

GROWTH, BLOCKS, INIT_FEATURES, BN_SIZE = 32, (6, 12, 24, 16), 64, 4
FEATURE_DIM = 1024


def _dense_layer(channels: int) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            norm1=nn.BatchNorm2d(channels),
            relu1=nn.ReLU(),
            conv1=nn.Conv2d(channels, BN_SIZE * GROWTH, 1, bias=False),
            norm2=nn.BatchNorm2d(BN_SIZE * GROWTH),
            relu2=nn.ReLU(),
            conv2=nn.Conv2d(BN_SIZE * GROWTH, GROWTH, 3, padding=1, bias=False),
        )
    )


class _DenseBlock(nn.Module):
    def __init__(self, n_layers: int, channels: int):
        super().__init__()
        for i in range(n_layers):
            self.add_module(f"denselayer{i + 1}", _dense_layer(channels + i * GROWTH))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for layer in self.children():
            feats.append(layer(torch.cat(feats, 1)))
        return torch.cat(feats, 1)


class XRVDenseNet121(nn.Module):
    """The torchxrayvision DenseNet-121 trunk; ``forward`` gives ``features2`` (N, 1024)."""

    def __init__(self, in_channels: int = 1):
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            conv0=nn.Conv2d(in_channels, INIT_FEATURES, 7, stride=2, padding=3, bias=False),
            norm0=nn.BatchNorm2d(INIT_FEATURES),
            relu0=nn.ReLU(),
            pool0=nn.MaxPool2d(3, stride=2, padding=1),
        )
        c = INIT_FEATURES
        for i, n in enumerate(BLOCKS):
            layers[f"denseblock{i + 1}"] = _DenseBlock(n, c)
            c += n * GROWTH
            if i != len(BLOCKS) - 1:
                layers[f"transition{i + 1}"] = nn.Sequential(
                    OrderedDict(
                        norm=nn.BatchNorm2d(c), relu=nn.ReLU(), conv=nn.Conv2d(c, c // 2, 1, bias=False),
                        pool=nn.AvgPool2d(2, stride=2),
                    )
                )  # fmt: skip
                c //= 2
        layers["norm5"] = nn.BatchNorm2d(c)
        self.features = nn.Sequential(layers)
        assert c == FEATURE_DIM

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 224, 224) in [-1024, 1024] -> (N, 1024)."""
        return nn.functional.relu(self.features(x)).mean((2, 3))
