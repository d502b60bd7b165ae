"""Membership inference: can an attacker tell the generator's training images from unseen ones?

Members are training images, non-members held-out images of the same distribution (the validation split);
an attack gives every image a score, higher meaning "more likely a member", and is summarised by the ROC
curve of members against non-members (Shokri et al. 2017; Carlini et al. 2022, "Membership inference attacks
from first principles": report the true-positive rate at a low false-positive rate, not only the AUC).

Two attacks:

- black box, every family: the similarity of a real image to its closest generated image (Hilprecht et al.
  2019; Chen et al. 2020, GAN-Leaks), with the copy audit's similarity (``radgen.metrics.copy_audit``: the
  maximum normalised cross-correlation over flips and shifts), so a member copied with a flip or shift still
  counts as close;
- model based, per family, declared by the model (``GenerativeModel.membership_attack`` and
  ``membership_score``): the negative ELBO loss for the VAE family, the negative denoising error at several t for
  diffusion models (Carlini et al. 2023; Matsumoto et al. 2023), the discriminator's score for adversarial models
  (Hayes et al. 2019, LOGAN).

Reported: the AUC (= the Mann-Whitney probability that a member outscores a non-member, ties counted half)
with a percentile bootstrap interval (members and non-members resampled separately), and the TPR at 1 % and
0.1 % FPR: the largest TPR among ROC points whose FPR does not exceed the target. With n non-members an FPR
below 1/n cannot be resolved; the result says so (``resolvable``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from radgen.errors import DataError

FPR_TARGETS = (0.01, 0.001)
BOOTSTRAP = 1000


def roc_points(member: np.ndarray, nonmember: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) at every distinct threshold, from the highest score down (the ROC curve's vertices)."""
    scores = np.concatenate([member, nonmember]).astype(np.float64)
    labels = np.concatenate([np.ones(len(member)), np.zeros(len(nonmember))])
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # the last position of each distinct score
    tp, fp = np.cumsum(y)[last], np.cumsum(1 - y)[last]
    return np.r_[0.0, fp / len(nonmember)], np.r_[0.0, tp / len(member)]


def auc(member: np.ndarray, nonmember: np.ndarray) -> float:
    """P(member score > non-member score) + 1/2 P(tie), by ranks (Mann-Whitney U / (n_m n_n))."""
    from scipy.stats import rankdata

    r = rankdata(np.concatenate([member, nonmember]).astype(np.float64))
    n1, n0 = len(member), len(nonmember)
    return float((r[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def tpr_at_fpr(member: np.ndarray, nonmember: np.ndarray, fpr: float) -> float:
    """The largest TPR among ROC vertices with FPR <= ``fpr``."""
    f, t = roc_points(member, nonmember)
    return float(t[f <= fpr + 1e-12].max())


def roc_summary(
    member: np.ndarray | torch.Tensor,
    nonmember: np.ndarray | torch.Tensor,
    *,
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
) -> dict[str, Any]:
    """AUC with a percentile bootstrap 95 % interval, and TPR at each of ``FPR_TARGETS``."""
    m = np.asarray(member, dtype=np.float64).reshape(-1)
    n = np.asarray(nonmember, dtype=np.float64).reshape(-1)
    if len(m) < 2 or len(n) < 2:
        raise DataError(f"membership inference needs 2+ members and non-members, got {len(m)} and {len(n)}")
    if not (np.isfinite(m).all() and np.isfinite(n).all()):
        raise DataError("membership-inference scores contain NaN or Inf")
    out: dict[str, Any] = {"auc": auc(m, n), "n_members": len(m), "n_nonmembers": len(n)}
    if bootstrap >= 2:
        rng = np.random.default_rng(seed)
        vals = [auc(m[rng.integers(0, len(m), len(m))], n[rng.integers(0, len(n), len(n))]) for _ in range(bootstrap)]
        lo, hi = np.percentile(vals, [2.5, 97.5])
        out["auc_ci95"] = [float(lo), float(hi)]
        out["interval"] = f"percentile bootstrap, {bootstrap} resamples of members and non-members, seed {seed}"
    for target in FPR_TARGETS:
        key = f"tpr_at_{target:g}_fpr"
        out[key] = tpr_at_fpr(m, n, target)
        out[f"{key}_resolvable"] = bool(target * len(n) >= 1)
    return out


@torch.no_grad()
def black_box_scores(real: torch.Tensor, generated: torch.Tensor, **kwargs) -> torch.Tensor:
    """Each real image's similarity to its closest generated image (the copy audit's score; higher = closer)."""
    from radgen.metrics.copy_audit import copy_scores

    return copy_scores(real, generated, **kwargs)["score"]


@torch.no_grad()
def model_scores(
    model, images: torch.Tensor, labels: torch.Tensor | None, *, seed: int = 0, batch_size: int = 128
) -> torch.Tensor:
    """``model.membership_score`` over ``images`` in batches, with a seeded generator (the same noise for every
    image set, so members and non-members are scored alike)."""
    dev = next(model.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        g = torch.Generator(device=dev).manual_seed(seed + i)
        x = images[i : i + batch_size].to(dev)
        y = None if labels is None else labels[i : i + batch_size].to(dev)
        out.append(model.membership_score(x, y, generator=g).detach().float().cpu())
    return torch.cat(out)


def membership_inference(
    members: torch.Tensor,
    member_labels: torch.Tensor | None,
    nonmembers: torch.Tensor,
    nonmember_labels: torch.Tensor | None,
    *,
    generated: torch.Tensor,
    model=None,
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
    member_split: str = "train",
    nonmember_split: str = "val",
) -> dict[str, Any]:
    """Both attacks (the model-based one where ``model`` declares ``membership_attack``)."""
    n = min(len(members), len(nonmembers))
    members, nonmembers = members[:n], nonmembers[:n]
    member_labels = None if member_labels is None else member_labels[:n]
    nonmember_labels = None if nonmember_labels is None else nonmember_labels[:n]
    cache: dict = {}
    bb_m = black_box_scores(members, generated, _train_cache=cache)
    bb_n = black_box_scores(nonmembers, generated, _train_cache=cache)
    out: dict[str, Any] = {
        "members": f"{n} images of the {member_split} split (the generator's training images)",
        "nonmembers": f"{n} images of the {nonmember_split} split (same distribution, never trained on)",
        "n_generated": len(generated),
        "black_box": {
            "attack": "similarity of each real image to its closest generated image (max NCC over flips and shifts)",
            **roc_summary(bb_m, bb_n, bootstrap=bootstrap, seed=seed),
        },
    }
    if model is not None and model.membership_attack is not None:
        mm = model_scores(model, members, model.condition_labels(member_labels), seed=seed)
        mn = model_scores(model, nonmembers, model.condition_labels(nonmember_labels), seed=seed)
        out["model_based"] = {
            "attack": model.membership_attack,
            **roc_summary(mm, mn, bootstrap=bootstrap, seed=seed),
        }
    return out


def worst_auc(mi: dict[str, Any] | None) -> float | None:
    """The highest AUC over the attacks run (what a release gate compares with its bound)."""
    if not mi:
        return None
    vals = [mi[k]["auc"] for k in ("black_box", "model_based") if k in mi]
    return max(vals) if vals else None
