"""Training a classifier: plain, class-weighted, minority-oversampled, or with classic augmentation.

A short, explicit loop (many small classifiers are trained per experiment: arms x seeds),
with model selection and early stopping on a validation split, never on the test split.
Imbalance remedies, stated:
- ``loss: weighted_ce``: cross-entropy with class weights w_c = N / (K * N_c).
- ``sampling: oversample``: each batch is drawn with replacement with probability
  proportional to 1 / N_{class(i)}, so classes are equally likely; an epoch is still N draws.
- ``augment: classic``: per image, random rotation (+-10 deg), translation (+-6 %), scale
  (0.9-1.1) and brightness/contrast (+-10 %), by one batched affine warp; no flips (chest
  X-rays are not left-right symmetric). ``augment: light``: rotation (+-10 deg) and
  translation (+-8 %, about 2 px at 28 px) only.

Schedules (stepped per batch): ``constant``; ``onecycle`` (Smith & Topin 2019, torch's
OneCycleLR: warm-up over the first 30 % of the steps to ``lr``, cosine annealing to lr / 1e4);
``cosine`` (SGDR without restarts, Loshchilov & Hutter 2017: lr * (1 + cos(pi t / T)) / 2).
Memory format (``channels_last``, on by default): convolution weights and batches in NHWC
(channels-last) layout. The arithmetic is the same up to float32 rounding (other kernels sum in
another order; tested). On this project's 2-core CPU a cnn001 training step at batch 64 took 34.6 ms
instead of 56.2 (median of 20 steps, 2 threads, 2026-12-07): NCHW max-pooling with indices is slow.
``benchmarks/grid.py`` measures whole fits against the code before.
Selection (``select``): the epoch with the lowest validation cross-entropy (``val_loss``) or
the highest validation AUROC (``val_auroc``; ties keep the earlier epoch). ``threshold``
(binary tasks): ``argmax`` predicts the class of highest probability; ``val_balanced``
predicts the positive class when p(positive) >= t, with t maximising balanced accuracy
(Youden's J = sensitivity + specificity - 1) on the validation split, never the test split.
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
    """How a classifier is trained (the ``train`` section of ``radgen classify`` and the judges' presets)."""

    epochs: int = 15
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    loss: Literal["ce", "weighted_ce"] = "ce"
    sampling: Literal["shuffle", "oversample"] = "shuffle"
    augment: Literal["none", "classic", "light"] = "none"
    patience: int | None = 3  # early stopping on the selection metric
    seed: int = 0
    optimizer: Literal["adam", "adamw"] = "adam"
    schedule: Literal["constant", "onecycle", "cosine"] = "constant"
    select: Literal["val_loss", "val_auroc"] = "val_loss"
    threshold: Literal["argmax", "val_balanced"] = "argmax"
    channels_last: bool = True  # NHWC weights and batches for conv nets (same results to float32 rounding)
    device: str = "cpu"  # cpu | cuda | cuda:N | mps: where the network trains (augmentation stays on the CPU)

    def __post_init__(self) -> None:
        for key, valid in (
            ("loss", ("ce", "weighted_ce")),
            ("sampling", ("shuffle", "oversample")),
            ("augment", AUGMENTS),
            ("optimizer", ("adam", "adamw")),
            ("schedule", ("constant", "onecycle", "cosine")),
            ("select", ("val_loss", "val_auroc")),
            ("threshold", ("argmax", "val_balanced")),
        ):
            if getattr(self, key) not in valid:
                raise ConfigError(f"train.{key}={getattr(self, key)!r}; valid: {', '.join(valid)}")
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ConfigError(
                f"train: epochs ({self.epochs}) and batch_size ({self.batch_size}) must be >= 1, lr ({self.lr}) > 0"
            )
        check_device(self.device)


def check_device(device: str) -> torch.device:
    """``device`` as a torch.device, refused in one line when this machine lacks it."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"train.device={device!r} is not a device; use cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and (not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()):
        raise ConfigError(f"train.device={device} but this machine has no such CUDA device; use train.device=cpu")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("train.device=mps but MPS is not available here; use train.device=cpu")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"train.device={device!r}: classifiers train on cpu, cuda or mps")
    return dev


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (the CPU for a model without parameters)."""
    return next(iter(model.parameters()), torch.empty(())).device


def to_channels_last(model: nn.Module) -> nn.Module:
    """NHWC layout for every 4-D parameter and buffer (convolution weights); the others are unchanged."""
    return model.to(memory_format=torch.channels_last)


def is_channels_last(model: nn.Module) -> bool:
    """Whether the model's 4-D weights are stored channels-last (batches should follow them). A weight with one
    input channel or a 1x1 kernel is both layouts at once, so the first weight that tells them apart decides."""
    for p in model.parameters():
        if p.dim() == 4 and not (p.is_contiguous() and p.is_contiguous(memory_format=torch.channels_last)):
            return p.is_contiguous(memory_format=torch.channels_last)
    return False


def as_model_layout(x: torch.Tensor, nhwc: bool) -> torch.Tensor:
    """A 4-D batch in the layout of the model's weights (NHWC when ``nhwc``), else unchanged."""
    return x.contiguous(memory_format=torch.channels_last) if nhwc and x.dim() == 4 else x


AUGMENTS = ("none", "classic", "light")


def class_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """w_c = N / (K * N_c): each class contributes equally to the loss (sklearn's 'balanced')."""
    counts = torch.bincount(labels.long(), minlength=num_classes).double()
    if (counts == 0).any():
        raise ConfigError(f"class weights need every class in the training split; counts {counts.long().tolist()}")
    return (labels.numel() / (num_classes * counts)).float()


def epoch_indices(labels: torch.Tensor, *, sampling: str, generator: torch.Generator) -> torch.Tensor:
    """One epoch's order of the training images: a permutation (``shuffle``) or n draws with replacement, each
    class equally likely (``oversample``); drawn from ``generator`` only."""
    n = labels.numel()
    if sampling == "shuffle":
        return torch.randperm(n, generator=generator)
    if sampling == "oversample":
        counts = torch.bincount(labels.long()).double()
        weights = (1.0 / counts)[labels.long()]
        return torch.multinomial(weights, n, replacement=True, generator=generator)
    raise ConfigError(f"sampling={sampling!r}; valid: shuffle, oversample")


def _affine(x: torch.Tensor, angle: torch.Tensor, scale: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor):
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)


