"""Figures users look at: image grids (no torchvision), with class rows when asked."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from radgen.io import atomic_path
from radgen.outputs import PNG_SOFTWARE


def make_grid(images: torch.Tensor, *, nrow: int | None = None, pad: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> (rows*H', cols*W', C) float array; C is 1 or 3."""
    if images.ndim != 4:
        raise ValueError(f"expected (N, C, H, W), got {tuple(images.shape)}")
    n, c, h, w = images.shape
    cols = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), pad_value, dtype=np.float32)
    x = images.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    for i in range(n):
        r, k = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        grid[top : top + h, left : left + w] = x[i]
    return grid


def save_grid(images: torch.Tensor, path: str | Path, *, nrow: int | None = None) -> Path:
    """Write ``images`` (N, C, H, W) in [0, 1] as one PNG grid at ``path``."""
    from PIL import Image

    g = make_grid(images, nrow=nrow)
    arr = (g * 255.0 + 0.5).astype(np.uint8)
    img = Image.fromarray(arr[..., 0], mode="L") if arr.shape[2] == 1 else Image.fromarray(arr, mode="RGB")
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Software", PNG_SOFTWARE)  # marks the figure as radgen's (radgen.outputs.is_radgen_png)
    with atomic_path(path) as tmp:
        img.save(tmp, pnginfo=info)
    return Path(path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig, path: str | Path, *, title: str | None, dpi: int) -> Path:
    """Title, tight layout, atomic write, close."""
    import matplotlib.pyplot as plt

    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, metadata={"Software": PNG_SOFTWARE})
    plt.close(fig)
    return Path(path)


def show_grid(ax, images: torch.Tensor, *, nrow: int) -> None:
    """Draw images (N, C, H, W) in [0, 1] as one grid on a matplotlib axis, grey, no ticks."""
    g = make_grid(images[:, :1] if images.shape[1] != 3 else images, nrow=nrow, pad_value=1.0)
    ax.imshow(g[..., 0] if g.shape[2] == 1 else g, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_adjustable("datalim")  # keep the axes box, so the layout leaves room for a row label
    ax.set_xticks([])
    ax.set_yticks([])


def save_class_grid(rows: dict[str, torch.Tensor], path: str | Path, *, title: str | None = None) -> Path:
    """One row of images per class, labelled with the class name and count shown."""
    plt = _pyplot()
    per_row = max((len(v) for v in rows.values()), default=1)
    fig, axes = plt.subplots(
        len(rows), 1, figsize=(1.1 * per_row + 1.5, 1.25 * len(rows) + (0.5 if title else 0.1)), squeeze=False
    )
    for ax, (name, imgs) in zip(axes[:, 0], rows.items()):
        if len(imgs):
            show_grid(ax, imgs, nrow=per_row)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    return _save_figure(fig, path, title=title, dpi=110)


def examples_per_class(
    images: torch.Tensor, labels: torch.Tensor, class_names: tuple[str, ...], *, per_class: int = 8, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Up to ``per_class`` random images of each class (multi-hot labels: positives of each label)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, name in enumerate(class_names):
        mask = labels[:, k] > 0 if labels.ndim == 2 else labels == k
        idx = torch.nonzero(mask).flatten()
        pick = idx[torch.randperm(len(idx), generator=g)[:per_class]]
        out[f"{name} ({int(mask.sum())})"] = images[pick]
    return out


def plot_curves(rows: list[dict], path: str | Path, *, title: str | None = None) -> Path | None:
    """Per-epoch train/val curves of every ``loss/*`` term, one panel per term."""
    terms = sorted({k.split("/", 1)[1] for r in rows for k in r if k.startswith(("train/loss/", "val/loss/"))})
    if not rows or not terms:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(terms), figsize=(3.4 * len(terms), 2.8), squeeze=False)
    for ax, term in zip(axes[0], terms):
        for split, style in (("train", "-"), ("val", "--")):
            pts = [(r["epoch"], r[f"{split}/{term}"]) for r in rows if f"{split}/{term}" in r]
            if pts:
                ax.plot(*zip(*pts), style, marker="o" if len(pts) < 15 else None, ms=3, label=split)
        ax.set_title(term, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save_figure(fig, path, title=title, dpi=100)
