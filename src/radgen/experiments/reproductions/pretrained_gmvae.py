"""The nine pretrained-backbone GM-VAE versions (``seed003-table4``, design document 003, Tables 4-5)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from radgen.experiments.reproductions.base import ReproduceContext, budget_text, cell, log, register_reproduction

GMVAE_VERSIONS = {  # version: (label, z, K, transition net, normalisation, encoder, decoder), as Table 4 prints them
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
PAPER_PART_COUNTS = {  # 003 Table 5: VGG16 features encoder; Decoder 1 / 2 (weights only)
    "vgg16": 14_714_688,
    "decoder1": 1_920,
    "decoder2": 172_800,
}


def _data_overrides(ctx: ReproduceContext) -> tuple[list[str], Any]:
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


def _parameter_parts(model) -> dict[str, Any]:
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
    parts["paper_encoder"] = PAPER_PART_COUNTS.get(c.encoder)
    parts["paper_decoder"] = PAPER_PART_COUNTS.get(c.decoder)
    return parts


def _first(d: dict, *keys: str) -> Any:
    for k in keys:
        if isinstance(d, dict) and d.get(k) is not None:
            return d[k]
    return None


@register_reproduction(
    "seed003-table4",
    "design document 003, Tables 4-5: the nine pretrained-backbone GM-VAE versions (VGG16 / DenseNet121, transition "
    "net, Decoders 1-2, linear) at 224 px; parameter counts beside Table 5, samples, the evaluation's numbers",
    takes_data=True,
    versions=tuple(GMVAE_VERSIONS),
)
def pretrained_gmvae_versions(ctx: ReproduceContext) -> dict[str, Any]:
    """Design document 003, Table 4: each version trained and evaluated under the protocol."""
    import torch

    from radgen.evaluation import EvaluationResult, evaluate_run
    from radgen.evaluation.protocol import EXTRACTOR_SEEDS
    from radgen.reports.evaluation import write_markdown
    from radgen.training.run import train
    from radgen.viz import save_grid

    extra, data = _data_overrides(ctx)
    n_eval = 24 if ctx.quick else 500
    fig_dir = ctx.out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    rows, memo_counts = [], {}
    chosen = {v: spec for v, spec in GMVAE_VERSIONS.items() if not ctx.versions or v in ctx.versions}
    for i, (v, spec) in enumerate(chosen.items()):
        name = f"seed003_table4_{v}"
        log(f"[{i + 1}/{len(chosen)}] {name}")
        cfg = ctx.config(name, *extra)
        result = train(cfg, progress=ctx.progress)
        m = result.model
        parts = _parameter_parts(m)
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
            extractor_seeds=1 if ctx.quick else EXTRACTOR_SEEDS,
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
        "markdown": versions_markdown(rows, data.name, train_n, quick=ctx.quick, rel=ctx.rel),
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


def versions_markdown(
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
            f"| {t['normalize']} | {t['encoder']} | {t['decoder']} | {cell(r['seconds_per_epoch'], 1)} | {ne} "
            f"| {r['fd']:.2f}{ci}{floor} "
            f"| {r['mmd2']:.4f} | {r['ms_ssim']:.3f} / {r['ms_ssim_real']:.3f} | {cell(r['ssim'], 3)} | {memo} |"
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
