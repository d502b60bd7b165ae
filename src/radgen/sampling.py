"""Writing samples and reconstructions to folders of PNGs plus a grid, atomically.

The folder is assembled under a temporary name and renamed into place, so a reader
never sees half of it, and an existing folder is never overwritten without ``overwrite``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from radgen.errors import ConfigError, RadgenError
from radgen.viz import save_grid


def _prepare(out: str | Path, overwrite: bool) -> tuple[Path, Path]:
    out = Path(out)
    if out.exists() and not overwrite:
        raise RadgenError(f"{out}: already exists; choose another --out or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    return out, tmp


def _commit(tmp: Path, out: Path) -> Path:
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def save_pngs(images: torch.Tensor, folder: Path, prefix: str) -> None:
    arr = (images.clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)  # (N, C, H, W)
    for i, a in enumerate(arr):
        img = Image.fromarray(a[0], mode="L") if a.shape[0] == 1 else Image.fromarray(a.transpose(1, 2, 0), mode="RGB")
        img.save(folder / f"{prefix}_{i:05d}.png")


def generate(
    model,
    n: int,
    *,
    label: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    progress: bool = True,
    **sample_kwargs,
) -> torch.Tensor:
    """``n`` seeded samples in [0, 1], batched; the same seed and batch size give the same images.

    64 per batch: on CPU, convolutional samplers run ~1.8x faster per image at 64 than at 256
    (cache-bound; the demo's DDPM: 197 vs 113 image-steps/s).

    Sampling runs under ``torch.inference_mode()``; the result is cloned outside it, so it is
    an ordinary tensor that later computations (metrics, classifiers) may use freely.
    """
    g = torch.Generator().manual_seed(seed)
    out = []
    with torch.inference_mode():
        for start in tqdm(range(0, n, batch_size), desc="sampling", leave=False, disable=not progress or None):
            k = min(batch_size, n - start)
            labels = None if label is None else torch.full((k,), int(label))
            out.append(model.sample(k, labels=labels, generator=g, **sample_kwargs).cpu())
    return torch.cat(out).clone()


def write_samples(
    model,
    out: str | Path,
    *,
    n: int,
    label: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    overwrite: bool = False,
    **sample_kwargs,
) -> Path:
    if n < 1:
        raise ConfigError(f"--n {n} must be at least 1")
    out, tmp = _prepare(out, overwrite)
    try:
        imgs = generate(model, n, label=label, seed=seed, batch_size=batch_size, **sample_kwargs)
        save_pngs(imgs, tmp, "sample")
        save_grid(imgs[:256], tmp / "grid.png")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _commit(tmp, out)


def run_images(run: str | Path, model, *, data: str | None = None, split: str = "test"):
    """(ImageSet, split name): real images of the run's dataset (its config.yaml), or of ``data``,
    from ``split`` (falling back to val, then train), checked against the model's size."""
    import yaml

    from radgen.config import from_dict
    from radgen.data import DataConfig, load_dataset

    cfg_path = Path(run) / "config.yaml"
    dcfg = from_dict(DataConfig, yaml.safe_load(cfg_path.read_text())["data"]) if cfg_path.is_file() else DataConfig()
    if data:
        dcfg = DataConfig(name=data, size=model.config.image_size, channels=model.config.channels)
    ds = load_dataset(dcfg, progress=False)
    chosen = next((s for s in (split, "val", "train") if s in ds), None)
    images = ds[chosen]
    if images.image_size[0] != model.config.image_size or images.channels != model.config.channels:
        raise ConfigError(
            f"{dcfg.name} {chosen} images are {images.channels}x{images.image_size[0]} px but the "
            f"model takes {model.config.channels}x{model.config.image_size} px"
        )
    return images, chosen


def write_reconstructions(
    run: str | Path,
    out: str | Path,
    *,
    data: str | None = None,
    split: str = "test",
    n: int = 16,
    overwrite: bool = False,
) -> Path:
    from radgen.models import load_exported

    model, meta = load_exported(run)
    if not hasattr(model, "reconstruct"):
        raise ConfigError(
            f"model {model.config.name!r} has no encoder; reconstruction needs a model of the VAE family"
        )
    images, _ = run_images(run, model, data=data, split=split)
    x, y = images.images[:n], images.labels[:n]
    with torch.inference_mode():
        rec = model.reconstruct(x, y)
    out, tmp = _prepare(out, overwrite)
    try:
        save_pngs(rec, tmp, "recon")
        save_pngs(x, tmp, "input")
        save_grid(torch.cat([x, rec]), tmp / "grid.png", nrow=min(n, 16) if n <= 16 else 16)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _commit(tmp, out)
