"""``radgen-ae001``: the label-free feature extractor, a small convolutional autoencoder.

A second view of sample quality that no label supervision shaped (``radgen-cnn001`` is a
classifier, so its features emphasise what separates the classes). Stein et al. 2023
("Exposing flaws of generative model evaluation metrics") show that the choice of encoder
changes how generators rank, hence two extractors side by side and their rank agreement.
Architecture (DCGAN-like, Radford et al. 2016):
encoder 3 x [conv 4x4 stride 2, LeakyReLU 0.2] with 16 / 32 / 64 channels, then a linear map to
the 128-d bottleneck z; decoder mirrors it with transposed convolutions and a sigmoid, resized
to the input size. Loss: MSE per pixel, mean over pixels and images. Trained with Adam (lr 1e-3,
batch 64) for a fixed number of epochs (no selection on any held-out image).

Features (176-d): z, plus the spatial standard deviation of each channel of the first two
encoder layers (16 + 32: local contrast, i.e. edge energy). An MSE autoencoder's bottleneck
keeps the low frequencies and is nearly blind to blur (the measurement:
docs/results/docstring_measurements.md), so the first layers' response energy is added, which blur
lowers. Every dimension is standardised with the mean and standard deviation over the training
images (stored with the weights), so no block dominates the Frechet distance by its scale.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from radgen.data.base import ImageSet

WIDTHS = (16, 32, 64)
BOTTLENECK = 128


def _down(size: int) -> int:
    return (size + 2 - 4) // 2 + 1  # conv k=4, s=2, p=1


class AE001(nn.Module):
    """The ``radgen-ae001`` autoencoder: three strided convolutions to a 128-d z, and their mirror."""

    def __init__(self, *, image_size: int, widths: tuple[int, ...] = WIDTHS, bottleneck: int = BOTTLENECK):
        super().__init__()
        self.image_size, self.bottleneck = image_size, bottleneck
        s = image_size
        enc: list[nn.Module] = []
        c_in = 1
        for w in widths:
            enc += [nn.Conv2d(c_in, w, 4, 2, 1), nn.LeakyReLU(0.2)]
            c_in, s = w, _down(s)
        if s < 1:
            raise ValueError(f"image_size {image_size} is too small for {len(widths)} stride-2 layers")
        self.grid = s
        self.encoder = nn.Sequential(*enc)
        self.to_z = nn.Linear(c_in * s * s, bottleneck)
        self.from_z = nn.Linear(bottleneck, c_in * s * s)
        dec: list[nn.Module] = []
        for w in (*reversed(widths[:-1]), 8):
            dec += [nn.ConvTranspose2d(c_in, w, 4, 2, 1), nn.LeakyReLU(0.2)]
            c_in = w
        dec += [nn.Conv2d(c_in, 1, 3, 1, 1)]
        self.decoder = nn.Sequential(*dec)
        dim = bottleneck + widths[0] + widths[1]
        self.register_buffer("feat_mean", torch.zeros(dim))  # set from the training images after fitting
        self.register_buffer("feat_std", torch.ones(dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S) in [0, 1] -> (B, bottleneck)."""
        return self.to_z(self.encoder(x).flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.from_z(z).view(z.shape[0], -1, self.grid, self.grid)  # (B, C * g * g) -> (B, C, g, g)
        x = self.decoder(h)
        if x.shape[-1] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        return torch.sigmoid(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def raw_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S) -> (B, bottleneck + widths[0] + widths[1]), before standardisation."""
        h, stds = x, []
        for layer in self.encoder:
            h = layer(h)
            if isinstance(layer, nn.LeakyReLU) and len(stds) < 2:
                stds.append(h.flatten(2).std(2))  # (B, C, H, W) -> (B, C): local contrast per channel
        return torch.cat([self.to_z(h.flatten(1)), *stds], 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return (self.raw_features(x) - self.feat_mean) / self.feat_std

    @property
    def dim(self) -> int:
        return int(self.feat_mean.numel())


@torch.no_grad()
def _mse(model: AE001, images: ImageSet, batch_size: int = 256) -> float:
    model.eval()
    total = 0.0
    for i in range(0, len(images), batch_size):
        x = images._to_float(images.pixels[i : i + batch_size])[:, :1]
        total += float(F.mse_loss(model(x), x, reduction="sum")) / x[0].numel()
    return total / max(1, len(images))


def fit_autoencoder(
    train: ImageSet, report: ImageSet | None, *, epochs: int = 8, seed: int = 0, batch_size: int = 64, lr: float = 1e-3
) -> tuple[AE001, list[dict]]:
    """Train ``AE001`` on ``train``'s images (labels unused); ``report``'s MSE is logged, not used to select."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = AE001(image_size=train.image_size[0])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for epoch in range(epochs):
        model.train()
        idx = torch.randperm(len(train), generator=g)
        total, n = 0.0, 0
        for s in range(0, len(idx), batch_size):
            x = train._to_float(train.pixels[idx[s : s + batch_size]])[:, :1]
            loss = F.mse_loss(model(x), x)  # mean over pixels and images
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(x)
            n += len(x)
        row = {"epoch": epoch + 1, "train_mse": total / n}
        if report is not None and len(report):
            row["selection_mse"] = _mse(model, report)
        if not math.isfinite(row["train_mse"]):
            raise FloatingPointError(f"radgen-ae001 training diverged at epoch {epoch + 1} (MSE {row['train_mse']})")
        history.append(row)
    model.eval()
    with torch.no_grad():  # standardisation statistics over the training images
        feats = torch.cat(
            [model.raw_features(train._to_float(train.pixels[s : s + 256])[:, :1]) for s in range(0, len(train), 256)]
        ).double()
        model.feat_mean.copy_(feats.mean(0).float())
        model.feat_std.copy_(feats.std(0).clamp(min=1e-6).float())
    return model, history
