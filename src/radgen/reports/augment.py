"""The augmentation experiment's tables, from its ``results.json`` (``radgen.experiments.augment`` writes it).

Here, not in ``experiments``, so that reports read result folders and never import experiments
(layers import downward only); the experiment writes ``summary.md`` with the same function.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _pm(m: dict[str, float]) -> str:
    if m["n"] == 0:
        return "n/a"
    return f"{m['mean']:.3f}" if np.isnan(m["std"]) else f"{m['mean']:.3f} ± {m['std']:.3f}"


def _ci(d: dict[str, float]) -> str:
    if d["n"] < 2:
        return "n/a"
    return f"{d['diff']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"


def summary_markdown(summary: dict[str, Any]) -> str:
    """The results table in Markdown; every name and field from ``results.json`` quoted as text."""
    from radgen.reports.markdown import code, text

    names = summary["class_names"]
    lines = [
        f"Test split: {text(summary['splits']['test'])}; train: {text(summary['splits']['train'])}; val "
        f"(patient-level, from train): {text(summary['splits']['val'])}. "
        f"{text(summary['classifier'])}, {text(summary['seeds'])} seeds; mean ± std over seeds."
        + (
            f" **{text(summary['bad_files']['count'])} bad files skipped** "
            f"(first: {text(summary['bad_files']['first'][0])})."
            if (summary.get("bad_files") or {}).get("count")
            else ""
        ),
        "",
        "| arm | train images | accuracy | balanced acc. | macro-F1 | AUROC | "
        + " | ".join(f"recall {text(c)}" for c in names)
        + " |",
        "|---|---|---|---|---|---|" + "---|" * len(names),
    ]
    for arm, a in summary["arms"].items():
        counts = "/".join(text(a["train_counts"][c]) for c in names) + (
            f" ({text(a['synthetic_in_train'])} syn.)" if a["synthetic_in_train"] else ""
        )
        m = a["metrics"]
        lines.append(
            f"| {text(arm)} | {counts} | {_pm(m['accuracy'])} | {_pm(m['balanced_accuracy'])} | "
            f"{_pm(m['macro_f1'])} | {_pm(m['auroc'])} | " + " | ".join(_pm(m[f"recall/{c}"]) for c in names) + " |"
        )
    lines += [
        "",
        f"Paired difference with {code(summary['baseline'])} (same seeds), mean and 95 % t interval "
        "over seeds; wins = seeds where the arm is better:",
        "",
        "| arm | Δ balanced acc. | Δ macro-F1 | Δ AUROC | wins (bal. acc.) |",
        "|---|---|---|---|---|",
    ]
    for arm, a in summary["arms"].items():
        if "vs_baseline" in a:
            v = a["vs_baseline"]
            lines.append(
                f"| {text(arm)} | {_ci(v['balanced_accuracy'])} | {_ci(v['macro_f1'])} | "
                f"{_ci(v['auroc'])} | "
                f"{text(v['balanced_accuracy']['wins'])}/{text(v['balanced_accuracy']['n'])} |"
            )
    return "\n".join(lines) + "\n"