def classic_augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random affine (rotation, translation, scale) + brightness/contrast, batched."""
    b = x.shape[0]
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(b, generator=generator)  # noqa: E731
    angle = u(-10, 10) * math.pi / 180
    scale = u(0.9, 1.1)
    tx, ty = u(-0.06, 0.06) * 2, u(-0.06, 0.06) * 2  # affine_grid coordinates span [-1, 1]
    out = _affine(x, angle, scale, tx, ty)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    contrast, brightness = u(0.9, 1.1).view(b, 1, 1, 1), u(-0.1, 0.1).view(b, 1, 1, 1)
    return ((out - mean) * contrast + mean + brightness).clamp(0, 1)


def light_augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random rotation (+-10 deg) and translation (+-8 % of the side), batched; no scale, intensity or flips."""
    b = x.shape[0]
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(b, generator=generator)  # noqa: E731
    angle = u(-10, 10) * math.pi / 180
    tx, ty = u(-0.08, 0.08) * 2, u(-0.08, 0.08) * 2  # affine_grid coordinates span [-1, 1]
    return _affine(x, angle, torch.ones(b), tx, ty)


def augment_batch(x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """The batch augmented as ``kind`` says (``classic``, ``light``; ``none``: unchanged), drawn from ``generator``."""
    if kind == "classic":
        return classic_augment(x, generator)
    if kind == "light":
        return light_augment(x, generator)
    return x


def make_optimizer(params: list[torch.nn.Parameter], cfg: ClassifierTrainConfig) -> torch.optim.Optimizer:
    """Adam or AdamW (``cfg.optimizer``) at ``cfg.lr`` and ``cfg.weight_decay``; the fused kernel where it applies."""
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused_ok(params) or None)


def make_schedule(opt: torch.optim.Optimizer, cfg: ClassifierTrainConfig, steps_per_epoch: int):
    """The per-batch learning-rate schedule (None for ``constant``)."""
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    return None


def binary_auroc(y: np.ndarray, prob: np.ndarray) -> float:
    """ROC AUC (binary: of the last class; multiclass: one-vs-rest macro), nan with one class present."""
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return float("nan")
    if prob.shape[1] == 2:
        return float(roc_auc_score(y, prob[:, 1]))
    return float(roc_auc_score(y, prob, multi_class="ovr", labels=list(range(prob.shape[1]))))


