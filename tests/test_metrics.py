"""The epoch metrics, computed with numpy, equal scikit-learn's definitions, including classes that are never
predicted or never present (zero_division=0)."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from tune_clothes.training.metrics import epoch_metrics, per_class_metrics


@pytest.mark.parametrize("seed, classes, size", [(0, 2, 50), (1, 5, 200), (2, 20, 300), (3, 7, 9)])
def test_metrics_equal_scikit_learn(seed: int, classes: int, size: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, classes, size)
    y_pred = np.where(rng.random(size) < 0.6, y_true, rng.integers(0, classes - 1, size))  # never the last class
    labels = np.arange(classes)
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro",
                                                               zero_division=0)
    ours = epoch_metrics("val", y_true, y_pred, classes)
    assert ours == pytest.approx({"val/acc": accuracy_score(y_true, y_pred), "val/precision_macro": precision,
                                  "val/recall_macro": recall, "val/f1_macro": f1}, abs=1e-12)
    names = [f"c{i}" for i in range(classes)]
    per_class = per_class_metrics(y_true, y_pred, names)
    assert per_class["confusion_matrix"] == confusion_matrix(y_true, y_pred, labels=labels).tolist()
    expected_f1 = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    assert list(per_class["per_class_f1"].values()) == pytest.approx(list(expected_f1), abs=1e-12)


def test_a_class_absent_from_both_counts_as_zero_in_the_macro_average() -> None:
    ours = epoch_metrics("val", np.array([0, 0, 1]), np.array([0, 0, 1]), num_classes=3)
    assert ours["val/acc"] == 1.0
    assert ours["val/f1_macro"] == pytest.approx(2 / 3)  # class 2: no example, no prediction -> 0
