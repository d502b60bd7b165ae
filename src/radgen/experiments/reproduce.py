"""``radgen reproduce NAME``: a design document's experiment as one command.

Each reproduction trains the shipped configs of its document (``--epochs`` shortens them:
the documents' budgets are long on a 2-core CPU), measures what the document reports, and
writes ``runs/reproduce-<name>-<time>-<id>/``: ``table.md`` with the document's numbers in
a column beside radgen's, ``results.json``, the figures, and the training runs under ``runs/``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from radgen.errors import ConfigError
from radgen.io import write_json, write_text
from radgen.registry import Registry


@dataclass
class ReproduceContext:
    """What every reproduction gets: its output folder, epochs, quick mode and training overrides."""

    out: Path
    epochs: int | None = None  # None: the documents' epochs
    quick: bool = False  # smoke: a few batches per epoch, small test subsets
    progress: bool = False
    include_all: bool = False  # also the settings the document did not tabulate
    overrides: tuple[str, ...] = ()  # --set KEY=VALUE for every training run
    inception_weights: str | None = None  # --inception-weights: adds the FID column where the document reports FID
    data: str | None = None  # --data NAME: the dataset that replaces the configs' (reproductions in TAKES_DATA)
    versions: tuple[str, ...] = ()  # --versions: a subset of a reproduction's rows (reproductions in TAKES_VERSIONS)

    def config(self, name: str, *extra: str, run_name: str | None = None):
        from radgen.training.config import load_run_config

        overrides = [
            f"output_dir={self.out / 'runs'}",
            f"name={run_name or name}",
            f"train.progress_bar={str(self.progress).lower()}",
            *extra,
        ]
        if self.epochs is not None:
            overrides.append(f"train.epochs={self.epochs}")
        if self.quick:
            overrides += [
                "train.limit_train_batches=2",
                "train.limit_val_batches=1",
                "train.sample_every=0",
                "train.checkpoint_every=0",
            ]
        return load_run_config(name, overrides + list(self.overrides))

    def rel(self, path: str | Path) -> str:
        return str(Path(path).relative_to(self.out))


REPRODUCTIONS: Registry[Callable[[ReproduceContext], dict[str, Any]]] = Registry("reproduction")


def _log(msg: str) -> None:
    print(f"radgen reproduce: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- design document 002
SEED002_TABLE1 = {  # (latent n, beta): (BCE, KL, total = BCE + beta * KL), MNIST test set
    (1, 1.0): (156.82, 4.22, 161.04),
    (2, 1.0): (137.70, 6.80, 144.49),
    (64, 1.0): (76.23, 23.80, 100.03),
    (64, 0.1): (59.18, 77.68, 66.94),
    (64, 0.5): (69.50, 34.30, 86.65),
    (64, 2.0): (87.29, 15.46, 118.20),
    (64, 10.0): (143.37, 3.69, 180.22),
}
SEED002_ALL = [(z, b) for z in (1, 2, 64) for b in (0.1, 0.5, 1.0, 2.0, 10.0)]


def budget_text(b: dict[str, Any]) -> str:
    """A trained budget in words (``radgen.reports.evaluation.budget_text``)."""
    from radgen.reports.evaluation import budget_text as text

    return text(b)


def _cell(v: float | None, digits: int = 2) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


@REPRODUCTIONS.register(
    "seed002-table1",
    "design document 002, Table 1: MLP VAE on MNIST, latent n in {1, 2, 64} x beta; test BCE / KL / total; Figs. 3-5",
)
def seed002_table1(ctx: ReproduceContext) -> dict[str, Any]:
    """Design document 002, Table 1: VAE-family latent sizes, their ELBO terms and latent figures."""
    from radgen.analysis.latent import latent_grid, latent_scatter, traversal
    from radgen.evaluation import trained_budget
    from radgen.metrics.likelihood import elbo_terms
    from radgen.training.run import train

    settings = SEED002_ALL if ctx.include_all else list(SEED002_TABLE1)
    rows, figures = [], []
    fig_dir = ctx.out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for i, (z, beta) in enumerate(settings):
        name = f"seed002_mlp_vae_z{z}_beta{beta:g}"
        _log(f"[{i + 1}/{len(settings)}] {name}")
        result = train(ctx.config(name), progress=ctx.progress)
        test = result.data["test"]
        if ctx.quick:
            test = test.subset(list(range(min(500, len(test)))))
        t = elbo_terms(result.model, test)
        paper = SEED002_TABLE1.get((z, beta))
        rows.append(
            {
                "latent": z,
                "beta": beta,
                "bce": t["recon"],
                "kl": t["kl"],
                "total": t["loss"],
                "paper": paper,
                "run": str(result.run_dir),
                "epochs": result.summary["epochs_run"],
                "budget": trained_budget(result.run_dir),
                "n_test": t["n"],
            }
        )
        m = result.model
        sub = test.subset(list(range(min(2000, len(test)))))
        if z == 1 and beta == 1.0:
            traversal(m, fig_dir / "fig3_z1_traversal.png", dims=[0])
            figures.append(("Fig. 3: z = 1 traversal over [-5, 5]", fig_dir / "fig3_z1_traversal.png"))
        if z == 2 and beta == 1.0:
            latent_grid(m, fig_dir / "fig4_z2_grid.png", n=15)
            figures.append(("Fig. 4: z = 2 decoded grid over [-5, 5]^2", fig_dir / "fig4_z2_grid.png"))
            latent_scatter(m, sub.images, sub.labels, sub.class_names, fig_dir / "fig5_z2_scatter.png")
            figures.append(("Fig. 5: test-set posterior means, z = 2", fig_dir / "fig5_z2_scatter.png"))
        if z == 64 and beta == 1.0:
            latent_scatter(m, sub.images, sub.labels, sub.class_names, fig_dir / "fig5_z64_tsne.png", method="tsne")
            figures.append(("Fig. 5 (z = 64): t-SNE of test-set posterior means", fig_dir / "fig5_z64_tsne.png"))
    budgets = sorted({budget_text(r["budget"]) for r in rows})
    lines = [
        "## Design document 002, Table 1: MLP VAE on MNIST (test set)",
        "",
        f"Dataset: MNIST from the original IDX files, 60,000 train (5 % held out for validation) / 10,000 test"
        f"{' (quick: first 500 test images)' if ctx.quick else ''}. Encoder 784-256-256-z, "
        "Bernoulli decoder; BCE summed over the 784 pixels per image, "
        "KL summed over the z dimensions per image, both averaged over images; total = BCE + beta "
        "* KL, as in the document. "
        f"radgen trained {'; '.join(budgets)} per model "
        "(the document: 300 epochs x 223 batches of 256, every training image each epoch); batch 256, Adam 1e-4.",
        "",
        "| n (latent) | beta | BCE radgen | BCE 002 | KL radgen | KL 002 | total radgen | total 002 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        p = r["paper"] or (None, None, None)
        lines.append(
            f"| {r['latent']} | {r['beta']:g} | {r['bce']:.2f} | {_cell(p[0])} | {r['kl']:.2f} | "
            f"{_cell(p[1])} | {r['total']:.2f} | {_cell(p[2])} |"
        )
    lines += [""] + [f"![{cap}]({Path(path).relative_to(ctx.out)})" for cap, path in figures] + [""]
    return {"rows": rows, "markdown": "\n".join(lines) + "\n"}


# --------------------------------------------------------------------------- design document 000
SEED000_TRIALS = {  # trial: (settings as the document states them, FID, IS)
    1: ("batch 16, 100 epochs, lr 5e-4, z 64, KL weight 0.002, recon weight 5", 0.6297, 1.3233),
    2: ("batch 32, 200 epochs, lr 1e-3, z 64, KL weight 1e-4, recon weight 5", 0.2746, 1.8402),
    3: ("batch 32, 100 epochs, lr 1e-3, z 128, KL weight 2, recon weight 1", 0.4209, 1.9845),
}


@REPRODUCTIONS.register(
    "seed000-trials",
    "design document 000, Trials 1-3: ResNet18-VAE on 64 px chest X-rays; reconstruction and "
    "generation grids, loss curves, every metric per feature extractor",
)
def seed000_trials(ctx: ReproduceContext) -> dict[str, Any]:
    """Design document 000's trials: each setting trained and evaluated beside the paper's FID and IS."""
    from radgen.evaluation import EvaluationResult, evaluate_run
    from radgen.reports.evaluation import write_markdown
    from radgen.training.run import train

    features = ("radgen-cnn001", "radgen-ae001") + (("inception",) if ctx.inception_weights else ())
    n_eval = 64 if ctx.quick else 1000
    rows, sections = [], []
    for trial, (settings, fid, is_) in SEED000_TRIALS.items():
        name = f"seed000_trial{trial}"
        _log(f"[{trial}/3] {name}")
        result = train(ctx.config(name), progress=ctx.progress)
        folder, ev = evaluate_run(
            result.run_dir,
            n=n_eval,
            features=features,
            bootstrap=5 if ctx.quick else 50,
            inception_weights=ctx.inception_weights,
            extractor_epochs=1 if ctx.quick else 8,
        )
        write_markdown(folder, ev)
        row = {
            "trial": trial,
            "settings": settings,
            "paper_fid": fid,
            "paper_is": is_,
            "run": str(result.run_dir),
            "epochs": result.summary["epochs_run"],
            "budget": ev.get("budget", {}),
            "seconds_per_epoch": result.summary["seconds_per_epoch"],
            "reconstruction": ev.get("reconstruction", {}),
            "ms_ssim": ev["pixels"]["ms_ssim_generated"]["ms_ssim"],
            "ms_ssim_real": ev["pixels"]["ms_ssim_real"]["ms_ssim"],
            "mmd2": EvaluationResult(ev).mmd2,
            "features": {},
        }
        for fname in ev["features"]:
            dist = EvaluationResult(ev).distance(fname)
            row["features"][fname] = {
                "distance_name": dist.name,
                "distance": dist.value,
                "ci95": dist.ci95,
                "floor": dist.floor,
                "ratio": dist.ratio,
                "kd": dist.kd,
                "is": dist.inception_score,
            }
        rows.append(row)
        rd = result.run_dir
        sections += [
            f"### Trial {trial}: {settings}",
            "",
            f"![Trial {trial}: loss curves]({ctx.rel(rd / 'curves.png')})",
            "",
            f"![Trial {trial}: reconstructions (originals above)]({ctx.rel(rd / 'reconstructions.png')})",
            "",
            f"![Trial {trial}: generated]({ctx.rel(rd / 'samples' / 'final.png')})",
            "",
        ]
    lines = [
        "## Design document 000, Trials 1-3: ResNet18-VAE on 64 px chest X-rays",
        "",
        "Data: the Kaggle chest X-ray pneumonia arrays at 64 px, replicated to 3 channels as in "
        "000, 10 % of train (by patient) held out for validation; "
        f"metrics against up to {n_eval} images of that held-out split (same distribution as train; "
        "real-vs-real floor and ratio beside) and as many samples. radgen trained "
        f"{'; '.join(budget_text(r['budget']) for r in rows)} per trial "
        "(the document: 100 / 200 / 100). L1 reconstruction (mean per pixel) x recon weight + KL "
        "(mean over latent dims) x KL weight, as 000 states.",
        "",
        "000 reports FID and IS from an ImageNet Inception-v3. Its FID values (0.27-0.63) are far "
        "below what any 64 px generator reaches on the standard "
        "2048-d pool features (real-vs-real FIDs of disjoint chest X-ray sets are already larger), "
        "so they were not computed the standard way; "
        "compare trends, not values. radgen reports a Frechet distance under each extractor it "
        "has, named after the extractor: "
        + ("`inception` (FID, user-given pytorch-fid weights) and " if ctx.inception_weights else "")
        + "`radgen-cnn001` (design document 001's CNN trained on the real training split: "
        "FD_radgen-cnn001, IS_radgen-cnn001 over its 2 classes, so IS <= 2). "
        + ("" if ctx.inception_weights else "Pass `--inception-weights FILE` for the FID column."),
        "",
    ]
    head = "| trial | FID 000 | IS 000 |"
    sep = "|---|---|---|"
    for fname in features:
        dn = rows[0]["features"][fname]["distance_name"]
        head += f" {dn} [95 % CI] (floor, ratio) | KD | IS ({fname}) |"
        sep += "---|---|---|"
    head += " MS-SSIM gen / real | MMD^2 (pixels) | L1 | PSNR (dB) | SSIM | s / epoch |"
    sep += "---|---|---|---|---|---|"
    lines += [head, sep]
    for r in rows:
        cells = [str(r["trial"]), f"{r['paper_fid']:.4f}", f"{r['paper_is']:.4f}"]
        for fname in features:
            f = r["features"][fname]
            ci = f"[{f['ci95'][0]:.2f}, {f['ci95'][1]:.2f}]" if f.get("ci95") else ""
            floor = f" (floor {f['floor']:.2f}, {f['ratio']:.3g}x)" if f.get("floor") is not None else ""
            cells += [
                f"{f['distance']:.2f} {ci}{floor}",
                f"{f['kd']:.4f}" if f["kd"] is not None else "—",
                f"{f['is']:.3f}" if f["is"] is not None else "—",
            ]
        rec = r["reconstruction"]
        cells += [
            f"{r['ms_ssim']:.3f} / {r['ms_ssim_real']:.3f}",
            f"{r['mmd2']:.4f}",
            _cell(rec.get("l1"), 4),
            _cell(rec.get("psnr")),
            _cell(rec.get("ssim"), 3),
            _cell(r["seconds_per_epoch"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *sections]
    return {"rows": rows, "markdown": "\n".join(lines) + "\n"}


# --------------------------------------------------------------------------- design document 004
SEED004_TABLE3 = {
    "wgan_gp": (0.327, 0.996),
    "vae_gan": (0.075, 0.972),
    "alpha_gan": (0.131, 0.843),
    "gvae": (0.068, 0.818),
}  # MNIST: MMD x 1e-4, MS-SSIM
SEED004_TABLE4 = {
    100: (0.104, 0.856),
    500: (0.085, 0.821),
    1000: (0.068, 0.818),
    2000: (0.074, 0.844),
}  # hybrid on MNIST, latent size
SEED004_TABLE5 = {  # MNIST: (VAE, hybrid)
    "log-likelihood": (-1.568, -1.353),
    "reconstruction error": (88.5e-3, 4.27e-3),
    "ELBO": (-1.697, -1.404),
    "KL divergence": (0.165, 0.046),
}
SEED004_NAMES = {"wgan_gp": "WGAN-GP", "vae_gan": "VAE-GAN", "alpha_gan": "alpha-GAN", "gvae": "hybrid (004's GVAE)"}


def _sample_scores(model, test, train, *, n: int, seed: int = 0) -> dict[str, float]:
    """MMD^2 (pixels) between ``n`` samples and ``n`` random test images, beside the real-vs-real floor (``n``
    random training images against the same test images) at one bandwidth (median heuristic on the two real
    sets), and MS-SSIM diversity of samples and test images."""
    import torch

    from radgen.metrics.diversity import pairwise_ms_ssim
    from radgen.metrics.mmd import mmd
    from radgen.sampling import generate

    g = torch.Generator().manual_seed(seed)
    real = test.batch(torch.randperm(len(test), generator=g)[:n])[0]
    floor = train.batch(torch.randperm(len(train), generator=g)[: len(real)])[0]
    fake = generate(model, len(real), seed=seed, progress=False)
    sigma = mmd(floor, real)["sigma"]
    return {
        "mmd2": mmd(fake, real, sigma=sigma)["mmd2"],
        "mmd2_floor": mmd(floor, real, sigma=sigma)["mmd2"],
        "ms_ssim": pairwise_ms_ssim(fake, n_pairs=200, seed=seed)["ms_ssim"],
        "ms_ssim_real": pairwise_ms_ssim(real, n_pairs=200, seed=seed)["ms_ssim"],
        "n": n,
    }


@REPRODUCTIONS.register(
    "seed004-tables",
    "design document 004, Tables 3-5: WGAN-GP, VAE-GAN, alpha-GAN and the VAE/GAN hybrid on MNIST "
    "and Fashion-MNIST (MMD, MS-SSIM), the hybrid's latent-size sweep, VAE vs hybrid likelihood",
)
def seed004_tables(ctx: ReproduceContext) -> dict[str, Any]:
    """Design document 004's tables: Bernoulli likelihood bounds of the VAE family."""
    from radgen.metrics.likelihood import bernoulli_bounds
    from radgen.training.run import train

    n = 64 if ctx.quick else 1000
    datasets = ("mnist", "fashion_mnist")
    table3: dict[str, dict[str, Any]] = {}
    trained: dict[tuple[str, str, int], Any] = {}
    jobs = [(m, d) for d in datasets for m in SEED004_TABLE3]
    for i, (m, d) in enumerate(jobs):
        _log(f"[Table 3, {i + 1}/{len(jobs)}] {m} on {d}")
        r = train(ctx.config(f"seed004_{m}", f"data.name={d}", run_name=f"seed004_{m}_{d}"), progress=ctx.progress)
        trained[(m, d, int(r.model.config.latent_dim))] = r
        table3.setdefault(m, {})[d] = {
            **_sample_scores(r.model, r.data["test"], r.data["train"], n=n),
            "run": str(r.run_dir),
            "seconds": r.summary["train_seconds"],
        }
    table4: dict[int, dict[str, Any]] = {}
    for z in SEED004_TABLE4:
        r = trained.get(("gvae", "mnist", z))
        if r is None:
            _log(f"[Table 4] hybrid, z = {z}, on mnist")
            r = train(
                ctx.config("seed004_gvae", f"model.latent_dim={z}", run_name=f"seed004_gvae_z{z}_mnist"),
                progress=ctx.progress,
            )
        table4[z] = {**_sample_scores(r.model, r.data["test"], r.data["train"], n=n), "run": str(r.run_dir)}
    _log("[Table 5] MLP VAE on mnist, the hybrid's budget")
    hybrid = trained[("gvae", "mnist", 1000)]
    limit = _train_limit(hybrid)  # the resolved config: the document's 1000 unless --quick or --set changed it
    budget = [
        f"train.epochs={hybrid.summary['epochs_run']}",
        "train.batch_size=32",
        f"train.limit_train_batches={'null' if limit is None else limit}",
        "train.lr=0.0001",
    ]
    vae = train(ctx.config("seed002_mlp_vae_z64_beta1", *budget, run_name="seed004_vae_mnist"), progress=ctx.progress)
    test = hybrid.data["test"]
    sub = test.subset(list(range(min(64 if ctx.quick else 1000, len(test)))))
    k = 5 if ctx.quick else 50
    table5 = {
        "vae": {**bernoulli_bounds(vae.model, sub, k=k), "run": str(vae.run_dir)},
        "gvae": {**bernoulli_bounds(hybrid.model, sub, k=k), "run": str(hybrid.run_dir)},
    }

    e4 = lambda v: f"{v * 1e4:.3f}"  # noqa: E731  MMD^2 in units of 1e-4, as 004 prints it
    lines = [
        "## Design document 004, Tables 3-5",
        "",
        "Data: MNIST and Fashion-MNIST from the original IDX files, 28 px, in [-1, 1] inside the "
        "GANs. Training as 004 Sec. 5 states it: Adam lr 1e-4, batch 32, "
        '"1000 iterations" (one epoch capped at 1000 batches; this run: '
        f"{hybrid.summary['epochs_run']} "
        f"epoch(s){'' if limit is None else f' of at most {limit} batches'}). Architectures: "
        "DCGAN-style baselines at base width 32; the hybrid "
        "with 004's ResNet-block generator and critic (Tables 1-2) at widths 32/64/128 instead of "
        "64/128/256 (a CPU budget), z = 1000 unless swept.",
        "",
        f"MMD: unbiased Gaussian-kernel MMD^2 on pixels in [0, 1], {n} samples vs {n} test images, printed "
        "x 10^-4 like 004, beside the real-vs-real floor (as many training images against the same test images; "
        "bandwidth: median heuristic on those two real sets, the same for every model) "
        "(004 does not state its kernel or bandwidth, so compare rankings, not values). MS-SSIM: "
        "mean over 200 random pairs of samples (lower = more diverse; the real test set's value "
        "beside it).",
        "",
        "### Table 3: MMD and MS-SSIM",
        "",
        "| model | MMD x1e-4 MNIST radgen | MMD x1e-4 MNIST 004 | MS-SSIM MNIST radgen | MS-SSIM "
        "MNIST 004 | MMD x1e-4 Fashion radgen | MS-SSIM Fashion radgen |",
        "|---|---|---|---|---|---|---|",
    ]
    for m, (p_mmd, p_ssim) in SEED004_TABLE3.items():
        a, b = table3[m]["mnist"], table3[m]["fashion_mnist"]
        lines.append(
            f"| {SEED004_NAMES[m]} | {e4(a['mmd2'])} | {p_mmd} | {a['ms_ssim']:.3f} | {p_ssim} | "
            f"{e4(b['mmd2'])} | {b['ms_ssim']:.3f} |"
        )
    real_m, real_f = table3["gvae"]["mnist"]["ms_ssim_real"], table3["gvae"]["fashion_mnist"]["ms_ssim_real"]
    lines += [
        "| real (MMD: the floor, training vs test images; MS-SSIM: test images) | "
        f"{e4(table3['gvae']['mnist']['mmd2_floor'])} | — | {real_m:.3f} | — | "
        f"{e4(table3['gvae']['fashion_mnist']['mmd2_floor'])} | {real_f:.3f} |",
        "",
        "### Table 4: the hybrid's latent size (MNIST)",
        "",
        "| latent size | MMD x1e-4 radgen | MMD x1e-4 004 | MS-SSIM radgen | MS-SSIM 004 |",
        "|---|---|---|---|---|",
    ]
    for z, (p_mmd, p_ssim) in SEED004_TABLE4.items():
        lines.append(f"| {z} | {e4(table4[z]['mmd2'])} | {p_mmd} | {table4[z]['ms_ssim']:.3f} | {p_ssim} |")
    lines.append(f"| real training images (the floor) | {e4(table4[z]['mmd2_floor'])} | — | — | — |")
    v, h = table5["vae"], table5["gvae"]
    lines += [
        "",
        "### Table 5: VAE vs the hybrid (MNIST test set)",
        "",
        "Both models scored with one likelihood: the decoder's mean image as Bernoulli "
        "probabilities (the VAE's own likelihood; a plug-in one for the hybrid, "
        f"which trains with L1), nats per image, K = {k} importance samples, {len(sub)} test "
        "images. 004's units are not stated (its log-likelihoods near -1.5 "
        "cannot be nats per MNIST image); reconstruction error here is the mean squared error per "
        "pixel of the decoded posterior mean. "
        f"The VAE is design document 002's MLP VAE (z = 64, beta = 1) trained with the hybrid's budget.",
        "",
        "| metric | VAE radgen | VAE 004 | hybrid radgen | hybrid 004 |",
        "|---|---|---|---|---|",
        f"| log-likelihood (IWAE bound, K = {k}) | {v['log_px_iwae']:.2f} | "
        f"{SEED004_TABLE5['log-likelihood'][0]} | {h['log_px_iwae']:.2f} | "
        f"{SEED004_TABLE5['log-likelihood'][1]} |",
        f"| reconstruction error (MSE per pixel) | {v['mse']:.4f} | "
        f"{SEED004_TABLE5['reconstruction error'][0]:.4f} | {h['mse']:.4f} | "
        f"{SEED004_TABLE5['reconstruction error'][1]:.5f} |",
        f"| ELBO | {v['elbo']:.2f} | {SEED004_TABLE5['ELBO'][0]} | {h['elbo']:.2f} | {SEED004_TABLE5['ELBO'][1]} |",
        f"| KL divergence | {v['kl']:.2f} | {SEED004_TABLE5['KL divergence'][0]} | {h['kl']:.2f} | "
        f"{SEED004_TABLE5['KL divergence'][1]} |",
        "",
    ]
    for m in SEED004_TABLE3:
        for d in datasets:
            lines += [
                f"![{SEED004_NAMES[m]} on {d}]({ctx.rel(Path(table3[m][d]['run']) / 'samples' / 'final.png')})",
                "",
            ]
    return {
        "table3": table3,
        "table4": {str(z): v for z, v in table4.items()},
        "table5": table5,
        "markdown": "\n".join(lines) + "\n",
    }


