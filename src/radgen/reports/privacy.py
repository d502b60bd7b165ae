"""The privacy-utility table rendered (``radgen demo --budget full``; ``experiments.privacy_utility``'s result).

One row per generator and epsilon: the FD ratio to the floor under each view, label fidelity, both
membership-inference attacks (AUC with its bootstrap interval, TPR at 1 % FPR) beside the bound DP itself puts on
that TPR, and the trial's Delta of its primary endpoint for ``+G vs real``; then one paragraph that reads it.

The bound: an (epsilon, delta)-DP training algorithm lets no test of membership reach TPR > e^epsilon FPR + delta
(Kairouz, Oh & Viswanath 2015, the hypothesis-testing view of DP), so at 1 % FPR the TPR is at most
min(1, 0.01 e^epsilon + delta): 0.027 at epsilon 1, vacuous (1) at epsilon 8.
"""

from __future__ import annotations

import math
from typing import Any

from radgen.reports.markdown import code, text

FPR = 0.01  # the false-positive rate the table reports the TPR at


def tpr_bound(epsilon: float | None, delta: float | None, fpr: float = FPR) -> float:
    """The largest TPR at ``fpr`` any membership test can reach against an (epsilon, delta)-DP algorithm."""
    if epsilon is None:
        return 1.0
    return min(1.0, math.exp(epsilon) * fpr + (delta or 0.0))


def _eps(row: dict[str, Any]) -> str:
    if row["epsilon"] is None:
        return "inf (no DP)"
    spent = row.get("epsilon_spent")
    return f"{row['epsilon']:g} / {spent:.2f}" if spent is not None else f"{row['epsilon']:g}"


def _auc(a: dict[str, Any] | None) -> str:
    if not a or a.get("auc") is None:
        return "n/a"
    ci = a.get("auc_ci95")
    return f"{a['auc']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _tpr(a: dict[str, Any] | None) -> str:
    v = (a or {}).get("tpr_at_0.01_fpr")
    return "n/a" if v is None else f"{v:.3f}"


def _delta(u: dict[str, Any] | None) -> str:
    if not u:
        return "n/a"
    lo, hi = u.get("low"), u.get("high")
    interval = f" [{lo:+.4f}, {hi:+.4f}]" if lo is not None and hi is not None else ""
    margin = f", margin ±{u['margin']:g}" if u.get("margin") is not None else ""
    return f"{u['diff']:+.4f}{interval} ({text(u['endpoint'])}{margin}: {text(u['verdict'])}, {u['seeds']} seeds)"


def _ratio(row: dict[str, Any], view: str) -> str:
    r = row["fd"].get(view, {}).get("ratio")
    return "n/a" if r is None else f"{r:.1f}x"


def _reading(result: dict[str, Any], views: list[str]) -> str:
    """One paragraph: per generator, what DP cost (FD ratio, label fidelity, Delta) and what the attacks found."""
    parts = []
    for g in result["capable"]:
        rows = [r for r in result["rows"] if r["generator"] == g]
        by_eps = sorted(rows, key=lambda r: math.inf if r["epsilon"] is None else r["epsilon"])
        label = ", ".join("inf" if r["epsilon"] is None else f"{r['epsilon']:g}" for r in by_eps)
        fd = "; ".join(f"{text(v)} " + " / ".join(_ratio(r, v) for r in by_eps) for v in views)
        fid = " / ".join(
            "n/a" if r["label_fidelity"]["mean"] is None else f"{r['label_fidelity']['mean']:.2f}" for r in by_eps
        )
        attacks = [(r, k, a) for r in by_eps for k, a in r["membership_inference"].items() if a.get("auc") is not None]
        found = [
            (r, k, a) for r, k, a in attacks if a.get("auc_ci95") and a["auc_ci95"][0] > 0.5
        ]  # the interval above chance
        if not attacks:
            mi = "no membership attack ran"
        elif found:
            mi = (
                "an attack's 95 % AUC interval lies above 0.5 in "
                + ", ".join(
                    f"the epsilon {_eps(r)} row ({k.replace('_', ' ')}, AUC {a['auc']:.3f})" for r, k, a in found
                )
                + f" (of {len(attacks)} intervals, one in 40 lies above 0.5 by chance alone)"
            )
        else:
            top = max(a["auc"] for _, _, a in attacks)
            mi = (
                f"no attack's AUC interval lies above 0.5 (highest AUC {top:.3f}): at this sample size neither attack "
                "finds the training images, with or without DP, which is no guarantee; the epsilon rows carry one"
            )
        deltas = [r.get("utility") for r in by_eps]
        ut = " / ".join(_delta(u) for u in deltas) if any(deltas) else "no utility trial ran"
        parts.append(
            f"**{text(g)}** (epsilon {label}): FD / floor {fd}; mean label fidelity {fid}; {mi}. Utility, Delta of "
            f"+{text(g)} vs real: {ut}."
        )
    if result["not_capable"]:
        parts.append(
            "Not trained privately: "
            + "; ".join(f"{text(g)} ({text(why)})" for g, why in result["not_capable"].items())
            + "."
        )
    if not result["capable"]:
        parts.insert(0, "None of the demo's generators can train under DP-SGD as configured, so the table is empty.")
    return " ".join(parts)


def privacy_markdown(result: dict[str, Any], title: str = "Privacy and utility") -> list[str]:
    """Markdown lines for ``run_privacy_utility``'s result."""
    rows = result["rows"]
    views = list(rows[0]["fd"]) if rows else []
    lines = [
        f"## {text(title)}",
        "",
        f"Each DP-capable generator trained again with the demo's config and epochs under DP-SGD (Opacus; delta "
        f"{result['delta']:g}, per-image clipping norm {result['max_grad_norm']:g}) at epsilon "
        + ", ".join(f"{e:g}" for e in result["epsilons"])
        + ", beside the demo's own run (no DP), each evaluated with the demo's protocol. TPR bound: the highest "
        "TPR at 1 % FPR that any membership test can reach against an (epsilon, delta)-DP training (Kairouz et al. "
        "2015). Delta: the utility trial's difference of its primary endpoint, +G minus real, with its repeated "
        "confidence interval and verdict" + (f" (trial: {code(result['trial'])})." if result.get("trial") else "."),
        "",
    ]
    if rows:
        head = (
            "| generator | epsilon (target / spent) | "
            + " | ".join(f"FD / floor ({text(v)})" for v in views)
            + " | label fidelity (mean) | MI AUC black box [95 % CI] | TPR@1%FPR | MI AUC model based [95 % CI] | "
            "TPR@1%FPR | TPR bound | Delta vs real |"
        )
        lines += [head, "|" + "---|" * (head.count("|") - 1)]
        for r in rows:
            mi = r["membership_inference"]
            fid = r["label_fidelity"]["mean"]
            lines.append(
                f"| {text(r['generator'])} | {_eps(r)} | "
                + " | ".join(_ratio(r, v) for v in views)
                + f" | {'n/a' if fid is None else f'{fid:.3f}'} | {_auc(mi.get('black_box'))} | "
                f"{_tpr(mi.get('black_box'))} | {_auc(mi.get('model_based'))} | {_tpr(mi.get('model_based'))} | "
                f"{tpr_bound(r['epsilon'], r.get('delta')):.3f} | {_delta(r.get('utility'))} |"
            )
        lines.append("")
    lines += [_reading(result, views), ""]
    return lines
