"""The evaluation's Markdown: ``metrics.md`` of an evaluation folder and the cells the run report reuses.

``radgen.evaluation`` computes the numbers (``metrics.json``); this module only renders them, a row for every
registered set metric included (``radgen.metrics.set_metrics``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from radgen import runfolder
from radgen.evaluation.result import EvaluationResult
from radgen.io import write_text
from radgen.metrics.privacy_eval import privacy_markdown
from radgen.reports.markdown import code, text


def write_markdown(folder: str | Path, out: dict[str, Any]) -> Path:
    """Write ``to_markdown(out)`` as the evaluation folder's ``metrics.md``; returns its path."""
    return write_text(Path(folder) / runfolder.EVAL_MARKDOWN, to_markdown(out))


def budget_text(b: dict[str, Any]) -> str:
    """'12 epochs x 74 batches (888 steps, 56,832 images seen)'."""
    if not b or not b.get("epochs"):
        return "n/a"
    if b.get("batches") is None:
        return f"{b['epochs']} epoch(s)"
    per = b["batches_per_epoch"]
    per_s = f"{per:.0f}" if abs(per - round(per)) < 1e-9 else f"{per:.1f}"
    return f"{b['epochs']} epoch(s) x {per_s} batches ({b['batches']:,} steps, {b['images_seen']:,} images seen)"


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.{digits}g}"
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, float) for x in v):
        return f"[{v[0]:.{digits}g}, {v[1]:.{digits}g}]"
    return str(v)


def fd_cell(block: dict[str, Any], digits: int = 3) -> str:
    """'4.1 (floor 0.25 [0.21, 0.31], 16x)'."""
    g, f = block["generated"], block["floor"]
    ci = f" {_fmt(f['FD_ci95'], digits)}" if f.get("FD_ci95") else ""
    return f"{_fmt(g['FD'], digits)} (floor {_fmt(f['FD'], digits)}{ci}, {block['FD_ratio']:.3g}x)"


def ensemble_cell(r: dict[str, Any], digits: int = 3) -> str:
    """'4.1 [3.2, 5.0] (floor 0.25 [0, 0.6], 16x; 3 seeds)': an ``ensemble_fd_with_floor`` block (issue 34)."""
    g, f = r["generated"], r["floor"]
    return (
        f"{_fmt(g['FD'], digits)} {_fmt(tuple(g['FD_interval']), digits)} (floor {_fmt(f['FD'], digits)} "
        f"{_fmt(tuple(f['FD_interval']), digits)}, {r['ratio']:.3g}x; {g['n_seeds']} seed{'s' * (g['n_seeds'] > 1)})"
    )


def view_fd_cell(e: dict[str, Any], where: str = "reference", cls: str | None = None) -> str:
    """An extractor entry's FD cell: the ensemble's (mean over extractor seeds, interval) where the evaluation has
    one, else the protocol block's (``fd_cell``); ``where``: reference or shifted_test; ``cls``: a class's."""
    ens = e.get("ensemble", {})
    block = ens.get("per_class", {}).get(cls) if cls is not None else ens.get(where)
    if block is not None:
        return ensemble_cell(block)
    block = e["per_class"][cls] if cls is not None else e.get(where)
    return fd_cell(block) if block else "n/a"


ENSEMBLE_NOTE = (
    "FD: the mean over the view's extractor seeds, in brackets its 95 % two-level bootstrap interval (extractor "
    "seeds drawn with replacement, then the reference and generated sets; percentiles shifted by the bootstrap's "
    "bias), the floor computed the same way, and the ratio of the means (radgen.metrics.ranking.ensemble_fd)."
)


def floor_cell(block: dict[str, Any], key: str, digits: int = 3) -> str:
    """'0.61 (floor 0.70 [0.66, 0.74])' for metrics that get no ratio."""
    g, f = block["generated"], block["floor"]
    if key not in g:
        return "n/a"
    ci = f" {_fmt(f[f'{key}_ci95'], digits)}" if f.get(f"{key}_ci95") else ""
    return f"{_fmt(g[key], digits)} (floor {_fmt(f[key], digits)}{ci})"


