"""Classification metrics from predictions, computed with scikit-learn, keyed by the names in metric_names."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


def epoch_metrics(prefix: str, y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict[str, float]:
    """Accuracy and macro precision, recall and F1 as `<prefix>/acc`, `<prefix>/precision_macro`, ...

    Macro averages run over all `num_classes` classes, so a class the model never predicts counts as 0,
    not as absent (zero_division=0): the honest choice for imbalanced clothing classes.
    """
    labels = np.arange(num_classes)
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0)
    return {f"{prefix}/acc": float(accuracy_score(y_true, y_pred)),
            f"{prefix}/precision_macro": float(precision),
            f"{prefix}/recall_macro": float(recall),
            f"{prefix}/f1_macro": float(f1)}


def per_class_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]) -> dict:
    """Per-class F1 (class name -> F1) and the confusion matrix (rows: true class, columns: predicted)."""
    labels = np.arange(len(class_names))
    f1 = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    return {"per_class_f1": {name: float(v) for name, v in zip(class_names, f1)},
            "confusion_matrix": matrix.tolist(), "class_names": list(class_names)}
