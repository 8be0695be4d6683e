"""Classification metrics from predictions, keyed by the names in metric_names.

Everything comes from one confusion matrix, computed with numpy: the definitions are scikit-learn's
(`accuracy_score`, `precision_recall_fscore_support(average="macro", zero_division=0)`, `confusion_matrix`),
and tests/test_metrics.py checks that the numbers are equal. Not scikit-learn itself: importing it costs every
trial process about half a second, for a few lines of arithmetic per epoch.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """num_classes x num_classes counts: rows are the true class, columns the predicted one."""
    pairs = np.asarray(y_true, dtype=np.int64) * num_classes + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(pairs, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    out = np.zeros(len(numerator), dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def class_scores(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall and F1 of a confusion matrix."""
    hits = np.diag(matrix).astype(np.float64)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    return _ratio(hits, predicted), _ratio(hits, actual), _ratio(2 * hits, predicted + actual)


def epoch_metrics(prefix: str, y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict[str, float]:
    """Accuracy and macro precision, recall and F1 as `<prefix>/acc`, `<prefix>/precision_macro`, ...

    Macro averages run over all `num_classes` classes, so a class the model never predicts counts as 0,
    not as absent (zero_division=0): the honest choice for imbalanced clothing classes.
    """
    matrix = confusion(y_true, y_pred, num_classes)
    precision, recall, f1 = class_scores(matrix)
    return {f"{prefix}/acc": float(np.trace(matrix) / max(matrix.sum(), 1)),
            f"{prefix}/precision_macro": float(precision.mean()),
            f"{prefix}/recall_macro": float(recall.mean()),
            f"{prefix}/f1_macro": float(f1.mean())}


def per_class_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]) -> dict:
    """Per-class F1 (class name -> F1) and the confusion matrix (rows: true class, columns: predicted)."""
    matrix = confusion(y_true, y_pred, len(class_names))
    _, _, f1 = class_scores(matrix)
    return {"per_class_f1": {name: float(v) for name, v in zip(class_names, f1)},
            "confusion_matrix": matrix.tolist(), "class_names": list(class_names)}
