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


def _bad_files_note(data: dict[str, Any]) -> str:
    """``; N bad files skipped (first: ...)`` from a run's or demo's data record, or nothing."""
    bad = data.get("bad_files") or {}
    if not isinstance(bad, dict) or not bad.get("count"):
        return ""
    first = (bad.get("first") or ["?"])[0]
    return f"; **{_fmt(bad['count'])} bad files skipped** (first: {text(first)})"


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
            "validation split is patient-level, carved from train (10 %); no patient is in both"
            + _bad_files_note(d)
            + ".",
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
            f"{text(dict(info['splits']))}, classes {text(list(info['class_names']))}" + _bad_files_note(info)
        )
    return lines + [""]


def _generators_section(found: dict[str, Any], out: Path) -> list[str]:
    if not found["runs"]:
        return []
    lines = [
        "## Generators",
        "",
        "| model | run | parameters | budget trained | s / epoch | train time (s) | checkpoint | loss (as trained) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    from radgen.reports.evaluation import budget_text

    for run in found["runs"]:
        info, s = _run_info(run)
        lines.append(
            f"| {text(info['model'])} | {code(run.name)} | {_count(info['parameters'])} | "
            f"{text(budget_text(rf.trained_budget(run)))} | {_fmt(s.get('seconds_per_epoch', 'n/a'))} | "
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
        if info.get("privacy"):  # DP-SGD (train.privacy): the epsilon spent, from run.json
            from radgen.metrics.privacy_eval import dp_sentence

            lines += [dp_sentence(info["privacy"]), ""]
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


def _eval_rows(run: Path, m: dict[str, Any]) -> dict[str, list[str]]:
    """Table rows of one evaluation: one per extractor (distribution metrics) and one for pixels."""
    from radgen.evaluation.result import EvaluationResult
    from radgen.reports.evaluation import budget_text, floor_cell, view_fd_cell

    budget = budget_text(m.get("budget") or {})
    rows: dict[str, list[str]] = {}
    result = EvaluationResult(m)
    for name, e in m.get("features", {}).items():
        b, sb = e.get("reference"), e.get("shifted_test")
        if b is None:  # an evaluation written before the floor protocol: its numbers, without yardsticks
            cells = [_fmt(result.distance(name).value) + " (no floor: old evaluation)", *["n/a"] * 5]
        else:
            cells = [view_fd_cell(e), *(floor_cell(b, k) for k in ("KD", "precision", "recall", "coverage"))]
            cells.append(view_fd_cell(e, "shifted_test") if sb else "n/a")
        rows.setdefault(name, []).append(
            f"| {text(m['model'])} | {text(budget)} | {_fmt(m['n_generated'])} / {_fmt(m['n_real'])} | "
            + " | ".join(cells)
            + " |"
        )
    px = m["pixels"]
    if result.mmd2_floor is not None:
        mmd_cell = f"{_fmt(result.mmd2, 3)} (floor {_fmt(result.mmd2_floor, 3)})"
    else:
        mmd_cell = _fmt(result.mmd2, 3)
    floor_div = px.get("ms_ssim_floor", {}).get("ms_ssim")
    rows["pixels"] = [
        f"| {text(m['model'])} | {mmd_cell} | {_fmt(px['ms_ssim_generated']['ms_ssim'], 3)} / "
        f"{_fmt(px['ms_ssim_real']['ms_ssim'], 3)} / {_fmt(floor_div, 3)} | "
        f"{_fmt(m['memorization_pixels']['fraction_flagged'], 3)} | "
        f"{_fmt(m['memorization_pixels'].get('copy_ratio', {}).get('fraction_flagged'), 3)} | "
        + " | ".join(
            f"{_fmt(e.get('memorization', {}).get('fraction_flagged'), 3)} / "
            f"{_fmt(e.get('memorization', {}).get('copy_ratio', {}).get('fraction_flagged'), 3)}"
            for e in m.get("features", {}).values()
        )
        + " |"
    ]
    return rows


def rank_agreement_lines(evals: list[dict[str, Any]]) -> list[str]:
    """Kendall's tau between the extractors' rankings of the generators (FD vs the held-out reference)."""
    from radgen.evaluation.result import EvaluationResult
    from radgen.metrics.protocol import rank_agreement

    scores: dict[str, dict[str, float]] = {}
    for m in evals:
        for name, e in m.get("features", {}).items():
            if "reference" in e:  # the ensemble mean where the evaluation has one
                scores.setdefault(name, {})[m["model"]] = EvaluationResult(m).distance(name).value
    if len(evals) < 2 or len(scores) < 2:
        return []
    ra = rank_agreement(scores)
    if not ra["pairs"]:
        return []
    order = "; ".join(f"{code(n)}: {' < '.join(text(g) for g in o)}" for n, o in ra["order"].items())
    taus = ", ".join(
        f"{code(p['extractors'][0])} vs {code(p['extractors'][1])} tau = {p['tau']:.2f}" for p in ra["pairs"]
    )
    lines = [f"Rank agreement (Kendall's tau of the FD rankings, best first): {order}; {taus}."]
    if not ra["agree"]:
        lines += [
            "",
            "> warning: the extractors rank the generators differently; no ranking here is extractor-independent.",
        ]
    return lines + [""]


def _evaluation_section(found: dict[str, Any], out: Path) -> list[str]:
    from radgen.metrics.privacy_eval import privacy_markdown
    from radgen.reports.evaluation import fidelity_markdown, per_class_markdown, reference_sentence

    evals = [(run, RunFolder(run).latest_evaluation()) for run in found["runs"]]
    evals = [(r, e) for r, e in evals if e is not None]
    if not evals:
        return []
    metrics = [_json(e / rf.EVAL_SUMMARY) for _, e in evals]
    tables: dict[str, list[str]] = {}
    for (run, _), m in zip(evals, metrics):
        for k, rows in _eval_rows(run, m).items():
            tables.setdefault(k, []).extend(rows)
    extractors = {}
    for m in metrics:
        for name, e in m.get("features", {}).items():
            extractors.setdefault(name, e["extractor"])
    first = metrics[0]
    lines = ["## Sample quality", ""]
    if "reference" in first:
        lines += [reference_sentence(first), ""]
        for note in first.get("notes", []):
            lines += [f"> note: {note}", ""]
    lines += [
        "Every distance stands beside its real-vs-real floor (a set of training images with the reference's "
        "size and class counts, against the same reference; in brackets the 95 % range over re-drawn floor sets, "
        "the spread of what real images score at this N) and, for the Fréchet distance, its ratio to the floor: "
        "1x is as close as a new draw of real training images. The generator's own interval (metrics.json) is a "
        "percentile bootstrap. KD, precision, recall and coverage (Naeem et al. 2020, k = 5) can be near or below "
        "0, so they get the floor without a ratio. "
        "The last column compares against the official test split, which may be shifted from train (its own "
        "floor beside). "
        "Budget: the epochs and batches each generator actually trained.",
        "",
    ]
    if any("ensemble" in e for m in metrics for e in m.get("features", {}).values()):
        from radgen.reports.evaluation import ENSEMBLE_NOTE

        lines += [ENSEMBLE_NOTE + " KD, precision, recall and coverage are the first extractor seed's.", ""]
    seeds = {
        name: e["ensemble"]["seeds"] for m in metrics for name, e in m.get("features", {}).items() if "ensemble" in e
    }
    for name, ex in extractors.items():
        what = {
            "radgen-cnn001": "design document 001's CNN classifier, trained on the training split (supervised)",
            "radgen-ae001": "a convolutional autoencoder's bottleneck, trained on the training split without labels",
            "radiomics": "weight-free first-order intensity and GLCM texture features (radgen.metrics.radiomics)",
        }.get(name, "user-given weights" if name.startswith("inception") else "")
        if len(seeds.get(name, [])) > 1:
            what += f"; an ensemble of {len(seeds[name])} trainings, seeds {', '.join(map(str, seeds[name]))}"
        lines += [
            f"### Extractor {code(ex['name'])}: {what} (weights sha256 "
            f"{code(str(ex['weights_sha256'])[:16] + '...')})",
            "",
            "| model | budget trained | N gen / ref | FD vs held-out [interval] (floor, ratio) | KD (floor) | "
            "precision (floor) | recall (floor) | coverage (floor) | FD vs shifted test (floor, ratio) |",
            "|---|---|---|---|---|---|---|---|---|",
            *tables.get(name, []),
            "",
        ]
    lines += rank_agreement_lines(metrics)
    feats = "".join(f" close / copies ({n}) |" for n in extractors)
    lines += [
        "### Pixels and memorization",
        "",
        "MMD²: Gaussian kernel on pixels, one bandwidth (median heuristic on reference and floor) for "
        "generator and floor. MS-SSIM: mean over random pairs "
        "of the generated / reference / floor sets, lower = more diverse. Close: fraction of generated images "
        "closer to the training set than 95 % of "
        "held-out real images are (in pixels this also catches blur). Copies: fraction whose distance to the "
        "training set, divided by their distance to "
        "as many unseen real images, is below the 5 % quantile of that ratio for other real images (about "
        "0.05 = copies nothing).",
        "",
        f"| model | MMD² (floor) | MS-SSIM gen / ref / floor | close (pixels) | copies (pixels) |{feats}",
        "|---|---|---|---|---|" + "---|" * len(extractors),
        *tables.get("pixels", []),
        "",
    ]
    per_class = []
    fidelity = []
    for m in metrics:
        pc = per_class_markdown(m)
        per_class += pc[4:-1] if per_class and pc else pc[:-1] if pc else []
        fm = fidelity_markdown(m)
        fidelity += fm[4:-1] if fidelity and fm else fm[:-1] if fm else []
    if per_class:
        lines += ["### Per class", "", *per_class, ""]
    if fidelity:
        lines += ["### Label fidelity", "", *fidelity, ""]
    for m in metrics:
        if "likelihood" in m and "elbo_terms" in m["likelihood"]:
            t = m["likelihood"]["elbo_terms"]
            iw = m["likelihood"].get("iwae_k50", {})
            split = m["likelihood"].get("split", "test")
            lines.append(
                f"- {text(m['model'])}: {text(split)} reconstruction / KL / loss ({text(t['recon_kind'])}) "
                f"{_fmt(t['recon'])} / {_fmt(t['kl'])} / {_fmt(t['loss'])}"
                + (
                    f"; IWAE log p(x) ≥ {_fmt(iw['log_px_bound'])} nats (K = 50), {_fmt(iw['bits_per_dim'])} bits/dim"
                    if "log_px_bound" in iw
                    else ""
                )
            )
    privacy = [line for m in metrics for line in privacy_markdown(m, m.get("model", ""))]  # copy audit, MI, DP
    if privacy:
        lines += ["", "### Privacy: copies and membership inference", "", *privacy]
    lines += [
        "",
        "### Memorization: the generated images closest to the training set (top) and their "
        "nearest training images (bottom)",
        "",
    ]
    for (run, e), m in zip(evals, metrics):
        fig = _img(e / rf.EVAL_MEMORIZATION, out, f"{run.name} closest pairs")
        if fig:
            lines += [f"{text(m['model'])}:", "", fig, ""]
    return lines


def _gate_lines(gate: dict[str, Any] | None) -> list[str]:
    """The demo's fidelity gate: which generators the arms mixed in, and why each other one was left out."""
    if not gate:
        return []
    lines = [f"Generators mixed into the arms: {', '.join(code(g) for g in gate['mixed_in']) or 'none'}."]
    if gate.get("choice"):
        lines += ["", _choice_line(gate["choice"]), ""]
    lines += [f"- {code(g)} left out: {text(why)}" for g, why in gate.get("left_out", {}).items()]
    return [*lines, ""]


def _choice_line(choice: dict[str, Any]) -> str:
    """Which generator the demo's trial names as ``+G``, the rule that chose it and why."""
    if choice.get("chosen") is None:
        return f"No generator is mixed in: {text(choice['why'])}."
    return (
        f"The trial's `+G` (its primary comparisons, pre-registered before any fit) is {code(choice['chosen'])}, "
        f"chosen by the rule **{text(choice['rule'])}**: {text(choice['why'])}."
    )


def _answer_section(found: dict[str, Any]) -> list[str]:
    """The demo report's first paragraph: the answer a reader can act on (the trial's primary verdicts with their
    intervals and what the test set can resolve, the mixed-in generator's privacy figures, the ranking), above
    the evidence. Empty for a report without a demo or an augmentation experiment."""
    demo = found.get("demo")
    if not demo or not found["augments"]:
        return []
    s = _json(found["augments"][0] / rf.AUGMENT_RESULTS)
    trial = s.get("trial") or {}
    rows = (trial.get("families") or {}).get("primary") or []
    if not rows:
        return []
    choice = demo.get("choice") or (demo.get("fidelity_gate") or {}).get("choice") or {}
    g = choice.get("chosen")
    prim = trial["preregistration"]["primary_endpoint"]
    label = "AUROC" if prim == "auroc" else prim.replace("_", " ")
    parts = []
    for r in rows:
        c = r["endpoints"][prim]
        v = r["verdict"] + (f" within ±{r['delta']:g}" if r["verdict"] == "equivalent" else "")
        parts.append(
            f"against {code(r['b'])} {c['diff']:+.4f} [{c.get('low', math.nan):+.4f}, "
            f"{c.get('high', math.nan):+.4f}], **{v}**"
        )
    n_test = sum(s["splits"]["test"].values()) if s.get("splits") else None
    lines = [
        f"**The answer.** Mixing in {code(g or 'n/a')}'s synthetic images "
        f"({text(choice.get('rule', 'chosen'))}) changes the judge's test {label}: "
        + "; ".join(parts)
        + f" ({trial.get('seeds_per_arm', {}).get('real', '?')} seeds; "
        f"{text(trial.get('stopped_why', ''))})."
    ]
    for r in rows:
        p = r.get("projection")
        if r["verdict"] != "cannot tell" or not p or math.isnan(p.get("resolution", math.nan)):
            continue
        d = abs(r["endpoints"][prim]["diff"])
        if d <= p["resolution"] and p["narrowest_margin"] >= r["delta"]:
            lines.append(
                f" Against {code(r['b'])} more seeds would not settle it: the {n_test} test images tell apart from 0 "
                f"only a Δ beyond ±{p['resolution']:.4f}, and at this Δ could show equivalence only within "
                f"±{p['narrowest_margin']:.4f}, wider than the pre-registered ±{r['delta']:g}."
            )
        else:
            lines.append(
                f" Against {code(r['b'])} more seeds could settle it (with unlimited seeds the test images allow "
                f"±{p['resolution']:.4f} for a difference, ±{p['narrowest_margin']:.4f} for equivalence)."
            )
    run = (demo.get("generators") or {}).get(g)
    ev = RunFolder(run).latest_evaluation() if run and Path(run).is_dir() else None
    priv = _json(ev / rf.EVAL_SUMMARY).get("privacy") if ev else None
    if priv:
        a, mi = priv["copy_audit"], priv["membership_inference"]
        mb = mi.get("model_based") or {}
        lines.append(
            f" Privacy: {a['n_flagged']} of its {a['n_generated']} samples flagged as copies of a training image "
            f"(threshold at {a['nominal_false_positive_rate']:.0%} false positives on real held-out images; "
            f"{'copying: a release is refused' if a['copying'] else 'no more than chance'}); membership inference "
            f"AUC {mi['black_box']['auc']:.2f} black box"
            + (f", {mb['auc']:.2f} model based" if "auc" in mb else "")
            + f" (0.5 = chance), true-positive rate {mi['black_box']['tpr_at_0.01_fpr']:.3f} at 1 % false positives."
        )
    ranking = demo.get("ranking") or {}
    pairs = ranking.get("pairs") or []
    if pairs:
        won = [p_["statement"] for p_ in pairs if p_.get("winner")]
        lines.append(
            " Generators: "
            + ("; ".join(won) if won else "no pair is ranked the same way under every view")
            + f" (P >= 0.95 under {', '.join(ranking.get('views', []))})."
        )
    return ["".join(lines), ""]


def _ranking_section(found: dict[str, Any]) -> list[str]:
    """The demo's rank probabilities between its generators under every view, and which generator it mixed in."""
    from radgen.evaluation.ranking import rank_pairs
    from radgen.reports.sanity import rank_markdown

    demo = found.get("demo") or {}
    ranking = demo.get("ranking")
    if not ranking:
        return []
    seeds = ", ".join(f"{text(v)} {k}" for v, k in ranking["n_seeds"].items())
    lines = rank_markdown(rank_pairs(ranking), "Rank probabilities between the generators")
    lines += [f"Extractor seeds per view: {seeds}.", ""]
    if demo.get("choice"):
        lines += [_choice_line(demo["choice"]), ""]
    return lines


def _sanity_section(found: dict[str, Any]) -> list[str]:
    """The demo's sanity appendix (``sanity.json``): the sanity set under every view in use."""
    from radgen.reports.sanity import sanity_markdown

    if not found.get("demo_dir") or not (found["demo_dir"] / rf.DEMO_SANITY).is_file():
        return []
    return sanity_markdown(_json(found["demo_dir"] / rf.DEMO_SANITY))


def _privacy_section(found: dict[str, Any]) -> list[str]:
    """``radgen demo --budget full``'s privacy-utility table (``privacy/privacy_utility.json``), where present."""
    from radgen.reports.privacy import privacy_markdown

    path = found["demo_dir"] / rf.DEMO_PRIVACY / rf.DEMO_PRIVACY_RESULTS if found.get("demo_dir") else None
    if path is None or not path.is_file():
        return []
    return privacy_markdown(_json(path))


def _metric_name(key: str) -> str:
    """``balanced_accuracy`` -> balanced accuracy, ``recall/NORMAL`` -> NORMAL recall, ``auroc`` -> AUROC."""
    if "/" in key:
        metric, cls = key.split("/", 1)
        return f"{cls} {metric}"
    return "AUROC" if key == "auroc" else key.replace("_", " ")


def _judge_lines(note: dict[str, Any] | None) -> list[str]:
    """The demo's judge, and the strong judge's measured scores on the same data beside it."""
    if not note:
        return []
    line = f"Judge: {code(note['name'])}, {text(note['why'])}."
    ref = note.get("strong_judge_reference")
    if ref:
        t = ref["test"]
        scores = ", ".join(f"{text(_metric_name(k))} {m:.3f} ± {sd:.3f}" for k, (m, sd) in t.items())  # mean, std
        line += (
            f" The strong judge {code(ref['judge'])} on the same data and test split ({text(ref['measured'])}; "
            f"{code(ref['command'])}, {text(ref['seconds_per_seed'])} s a seed): {scores}."
        )
    return [line, ""]


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
            "(trained on synthetic images only, tested on real), `duplicate` (the count-matched control: "
            "each synthetic image of `+G` replaced by a real image of its class drawn with replacement), "
            "`G pretrain, real finetune` (pretrained on G's images, fine-tuned on real only), `+G xs` "
            "(s x the class gap of synthetic images), `+G filtered` (only samples the label-fidelity "
            "classifier assigns to their class with the stated confidence). "
            "Model selection and early stopping on the patient-level validation split; the test "
            "split is never seen in training.",
            "",
            *_gate_lines((found.get("demo") or {}).get("fidelity_gate")),
            *_judge_lines((found.get("demo") or {}).get("judge")),
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
    """The report's Markdown for the folders ``found`` (demo, runs, evaluations, experiments)."""
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
        + _answer_section(found)
        + _data_section(found, out)
        + _generators_section(found, out)
        + _evaluation_section(found, out)
        + _ranking_section(found)
        + _augment_section(found, out)
        + _privacy_section(found)
        + _sanity_section(found)
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