def reference_sentence(out: dict[str, Any]) -> str:
    """Which sets the numbers compare: the reference, the floor and the generated set."""
    ref = out["reference"]
    where = (
        f"the held-out {code(ref['split'])} split ({ref['n']} images, from the training distribution)"
        if not ref["shifted"]
        else f"the official {code(ref['split'])} split ({ref['n']} images; **shifted**: the run has no held-out split "
        "of at least 200 images)"
    )
    return (
        f"Reference: {where}, class counts {text(ref['class_counts'])}. Floor: {out['n_floor']} training "
        "images with the same class counts "
        "against the same reference (real vs real, what a perfect generator scores at this N). Generated: "
        f"{out['n_generated']} images"
        + (
            " asked for the reference's labels."
            if out.get("conditional")
            else " (unconditional: class mix not controlled)."
        )
    )


def to_markdown(out: dict[str, Any]) -> str:
    """An evaluation's ``metrics.json`` as the Markdown of its ``metrics.md``."""
    lines = [f"## Evaluation of {code(out['model'])} ({code(out['run'])})", ""]
    if out.get("budget"):
        lines += [f"Trained: {budget_text(out['budget'])}.", ""]
    lines += [reference_sentence(out), ""]
    for note in out.get("notes", []):
        lines += [f"> note: {note}", ""]
    shifted = "shifted_test" in out
    head = "| metric | generated vs reference (floor [95 % range], ratio) |" + (
        " shifted test: generated (floor) |" if shifted else ""
    )
    lines += [head, "|---|---|" + ("---|" if shifted else "")]
    px = out["pixels"]
    m = px["mmd"]

    def mmd_cell(b):
        ci = f" {_fmt(b['floor']['ci95'], 3)}" if b["floor"].get("ci95") else ""
        return f"{_fmt(b['generated']['mmd2'], 3)} (floor {_fmt(b['floor']['mmd2'], 3)}{ci})"

    row = f"| MMD² pixels (Gaussian, sigma {m['sigma']:.3g}) | {mmd_cell(m)} |"
    if shifted:
        st = px.get("shifted_test", {}).get("mmd")
        row += f" {mmd_cell(st) if st else 'n/a'} |"
    lines.append(row)
    lines.append(
        f"| MS-SSIM diversity, generated / reference / floor | {_fmt(px['ms_ssim_generated']['ms_ssim'], 3)} / "
        f"{_fmt(px['ms_ssim_real']['ms_ssim'], 3)} / {_fmt(px['ms_ssim_floor']['ms_ssim'], 3)} |"
        + (" |" if shifted else "")
    )
    for metric in EvaluationResult(out).set_metrics.values():  # every registered metric (metrics.set_metrics)
        d = metric["digits"]
        lines.append(
            f"| {text(metric['label'])} | {_fmt(metric['generated'], d)} (floor {_fmt(metric['floor'], d)}) |"
            + (" |" if shifted else "")
        )
    for name, e in out["features"].items():
        b = e["reference"]
        sb = e.get("shifted_test")
        lines.append(
            f"| {e.get('distance_name', 'FD')} ({name}) | {view_fd_cell(e)} |"
            + (f" {view_fd_cell(e, 'shifted_test') if sb else 'n/a'} |" if shifted else "")
        )
        for key in ("KD", "precision", "recall", "density", "coverage"):
            lines.append(
                f"| {key} ({name}) | {floor_cell(b, key)} |"
                + (f" {floor_cell(sb, key) if sb else 'n/a'} |" if shifted else "")
            )
        isk = f"IS_{e['extractor']['name']}"
        if isk in e:
            lines.append(f"| {isk} | {_fmt(e[isk])} |" + (" |" if shifted else ""))
        lines.append(
            f"| memorized fraction ({name} features) / copies (ratio test) | "
            f"{_fmt(e['memorization']['fraction_flagged'], 3)} / "
            f"{_fmt(e['memorization']['copy_ratio']['fraction_flagged'], 3)} |" + (" |" if shifted else "")
        )
    lines.append(
        f"| memorized fraction (pixels, below the 5 % held-out quantile) / copies (ratio test) | "
        f"{_fmt(out['memorization_pixels']['fraction_flagged'], 3)} / "
        f"{_fmt(out['memorization_pixels']['copy_ratio']['fraction_flagged'], 3)} |" + (" |" if shifted else "")
    )
    for k, v in out.get("reconstruction", {}).items():
        if k not in ("n", "split"):
            lines.append(f"| reconstruction {k} ({out['real_split']}) | {_fmt(v)} |" + (" |" if shifted else ""))
    lik = out.get("likelihood", {})
    if "elbo_terms" in lik:
        t = lik["elbo_terms"]
        lines.append(
            f"| recon / KL / loss ({t['recon_kind']}, {out['real_split']}) | {_fmt(t['recon'])} / "
            f"{_fmt(t['kl'])} / {_fmt(t['loss'])} |" + (" |" if shifted else "")
        )
    if "log_px_bound" in lik.get("iwae_k50", {}):
        lines.append(
            f"| IWAE log p(x) >= (K=50), nats / bits per dim | {_fmt(lik['iwae_k50']['log_px_bound'])} / "
            f"{_fmt(lik['iwae_k50']['bits_per_dim'])} |" + (" |" if shifted else "")
        )
    c = out.get("cost", {})
    if c:
        lines.append(
            f"| parameters / s per epoch | {c['parameters']:,} / {c.get('seconds_per_epoch')} |"
            + (" |" if shifted else "")
        )
    lines.append("")
    if any("ensemble" in e for e in out["features"].values()):
        lines += [ENSEMBLE_NOTE, ""]
    lines += per_class_markdown(out)
    lines += fidelity_markdown(out)
    lines += privacy_markdown(out)
    for name, e in out["features"].items():
        lines.append(
            f"Extractor {code(name)}: weights sha256 {code(str(e['extractor']['weights_sha256'])[:16] + '...')}."
        )
    return "\n".join(lines).rstrip() + "\n"


