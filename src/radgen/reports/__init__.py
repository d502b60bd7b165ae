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
from datetime import datetime
from pathlib import Path
from typing import Any

from radgen import runfolder as rf
from radgen.errors import DataError, MissingDataError
from radgen.io import write_text
from radgen.reports.augment import summary_markdown
from radgen.reports.markdown import code, fence, image, markdown_to_html, text
from radgen.runfolder import RunFolder

__all__ = ["collect", "render_markdown", "write_report"]
REPORT_TITLES = ("# radgen demo report", "# radgen report")  # a report.md starting with one of these is radgen's


class _Fields(dict):
    """A JSON object read from a run folder: a missing field is a DataError naming the file, not a KeyError."""

    def __init__(self, data: dict, path: Path):
        super().__init__({k: _wrap(v, path) for k, v in data.items()})
        self.path = path

    def __getitem__(self, key):
        try:
            return super().__getitem__(key)
        except KeyError:
            raise DataError(
                f"{self.path}: no field {key!r}; the folder is damaged or from another radgen version: "
                "rerun the command that wrote it"
            ) from None


def _wrap(v: Any, path: Path) -> Any:
    if isinstance(v, dict):
        return _Fields(v, path)
    if isinstance(v, list):
        return [_wrap(x, path) for x in v]
    return v


