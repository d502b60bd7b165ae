"""The privacy half of ``radgen release``: the copy audit, membership inference, the gate and the audit log.

Before anything is released, the sampled images are

1. audited for copies against every training image (``radgen.metrics.copy_audit``: flips, shifts up to 4 px,
   small crops and brightness/contrast changes do not hide a copy), with the flag threshold calibrated on the
   run's held-out split at ``AUDIT_FPR``; refused when more images are flagged than a generator of novel images
   would show with probability 0.1 % (Binomial(n, alpha)'s upper quantile);
2. attacked by membership inference (``radgen.metrics.membership``): the black-box attack on the released
   images themselves (members: training images; non-members: the held-out split), refused when its AUC exceeds
   ``MI_AUC_BOUND``; the model-based attack (what an attacker holding the weights could do) is reported beside it
   but does not refuse, since a release ships images, not weights.

``--force`` releases anyway and the datasheet says which gate it overrode. Every audit, refused or not, is
appended to ``RUN/privacy_audits.jsonl`` (one JSON line, written whole), and the datasheet lists every audit the
run has had, so a refusal under one seed cannot disappear behind a release under another.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

AUDIT_FPR = 0.01  # nominal false-positive rate of the copy audit (real held-out images flagged)
MI_AUC_BOUND = 0.6  # the black-box membership-inference AUC above which a release is refused (chance: 0.5)
MI_MAX_IMAGES = 1000  # members and non-members each (evenly spaced, no seed)
AUDIT_LOG = "privacy_audits.jsonl"


def evenly(n_total: int, n: int) -> torch.Tensor:
    """``n`` evenly spaced positions in ``range(n_total)`` (a deterministic subset: no seed)."""
    n = min(n, n_total)
    return torch.linspace(0, n_total - 1, n).round().long()


def privacy_audit(model, fake: torch.Tensor, train, heldout, *, heldout_split: str) -> dict[str, Any]:
    """The copy audit and membership inference of the images ``fake`` (module docstring); ``train`` and
    ``heldout`` are ImageSets."""
    from radgen.metrics.copy_audit import copy_audit
    from radgen.metrics.membership import membership_inference

    audit = copy_audit(fake, train.images, heldout.images, alpha=AUDIT_FPR, heldout_split=heldout_split)
    audit.pop("_scores")
    mi_idx, ho_idx = evenly(len(train), MI_MAX_IMAGES), evenly(len(heldout), MI_MAX_IMAGES)
    mi = membership_inference(
        train.images[mi_idx],
        train.labels[mi_idx],
        heldout.images[ho_idx],
        heldout.labels[ho_idx],
        generated=fake,
        model=model,
        nonmember_split=heldout_split,
    )
    refuse_copy = bool(audit["copying"])
    refuse_mi = mi["black_box"]["auc"] > MI_AUC_BOUND
    return {
        "copy_audit": audit,
        "membership_inference": mi,
        "gate": {
            "copy_audit_refuses": refuse_copy,
            "membership_inference_refuses": refuse_mi,
            "membership_auc_bound": MI_AUC_BOUND,
            "rule": (
                f"refused when the copy audit flags more than {audit['refuse_above_count']} of {audit['n_generated']} "
                f"images (nominal rate {AUDIT_FPR:.0%}) or the black-box membership-inference AUC on the released "
                f"images exceeds {MI_AUC_BOUND}"
            ),
        },
    }


def refusal_reason(result: dict[str, Any]) -> str | None:
    """One clause per gate that refuses, or None."""
    a, g = result["copy_audit"], result["gate"]
    why = []
    if g["copy_audit_refuses"]:
        why.append(
            f"the copy audit flags {a['n_flagged']} of {a['n_generated']} images ({a['fraction_flagged']:.1%}) as "
            f"copies of training images (more than the {a['refuse_above_count']} a novel generator shows)"
        )
    if g["membership_inference_refuses"]:
        why.append(
            f"membership inference on the images reaches AUC {result['membership_inference']['black_box']['auc']:.3f}"
            f" (above {MI_AUC_BOUND})"
        )
    return "; ".join(why) or None


def append_audit_log(run_dir: str | Path, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Append one audit to ``RUN/privacy_audits.jsonl`` (one line, one write, fsynced) and return the whole log."""
    path = Path(run_dir) / AUDIT_LOG
    line = json.dumps({"time": datetime.now().isoformat(timespec="seconds"), **entry}, default=str) + "\n"
    with open(path, "a") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
    return read_audit_log(run_dir)


