"""Training a classifier: plain, class-weighted, minority-oversampled, or with classic augmentation.

A short, explicit loop (many small classifiers are trained per experiment: arms x seeds),
with model selection and early stopping on a validation split, never on the test split.
Imbalance remedies, stated:
- ``loss: weighted_ce``: cross-entropy with class weights w_c = N / (K * N_c).
- ``sampling: oversample``: each batch is drawn with replacement with probability
  proportional to 1 / N_{class(i)}, so classes are equally likely; an epoch is still N draws.
- ``augment: classic``: per image, random rotation (+-10 deg), translation (+-6 %), scale
  (0.9-1.1) and brightness/contrast (+-10 %), by one batched affine warp; no flips (chest
  X-rays are not left-right symmetric).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from radgen.data.base import ImageSet
from radgen.errors import ConfigError
from radgen.nn.optim import fused_ok


@dataclass
class ClassifierTrainConfig:
    epochs: int = 15
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    loss: Literal["ce", "weighted_ce"] = "ce"
    sampling: Literal["shuffle", "oversample"] = "shuffle"
    augment: Literal["none", "classic"] = "none"
    patience: int | None = 3  # early stopping on the validation loss
    seed: int = 0


def class_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """w_c = N / (K * N_c): each class contributes equally to the loss (sklearn's 'balanced')."""
    counts = torch.bincount(labels.long(), minlength=num_classes).double()
    if (counts == 0).any():
        raise ConfigError(f"class weights need every class in the training split; counts {counts.long().tolist()}")
    return (labels.numel() / (num_classes * counts)).float()


def epoch_indices(labels: torch.Tensor, *, sampling: str, generator: torch.Generator) -> torch.Tensor:
    n = labels.numel()
    if sampling == "shuffle":
        return torch.randperm(n, generator=generator)
    if sampling == "oversample":
        counts = torch.bincount(labels.long()).double()
        weights = (1.0 / counts)[labels.long()]
        return torch.multinomial(weights, n, replacement=True, generator=generator)
    raise ConfigError(f"sampling={sampling!r}; valid: shuffle, oversample")


def classic_augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random affine (rotation, translation, scale) + brightness/contrast, batched."""
    b = x.shape[0]
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(b, generator=generator)  # noqa: E731
    angle = u(-10, 10) * math.pi / 180
    scale = u(0.9, 1.1)
    tx, ty = u(-0.06, 0.06) * 2, u(-0.06, 0.06) * 2  # affine_grid coordinates span [-1, 1]
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    contrast, brightness = u(0.9, 1.1).view(b, 1, 1, 1), u(-0.1, 0.1).view(b, 1, 1, 1)
    return ((out - mean) * contrast + mean + brightness).clamp(0, 1)


@torch.no_grad()
def predict_proba(model: nn.Module, images: ImageSet, *, batch_size: int = 512) -> np.ndarray:
    model.eval()
    out = [
        torch.softmax(model(images._to_float(images.stored(slice(i, i + batch_size)))), 1)
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(out).numpy()


@torch.no_grad()
def _val_loss(model: nn.Module, images: ImageSet, batch_size: int = 512) -> float:
    model.eval()
    total = 0.0
    for i in range(0, len(images), batch_size):
        x = images._to_float(images.stored(slice(i, i + batch_size)))
        total += float(F.cross_entropy(model(x), images.labels[i : i + batch_size], reduction="sum"))
    return total / max(1, len(images))


def fit_classifier(
    model: nn.Module, train: ImageSet, val: ImageSet | None, cfg: ClassifierTrainConfig
) -> tuple[nn.Module, list[dict]]:
    """Train; return the weights of the epoch with the lowest validation loss, and per-epoch history."""
    if train.task != "multiclass":
        raise ConfigError("classifiers here are single-label; use a multiclass dataset")
    g = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    k = train.num_classes
    weight = class_weights(train.labels, k) if cfg.loss == "weighted_ce" else None
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused_ok(params) or None)
    best, best_loss, bad, history = copy.deepcopy(model.state_dict()), math.inf, 0, []
    for epoch in range(cfg.epochs):
        model.train()
        idx = epoch_indices(train.labels, sampling=cfg.sampling, generator=g)
        total, n = 0.0, 0
        for s in range(0, len(idx), cfg.batch_size):
            b = idx[s : s + cfg.batch_size]
            x, y = train.batch(b)
            if cfg.augment == "classic":
                x = classic_augment(x, g)
            loss = F.cross_entropy(model(x), y, weight=weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
            n += len(b)
        row = {"epoch": epoch + 1, "train_loss": total / n}
        if val is not None and len(val):
            row["val_loss"] = _val_loss(model, val)
            if row["val_loss"] < best_loss:
                best_loss, best, bad = row["val_loss"], copy.deepcopy(model.state_dict()), 0
            else:
                bad += 1
        else:
            best = copy.deepcopy(model.state_dict())
        history.append(row)
        if cfg.patience is not None and val is not None and bad >= cfg.patience:
            break
    model.load_state_dict(best)
    return model.eval(), history