def _train_limit(result) -> int | None:
    """``train.limit_train_batches`` of a finished run, from its resolved config (None: whole epochs)."""
    import yaml

    from radgen.runfolder import RunFolder

    return yaml.safe_load(RunFolder(result.run_dir).config.read_text())["train"]["limit_train_batches"]


# --------------------------------------------------------------------------- cost: design document 003, Table 5
# (label, family, model options, image size, channels, document, training images, batch; 003's parameter count and
# time per epoch on a T4 GPU)
COST_ROWS: list[tuple[str, str, dict, int, int, str, int, int, int | None, str | None]] = [
    ("GAN (LSGAN, DCGAN nets)", "lsgan", {}, 64, 1, "003", 5216, 64, 6_402_880, "24 min"),
    ("GAN (LSGAN, DCGAN nets)", "lsgan", {}, 224, 1, "003", 5216, 64, None, None),
    ("VAE (conv; 003: VGG-style)", "resnet_vae", {}, 224, 1, "003", 5216, 64, 32_674_945, "48 min"),
    ("GM-VAE (003: VGG16 encoder)", "gmvae", {}, 224, 3, "003", 5216, 64, 14_716_608, "65 min"),
    ("MLP VAE", "vae", {"latent_dim": 64}, 28, 1, "002", 60000, 256, None, None),
    ("ResNet18-VAE", "resnet_vae", {"latent_dim": 64}, 64, 3, "000", 4694, 16, None, None),
    ("conditional VAE", "cvae", {"latent_dim": 64}, 64, 1, "001", 4694, 64, None, None),
    ("enhanced conditional VAE", "enhanced_cvae", {}, 64, 1, "001", 4694, 64, None, None),
    (
        "DDPM (UNet 32-64-128-128)",
        "ddpm",
        {"block_out_channels": [32, 64, 128, 128], "attention_resolutions": [16]},
        64,
        1,
        "001",
        4694,
        16,
        None,
        None,
    ),
    ("WGAN-GP", "wgan_gp", {"base_width": 32}, 28, 1, "004", 60000, 32, None, None),
    ("VAE-GAN", "vae_gan", {"latent_dim": 128, "base_width": 32}, 28, 1, "004", 60000, 32, None, None),
    ("alpha-GAN", "alpha_gan", {"latent_dim": 64, "base_width": 32}, 28, 1, "004", 60000, 32, None, None),
    ("VAE/GAN hybrid (GVAE)", "gvae", {"latent_dim": 1000, "base_width": 64}, 128, 3, "004", 7000, 32, None, None),
]


