"""``radgen reproduce NAME``: a design document's experiment as one command.

Each reproduction trains the shipped configs of its document (``--epochs`` shortens them:
the documents' budgets are long on a 2-core CPU), measures what the document reports, and
writes ``runs/reproduce-<name>-<time>-<id>/``: ``table.md`` with the document's numbers in
a column beside radgen's, ``results.json``, the figures, and the training runs under ``runs/``.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from radgen.errors import ConfigError
from radgen.io import write_json, write_text
from radgen.registry import Registry


@dataclass
class ReproduceContext:
    out: Path
    epochs: int | None = None  # None: the documents' epochs
    quick: bool = False  # smoke: a few batches per epoch, small test subsets
    progress: bool = False
    include_all: bool = False  # also the settings the document did not tabulate

    def config(self, name: str, *extra: str):
        from radgen.training.config import load_run_config

        overrides = [f"output_dir={self.out / 'runs'}", f"name={name}", f"train.progress_bar={str(self.progress).lower()}", *extra]
        if self.epochs is not None:
            overrides.append(f"train.epochs={self.epochs}")
        if self.quick:
            overrides += ["train.limit_train_batches=4", "train.limit_val_batches=2", "train.sample_every=0", "train.checkpoint_every=0"]
        return load_run_config(name, overrides)


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


def _cell(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


@REPRODUCTIONS.register("seed002-table1", "design document 002, Table 1: MLP VAE on MNIST, latent n in {1, 2, 64} x beta; test BCE / KL / total; Figs. 3-5")
def seed002_table1(ctx: ReproduceContext) -> dict[str, Any]:
    from radgen.analysis.latent import latent_grid, latent_scatter, traversal
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
        rows.append({"latent": z, "beta": beta, "bce": t["recon"], "kl": t["kl"], "total": t["loss"], "paper": paper, "run": str(result.run_dir),
                     "epochs": result.summary["epochs_run"], "n_test": t["n"]})
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
    epochs = sorted({r["epochs"] for r in rows})
    lines = [
        "## Design document 002, Table 1: MLP VAE on MNIST (test set)",
        "",
        f"Dataset: MNIST from the original IDX files, 60,000 train (5 % held out for validation) / 10,000 test"
        f"{' (quick: first 500 test images)' if ctx.quick else ''}. Encoder 784-256-256-z, Bernoulli decoder; BCE summed over the 784 pixels per image, "
        f"KL summed over the z dimensions per image, both averaged over images; total = BCE + beta * KL, as in the document. "
        f"radgen trained {', '.join(map(str, epochs))} epoch(s) per model (the document: 300); batch 256, Adam 1e-4.",
        "",
        "| n (latent) | beta | BCE radgen | BCE 002 | KL radgen | KL 002 | total radgen | total 002 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        p = r["paper"] or (None, None, None)
        lines.append(f"| {r['latent']} | {r['beta']:g} | {r['bce']:.2f} | {_cell(p[0])} | {r['kl']:.2f} | {_cell(p[1])} | {r['total']:.2f} | {_cell(p[2])} |")
    lines += [""] + [f"![{cap}]({Path(path).relative_to(ctx.out)})" for cap, path in figures] + [""]
    return {"rows": rows, "markdown": "\n".join(lines) + "\n"}


def run_reproduction(name: str, *, output_dir: str | Path = "runs", epochs: int | None = None, quick: bool = False, progress: bool = False, include_all: bool = False) -> tuple[Path, dict[str, Any]]:
    from radgen.reports.markdown import markdown_to_html
    from radgen.training.run import new_run_dir

    fn = REPRODUCTIONS.get(name)
    if epochs is not None and epochs < 1:
        raise ConfigError(f"--epochs {epochs} must be at least 1")
    out = new_run_dir(output_dir, f"reproduce-{name}")
    started = time.perf_counter()
    result = fn(ReproduceContext(out=out, epochs=epochs, quick=quick, progress=progress, include_all=include_all))
    result["seconds"] = round(time.perf_counter() - started, 1)
    write_json(out / "results.json", {k: v for k, v in result.items() if k != "markdown"})
    write_text(out / "table.md", result["markdown"])
    write_text(out / "table.html", markdown_to_html(result["markdown"], base=out, title=f"radgen reproduce {name}"))
    return out, result
