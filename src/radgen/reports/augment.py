"""The augmentation experiment's tables, from its ``results.json`` (``radgen.experiments.augment`` writes it).

Here, not in ``experiments``, so that reports read result folders and never import experiments
(layers import downward only); the experiment writes ``summary.md`` with the same function.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

ENDPOINT_LABELS = {
    "auroc": "AUROC",
    "balanced_accuracy_val_threshold": "balanced acc. (threshold from val)",
    "minority_sensitivity_at_real_specificity": "minority recall at real's val specificity",
    "balanced_accuracy_argmax": "balanced acc. (argmax)",
}


def _pm(m: dict[str, float]) -> str:
    if m["n"] == 0:
        return "n/a"
    return f"{m['mean']:.3f}" if np.isnan(m["std"]) else f"{m['mean']:.3f} ± {m['std']:.3f}"


def _label(e: str, names: list[str]) -> str:
    label = ENDPOINT_LABELS.get(e, e)
    return label.replace("minority", names[0]) if len(names) == 2 and "minority" in e else label


def _rci(d: dict[str, Any], digits: int = 3) -> str:
    if d.get("n", 0) < 2 or math.isnan(d.get("low", math.nan)):
        return "n/a"
    return f"{d['diff']:+.{digits}f} [{d['low']:+.{digits}f}, {d['high']:+.{digits}f}]"


def trial_markdown(trial: dict[str, Any] | None, names: list[str]) -> list[str]:
    """The pre-registration (printed before any result), how the run stopped, then one table per family."""
    from radgen.reports.markdown import code, text

    if not trial:
        return []
    pre = trial["preregistration"]
    prim = pre["primary_endpoint"]
    secs = pre["secondary_endpoints"]
    last = trial["looks"][-1]["seeds"] if trial["looks"] else 0
    budget = f", at most {pre['budget_seconds']:.0f} s" if pre.get("budget_seconds") else ""
    lines = [
        f"**Pre-registered** {text(pre['created'])} (config sha256 {code(pre['config_sha256'][:16])}), before any "
        f"fit. Primary endpoint: {text(_label(prim, names))}, equivalence margin ±{pre['delta'][prim]:g}. "
        "Secondary: " + "; ".join(f"{text(_label(e, names))} (±{pre['delta'][e]:g})" for e in secs) + ". "
        f"Families: primary ({text('; '.join(pre['families']['primary']))}) and secondary (every other arm vs "
        f"`real`), each at familywise {pre['alpha']:g} ({text(pre['multiplicity'])}). Intervals: "
        f"{text(pre['interval'])}. Design: {text(pre['design'])}; looks from {pre['first_look']} seeds every "
        f"{pre['look_every']}, at most {pre['max_seeds']} seeds{budget}.",
        "",
        f"**Stopped:** {text(trial['stopped_why'])}, after {text(last)} seeds. Looks: "
        + "; ".join(
            f"{lk['seeds']} seeds ({lk['seconds']:.0f} s): "
            + ", ".join(f"{text(c)} {text(v)}" for c, v in lk["primary_verdicts"].items())
            for lk in trial["looks"]
        )
        + ". Seeds per arm: "
        + ", ".join(f"{text(a)} {n}" for a, n in trial["seeds_per_arm"].items())
        + ".",
        "",
    ]
    for fam, rows in trial["families"].items():
        if not rows:
            continue
        lines += [
            f"{fam.capitalize()} family ({len(rows)} comparison{'s' if len(rows) > 1 else ''}); Δ = first arm minus "
            f"second, over the seeds both ran; the interval is the repeated confidence interval the verdict rests on "
            f"(level beside it); secondary endpoints at the family's level, * where the interval excludes 0:",
            "",
            f"| family | comparison | Δ {text(_label(prim, names))} [interval] | level | SE seeds / test images | "
            "verdict | seeds | " + " | ".join(f"Δ {text(_label(e, names))}" for e in secs) + " |",
            "|---|---|---|---|---|---|---|" + "---|" * len(secs),
        ]
        for r in rows:
            c = r["endpoints"][prim]
            sd = (
                f"{math.sqrt(c['var_seeds']):.4f} / {math.sqrt(c['var_test']):.4f}"
                if not math.isnan(c.get("var_seeds", math.nan))
                else "n/a"
            )
            v = r["verdict"] + (f" (±{r['delta']:g})" if r["verdict"] == "equivalent" else "")
            if r["verdict"] in ("helps", "hurts") and r.get("within_delta"):
                v += f", within ±{r['delta']:g}"
            if r.get("secondary_flags"):
                v += "; flagged: " + ", ".join(
                    f"{_label(f.split(':')[0], names)} {f.split(':')[-1]}" for f in r["secondary_flags"]
                )
            cells = [
                _rci(r["endpoints"][e])
                + (" *" if r["endpoints"][e].get("low", 0) > 0 or r["endpoints"][e].get("high", 0) < 0 else "")
                for e in secs
            ]
            lines.append(
                f"| {fam} | {text(r['comparison'])} | {_rci(c, 4)} | {100 * c.get('level', math.nan):.1f} % | {sd} | "
                f"**{text(v)}** | {r['seeds']} | " + " | ".join(cells) + " |"
            )
        lines.append("")
        lines += _resolution_lines(rows, trial, pre, prim, names)
    return lines


def _resolution_lines(rows: list[dict[str, Any]], trial: dict, pre: dict, prim: str, names: list[str]) -> list[str]:
    """For each undecided comparison: its conditional power at the stop and what the test images allow with
    unlimited seeds (``experiments.trial.projection``), so that "cannot tell" says why."""
    from radgen.reports.markdown import text

    out = []
    for r in rows:
        p = r.get("projection")
        if r["verdict"] != "cannot tell" or not p or math.isnan(p.get("resolution", math.nan)):
            continue
        c = r["endpoints"][prim]
        cp = (
            f"conditional power to decide by {pre['max_seeds']} seeds under the current trend {100 * p['cp']:.0f} %; "
            if trial.get("stopped") == "futility" or r["seeds"] < pre["max_seeds"]
            else ""
        )
        out.append(
            f"- {text(r['comparison'])}: cannot tell — {cp}the test images' share of the SE is "
            f"{math.sqrt(c['var_test']):.4f}, so even with unlimited seeds this test set tells apart from 0 only a "
            f"Δ {text(_label(prim, names))} beyond ±{p['resolution']:.4f}, and at the observed Δ "
            f"({c['diff']:+.4f}) it could show equivalence within ±{p['narrowest_margin']:.4f} at best "
            f"(pre-registered margin ±{r['delta']:g})."
        )
    return out + [""] if out else []


def summary_markdown(summary: dict[str, Any]) -> str:
    """The results table in Markdown; every name and field from ``results.json`` quoted as text."""
    from radgen.reports.markdown import text

    names = summary["class_names"]
    t = summary.get("train") or {}
    judge = (
        f"{summary['classifier']} ({summary.get('judge') or 'custom'} judge: {t.get('epochs')} epochs, "
        f"{t.get('optimizer', 'adam')} {t.get('schedule', 'constant')}, augment {t.get('augment')}, "
        f"select {t.get('select', 'val_loss')}, decision {t.get('threshold', 'argmax')})"
        if t
        else summary["classifier"]
    )
    lines = trial_markdown(summary.get("trial"), names) + [
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
    if summary.get("filtering"):
        lines += ["", "Filtered arms: pass rates of the label-fidelity classifier at p >= confidence:"]
        for g, f in summary["filtering"].items():
            rates = ", ".join(f"{c} {r:.2f}" for c, r in f["pass_rate"].items())
            lines.append(f"- {g}: {f['classifier']['name']}, confidence {f['confidence']}: {rates}")
    return "\n".join(lines) + "\n"