def per_class_markdown(out: dict[str, Any], title: str | None = None) -> list[str]:
    """The per-class distances of a conditional model's evaluation as a Markdown table."""
    rows = []
    for name, e in out["features"].items():
        for cls, b in e.get("per_class", {}).items():
            rows.append(
                f"| {text(out.get('model', ''))} | {code(name)} | {text(cls)} | {b['n_reference']} | "
                f"{view_fd_cell(e, cls=cls)} | {floor_cell(b, 'precision')} | {floor_cell(b, 'recall')} |"
            )
    if not rows:
        return []
    return [
        title or "Per class (each class's samples against that class's held-out images, with that class's floor):",
        "",
        "| model | extractor | class | N | FD [interval] (floor, ratio) | precision (floor) | recall (floor) |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def fidelity_markdown(out: dict[str, Any]) -> list[str]:
    """The label-fidelity table: per class, the fraction of samples the classifier gives that class."""
    lf = out.get("label_fidelity")
    if not lf:
        return []
    c = lf["classifier"]
    lines = [
        f"Label fidelity: {code(c['name'])} (trained on the training split only; sha256 "
        f"{code(str(c['weights_sha256'])[:16] + '...')}) labels the samples; "
        "per requested class, the fraction it assigns to that class, beside its accuracy on held-out real "
        "images of that class.",
        "",
        "| model | class | fidelity of samples | accuracy on held-out real | N samples |",
        "|---|---|---|---|---|",
    ]
    for cls, v in lf["per_class"].items():
        lines.append(
            f"| {text(out.get('model', ''))} | {text(cls)} | {v['generated']:.3f} | "
            f"{_fmt(v['real_heldout'], 3)} | {v['n_generated']} |"
        )
    return lines + [""]
