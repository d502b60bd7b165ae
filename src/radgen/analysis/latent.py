"""Latent-space tools (design document 002, Figs. 3-5), for the VAE family and, where they
make sense, for GANs and hybrids (``radgen latent RUN --plot ...``).

- ``traversal``: decode z along each chosen dimension over [-5, 5], the others at 0
  (002 Fig. 3 is z = 1); conditional models: one row per class when z = 1.
- ``grid``: decode a regular grid over [-5, 5]^2 for a z = 2 model (002 Fig. 4).
- ``scatter``: the posterior means mu of real images coloured by label (z = 1: a strip plot,
  z = 2: the plane, z > 2: t-SNE (scikit-learn) or PCA of mu) (002 Fig. 5). Needs an encoder.
- ``interpolate``: between two real images' codes, linear and spherical (slerp) paths
  (with an encoder), or between two prior draws (GANs). Conditional models keep the first
  image's label along the path.
- ``kl``: the KL of each latent dimension to the prior averaged over real images, with the
  active units (Burda et al. 2016: Var_x E_q[z_d] > 0.01) marked.

Every function returns what it decoded or encoded, so tests can check it, and writes one PNG.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from radgen.errors import ConfigError
from radgen.models.latent import ACTIVE_UNIT_THRESHOLD
from radgen.viz import _pyplot, _save_figure, show_grid

PLOTS = ("traversal", "grid", "scatter", "tsne", "interpolate", "kl")


@dataclass
class LatentAdapter:
    """One view of every model with a latent space: ``decode(z, y)`` in [0, 1], ``encode(x, y)``."""

    name: str
    dim: int
    num_classes: int
    conditional: bool
    decode: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]
    encode: Callable[[torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor | None]] | None
    kl_per_dim: Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor | None] | None


def latent_adapter(model) -> LatentAdapter:
    """The model's latent space as a ``LatentAdapter``: decode, encode (None without an encoder), KL per dimension."""
    c = model.config
    cond = bool(model.supports_labels)
    if model.likelihood:  # the VAE family: posterior means and the KL per dimension
        return LatentAdapter(
            c.name,
            int(c.latent_dim),
            int(c.num_classes),
            cond,
            lambda z, y: model.decode(z, y if cond else None),
            lambda x, y: model.posterior(x, y if cond else None),
            model.kl_per_dim,
        )
    if model.latent_decoder:  # GANs and hybrids
        enc = None
        if model.encoding != "none":

            def enc(x, y):
                out = model.encode(x, y if cond else None)
                return out if isinstance(out, tuple) else (out, None)

        return LatentAdapter(
            c.name,
            int(c.latent_dim),
            int(c.num_classes),
            cond,
            lambda z, y: model.decode(z, y if cond else None),
            enc,
            None,
        )
    raise ConfigError(
        f"model {c.name!r} has no latent space to explore (latent tools apply to the VAE family, "
        "GANs and hybrids; diffusion models have none)"
    )


def _labels(a: LatentAdapter, n: int, label: int | None) -> torch.Tensor | None:
    if not a.conditional:
        return None
    if label is None:
        label = 0
    if not 0 <= label < a.num_classes:
        raise ConfigError(f"label {label} is not one the model was trained with (0..{a.num_classes - 1})")
    return torch.full((n,), int(label), dtype=torch.long)


