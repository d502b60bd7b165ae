"""The augmentation experiment's tables, from its ``results.json`` (``radgen.experiments.augment`` writes it).

Here, not in ``experiments``, so that reports read result folders and never import experiments
(layers import downward only); the experiment writes ``summary.md`` with the same function.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

TARGET_EFFECT = 0.02  # +2 points of balanced accuracy (experiments.augment.TARGET_EFFECT)


def _pm(m: dict[str, float]) -> str:
    if m["n"] == 0:
        return "n/a"
    return f"{m['mean']:.3f}" if np.isnan(m["std"]) else f"{m['mean']:.3f} ± {m['std']:.3f}"


def _holm_ci(d: dict[str, Any]) -> str:
    if d.get("n", 0) < 2 or "holm_low" not in d or math.isnan(d["holm_low"]):
        return "n/a"
    return f"{d['diff']:+.3f} [{d['holm_low']:+.3f}, {d['holm_high']:+.3f}]"


def summary_markdown(summary: dict[str, Any]) -> str:
    """The results table in Markdown; every name and field from ``results.json`` quoted as text."""
    from radgen.reports.markdown import code, text

    names = summary["class_names"]
    t = summary.get("train") or {}
    judge = (
        f"{summary['classifier']} ({summary.get('judge') or 'custom'} judge: {t.get('epochs')} epochs, "
        f"{t.get('optimizer', 'adam')} {t.get('schedule', 'constant')}, augment {t.get('augment')}, "
        f"select {t.get('select', 'val_loss')}, decision {t.get('threshold', 'argmax')})"
        if t
        else summary["classifier"]
    )
    lines = [
        f"Test split: {text(summary['splits']['test'])}; train: {text(summary['splits']['train'])}; "
        f"val: {text(summary['splits']['val'])}. {text(judge)}, {text(summary['seeds'])} seeds; "
        "mean ± std over seeds.",
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
    m_arms = summary.get("compared", 0)
    lines += [
        "",
        f"Paired difference with {code(summary['baseline'])} (same seeds), mean and t interval over seeds, "
        f"Holm-corrected across the {m_arms} arms (each metric apart; familywise 95 %); "
        "MDE: the smallest true Δ balanced accuracy "
        f"this design detects with 80 % power at level 0.05 / {m_arms}, from the observed paired spread; "
        f"seeds: those needed for Δ = +{TARGET_EFFECT:.2f}; wins = seeds where the arm is better:",
        "",
        "| arm | Δ balanced acc. | p (Holm) | Δ macro-F1 | Δ AUROC | wins | MDE (80 %) | seeds for +0.02 | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for arm, a in summary["arms"].items():
        if "vs_baseline" in a:
            v = a["vs_baseline"]
            pw = a.get("power", {})
            ph = v["balanced_accuracy"].get("p_holm", math.nan)
            mde = pw.get("mde", math.nan)
            need = pw.get("seeds_for_target", -1)
            lines.append(
                f"| {text(arm)} | {_holm_ci(v['balanced_accuracy'])} | {'n/a' if math.isnan(ph) else f'{ph:.3f}'} | "
                f"{_holm_ci(v['macro_f1'])} | {_holm_ci(v['auroc'])} | "
                f"{text(v['balanced_accuracy']['wins'])}/{text(v['balanced_accuracy']['n'])} | "
                f"{'n/a' if math.isnan(mde) else f'{mde:.3f}'} | {need if need > 0 else 'n/a'} | "
                f"{text(a.get('verdict', 'n/a'))} |"
            )
    if summary.get("filtering"):
        lines += ["", "Filtered arms: pass rates of the label-fidelity classifier at p >= confidence:"]
        for g, f in summary["filtering"].items():
            rates = ", ".join(f"{c} {r:.2f}" for c, r in f["pass_rate"].items())
            lines.append(f"- {g}: {f['classifier']['name']}, confidence {f['confidence']}: {rates}")
    return "\n".join(lines) + "\n"