def _own_file(path: Path) -> Path:
    """``path`` if it is a file of its own folder (not a link leading out of it), else a DataError: a report
    reads nothing outside the folders it was given."""
    if path.resolve().parent != path.parent.resolve():
        raise DataError(f"{path} is a link to a file outside its folder; a report reads only the folders it is given")
    return path


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(_own_file(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: not readable JSON ({type(exc).__name__}); rerun the command that wrote it") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object; rerun the command that wrote it")
    return _Fields(data, path)


def _latest_eval(run: Path) -> Path | None:
    evals = [p for p in RunFolder(run).evaluations() if p.resolve().parent == run.resolve()]  # no links out of the run
    return evals[-1] if evals else None


def _run_info(run: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A training run's ``run.json`` and its ``metrics.json`` (empty while it trains)."""
    folder = RunFolder(run)
    return _json(folder.run_info), (_json(folder.summary) if folder.summary.is_file() else {})


def collect(paths: list[str | Path]) -> dict[str, Any]:
    """Classify each directory and gather what the report needs."""
    found: dict[str, Any] = {"demo": None, "demo_dir": None, "runs": [], "augments": []}

    def add_run(p: Path) -> None:
        if p not in found["runs"]:
            found["runs"].append(p)

    def inside(p: Path, root: Path) -> Path:
        if root.resolve() not in p.resolve().parents:
            raise DataError(f"{p} is a link to a folder outside {root}; a report reads only the folders it is given")
        return p

    for raw in paths:
        p = Path(raw)
        if (p / rf.DEMO).is_file():
            found["demo"], found["demo_dir"] = _json(p / rf.DEMO), p
            for r in sorted((p / rf.DEMO_GENERATORS).glob(f"*/{rf.RUN_INFO}")):
                add_run(inside(r.parent, p))
            for a in sorted(p.glob(f"{rf.DEMO_AUGMENT}*/{rf.AUGMENT_RESULTS}")):
                found["augments"].append(inside(a.parent, p))
        elif RunFolder(p).run_info.is_file():
            add_run(p)
        elif (p / rf.AUGMENT_RESULTS).is_file() and "arms" in _json(p / rf.AUGMENT_RESULTS):
            found["augments"].append(p)
        elif rf.is_evaluation(p):
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
    return text(v)


def _count(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else _fmt(v)


def _number(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else float("nan")


def _img(path: Path, out: Path, alt: str) -> str | None:
    own = path.is_file() and path.resolve().parent == path.parent.resolve()  # not a link out of its folder
    return image(path, out, alt) if own else None


def _data_section(found: dict[str, Any], out: Path) -> list[str]:
    lines = ["## Data", ""]
    demo = found["demo"]
    if demo:
        d = demo["data"]
        splits = d["splits"]
        classes = list(next(iter(splits.values())).keys())
        lines += [
            f"{code(d['name'])} ({text(d['path'])}), {_fmt(d['image_size'][0])}x{_fmt(d['image_size'][1])} px. The "
            "validation split is patient-level, carved from train (10 %); no patient is in both.",
            "",
        ]
        lines += ["| split | " + " | ".join(map(text, classes)) + " | total |", "|---|" + "---|" * (len(classes) + 1)]
        for name, counts in splits.items():
            cells = " | ".join(_fmt(counts[c]) for c in classes)
            lines.append(f"| {text(name)} | {cells} | {_fmt(sum(counts.values()))} |")
        lines += (
            [""]
            + [x for x in [_img(found["demo_dir"] / rf.DEMO_DATA, out, "real training images per class")] if x]
            + [""]
        )
        return lines
    for run in found["runs"]:
        info = _json(RunFolder(run).run_info)["data"]
        lines.append(
            f"- {code(run.name)}: {code(info['name'])}, {_fmt(info['image_size'][0])} px, splits "
            f"{text(dict(info['splits']))}, classes {text(list(info['class_names']))}"
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
        info, s = _run_info(run)
        lines.append(
            f"| {text(info['model'])} | {code(run.name)} | {_count(info['parameters'])} | "
            f"{_fmt(s.get('epochs_run', 'n/a'))} | {_fmt(s.get('seconds_per_epoch', 'n/a'))} | "
            f"{_fmt(s.get('train_seconds', 'n/a'))} | {_fmt(s.get('best_checkpoint', 'n/a'))} | "
            f"{text(info['losses'])} |"
        )
    lines.append("")
    for run in found["runs"]:
        info, s = _run_info(run)
        folder = RunFolder(run)
        lines += [f"### {text(info['model'])} ({code(run.name)})", ""]
        for w in s.get("warnings", []):  # one quote block each, closed by a blank line (or it swallows the figures)
            lines += [f"> warning: {text(w)}", ""]
        figs = [
            _img(folder.curves, out, f"{info['model']} training curves"),
            _img(folder.final_by_class, out, f"{info['model']} samples per class")
            or _img(folder.final_samples, out, f"{info['model']} samples"),
            _img(
                folder.reconstructions,
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
        m = _json(e / rf.EVAL_SUMMARY)
        dist, cells = _eval_row(m)
        rows.append(
            f"| {text(m['model'])} | {_fmt(m['n_generated'])} / {_fmt(m['n_real'])} | " + " | ".join(cells) + " |"
        )
        if m.get("features"):
            extractor = next(iter(m["features"].values()))["extractor"]
    if extractor is None:
        what = "the named extractor"
    else:
        what = f"{code(extractor['name'])} (weights sha256 {code(str(extractor['weights_sha256'])[:16] + '...')})"
    caveat = (
        ""
        if dist == "FID"
        else "; a domain extractor, so this is not the Inception FID and not comparable with published FIDs"
    )
    lines = [
        "## Sample quality",
        "",
        "Generated images (with the real split's class proportions) against real test images. "
        f"{code(dist)}: Fréchet distance in the features of {what}{caveat}. "
        "Precision / recall / density / coverage: Naeem et al. 2020, k = 5, same features. MMD²: "
        "Gaussian kernel on pixels, bandwidth by the median heuristic. "
        "MS-SSIM: mean over random pairs, lower = more diverse. Close: fraction of generated "
        "images closer to the training set than 95 % of real test images are "
        "(in pixels this also catches blur). Copies: fraction whose distance to the training set, "
        "divided by their distance to as many unseen real images, "
        "is below the 5 % quantile of that ratio for other real images (a copy has a ratio near 0, "
        "a blurry or novel image near 1; about 0.05 = copies nothing).",
        "",
        f"| model | N gen / real | {text(dist)} \\[95 % CI\\] | KD | precision | recall | density | coverage "
        "| MMD² | MS-SSIM gen / real | close (pixels) | close (features) | copies (pixels) | "
        "copies (features) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    for _run, e in evals:
        m = _json(e / rf.EVAL_SUMMARY)
        if "likelihood" in m and "elbo_terms" in m["likelihood"]:
            t = m["likelihood"]["elbo_terms"]
            iw = m["likelihood"].get("iwae_k50", {})
            lines.append(
                f"- {text(m['model'])}: test reconstruction / KL / loss ({text(t['recon_kind'])}) "
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
        fig = _img(e / rf.EVAL_MEMORIZATION, out, f"{run.name} closest pairs")
        if fig:
            lines += [f"{text(_json(e / rf.EVAL_SUMMARY)['model'])}:", "", fig, ""]
    return lines


def _augment_section(found: dict[str, Any], out: Path) -> list[str]:
    lines: list[str] = []
    for a in found["augments"]:
        s = _json(a / rf.AUGMENT_RESULTS)
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
        bars = _img(a / rf.AUGMENT_BARS, out, "test metrics per arm, mean ± std over seeds")
        if bars:
            lines += [bars, ""]
        for gen in s.get("pool_seconds", {}):
            pool = a / f"{rf.AUGMENT_POOL.format(generator=gen)}.png"
            fig = _img(pool, out, f"synthetic pool of {gen}") if "/" not in str(gen) else None
            if fig:
                lines += [fig, ""]
    return lines


def _configs_section(found: dict[str, Any]) -> list[str]:
    lines = ["## Configs", ""]
    for d in [*found["runs"], *found["augments"]]:
        if (d / rf.CONFIG).is_file():
            try:
                body = _own_file(d / rf.CONFIG).read_text()
            except (OSError, UnicodeDecodeError):
                body = f"({rf.CONFIG} is not readable text)"
            lines += [f"{code(d.name + '/' + rf.CONFIG)}:", "", *fence(body, "yaml"), ""]
    return lines


def _versions_section(found: dict[str, Any]) -> list[str]:
    demo = found["demo"]
    # what made the results: the demo's record, else the first run's run.json, else this machine
    made = _json(RunFolder(found["runs"][0]).run_info) if found["runs"] else {}
    if demo or "versions" not in made:
        from radgen.provenance import provenance

        made = demo or provenance()
    v = made["versions"]
    lines = [
        "## Versions and machine",
        "",
        "| package | version |",
        "|---|---|",
        *[f"| {text(k)} | {text(val)} |" for k, val in v.items()],
        "",
    ]
    sha = code(made.get("git_sha") or "n/a")
    lines.append(f"Machine: {text(made['machine'])}. git: {sha}.")
    return lines + [""]


def render_markdown(found: dict[str, Any], out: Path) -> str:
    demo = found["demo"]
    title = REPORT_TITLES[0] if demo else REPORT_TITLES[1]
    head = [title, ""]
    if demo:
        sec = demo["seconds"]
        head.append(
            f"Created {text(demo['created'])} on {text(demo['machine'])}. Wall time "
            f"{_number(sec.get('total_before_report')) / 60:.1f} min: "
            + ", ".join(f"{text(k)} {_number(v):.0f} s" for k, v in sec.items() if k != "total_before_report")
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


def _check_report_out(out: Path) -> Path:
    """``out`` is a folder (made if absent); a ``report.md`` / ``report.html`` already in it is replaced only
    if radgen wrote it (the HTML's generator tag, the Markdown's radgen title)."""
    from radgen.errors import RadgenError
    from radgen.outputs import check_new_folder

    check_new_folder(out)
    if out.is_symlink():
        raise RadgenError(f"--out {out} is a symbolic link; give a real folder")
    for name, mine in (
        (rf.REPORT_HTML, lambda t: '<meta name="generator" content="radgen">' in t[:2000]),
        (rf.REPORT_MD, lambda t: t.startswith(REPORT_TITLES)),
    ):
        p = out / name
        if p.is_symlink() or p.exists() and not p.is_file():
            raise RadgenError(f"{p} is not a regular file; radgen will not replace it: choose another --out")
        if p.is_file():
            try:
                head = p.read_text(errors="replace")[:4000]
            except OSError:
                head = ""
            if not mine(head):
                raise RadgenError(
                    f"{p} exists and radgen did not write it; choose another --out (nothing was replaced)"
                )
    return out


def write_report(paths: list[str | Path], out: str | Path, *, title: str | None = None) -> tuple[Path, Path]:
    """Write ``out/report.md`` and ``out/report.html`` (self-contained) from run directories.

    Only images inside the given directories are embedded; text read from them is quoted
    (``reports.markdown.text``/``code``/``fence``), so a run folder cannot add links, images or HTML."""
    from radgen.errors import OutputError, RadgenError

    out = _check_report_out(Path(out))
    found = collect(paths)
    try:
        md = render_markdown(found, out)
    except RadgenError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise DataError(
            f"{', '.join(map(str, paths))}: a JSON field has an unexpected value ({type(exc).__name__}: {exc}); "
            "the folder is damaged or from another radgen version: rerun the command that wrote it"
        ) from None
    roots = [Path(p) for p in paths] + [found["demo_dir"]] * bool(found["demo_dir"])
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError.from_os(exc, out) from exc
    html = markdown_to_html(md, base=out, title=title or md.splitlines()[0].lstrip("# "), allowed=roots)
    md_path = write_text(out / rf.REPORT_MD, md)
    html_path = write_text(out / rf.REPORT_HTML, html)
    return html_path, md_path