@REPRODUCTIONS.register(
    "seed003-table5",
    "design document 003, Table 5, for every family: parameters and time per epoch at the documents' resolutions",
)
def seed003_table5(ctx: ReproduceContext) -> dict[str, Any]:
    """Design document 003, Table 5: parameters and time per epoch of every family."""
    import math

    import torch

    from radgen.models.base import build_model, model_config_from_dict
    from radgen.training.profile import engine_step_times, random_images

    rows = []
    for i, (label, family, opts, size, ch, doc, n_train, batch, p_params, p_time) in enumerate(COST_ROWS):
        torch.manual_seed(0)
        model = build_model(
            model_config_from_dict({"name": family, **opts}), image_size=size, channels=ch, num_classes=2
        )
        params = sum(p.numel() for p in model.parameters())
        row = {
            "label": label,
            "family": family,
            "image_size": size,
            "channels": ch,
            "document": doc,
            "parameters": params,
            "paper_parameters": p_params,
            "paper_time": p_time,
            "n_train": n_train,
            "batch": batch,
        }
        if not (ctx.quick and size > 64):
            cycle = max(1, int(getattr(model.config, "n_critic", 1)))  # time whole critic/generator cycles
            b = 2 if ctx.quick else min(batch, 8) if size > 64 else batch
            steps = cycle if ctx.quick or size > 64 else 4 * cycle
            _log(f"[{i + 1}/{len(COST_ROWS)}] {family} at {size} px: {steps} steps of batch {b}")
            t = engine_step_times(
                model,
                random_images((steps + 3) * b, image_size=size, channels=ch),
                batch_size=b,
                steps=steps,
                warmup=1,
            )
            per_image = sum(t.times) / len(t.times) / b
            row.update(
                {
                    "timed_batch": b,
                    "timed_steps": len(t.times),
                    "seconds_per_image": per_image,
                    "minutes_per_epoch": per_image * n_train / 60,
                    "epoch_batches": math.ceil(n_train / batch),
                }
            )
        rows.append(row)
        del model
    lines = [
        "## Design document 003, Table 5 (and every other family): parameters and training time per epoch",
        "",
        "003 measured time per epoch on one NVIDIA T4 GPU; radgen measures this 2-core CPU, so "
        "compare the parameter counts, and the time columns only "
        "with each other. Time per epoch = (engine seconds per image, mean over whole steps after "
        "one warm-up step, at the timed batch) x the document's "
        "training-set size; at 224 / 128 px the timed batch is 8 (a CPU budget), which slightly "
        "overstates a batch-64 epoch. Training-set sizes: Kaggle chest "
        "X-ray train 5,216 (003), minus the 10 % validation split (000, 001: 4,694), MNIST 60,000 "
        "(002, 004), Pancreas-CT slices ~7,000 (004).",
        "",
        "| model | doc | px | parameters radgen | parameters doc | min / epoch radgen (CPU) | time "
        "/ epoch doc (T4) | timed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = (
            (f"{r['minutes_per_epoch']:.1f}" if r["minutes_per_epoch"] >= 1 else f"{r['minutes_per_epoch']:.2f}")
            if "minutes_per_epoch" in r
            else "not timed (quick)"
        )
        timed = f"{r['timed_steps']} x batch {r['timed_batch']}" if "timed_batch" in r else "—"
        lines.append(
            f"| {r['label']} | {r['document']} | {r['image_size']} x{r['channels']} | "
            f"{r['parameters']:,} | "
            f"{'—' if r['paper_parameters'] is None else format(r['paper_parameters'], ',')} "
            f"| {t} | {r['paper_time'] or '—'} | {timed} |"
        )
    lines += [
        "",
        "003's GAN (6.40 M parameters) matches a 64 px DCGAN pair (radgen's LSGAN at 64 px: 6.34 "
        "M) although 003 says images were resized to 224; "
        "both sizes are listed. radgen's conv VAE and GM-VAE use their own encoders (003: a "
        "VGG-style encoder and a pretrained VGG16), hence fewer parameters.",
        "",
    ]
    return {"rows": rows, "markdown": "\n".join(lines) + "\n"}