@torch.no_grad()
def traversal(
    model,
    path: str | Path,
    *,
    values: torch.Tensor | None = None,
    dims: list[int] | None = None,
    label: int | None = None,
) -> torch.Tensor:
    """Decode z = v * e_d for each value v and dimension d; returns the (rows * len(values), dim) codes decoded."""
    a = latent_adapter(model)
    values = torch.linspace(-5, 5, 11) if values is None else torch.as_tensor(values, dtype=torch.float32)
    if dims is None:
        dims = list(range(min(a.dim, 8)))
    bad = [d for d in dims if not 0 <= d < a.dim]
    if bad:
        raise ConfigError(f"latent dimensions {bad} do not exist; the model has {a.dim} (0..{a.dim - 1})")
    rows, row_labels, ys = [], [], []
    per_class = a.conditional and a.dim == 1 and label is None
    for d in dims:
        for cls in range(a.num_classes) if per_class else [label]:
            z = torch.zeros(len(values), a.dim)
            z[:, d] = values
            rows.append(z)
            ys.append(_labels(a, len(values), cls))
            row_labels.append(f"z{d}" + (f", class {cls}" if a.conditional else ""))
    z = torch.cat(rows)
    y = torch.cat(ys) if a.conditional else None
    images = a.decode(z, y).cpu()
    plt = _pyplot()
    fig, axes = plt.subplots(len(rows), 1, figsize=(0.75 * len(values) + 1.2, 0.8 * len(rows) + 0.6), squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        show_grid(ax, images[i * len(values) : (i + 1) * len(values)], nrow=len(values))
        ax.set_ylabel(row_labels[i], rotation=0, ha="right", va="center", fontsize=8)
    axes[-1, 0].set_xlabel("value: " + ", ".join(f"{v:g}" for v in values.tolist()), fontsize=8)
    _save_figure(fig, path, title=f"{a.name}: latent traversal", dpi=100)
    return z


@torch.no_grad()
def latent_grid(model, path: str | Path, *, n: int = 15, limit: float = 5.0, label: int | None = None) -> torch.Tensor:
    """Decode an n x n grid over [-limit, limit]^2 (z = 2 models); rows go down in z1, columns right in z0."""
    a = latent_adapter(model)
    if a.dim != 2:
        raise ConfigError(
            f"the grid plot needs a 2-dimensional latent space; {a.name!r} has {a.dim} (use --plot traversal)"
        )
    v = torch.linspace(-limit, limit, n)
    z1, z0 = torch.meshgrid(v.flip(0), v, indexing="ij")
    z = torch.stack([z0.flatten(), z1.flatten()], 1)
    images = a.decode(z, _labels(a, len(z), label)).cpu()
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(0.55 * n + 1, 0.55 * n + 1))
    show_grid(ax, images, nrow=n)
    ax.set_xlabel(f"z0 from {-limit:g} to {limit:g}")
    ax.set_ylabel(f"z1 from {limit:g} (top) to {-limit:g}")
    _save_figure(fig, path, title=f"{a.name}: decoded latent grid", dpi=100)
    return z


