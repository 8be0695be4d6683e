"""Metrics of a classifier on one labelled test set, with 95% stratified-bootstrap intervals.

A single test set has no folds to vary over, so its uncertainty comes from resampling it: each replicate
draws, within every true class, as many images as the class has (with replacement), so the class mix stays
the test set's own. Intervals are the 2.5 and 97.5 percentiles of the replicates. Point values are
scikit-learn's; macro averages run over the classes present in the test data (a class the data lacks has no
recall to average).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

REPLICATES = 2000
CONFIDENCE = 0.95
SEED = 0
SUMMARY = ("acc", "precision_macro", "recall_macro", "f1_macro")
_CHUNK = 200  # replicates whose confusion matrices are built at once (memory: chunk x images integers)


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str],
                          replicates: int = REPLICATES, seed: int = SEED) -> dict:
    """Accuracy and macro precision/recall/F1 with intervals, per-class precision/recall/F1/support, and the
    confusion matrix (rows: true class, columns: predicted), as plain JSON values."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    classes = np.arange(len(class_names))
    present = np.unique(y_true)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=classes,
                                                                     zero_division=0)
    macro = precision_recall_fscore_support(y_true, y_pred, labels=present, average="macro", zero_division=0)
    point = {"acc": accuracy_score(y_true, y_pred), "precision_macro": macro[0], "recall_macro": macro[1],
             "f1_macro": macro[2]}
    samples = _bootstrap(y_true, y_pred, len(class_names), present, replicates, seed)
    low, high = np.percentile(samples, [50 * (1 - CONFIDENCE), 50 * (1 + CONFIDENCE)], axis=0)
    return {
        "images": int(len(y_true)),
        "metrics": {name: {"value": float(point[name]), "ci_low": float(low[i]), "ci_high": float(high[i])}
                    for i, name in enumerate(SUMMARY)},
        "per_class": {name: {"precision": float(precision[c]), "recall": float(recall[c]), "f1": float(f1[c]),
                             "support": int(support[c])} for c, name in enumerate(class_names)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
        "class_names": list(class_names),
        "macro_over_classes": [class_names[c] for c in present],
        "interval": {"method": "stratified bootstrap, percentile", "confidence": CONFIDENCE,
                     "replicates": replicates, "seed": seed},
    }


def _bootstrap(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int, present: np.ndarray,
               replicates: int, seed: int) -> np.ndarray:
    """(replicates, 4): the SUMMARY metrics of each stratified resample."""
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(y_true == c) for c in present]
    out = []
    for start in range(0, replicates, _CHUNK):
        count = min(_CHUNK, replicates - start)
        drawn = np.concatenate([m[rng.integers(0, len(m), size=(count, len(m)))] for m in members], axis=1)
        cells = y_true[drawn] * num_classes + y_pred[drawn]  # (count, images): confusion-matrix cell
        offsets = np.arange(count)[:, None] * num_classes ** 2
        matrices = np.bincount((cells + offsets).ravel(), minlength=count * num_classes ** 2)
        out.append(_summary(matrices.reshape(count, num_classes, num_classes), present))
    return np.concatenate(out)


def _summary(matrices: np.ndarray, present: np.ndarray) -> np.ndarray:
    """SUMMARY metrics from confusion matrices (replicates, true, predicted), as scikit-learn computes them
    with zero_division=0, macro over `present`."""
    diagonal = np.diagonal(matrices, axis1=1, axis2=2).astype(np.float64)
    predicted, actual = matrices.sum(axis=1), matrices.sum(axis=2)
    precision = np.divide(diagonal, predicted, out=np.zeros_like(diagonal), where=predicted > 0)
    recall = np.divide(diagonal, actual, out=np.zeros_like(diagonal), where=actual > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(diagonal), where=total > 0)
    accuracy = diagonal.sum(axis=1) / matrices.sum(axis=(1, 2))
    return np.column_stack([accuracy, precision[:, present].mean(axis=1), recall[:, present].mean(axis=1),
                            f1[:, present].mean(axis=1)])