# --------------------------------------------------------------------------- design document 003, Table 4
SEED003_TABLE4 = {  # version: (label, z, K, transition net, normalisation, encoder, decoder), as Table 4 prints them
    "fs_gmvae_v1": ("FS-GMVAE V1", 1000, 50, True, True, "VGG16", "Linear Layers"),
    "fs_gmvae_v2": ("FS-GMVAE V2", 1000, 50, True, False, "VGG16", "Linear Layers"),
    "fs_gmvae_v3": ("FS-GMVAE V3", 1000, 50, True, True, "VGG16", "Decoder 1"),
    "gmvae_v3": ("GMVAE V3", 1000, 50, False, True, "VGG16", "Decoder 1"),
    "gmvae_v4": ("GMVAE V4", 1000, 50, True, True, "VGG16", "Decoder 1"),
    "gmvae_v5": ("GMVAE V5", 1000, 50, False, True, "VGG16", "Decoder 2"),
    "gmvae_v6": ("GMVAE V6", 2000, 300, True, True, "DenseNet121", "Decoder 2"),
    "gmvae_v7": ("GMVAE V7", 2000, 300, False, False, "VGG16", "Decoder 2"),
    "gmvae_v8": ("GMVAE V8", 2000, 300, True, True, "VGG16", "Decoder 2"),
}
SEED003_TABLE5 = {  # 003 Table 5: VGG16 features encoder; Decoder 1 / 2 (weights only)
    "vgg16": 14_714_688,
    "decoder1": 1_920,
    "decoder2": 172_800,
}
TAKES_DATA = {"seed003-table4"}
TAKES_VERSIONS = {"seed003-table4": SEED003_TABLE4}  # --versions picks rows of these tables