@torch.no_grad()
def encode_means(
    model, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Posterior means (or encodings) of ``images``, and their KL per dimension where the model has one."""
    a = latent_adapter(model)
    if a.encode is None:
        raise ConfigError(
            f"model {a.name!r} has no encoder; scatter, interpolate and kl need one (VAE family, "
            "vae_gan, alpha_gan, gvae)"
        )
    mus, lvs = [], []
    for s in range(0, len(images), batch_size):
        mu, lv = a.encode(images[s : s + batch_size], labels[s : s + batch_size])
        mus.append(mu.cpu())
        lvs.append(None if lv is None else lv.cpu())
    return torch.cat(mus), (None if lvs[0] is None else torch.cat(lvs))


@torch.no_grad()
def latent_scatter(
    model,
    images: torch.Tensor,
    labels: torch.Tensor,
    class_names: tuple[str, ...],
    path: str | Path,
    *,
    method: str = "auto",
    seed: int = 0,
) -> np.ndarray:
    """2-D (or 1-D) coordinates of the posterior means, plotted coloured by class; returns them."""
    mu, _ = encode_means(model, images, labels)
    d = mu.shape[1]
    if method == "auto":
        method = "mu" if d <= 2 else "tsne"
    if method == "mu":
        if d > 2:
            raise ConfigError(f"the latent space has {d} dimensions; plot it with --plot tsne (or method pca)")
        coords = mu.numpy()
    elif method == "tsne":
        from sklearn.manifold import TSNE

        coords = (
            mu.numpy()
            if d <= 2
            else TSNE(
                n_components=2, init="pca", random_state=seed, perplexity=min(30.0, max(5.0, (len(mu) - 1) / 3))
            ).fit_transform(mu.numpy())
        )
    elif method == "pca":
        from sklearn.decomposition import PCA

        coords = PCA(n_components=min(2, d), random_state=seed).fit_transform(mu.numpy())
    else:
        raise ConfigError(f"method={method!r}; valid: auto, mu, tsne, pca")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    lab = labels.numpy()
    rng = np.random.default_rng(seed)
    for k, name in enumerate(class_names):
        m = lab == k
        if coords.shape[1] == 1:  # strip plot: mu against a jittered class row
            ax.scatter(coords[m, 0], k + 0.25 * rng.standard_normal(m.sum()), s=4, alpha=0.5, label=name)
        else:
            ax.scatter(coords[m, 0], coords[m, 1], s=4, alpha=0.5, label=name)
    if coords.shape[1] == 1:
        ax.set_yticks(range(len(class_names)), class_names)
        ax.set_xlabel("mu")
    else:
        axis = {"mu": "mu", "tsne": "t-SNE", "pca": "PC"}[method]
        ax.set_xlabel(f"{axis} 1")
        ax.set_ylabel(f"{axis} 2")
    ax.legend(markerscale=3, fontsize=8)
    ax.grid(alpha=0.3)
    what = {
        "mu": "posterior means",
        "tsne": f"t-SNE of {d}-d posterior means",
        "pca": f"PCA of {d}-d posterior means",
    }[method]
    _save_figure(fig, path, title=f"{latent_adapter(model).name}: {what} ({len(mu)} images)", dpi=110)
    return coords


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows a and b (vectors), t in [0, 1]; linear when they are parallel."""
    an, bn = a / a.norm(), b / b.norm()
    omega = torch.acos((an * bn).sum().clamp(-1, 1))
    if float(omega) < 1e-6:
        return (1 - t)[:, None] * a + t[:, None] * b
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so)[:, None] * a + (torch.sin(t * omega) / so)[:, None] * b


