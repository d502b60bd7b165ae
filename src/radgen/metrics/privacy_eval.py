"""The privacy block of ``radgen evaluate`` and of the report: the calibrated copy audit of the generated set,
membership inference (black box for every family, model based where the model declares an attack) and, for a
run trained with ``train.privacy``, its DP-SGD record (epsilon spent).

Members: an evenly spaced (seed-free) subset of the training split, as many as the non-members; non-members:
the protocol's reference set (the held-out split the generator never saw).
"""

from __future__ import annotations

from typing import Any

import torch

from radgen.errors import DataError
from radgen.metrics.copy_audit import NOMINAL_FPR, copy_audit
from radgen.metrics.membership import membership_inference


def _evenly(n_total: int, n: int) -> torch.Tensor:
    return torch.linspace(0, n_total - 1, min(n, n_total)).round().long()


def _members(splits, n: int):
    train = splits["train"]
    idx = _evenly(len(train), n)
    return train.images[idx], train.labels[idx]


def privacy_block(
    fake: torch.Tensor,
    splits,
    reference,
    *,
    reference_split: str,
    heldout: torch.Tensor,
    heldout_split: str,
    bootstrap: int,
    seed: int,
) -> dict[str, Any]:
    """Copy audit of ``fake`` against the whole training split (calibrated on ``heldout``) and the black-box
    attack (members vs the ``reference`` ImageSet)."""
    try:
        audit = copy_audit(fake, splits["train"].images, heldout, alpha=NOMINAL_FPR, heldout_split=heldout_split)
        audit.pop("_scores")
    except DataError as exc:  # too few held-out images to calibrate: the evaluation goes on and says why
        audit = {"skipped": str(exc)}
    mx, my = _members(splits, len(reference))
    mi = membership_inference(
        mx,
        my,
        reference.images,
        reference.labels,
        generated=fake,
        bootstrap=max(bootstrap, 200),
        seed=seed,
        nonmember_split=reference_split,
    )
    return {"copy_audit": audit, "membership_inference": mi}


def add_model_based(block: dict[str, Any], model, splits, reference, *, bootstrap: int, seed: int) -> None:
    """The model's own attack (``model.membership_attack``), on the same members and non-members."""
    if model.membership_attack is None:
        block["membership_inference"]["model_based"] = {"skipped": f"{model.config.name} declares no attack"}
        return
    from radgen.metrics.membership import model_scores, roc_summary

    mx, my = _members(splits, len(reference))
    y = model.condition_labels
    sm = model_scores(model, mx, y(my) if my is not None else None, seed=seed)
    sn = model_scores(
        model, reference.images, y(reference.labels) if reference.labels is not None else None, seed=seed
    )
    block["membership_inference"]["model_based"] = {
        "attack": model.membership_attack,
        **roc_summary(sm, sn, bootstrap=max(bootstrap, 200), seed=seed),
    }


def _row(name: str, r: dict[str, Any]) -> str:
    if "auc" not in r:
        return f"| {name} | {r.get('skipped', 'n/a')} | | |"
    ci = r.get("auc_ci95")
    ci_s = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
    low = "" if r.get("tpr_at_0.001_fpr_resolvable") else " (FPR below 1/n)"
    return f"| {name} | {r['auc']:.3f}{ci_s} | {r['tpr_at_0.01_fpr']:.3f} | {r['tpr_at_0.001_fpr']:.3f}{low} |"


def privacy_markdown(out: dict[str, Any], model_name: str = "") -> list[str]:
    """Markdown lines for an evaluation's privacy block (empty when it has none)."""
    p = out.get("privacy")
    if not p:
        return []
    a, mi = p["copy_audit"], p["membership_inference"]
    who = f" ({model_name})" if model_name else ""
    audit_line = (
        f"Privacy{who}: copy audit not computed ({a['skipped']})."
        if "skipped" in a
        else f"Privacy{who}: copy audit against all {a['n_train_searched']:,} "
        f"training images (flips, shifts up to 4 px, brightness/contrast do not hide a copy): "
        f"**{a['n_flagged']} of {a['n_generated']} flagged ({a['fraction_flagged']:.1%})** at nominal false-positive "
        f"rate {a['nominal_false_positive_rate']:.0%} (calibrated on {a['n_heldout']} `{a['heldout_split']}` images; "
        f"a copying generator exceeds {a['refuse_above_count']})."
    )
    lines = [
        audit_line,
        "",
        "| membership-inference attack | AUC [95 % CI] (chance 0.5) | TPR at 1 % FPR | TPR at 0.1 % FPR |",
        "|---|---|---|---|",
        _row(f"black box: {mi['black_box']['attack']}", mi["black_box"]),
    ]
    if "model_based" in mi:
        lines.append(_row(f"model based: {mi['model_based'].get('attack', '')}", mi["model_based"]))
    dp = out.get("training_privacy")
    lines.append("")
    if dp:
        lines += [dp_sentence(dp), ""]
    return lines


def dp_sentence(dp: dict[str, Any]) -> str:
    """One sentence for a run's DP-SGD record (``run.json``'s ``privacy``)."""
    eps = dp.get("epsilon_spent")
    return (
        f"Trained with DP-SGD ({dp['library']}): epsilon {'n/a' if eps is None else f'{eps:.3g}'} spent at delta "
        f"{dp['delta']:g} ({dp['accountant'].upper()} accountant; target {dp['epsilon_target']:g}, noise multiplier "
        f"{dp['noise_multiplier']:.3g}, clipping norm {dp['max_grad_norm']:g}); private: "
        f"{', '.join(dp['private_groups'])}."
    )