def choose_threshold(y: np.ndarray, prob: np.ndarray, rule: str) -> float | None:
    """The decision threshold on p(positive) for a binary task (None = argmax).

    ``val_balanced``: the t that maximises balanced accuracy (sensitivity + specificity) / 2 on
    (y, prob), searched over the midpoints between consecutive distinct scores; ties keep the t
    closest to 0.5 (the argmax rule)."""
    if rule == "argmax" or prob.shape[1] != 2 or len(np.unique(y)) < 2:
        return None
    s = np.asarray(prob[:, 1], dtype=np.float64)
    y = np.asarray(y).astype(int)
    u = np.unique(s)
    cand = np.concatenate([[0.5], (u[1:] + u[:-1]) / 2]) if len(u) > 1 else np.array([0.5])
    pos, neg = s[y == 1], s[y == 0]
    sens = (pos[None, :] >= cand[:, None]).mean(1)
    spec = (neg[None, :] < cand[:, None]).mean(1)
    bal = (sens + spec) / 2
    best = np.flatnonzero(bal >= bal.max() - 1e-12)
    return float(cand[best[np.argmin(np.abs(cand[best] - 0.5))]])


@torch.no_grad()
def predict_proba(model: nn.Module, images: ImageSet, *, batch_size: int = 512) -> np.ndarray:
    """(N, classes) softmax probabilities of every image, in eval mode, in batches on the model's device."""
    return torch.softmax(_val_logits(model, images, batch_size), 1).numpy()


@torch.no_grad()
def _val_logits(model: nn.Module, images: ImageSet, batch_size: int = 512) -> torch.Tensor:
    """Logits of every image (on the CPU, float32), computed in batches on the model's device."""
    model.eval()
    dev, nhwc = model_device(model), is_channels_last(model)
    return torch.cat(
        [
            model(as_model_layout(images._to_float(images.stored(slice(i, i + batch_size))).to(dev), nhwc))
            .float()
            .cpu()
            for i in range(0, len(images), batch_size)
        ]
    )


def val_scores(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Validation cross-entropy (mean over images) and AUROC from the logits of a whole split."""
    loss = float(F.cross_entropy(logits, labels, reduction="mean"))
    auroc = binary_auroc(labels.numpy(), torch.softmax(logits, 1).numpy())
    return {"val_loss": loss, "val_auroc": auroc}


def improved(row: dict[str, float], best: float, select: str) -> tuple[bool, float]:
    """Whether this epoch's selection metric beats ``best`` (lower loss or higher AUROC), and its value."""
    if select == "val_auroc" and not math.isnan(row["val_auroc"]):
        v = -row["val_auroc"]  # minimise -AUROC
    else:
        v = row["val_loss"]
    return v < best, v


def fit_classifier(
    model: nn.Module, train: ImageSet, val: ImageSet | None, cfg: ClassifierTrainConfig
) -> tuple[nn.Module, list[dict]]:
    """Train; return the weights of the selected epoch (``cfg.select`` on the validation split), and
    per-epoch history (train loss, and val loss and AUROC when there is a validation split)."""
    if train.task != "multiclass":
        raise ConfigError("classifiers here are single-label; use a multiclass dataset")
    g = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    k = train.num_classes
    dev = torch.device(cfg.device)  # checked when the config was made (__post_init__)
    model = model.to(dev)
    if cfg.channels_last:
        model = to_channels_last(model)
    nhwc = is_channels_last(model)
    weight = class_weights(train.labels, k).to(dev) if cfg.loss == "weighted_ce" else None
    opt = make_optimizer(list(model.parameters()), cfg)
    sched = make_schedule(opt, cfg, math.ceil(len(train) / cfg.batch_size))
    best, best_v, bad, history = copy.deepcopy(model.state_dict()), math.inf, 0, []
    for epoch in range(cfg.epochs):
        model.train()
        idx = epoch_indices(train.labels, sampling=cfg.sampling, generator=g)
        total = torch.zeros((), device=dev)
        for s in range(0, len(idx), cfg.batch_size):
            b = idx[s : s + cfg.batch_size]
            x, y = train.batch(b)
            x = as_model_layout(augment_batch(x, cfg.augment, g).to(dev, non_blocking=True), nhwc)
            loss = F.cross_entropy(model(x), y.to(dev), weight=weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total += loss.detach() * len(b)
        row = {"epoch": epoch + 1, "train_loss": float(total) / len(idx)}
        if val is not None and len(val):
            row.update(val_scores(_val_logits(model, val), val.labels))
            better, v = improved(row, best_v, cfg.select)
            if better:
                best_v, best, bad = v, copy.deepcopy(model.state_dict()), 0
            else:
                bad += 1
        else:
            best = copy.deepcopy(model.state_dict())
        history.append(row)
        if cfg.patience is not None and val is not None and bad >= cfg.patience:
            break
    model.load_state_dict(best)
    return model.eval(), history