@torch.no_grad()
def interpolate(
    model,
    path: str | Path,
    *,
    x: torch.Tensor | None = None,
    y: torch.Tensor | None = None,
    steps: int = 10,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Linear and spherical paths between two codes: of the two images ``x`` (with an encoder),
    else of two prior draws. Returns the codes decoded on each path."""
    a = latent_adapter(model)
    if x is not None:
        mu, _ = encode_means(model, x[:2], y[:2] if y is not None else torch.zeros(2, dtype=torch.long))
        z0, z1 = mu[0], mu[1]
    else:
        g = torch.Generator().manual_seed(seed)
        z0, z1 = torch.randn(2, a.dim, generator=g)
    t = torch.linspace(0, 1, steps)
    paths = {"linear": (1 - t)[:, None] * z0 + t[:, None] * z1, "slerp": slerp(z0, z1, t)}
    label = int(y[0]) if (y is not None and a.conditional) else None
    rows = {k: a.decode(z, _labels(a, steps, label)).cpu() for k, z in paths.items()}
    plt = _pyplot()
    n_rows = len(rows) + (1 if x is not None else 0)
    fig, axes = plt.subplots(n_rows, 1, figsize=(0.75 * steps + 1.2, 0.85 * n_rows + 0.6), squeeze=False)
    for ax, (k, imgs) in zip(axes[:, 0], rows.items()):
        show_grid(ax, imgs, nrow=steps)
        ax.set_ylabel(k, rotation=0, ha="right", va="center", fontsize=8)
    if x is not None:
        blank = torch.ones(steps, *x.shape[1:])
        blank[0], blank[-1] = x[0], x[1]
        show_grid(axes[-1, 0], blank, nrow=steps)
        axes[-1, 0].set_ylabel("inputs", rotation=0, ha="right", va="center", fontsize=8)
    _save_figure(
        fig,
        path,
        title=f"{a.name}: interpolation "
        + ("between two real images' codes" if x is not None else "between two prior draws"),
        dpi=100,
    )
    return paths


@torch.no_grad()
def kl_bars(model, images: torch.Tensor, labels: torch.Tensor, path: str | Path) -> dict[str, object]:
    """KL to the prior per latent dimension (mean over images) with active units marked."""
    a = latent_adapter(model)
    mu, logvar = encode_means(model, images, labels)
    if a.kl_per_dim is None or logvar is None:
        raise ConfigError(f"model {a.name!r} has no Gaussian posterior with a closed-form KL per dimension")
    kl = a.kl_per_dim(mu, logvar, labels if a.conditional else None)
    if kl is None:
        raise ConfigError(
            f"model {a.name!r} has no closed-form KL per dimension (mixture prior); its Monte "
            "Carlo KL is logged per run"
        )
    kl_mean = kl.mean(0).numpy()
    variance = mu.var(0).numpy()
    active = variance > ACTIVE_UNIT_THRESHOLD
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.18 * len(kl_mean) + 1.5), 3.0))
    ax.bar(np.arange(len(kl_mean)), kl_mean, color=np.where(active, "#1f77b4", "#bbbbbb"))
    ax.set_xlabel("latent dimension")
    ax.set_ylabel("KL (nats, mean over images)")
    ax.grid(axis="y", alpha=0.3)
    _save_figure(
        fig,
        path,
        title=f"{a.name}: KL per dimension; {int(active.sum())}/{len(active)} active units (blue: "
        f"Var_x mu_d > {ACTIVE_UNIT_THRESHOLD})",
        dpi=110,
    )
    return {
        "kl_per_dim": kl_mean,
        "active": active,
        "active_units": int(active.sum()),
        "kl_total": float(kl_mean.sum()),
    }


def latent_plot(
    run: str | Path,
    plot: str,
    *,
    out: str | Path | None = None,
    overwrite: bool = False,
    split: str = "test",
    n: int = 2000,
    label: int | str | None = None,
    dims: list[int] | None = None,
    steps: int = 10,
    seed: int = 0,
    data: str | None = None,
) -> tuple[Path, object]:
    """``radgen latent RUN --plot PLOT``: load the run's export (and its real images when the
    plot needs them) and write ``RUN/latent/<plot>.png`` (or ``out``); never overwrites silently."""
    from radgen.models import load_exported
    from radgen.models.export import label_index
    from radgen.outputs import check_figure_path
    from radgen.runfolder import RunFolder, load_run_data

    if plot not in PLOTS:
        raise ConfigError(f"--plot {plot!r}; valid: {', '.join(PLOTS)}")
    if n < 2:
        raise ConfigError(f"--n {n} must be at least 2 (real images for the plot)")
    if steps < 2:
        raise ConfigError(f"--steps {steps} must be at least 2 (the two end points)")
    path = check_figure_path(Path(out) if out else RunFolder(run).latent / f"{plot}.png", overwrite=overwrite)
    model, meta = load_exported(run)
    label = label_index(label, (meta.get("data") or {}).get("class_names", []))
    if plot == "traversal":
        return path, traversal(model, path, dims=dims, label=label)
    if plot == "grid":
        return path, latent_grid(model, path, label=label)
    if plot == "interpolate" and latent_adapter(model).encode is None:
        return path, interpolate(model, path, steps=steps, seed=seed)
    images = load_run_data(run, model, data=data, split=split).images
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(images), generator=g)[: min(n, len(images))]
    x, y = images.batch(pick)
    if plot in ("scatter", "tsne"):
        return path, latent_scatter(
            model, x, y, images.class_names, path, method="auto" if plot == "scatter" else "tsne", seed=seed
        )
    if plot == "kl":
        return path, kl_bars(model, x, y, path)
    # interpolate between two real images, of different classes when there are two
    first = 0
    other = next((i for i in range(1, len(y)) if y[i] != y[first]), 1)
    return path, interpolate(model, path, x=x[[first, other]], y=y[[first, other]], steps=steps, seed=seed)
