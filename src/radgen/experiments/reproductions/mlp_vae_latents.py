"""MLP VAE latent sizes and beta on MNIST (``seed002-table1``, design document 002, Table 1, Figs. 3-5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from radgen.experiments.reproductions.base import ReproduceContext, budget_text, cell, log, register_reproduction

PAPER_TABLE1 = {  # (latent n, beta): (BCE, KL, total = BCE + beta * KL), MNIST test set
    (1, 1.0): (156.82, 4.22, 161.04),
    (2, 1.0): (137.70, 6.80, 144.49),
    (64, 1.0): (76.23, 23.80, 100.03),
    (64, 0.1): (59.18, 77.68, 66.94),
    (64, 0.5): (69.50, 34.30, 86.65),
    (64, 2.0): (87.29, 15.46, 118.20),
    (64, 10.0): (143.37, 3.69, 180.22),
}
ALL_SETTINGS = [(z, b) for z in (1, 2, 64) for b in (0.1, 0.5, 1.0, 2.0, 10.0)]


@register_reproduction(
    "seed002-table1",
    "design document 002, Table 1: MLP VAE on MNIST, latent n in {1, 2, 64} x beta; test BCE / KL / total; Figs. 3-5",
)
def mlp_vae_latent_table(ctx: ReproduceContext) -> dict[str, Any]:
    """Design document 002, Table 1: VAE-family latent sizes, their ELBO terms and latent figures."""
    from radgen.analysis.latent import latent_grid, latent_scatter, traversal
    from radgen.evaluation import trained_budget
    from radgen.metrics.likelihood import elbo_terms
    from radgen.training.run import train

    settings = ALL_SETTINGS if ctx.include_all else list(PAPER_TABLE1)
    rows, figures = [], []
    fig_dir = ctx.out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for i, (z, beta) in enumerate(settings):
        name = f"seed002_mlp_vae_z{z}_beta{beta:g}"
        log(f"[{i + 1}/{len(settings)}] {name}")
        result = train(ctx.config(name), progress=ctx.progress)
        test = result.data["test"]
        if ctx.quick:
            test = test.subset(list(range(min(500, len(test)))))
        t = elbo_terms(result.model, test)
        paper = PAPER_TABLE1.get((z, beta))
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
            f"| {r['latent']} | {r['beta']:g} | {r['bce']:.2f} | {cell(p[0])} | {r['kl']:.2f} | "
            f"{cell(p[1])} | {r['total']:.2f} | {cell(p[2])} |"
        )
    lines += [""] + [f"![{cap}]({Path(path).relative_to(ctx.out)})" for cap, path in figures] + [""]
    return {"rows": rows, "markdown": "\n".join(lines) + "\n"}