def _seed003_data_overrides(ctx: ReproduceContext) -> tuple[list[str], Any]:
    """``--data NAME``: 003's preprocessing (224 px, centre crop, equalisation, 3 channels) on another source;
    a patient-level 80/20 train/test split when it has one split only. Returns the overrides and the loaded splits."""
    from radgen.data import load_dataset
    from radgen.errors import MissingDataError

    cfg = ctx.config("seed003_table4_gmvae_v3")
    extra: list[str] = []
    if ctx.data:
        extra = [f"data.name={ctx.data}"] + (["data.options={}"] if ctx.data != "cxr14" else [])
        cfg = ctx.config("seed003_table4_gmvae_v3", *extra)
    try:
        data = load_dataset(replace(cfg.data, val_from_train=None), progress=ctx.progress)
    except MissingDataError as exc:
        raise MissingDataError(
            f"{exc}; the kit has no CXR14 images: pass --data chest_xray_folder (its native-resolution Kaggle X-rays)"
        ) from None
    if set(data.splits) == {"train"}:
        extra.append("data.split_ratio=0.8")
        cfg = ctx.config("seed003_table4_gmvae_v3", *extra)
        data = load_dataset(cfg.data, progress=False)
    return extra, data


def _seed003_parts(model) -> dict[str, Any]:
    """Parameter counts of one GM-VAE by part, beside what 003 Table 5 counts."""
    from torch import nn

    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    enc, dec = model.encoder, model.decoder
    convs = [m for m in getattr(dec, "net", []) if isinstance(m, nn.ConvTranspose2d)]
    parts = {
        "total": n(model),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "encoder": n(enc.backbone),
        "transition_and_head": n(enc) - n(enc.backbone),
        "decoder": n(dec),
        "decoder_table_weights": sum(m.weight.numel() for m in convs) if convs else None,
        "decoder_table_with_biases": sum(n(m) for m in convs) if convs else None,
        "decoder_projection": n(dec.project) if hasattr(dec, "project") else None,
        "prior": model.prior_means.numel() + model.prior_logvars.numel(),
    }
    c = model.config
    parts["paper_encoder"] = SEED003_TABLE5.get(c.encoder)
    parts["paper_decoder"] = SEED003_TABLE5.get(c.decoder)
    return parts