def read_audit_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every privacy audit recorded against a run (``RUN/privacy_audits.jsonl``), oldest first; refusals included."""
    path = Path(run_dir) / AUDIT_LOG
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut by a crash is skipped; every complete one is kept
    return out


def log_entry(result: dict[str, Any], *, n: int, seed: int, decision: str) -> dict[str, Any]:
    """The audit log's line for one release attempt: the decision, the copy audit's and the membership attack's
    figures and the bounds they were held to."""
    a, mi = result["copy_audit"], result["membership_inference"]
    return {
        "decision": decision,  # released | refused | released with --force
        "n": n,
        "seed": seed,
        "copy_flagged": a["n_flagged"],
        "copy_fraction_flagged": a["fraction_flagged"],
        "copy_refuse_above": a["refuse_above_count"],
        "copy_threshold": a["threshold"],
        "mi_black_box_auc": mi["black_box"]["auc"],
        "mi_model_based_auc": mi.get("model_based", {}).get("auc"),
    }


def training_privacy(run_dir: str | Path) -> dict[str, Any] | None:
    """The DP-SGD record of the run (``run.json``'s ``privacy``), or None when it trained without DP."""
    path = Path(run_dir) / "run.json"
    try:
        return json.loads(path.read_text()).get("privacy")
    except (OSError, ValueError, AttributeError):
        return None


def _fmt_ci(r: dict[str, Any]) -> str:
    ci = r.get("auc_ci95")
    return f"{r['auc']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def datasheet_lines(sheet: dict[str, Any]) -> list[str]:
    """The datasheet's privacy section (Markdown lines)."""
    from radgen.reports.markdown import text

    p = sheet["privacy"]
    a, mi, g = p["copy_audit"], p["membership_inference"], p["gate"]
    lines = [
        "## Privacy",
        "",
        "### Copy audit (every released image against every training image)",
        "",
        f"- criterion: {text(a['criterion'])}",
        f"- searched {a['n_train_searched']:,} training images; calibrated on {a['n_heldout']} held-out images of the "
        f"`{a['heldout_split']}` split ({a['heldout_duplicates_of_train']} duplicates of training images left out)",
        f"- flagged: **{a['n_flagged']} of {a['n_generated']} ({a['fraction_flagged']:.1%})** at nominal "
        f"false-positive rate {a['nominal_false_positive_rate']:.0%} (threshold {a['threshold']:.3f}); refused above "
        f"{a['refuse_above_count']} ({text(a['refuse_rule'])})",
        "",
        "### Membership inference",
        "",
        f"Members: {text(mi['members'])}; non-members: {text(mi['nonmembers'])}.",
        "",
        "| attack | AUC [95 % CI] | TPR at 1 % FPR | TPR at 0.1 % FPR |",
        "|---|---|---|---|",
    ]
    for key in ("black_box", "model_based"):
        if key in mi:
            r = mi[key]
            lines.append(
                f"| {text(r['attack'])} | {_fmt_ci(r)} | {r['tpr_at_0.01_fpr']:.3f} | {r['tpr_at_0.001_fpr']:.3f}"
                + ("" if r["tpr_at_0.001_fpr_resolvable"] else " (below 1/n)")
                + " |"
            )
    lines += [
        "",
        f"Gate: {text(g['rule'])}. The model-based attack (an attacker holding the weights) is reported, not gated: "
        "a release ships images.",
        "",
        "### Differentially private training",
        "",
    ]
    dp = sheet.get("training_privacy")
    if dp:
        eps = dp.get("epsilon_spent")
        lines.append(
            f"Trained with {text(dp['mechanism'])} ({text(dp['library'])}): **epsilon = "
            f"{'n/a' if eps is None else f'{eps:.3g}'}** spent at delta = {dp['delta']:g} "
            f"({dp['accountant'].upper()} accountant; target {dp['epsilon_target']:g}), noise multiplier "
            f"{dp['noise_multiplier']:.3g}, clipping norm {dp['max_grad_norm']:g}, sample rate "
            f"{dp['sample_rate']:.4g}, {dp.get('steps_taken', 'n/a')} private steps; private: "
            f"{', '.join(dp['private_groups'])}; public: {', '.join(dp['public_groups']) or 'none'}."
        )
    else:
        lines.append(
            "Trained without differential privacy: no formal guarantee; the audits above are tests, not bounds."
        )
    lines += [
        "",
        "### Every audit of this run (refusals included)",
        "",
        "| time | n | seed | decision | copies flagged | MI AUC (black box) |",
        "|---|---|---|---|---|---|",
    ]
    for e in sheet.get("audit_log", []):
        lines.append(
            f"| {e.get('time')} | {e.get('n')} | {e.get('seed')} | {text(str(e.get('decision')))} | "
            f"{e.get('copy_flagged')} (limit {e.get('copy_refuse_above')}) | "
            f"{float(e.get('mi_black_box_auc') or float('nan')):.3f} |"
        )
    return lines + [""]
