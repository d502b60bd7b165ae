"""Reports: run directories -> one Markdown file and its self-contained HTML twin.

``write_report(paths, out)`` reads only what runs wrote (``run.json``, ``config.yaml``,
``metrics.json``, ``metrics.jsonl``, ``eval-*/metrics.json``, augmentation ``results.json``,
``demo.json`` and their figures) and writes ``out/report.md`` (images linked relative to
it) and ``out/report.html`` (the same text, images embedded as base64: one file to mail).
Accepted directories: a demo folder (``demo.json``), a training run (``run.json``), an
augmentation folder (``results.json`` with ``arms``) or an evaluation folder (``eval-*``).
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from radgen.errors import MissingDataError
from radgen.io import write_text
from radgen.reports.markdown import markdown_to_html

__all__ = ["collect", "render_markdown", "write_report"]


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _latest_eval(run: Path) -> Path | None:
    evals = sorted(p for p in run.glob("eval-*") if (p / "metrics.json").is_file())
    return evals[-1] if evals else None


def collect(paths: list[str | Path]) -> dict[str, Any]:
    """Classify each directory and gather what the report needs."""
    found: dict[str, Any] = {"demo": None, "demo_dir": None, "runs": [], "augments": []}

    def add_run(p: Path) -> None:
        if p not in found["runs"]:
            found["runs"].append(p)

    for raw in paths:
        p = Path(raw)
        if (p / "demo.json").is_file():
            found["demo"], found["demo_dir"] = _json(p / "demo.json"), p
            for r in sorted((p / "generators").glob("*/run.json")):
                add_run(r.parent)
            for a in sorted(p.glob("augment*/results.json")):
                found["augments"].append(a.parent)
        elif (p / "run.json").is_file():
            add_run(p)
        elif (p / "results.json").is_file() and "arms" in _json(p / "results.json"):
            found["augments"].append(p)
        elif p.name.startswith("eval-") and (p / "metrics.json").is_file():
            add_run(p.parent)
        else:
            raise MissingDataError(
                f"{p}: not a radgen demo, training run, augmentation or evaluation directory "
                "(expected demo.json, run.json, results.json or eval-*/metrics.json)"
            )
    return found


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.{digits}g}"
    return str(v)


def _img(path: Path, out: Path, alt: str) -> str | None:
    return f"![{alt}]({os.path.relpath(path, out)})" if path.is_file() else None


def _data_section(found: dict[str, Any], out: Path) -> list[str]:
    lines = ["## Data", ""]
    demo = found["demo"]
    if demo:
        d = demo["data"]
        splits = d["splits"]
        classes = list(next(iter(splits.values())).keys())
        lines += [
            f"`{d['name']}` ({d['path']}), {d['image_size'][0]}x{d['image_size'][1]} px. The "
            "validation split is patient-level, carved from train (10 %); no patient is in both.",
            "",
        ]
        lines += ["| split | " + " | ".join(classes) + " | total |", "|---|" + "---|" * (len(classes) + 1)]
        for name, counts in splits.items():
            lines.append(f"| {name} | " + " | ".join(str(counts[c]) for c in classes) + f" | {sum(counts.values())} |")
        lines += (
            [""]
            + [x for x in [_img(found["demo_dir"] / "data.png", out, "real training images per class")] if x]
            + [""]
        )
        return lines
    for run in found["runs"]:
        info = _json(run / "run.json")["data"]
        lines.append(
            f"- `{run.name}`: `{info['name']}`, {info['image_size'][0]} px, splits "
            f"{info['splits']}, classes {info['class_names']}"
        )
    return lines + [""]


def _generators_section(found: dict[str, Any], out: Path) -> list[str]:
    if not found["runs"]:
        return []
    lines = [
        "## Generators",
        "",
        "| model | run | parameters | epochs | s / epoch | train time (s) | checkpoint | loss (as trained) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in found["runs"]:
        info = _json(run / "run.json")
        s = _json(run / "metrics.json") if (run / "metrics.json").is_file() else {}
        lines.append(
            f"| {info['model']} | `{run.name}` | {info['parameters']:,} | "
            f"{s.get('epochs_run', 'n/a')} | {s.get('seconds_per_epoch', 'n/a')} | "
            f"{s.get('train_seconds', 'n/a')} | {s.get('best_checkpoint', 'n/a')} | "
            f"{info['losses']} |"
        )
    lines.append("")
    for run in found["runs"]:
        info = _json(run / "run.json")
        lines += [f"### {info['model']} (`{run.name}`)", ""]
        s = _json(run / "metrics.json") if (run / "metrics.json").is_file() else {}
        for w in s.get("warnings", []):
            lines.append(f"> warning: {w}")
        figs = [
            _img(run / "curves.png", out, f"{info['model']} training curves"),
            _img(run / "samples" / "final_by_class.png", out, f"{info['model']} samples per class")
            or _img(run / "samples" / "final.png", out, f"{info['model']} samples"),
            _img(
                run / "reconstructions.png",
                out,
                f"{info['model']} reconstructions (top: real, bottom: reconstruction)",
            ),
        ]
        lines += [f for f in figs if f] + [""]
    return lines


def _eval_row(m: dict[str, Any]) -> tuple[str, list[str]]:
    feats = m.get("features", {})
    name, e = next(iter(feats.items()), (None, {}))
    dist_key = next((k for k in e if (k.startswith("FD_") or k == "FID") and not k.endswith("_ci95")), None)
    kd_key = next((k for k in e if k.startswith("KD_") and not k.endswith("_ci95")), None)
    ci = e.get(f"{dist_key}_ci95") if dist_key else None
    px = m["pixels"]
    cells = [
        f"{_fmt(e.get(dist_key))}" + (f" [{ci[0]:.3g}, {ci[1]:.3g}]" if ci else ""),
        _fmt(e.get(kd_key)),
        _fmt(e.get("precision"), 3),
        _fmt(e.get("recall"), 3),
        _fmt(e.get("density"), 3),
        _fmt(e.get("coverage"), 3),
        _fmt(px["mmd"]["mmd2"], 3),
        f"{_fmt(px['ms_ssim_generated']['ms_ssim'], 3)} / {_fmt(px['ms_ssim_real']['ms_ssim'], 3)}",
        _fmt(m["memorization_pixels"]["fraction_flagged"], 3),
        _fmt(e.get("memorization", {}).get("fraction_flagged"), 3),
        _fmt(m["memorization_pixels"].get("copy_ratio", {}).get("fraction_flagged"), 3),
        _fmt(e.get("memorization", {}).get("copy_ratio", {}).get("fraction_flagged"), 3),
    ]
    return (dist_key or "FD"), cells


def _evaluation_section(found: dict[str, Any], out: Path) -> list[str]:
    evals = [(run, _latest_eval(run)) for run in found["runs"]]
    evals = [(r, e) for r, e in evals if e is not None]
    if not evals:
        return []
    rows, extractor, dist = [], None, "FD"
    for _run, e in evals:
        m = _json(e / "metrics.json")
        dist, cells = _eval_row(m)
        rows.append(f"| {m['model']} | {m['n_generated']} / {m['n_real']} | " + " | ".join(cells) + " |")
        if m.get("features"):
            extractor = next(iter(m["features"].values()))["extractor"]
    if extractor is None:
        what = "the named extractor"
    else:
        what = f"`{extractor['name']}` (weights sha256 `{extractor['weights_sha256'][:16]}...`)"
    caveat = (
        ""
        if dist == "FID"
        else "; a domain extractor, so this is not the Inception FID and not comparable with published FIDs"
    )
    lines = [
        "## Sample quality",
        "",
        "Generated images (with the real split's class proportions) against real test images. "
        f"`{dist}`: Fréchet distance in the features of {what}{caveat}. "
        "Precision / recall / density / coverage: Naeem et al. 2020, k = 5, same features. MMD²: "
        "Gaussian kernel on pixels, bandwidth by the median heuristic. "
        "MS-SSIM: mean over random pairs, lower = more diverse. Close: fraction of generated "
        "images closer to the training set than 95 % of real test images are "
        "(in pixels this also catches blur). Copies: fraction whose distance to the training set, "
        "divided by their distance to as many unseen real images, "
        "is below the 5 % quantile of that ratio for other real images (a copy has a ratio near 0, "
        "a blurry or novel image near 1; about 0.05 = copies nothing).",
        "",
        f"| model | N gen / real | {dist} [95 % CI] | KD | precision | recall | density | coverage "
        "| MMD² | MS-SSIM gen / real | close (pixels) | close (features) | copies (pixels) | "
        "copies (features) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    for _run, e in evals:
        m = _json(e / "metrics.json")
        if "likelihood" in m and "elbo_terms" in m["likelihood"]:
            t = m["likelihood"]["elbo_terms"]
            iw = m["likelihood"].get("iwae_k50", {})
            lines.append(
                f"- {m['model']}: test reconstruction / KL / loss ({t['recon_kind']}) "
                f"{_fmt(t['recon'])} / {_fmt(t['kl'])} / {_fmt(t['loss'])}"
                + (
                    f"; IWAE log p(x) ≥ {_fmt(iw['log_px_bound'])} nats (K = 50), {_fmt(iw['bits_per_dim'])} bits/dim"
                    if "log_px_bound" in iw
                    else ""
                )
            )
    lines += [
        "",
        "### Memorization: the generated images closest to the training set (top) and their "
        "nearest training images (bottom)",
        "",
    ]
    for run, e in evals:
        fig = _img(e / "memorization.png", out, f"{run.name} closest pairs")
        if fig:
            lines += [f"{_json(e / 'metrics.json')['model']}:", "", fig, ""]
    return lines


def _augment_section(found: dict[str, Any], out: Path) -> list[str]:
    from radgen.experiments.augment import summary_markdown

    lines: list[str] = []
    for a in found["augments"]:
        s = _json(a / "results.json")
        lines += [
            "## Does synthetic data help the classifier?",
            "",
            "Arms: `real` (as is), `weighted` (class-weighted loss), `oversample` (minority "
            "oversampling), `classic` (affine + intensity augmentation), "
            "`+G` (real plus synthetic minority images from generator G up to 1:1), `G only` "
            "(trained on synthetic images only, tested on real). "
            "Model selection and early stopping on the patient-level validation split; the test "
            "split is never seen in training.",
            "",
            summary_markdown(s),
            "",
        ]
        bars = _img(a / "bars.png", out, "test metrics per arm, mean ± std over seeds")
        if bars:
            lines += [bars, ""]
        for gen in s.get("pool_seconds", {}):
            fig = _img(a / f"synthetic_{gen}.png", out, f"synthetic pool of {gen}")
            if fig:
                lines += [fig, ""]
    return lines


def _configs_section(found: dict[str, Any]) -> list[str]:
    lines = ["## Configs", ""]
    for d in [*found["runs"], *found["augments"]]:
        if (d / "config.yaml").is_file():
            lines += [f"`{d.name}/config.yaml`:", "", "```yaml", (d / "config.yaml").read_text().rstrip(), "```", ""]
    return lines


def _versions_section(found: dict[str, Any]) -> list[str]:
    from radgen.experiments.demo import machine, versions

    demo = found["demo"]
    v = demo["versions"] if demo else versions()
    lines = [
        "## Versions and machine",
        "",
        "| package | version |",
        "|---|---|",
        *[f"| {k} | {val} |" for k, val in v.items()],
        "",
    ]
    lines.append(f"Machine: {demo['machine'] if demo else machine()}. git: `{(demo or {}).get('git_sha') or 'n/a'}`.")
    return lines + [""]


def render_markdown(found: dict[str, Any], out: Path) -> str:
    demo = found["demo"]
    title = "# radgen demo report" if demo else "# radgen report"
    head = [title, ""]
    if demo:
        sec = demo["seconds"]
        head.append(
            f"Created {demo['created']} on {demo['machine']}. Wall time "
            f"{sec.get('total_before_report', float('nan')) / 60:.1f} min: "
            + ", ".join(f"{k} {v:.0f} s" for k, v in sec.items() if k != "total_before_report")
            + "."
        )
        if demo["settings"].get("quick"):
            head.append("")
            head.append(
                "**Quick smoke run** (`--quick`): tiny budgets; the numbers below say nothing about the methods."
            )
    else:
        head.append(
            f"Created {datetime.now().isoformat(timespec='seconds')} from {len(found['runs'])} "
            f"run(s) and {len(found['augments'])} augmentation experiment(s)."
        )
    head.append("")
    parts = (
        head
        + _data_section(found, out)
        + _generators_section(found, out)
        + _evaluation_section(found, out)
        + _augment_section(found, out)
        + _configs_section(found)
        + _versions_section(found)
    )
    return "\n".join(parts).rstrip() + "\n"


def write_report(paths: list[str | Path], out: str | Path, *, title: str | None = None) -> tuple[Path, Path]:
    """Write ``out/report.md`` and ``out/report.html`` (self-contained) from run directories."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    found = collect(paths)
    md = render_markdown(found, out)
    md_path = write_text(out / "report.md", md)
    html_path = write_text(
        out / "report.html", markdown_to_html(md, base=out, title=title or md.splitlines()[0].lstrip("# "))
    )
    return html_path, md_path