def _first(d: dict, *keys: str) -> Any:
    for k in keys:
        if isinstance(d, dict) and d.get(k) is not None:
            return d[k]
    return None


@REPRODUCTIONS.register(
    "seed003-table4",
    "design document 003, Tables 4-5: the nine pretrained-backbone GM-VAE versions (VGG16 / DenseNet121, transition "
    "net, Decoders 1-2, linear) at 224 px; parameter counts beside Table 5, samples, the evaluation's numbers",
)
def seed003_table4(ctx: ReproduceContext) -> dict[str, Any]:
    """Design document 003, Table 4: each version trained and evaluated under the protocol."""
    import torch

    from radgen.evaluation import EvaluationResult, evaluate_run
    from radgen.reports.evaluation import write_markdown
    from radgen.training.run import train
    from radgen.viz import save_grid

    extra, data = _seed003_data_overrides(ctx)
    n_eval = 24 if ctx.quick else 500
    fig_dir = ctx.out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    rows, memo_counts = [], {}
    chosen = {v: spec for v, spec in SEED003_TABLE4.items() if not ctx.versions or v in ctx.versions}
    for i, (v, spec) in enumerate(chosen.items()):
        name = f"seed003_table4_{v}"
        _log(f"[{i + 1}/{len(chosen)}] {name}")
        cfg = ctx.config(name, *extra)
        result = train(cfg, progress=ctx.progress)
        m = result.model
        parts = _seed003_parts(m)
        memo = m.encoder.cache  # shared by every version whose frozen backbone holds the same weights
        memo_delta = None
        if memo is not None:  # this version's share: the memo's counters before it are subtracted
            done, reused = memo_counts.get(id(memo), (0, 0))
            memo_delta = {"computed": memo.misses - done, "reused": memo.hits - reused}
            memo_counts[id(memo)] = (memo.misses, memo.hits)
        grid = fig_dir / f"{v}_samples.png"
        labels = torch.arange(16) % int(m.config.num_classes) if m.supports_labels else None
        with torch.no_grad():
            save_grid(m.sample(16, labels=labels, generator=torch.Generator().manual_seed(0)), grid, nrow=8)
        folder, ev = evaluate_run(
            result.run_dir,
            n=n_eval,
            features=("radgen-cnn001",),
            bootstrap=5 if ctx.quick else 50,
            extractor_epochs=1 if ctx.quick else 8,
        )
        write_markdown(folder, ev)
        fd = EvaluationResult(ev).distance("radgen-cnn001")
        elbo = _first(ev.get("likelihood", {}), "elbo_terms") or {}
        rec = ev.get("reconstruction", {})
        rows.append(
            {
                "version": v,
                "label": spec[0],
                "table4": dict(zip(("z", "K", "transition", "normalize", "encoder", "decoder"), spec[1:])),
                "radgen": {
                    "z": m.config.latent_dim,
                    "K": m.config.components,
                    "transition": m.config.transition != "none",
                    "normalize": m.config.input_normalize == "imagenet",
                    "encoder": {"vgg16": "VGG16", "densenet121": "DenseNet121"}.get(
                        m.config.encoder, m.config.encoder
                    ),
                    "decoder": {"decoder1": "Decoder 1", "decoder2": "Decoder 2", "linear": "Linear Layers"}.get(
                        m.config.decoder, m.config.decoder
                    ),
                },
                "image_size": m.config.image_size,
                "run": str(result.run_dir),
                "pretrained": m.pretrained,
                "freeze_encoder": m.config.freeze_encoder,
                "parameters": parts,
                "epochs": result.summary["epochs_run"],
                "seconds_per_epoch": result.summary["seconds_per_epoch"],
                "train_seconds": result.summary["train_seconds"],
                "lr": cfg.train.lr,
                "feature_memo": memo_delta,
                "n_eval": ev.get("n_real"),
                "eval_split": ev.get("real_split"),
                "fd_name": fd.name,
                "fd": fd.value,
                "fd_ci95": fd.ci95,
                "fd_floor": fd.floor,  # real-vs-real, where the evaluation protocol reports it
                "fd_ratio": fd.ratio,
                "budget": ev.get("budget", {}),
                "mmd2": EvaluationResult(ev).mmd2,
                "ms_ssim": ev["pixels"]["ms_ssim_generated"]["ms_ssim"],
                "ms_ssim_real": ev["pixels"]["ms_ssim_real"]["ms_ssim"],
                "recon_bce": elbo.get("recon"),
                "kl": elbo.get("kl"),
                "neg_elbo": elbo.get("neg_elbo"),
                "ssim": rec.get("ssim"),
                "psnr": rec.get("psnr"),
                "samples": str(grid),
            }
        )
        del m, result
    train_n = {k: len(s) for k, s in data.items()}
    return {
        "rows": rows,
        "best": _best_row(rows)["version"],
        "data": {"name": data.name, "splits": train_n},
        "markdown": seed003_table4_markdown(rows, data.name, train_n, quick=ctx.quick, rel=ctx.rel),
    }


