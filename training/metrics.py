"""Holdout metrics of a probability-of-default model at a decision threshold."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score


def evaluate(y_true: ArrayLike, p_default: ArrayLike, threshold: float) -> dict[str, float | None]:
    """ROC AUC, accuracy, approval rate and the default rate among approved loans.

    A loan is rejected when P(default) >= threshold (label 1 = default).
    """
    y = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(p_default, dtype=np.float64)
    rejected = p >= threshold
    approved = ~rejected
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "accuracy": float(accuracy_score(y, rejected.astype(np.int64))),
        "approval_rate": float(approved.mean()),
        "default_rate_approved": float(y[approved].mean()) if approved.any() else None,
        "log_loss": float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
    }
