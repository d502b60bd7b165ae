"""Classification metrics on a test split (scikit-learn), reported per class and macro-averaged."""

from __future__ import annotations

from typing import Any

import numpy as np


def predict_labels(prob: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Class predictions: the argmax, or for K = 2 and a ``threshold`` t, 1 where p(class 1) >= t."""
    prob = np.asarray(prob)
    if threshold is None or prob.shape[1] != 2:
        return prob.argmax(1)
    return (prob[:, 1] >= threshold).astype(int)


def classification_metrics(
    y_true: np.ndarray,
    prob: np.ndarray,
    class_names: tuple[str, ...] | list[str],
    *,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, per-class precision/recall/F1, macro-F1, AUROC and the confusion matrix.

    ``prob`` is (N, K) class probabilities; predictions are its argmax, or with a ``threshold``
    (binary only, chosen on validation) 1 where p(class 1) >= threshold. AUROC is the binary
    ROC AUC of the positive (last) class for K = 2, else one-vs-rest macro AUROC (threshold-free).
    """
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    y_true = np.asarray(y_true).astype(int)
    prob = np.asarray(prob, dtype=np.float64)
    k = prob.shape[1]
    labels = list(range(k))
    pred = predict_labels(prob, threshold)
    p, r, f, support = precision_recall_fscore_support(y_true, pred, labels=labels, zero_division=0)
    present = np.unique(y_true)
    if len(present) < 2:
        auroc = float("nan")
    elif k == 2:
        auroc = float(roc_auc_score(y_true, prob[:, 1]))
    else:
        auroc = float(roc_auc_score(y_true, prob, multi_class="ovr", labels=labels))
    out: dict[str, Any] = {
        "accuracy": float(accuracy_score(y_true, pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, pred)),
        "macro_f1": float(f1_score(y_true, pred, labels=labels, average="macro", zero_division=0)),
        "auroc": auroc,
        "confusion_matrix": confusion_matrix(y_true, pred, labels=labels).tolist(),
        "n": int(len(y_true)),
        "threshold": threshold,
    }
    for i, name in enumerate(class_names):
        out[f"precision/{name}"] = float(p[i])
        out[f"recall/{name}"] = float(r[i])
        out[f"f1/{name}"] = float(f[i])
        out[f"support/{name}"] = int(support[i])
    return out