def _best_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The best version: lowest FD, then lowest negative ELBO."""
    return min(rows, key=lambda r: (r["fd"], r["neg_elbo"] if r["neg_elbo"] is not None else float("inf")))


def _run_lr(row: dict[str, Any]) -> float | None:
    """The learning rate a row's run trained with: the row's own record, else the run's resolved ``config.yaml``
    (rows written before the record existed), None where neither can be read."""
    import yaml

    from radgen.runfolder import CONFIG

    if row.get("lr") is not None:
        return float(row["lr"])
    try:
        return float(yaml.safe_load((Path(row["run"]) / CONFIG).read_text())["train"]["lr"])
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
        return None


def seed003_table4_markdown(
    rows: list[dict[str, Any]], data_name: str, train_n: dict[str, int], *, quick: bool, rel: Callable[[str], str]
) -> str:
    """The reproduction's tables from its rows (``results.json``), so a finished run's table can be drawn again."""
    best = _best_row(rows)
    r0 = rows[0]
    lrs = sorted({lr for lr in (_run_lr(r) for r in rows) if lr is not None})
    paper_lr = "" if lrs == [1e-4] else " (003 Sec. 5: 1e-4; set with --set)"
    lr_text = f"Adam lr {', '.join(f'{lr:g}' for lr in lrs)}{paper_lr}" if lrs else "Adam"
    px = r0["image_size"]
    changed = [r["label"] for r in rows if r["radgen"] != r["table4"]]
    init = "random init" if all(r["pretrained"].get("encoder_weights") == "random init" for r in rows) else "see rows"
    fmt = lambda v: "—" if v is None else f"{v:,}"  # noqa: E731
    lines = [
        "## Design document 003, Tables 4-5: pretrained-backbone GM-VAEs",
        "",
        f"Data: `{data_name}` ({' / '.join(f'{k} {v}' for k, v in train_n.items())} images, patient-level splits), "
        f"{px} px (003: 224), centre crop, histogram equalisation, grey replicated to 3 channels, as 003 Sec. 4 "
        "states for CXR14 (the kit has no CXR14 images). ImageNet normalisation inside the encoder where Table 4 "
        f"says True. Encoder weights: {init} (`--set model.encoder_weights=PATH` for ImageNet weights; radgen does "
        "not download them); "
        f'encoder frozen (003\'s "Encoder in Eval"): {", ".join(sorted({str(r["freeze_encoder"]) for r in rows}))}. '
        f"Training: batch 64 (003 Sec. 5), {lr_text}, trained "
        f"{'; '.join(sorted({budget_text(r['budget']) for r in rows}))}"
        f"{' (--quick)' if quick else ''}; frozen features computed once per image, "
        "then reused by every version with the same backbone weights (column: this version's computed / reused). "
        f"Loss: BCE summed over 3x{px}x{px} pixels + one-sample Monte Carlo KL to the learned K-component mixture "
        "prior (summed over z), batch means."
        + (
            f" `--set` changed Table 4's settings of {', '.join(changed)}: the columns show what ran."
            if changed
            else ""
        ),
        "",
        f"Evaluation (radgen evaluate's protocol) on {r0['n_eval']} {r0['eval_split']} images and as many samples: "
        f"{r0['fd_name']} (design document 001's CNN trained on the real training split) with its bootstrap 95 % "
        "interval and its real-vs-real floor (training images of the same size and class mix) and ratio, pixel "
        "MMD^2, MS-SSIM diversity of samples beside the real images', and the negative ELBO on the same held-out "
        "images (BCE + KL, nats per image; lower is better). 003 reports no number for these versions, only "
        "sample figures.",
        "",
        "| version | z | K | transition | normalise | encoder | decoder | s / epoch | neg. ELBO (BCE + KL) | "
        f"{r0['fd_name']} [95 % CI] (floor, ratio) | MMD^2 | MS-SSIM gen / real | SSIM recon | features "
        "computed / reused |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = r["radgen"]
        ci = f" [{r['fd_ci95'][0]:.2f}, {r['fd_ci95'][1]:.2f}]" if r.get("fd_ci95") else ""
        floor = r.get("fd_floor")
        if isinstance(floor, dict):  # {value, ...} or a number, as the protocol writes it
            floor = _first(floor, "value", "fd", "distance")
        ratio = f", {r['fd_ratio']:.3g}x" if isinstance(r.get("fd_ratio"), (int, float)) else ""
        floor = f" (floor {floor:.2f}{ratio})" if isinstance(floor, (int, float)) else ""
        fm = r["feature_memo"]
        memo = "—" if fm is None else f"{fm['computed']} / {fm['reused']}"
        ne = "—" if r["neg_elbo"] is None else f"{r['neg_elbo']:.0f} ({r['recon_bce']:.0f} + {r['kl']:.0f})"
        lines.append(
            f"| {r['label']}{' (best)' if r is best else ''} | {t['z']} | {t['K']} | {t['transition']} "
            f"| {t['normalize']} | {t['encoder']} | {t['decoder']} | {_cell(r['seconds_per_epoch'], 1)} | {ne} "
            f"| {r['fd']:.2f}{ci}{floor} "
            f"| {r['mmd2']:.4f} | {r['ms_ssim']:.3f} / {r['ms_ssim_real']:.3f} | {_cell(r['ssim'], 3)} | {memo} |"
        )
    lines += [
        "",
        "### Parameters beside 003 Table 5",
        "",
        "Table 5 counts the VGG16 features encoder (14,714,688) and the weights of Decoder 1 (1,920) or Decoder 2 "
        '(172,800) only; "decoder layers" below are those four transposed convolutions, weights / with biases. '
        "radgen's totals also hold what Table 5 leaves out: the linear map from z to the decoder's 14x14 input, "
        "the transition net and posterior head (mean, log-variance), and the learned mixture prior.",
        "",
        "| version | encoder radgen | encoder 003 | decoder layers radgen (weights / +biases) | decoder 003 "
        "| z -> map | transition + head | prior | trainable (encoder frozen) | total radgen "
        "| 003 total (Encoder in Train) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        p = r["parameters"]
        dec = (
            f"{p['decoder_table_weights']:,} / {p['decoder_table_with_biases']:,}"
            if p["decoder_table_weights"] is not None
            else f"{p['decoder']:,} (linear)"
        )
        paper_total = p["paper_encoder"] + p["paper_decoder"] if p["paper_encoder"] and p["paper_decoder"] else None
        lines.append(
            f"| {r['label']} | {p['encoder']:,} | {fmt(p['paper_encoder'])} | {dec} | {fmt(p['paper_decoder'])} "
            f"| {fmt(p['decoder_projection'])} | {p['transition_and_head']:,} | {p['prior']:,} | {p['trainable']:,} "
            f"| {p['total']:,} | {fmt(paper_total)} |"
        )
    lines += [
        "",
        f"Best version by {r0['fd_name']} (then negative ELBO): **{best['label']}**; its samples:",
        "",
        f"![{best['label']}: 16 samples]({rel(best['samples'])})",
        "",
        "Samples of every version (16 each, seed 0; FS-GMVAE rows alternate the classes):",
        "",
    ]
    lines += [f"![{r['label']}]({rel(r['samples'])})" for r in rows] + [""]
    return "\n".join(lines) + "\n"


def run_reproduction(
    name: str,
    *,
    output_dir: str | Path = "runs",
    epochs: int | None = None,
    quick: bool = False,
    progress: bool = False,
    include_all: bool = False,
    overrides: tuple[str, ...] = (),
    inception_weights: str | None = None,
    data: str | None = None,
    versions: tuple[str, ...] = (),
) -> tuple[Path, dict[str, Any]]:
    """Run the registered reproduction ``name`` into a fresh folder; returns (folder, result)."""
    from radgen.outputs import new_run_dir
    from radgen.reports.markdown import markdown_to_html
    from radgen.runfolder import REPRODUCE_RESULTS, REPRODUCE_TABLE

    fn = REPRODUCTIONS.get(name)
    if data is not None and name not in TAKES_DATA:
        raise ConfigError(
            f"--data applies to {', '.join(sorted(TAKES_DATA))}; {name} trains on its document's datasets"
        )
    if epochs is not None and epochs < 1:
        raise ConfigError(f"--epochs {epochs} must be at least 1")
    if versions:
        if name not in TAKES_VERSIONS:
            raise ConfigError(f"--versions applies to {', '.join(sorted(TAKES_VERSIONS))}; {name} has no versions")
        unknown = [v for v in versions if v not in TAKES_VERSIONS[name]]
        if unknown:
            raise ConfigError(
                f"--versions {','.join(unknown)}: not a version of {name}; valid: {', '.join(TAKES_VERSIONS[name])}"
            )
    out = new_run_dir(output_dir, f"reproduce-{name}")
    started = time.perf_counter()
    result = fn(
        ReproduceContext(
            out=out,
            epochs=epochs,
            quick=quick,
            progress=progress,
            include_all=include_all,
            overrides=tuple(overrides),
            inception_weights=inception_weights,
            data=data,
            versions=tuple(versions),
        )
    )
    result["seconds"] = round(time.perf_counter() - started, 1)
    write_json(out / REPRODUCE_RESULTS, {k: v for k, v in result.items() if k != "markdown"})
    write_text(out / f"{REPRODUCE_TABLE}.md", result["markdown"])
    write_text(
        out / f"{REPRODUCE_TABLE}.html",
        markdown_to_html(result["markdown"], base=out, title=f"radgen reproduce {name}"),
    )
    return out, result
