"""Design document 003's GM-VAE encoder: an ImageNet backbone, an optional transition layer, a posterior head.

    x in [0, 1] -> [ImageNet normalisation] -> VGG16 / DenseNet121 features (B, F, S/32, S/32)
      -> transition: Conv1x1(F -> 300) - BatchNorm(300) - ReLU - MaxPool(7) -> (B, 300)     (003 Sec. 4)
         or, without it, global average pooling -> (B, F)
      -> Linear -> (mu, logvar), 2 z values

003 Sec. 4: "a transitional layer with a 1x1 convolution layer (feature size * 300 channels),
BatchNormalization (300 channels), ReLU activation, Max Pool 2D (kernel size 7), and a linear layer
(input 300, output desired z dimension)", after Mao et al. 2018. At 224 px the feature map is 7x7, so
MaxPool(7) is a global max pool; radgen pools globally at every size (the same numbers at 224 px).
The linear layer gives 2 z outputs, mean and log-variance (two z-sized heads in one matrix).

"Encoder in Eval" (003 Table 5) is ``freeze: True``: the backbone's parameters take no gradient and its
BatchNorms stay in eval mode; its features are then a fixed function of the image, so they are memoised
by the image's bytes (``cache_mb``) and computed once per image instead of once per epoch. The memo is
shared by every frozen encoder whose backbone holds the same weights (a fingerprint of its state), so
models that differ only after the backbone (003's versions) compute each image's features once.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from radgen.nn.backbones import DOWNSAMPLING, build_backbone

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision's ImageNet statistics, as 003 Sec. 4 gives them
IMAGENET_STD = (0.229, 0.224, 0.225)


class TransitionLayer(nn.Module):
    """Conv1x1(F -> C) - BN(C) - ReLU - global max pool (= 003's MaxPool2d(7) at 224 px): (B, F, h, w) -> (B, C)."""

    def __init__(self, in_channels: int, channels: int = 300):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, 1)
        self.norm = nn.BatchNorm2d(channels)
        self.out_features = channels

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm(self.conv(h)))  # (B, C, h, w)
        return F.adaptive_max_pool2d(h, 1).flatten(1)  # (B, C, h, w) -> (B, C); = MaxPool2d(7) on 7x7 maps


class FeatureCache:
    """Memo of a frozen backbone's outputs keyed by each image's bytes (blake2b-128), up to ``max_bytes``."""

    def __init__(self, max_bytes: int):
        self.max_bytes, self.bytes, self.hits, self.misses = max_bytes, 0, 0, 0
        self.table: dict[bytes, torch.Tensor] = {}

    @staticmethod
    def keys(x: torch.Tensor) -> list[bytes]:
        flat = x.detach().to("cpu", torch.float32).contiguous().flatten(1).numpy()
        return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]

    def __call__(self, fn, x: torch.Tensor) -> torch.Tensor:
        keys = self.keys(x)
        todo = [i for i, k in enumerate(keys) if k not in self.table]
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        if todo:
            fresh = fn(x[todo])
            with torch.inference_mode(False):  # a memo made under inference mode must serve training steps too
                for i, f in zip(todo, fresh):
                    if self.bytes + f.numel() * f.element_size() > self.max_bytes:
                        break
                    self.table[keys[i]] = f.clone()  # own storage (not a view of the batch), never an inference tensor
                    self.bytes += f.numel() * f.element_size()
            if len(todo) == len(keys):
                return fresh
            got = dict(zip(todo, fresh))
            return torch.stack([got[i] if i in got else self.table[k].to(x.device) for i, k in enumerate(keys)])
        return torch.stack([self.table[k] for k in keys]).to(x.device)


_SHARED_CACHES: dict[bytes, FeatureCache] = {}  # backbone fingerprint -> its memo (one process)


def backbone_fingerprint(net: nn.Module) -> bytes:
    """blake2b-128 of a module's class and state (names, shapes, values): equal iff the weights are."""
    h = hashlib.blake2b(type(net).__name__.encode(), digest_size=16)
    for k, v in net.state_dict().items():
        h.update(k.encode())
        h.update(str(tuple(v.shape)).encode())
        h.update(v.detach().to("cpu").contiguous().numpy().tobytes())
    return h.digest()


def shared_cache(net: nn.Module, max_bytes: int) -> FeatureCache:
    """The feature cache shared by every encoder with the same frozen backbone weights."""
    key = backbone_fingerprint(net)
    if key not in _SHARED_CACHES:
        _SHARED_CACHES[key] = FeatureCache(max_bytes)
    return _SHARED_CACHES[key]


class BackboneEncoder(nn.Module):
    """x (B, C, S, S) in [0, 1] -> (mu, logvar), each (B, z). See the module docstring."""

    def __init__(
        self,
        arch: str,
        in_channels: int,
        latent_dim: int,
        *,
        width: float = 1.0,
        transition: Literal["none", "conv_pool"] = "conv_pool",
        transition_channels: int = 300,
        normalize: Literal["none", "imagenet"] = "none",
        freeze: bool = False,
        cache_mb: float = 0.0,
    ):
        super().__init__()
        self.backbone = build_backbone(arch, in_channels, width=width)
        f = self.backbone.out_channels
        self.transition = TransitionLayer(f, transition_channels) if transition == "conv_pool" else None
        self.to_latent = nn.Linear(self.transition.out_features if self.transition else f, 2 * latent_dim)
        c = in_channels
        mean = IMAGENET_MEAN if c == 3 else (sum(IMAGENET_MEAN) / 3,) * c  # grey: the channels' mean (radgen.data)
        std = IMAGENET_STD if c == 3 else (sum(IMAGENET_STD) / 3,) * c
        self.normalize = normalize
        self.register_buffer("mean", torch.tensor(mean).view(1, c, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, c, 1, 1), persistent=False)
        self.frozen = freeze
        if freeze:
            self.backbone.requires_grad_(False)
            self.backbone.eval()
        self.cache_bytes = int(cache_mb * 2**20) if freeze else 0
        self._cache: FeatureCache | None = None  # found at the first forward, after any weights are loaded
        self.backbone.register_load_state_dict_post_hook(self._forget_cache)

    def _forget_cache(self, module, incompatible) -> None:
        self._cache = None  # new weights, another fingerprint

    @property
    def cache(self) -> FeatureCache | None:
        if self.cache_bytes <= 0:
            return None
        if self._cache is None:
            self._cache = shared_cache(self.backbone, self.cache_bytes)
        return self._cache

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.backbone.eval()  # "Encoder in Eval": BatchNorm running statistics stay as loaded
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features (B, F, h, w) of images in [0, 1]."""
        if self.normalize == "imagenet":
            x = (x - self.mean) / self.std
        if min(x.shape[-2:]) < DOWNSAMPLING:  # below 32 px the fifth /2 stage would leave no pixels
            x = F.interpolate(x, size=(DOWNSAMPLING, DOWNSAMPLING), mode="bilinear", align_corners=False)
        if not self.frozen:
            return self.backbone(x)
        with torch.no_grad():
            cache = self.cache
            return cache(self.backbone, x) if cache is not None else self.backbone(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)  # (B, F, h, w)
        h = self.transition(h) if self.transition is not None else h.mean((2, 3))  # (B, 300) or (B, F)
        mu, logvar = self.to_latent(h).chunk(2, dim=1)
        return mu, logvar
