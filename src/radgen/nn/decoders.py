"""Design document 003's GM-VAE decoders: Decoder 1 (Table 2), Decoder 2 (Table 3) and linear layers (Table 4).

Decoders 1 and 2 are four ConvTranspose2d(kernel 4, stride 2, padding 1) layers, each doubling the
side (003 appendix: O = s (I - 1) + k - 2p), from a 14 x 14 map to 224 x 224:

    Decoder 1: 14 -> 6 -> 3 -> 3 -> 3 channels;   weights 1,920 (Table 5), with biases 1,935
    Decoder 2: 128 -> 64 -> 32 -> 16 -> 3;          weights 172,800 (Table 5), with biases 172,915

Where 003 is silent, radgen chooses (and the shipped configs say so):
- z (plus the label, for FS-GMVAE) becomes the first map by one linear layer z -> C0 * s0 * s0 and a
  reshape, no activation; s0 = ceil(S / 16) (14 at 224 px). Table 5 does not count this layer.
- ReLU between the transposed convolutions, none after the last: it emits logits (the model's
  sigmoid gives images in [0, 1]).
- The last layer has as many channels as the data (3 in 003); other sizes than 224 are reached by a
  bilinear resize of the logits when S is not a multiple of 16.
The linear-layer decoder is an MLP z -> hidden (ReLU) ... -> C * S * S logits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

DECODER_CHANNELS = {  # 003 Tables 2 and 3: input channels, then each ConvTranspose2d's output channels
    "decoder1": (14, 6, 3, 3, 3),
    "decoder2": (128, 64, 32, 16, 3),
}
UPSAMPLING = 16  # four x2 transposed convolutions


class TransposedConvDecoder(nn.Module):
    """z (B, zin) -> Linear -> (B, C0, s0, s0) -> 4 x [ConvTranspose2d(4, 2, 1) (+ ReLU)] -> (B, C, S, S) logits."""

    def __init__(self, kind: str, zin: int, size: int, channels: int):
        super().__init__()
        chans = list(DECODER_CHANNELS[kind])
        chans[-1] = channels
        self.c0, self.s0, self.size = chans[0], math.ceil(size / UPSAMPLING), size
        self.project = nn.Linear(zin, self.c0 * self.s0 * self.s0)
        layers: list[nn.Module] = []
        for i, (cin, cout) in enumerate(zip(chans[:-1], chans[1:])):
            layers.append(nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1))
            if i < len(chans) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)  # the part Tables 2-3 list

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(-1, self.c0, self.s0, self.s0)  # (B, C0 s0 s0) -> (B, C0, s0, s0)
        h = self.net(h)  # (B, C, 16 s0, 16 s0)
        if h.shape[-1] != self.size:
            h = F.interpolate(h, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return h


class LinearDecoder(nn.Module):
    """z (B, zin) -> [Linear - ReLU] per hidden width -> Linear -> (B, C, S, S) logits."""

    def __init__(self, zin: int, size: int, channels: int, hidden: list[int]):
        super().__init__()
        layers: list[nn.Module] = []
        c = zin
        for h in hidden:
            layers += [nn.Linear(c, h), nn.ReLU()]
            c = h
        layers.append(nn.Linear(c, channels * size * size))
        self.net = nn.Sequential(*layers)
        self.shape = (channels, size, size)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.shape)  # (B, C S S) -> (B, C, S, S)
