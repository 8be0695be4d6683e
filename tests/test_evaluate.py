"""Measuring a model: the metrics and their stratified-bootstrap intervals, `evaluate` on a labelled folder
(unknown classes and broken files left out and reported), the refit's epoch rule, and data text escaped."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import MODEL_CLASSES as CLASSES
from conftest import write_clothing_dataset
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from tune_clothes import evaluate
from tune_clothes.analysis.refit_epochs import best_epoch, refit_epochs
from tune_clothes.cli import run_command
from tune_clothes.packaging.bootstrap_metrics import classification_report
from tune_clothes.packaging.model_card import _per_class_table, md


def test_metrics_are_scikit_learns_with_intervals_around_them():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 300)
    y_pred = np.where(rng.random(300) < 0.7, y_true, rng.integers(0, 4, 300))
    report = classification_report(y_true, y_pred, ["a", "b", "c", "d"])
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    expected = {"acc": accuracy_score(y_true, y_pred), "precision_macro": precision, "recall_macro": recall,
                "f1_macro": f1}
    for name, value in expected.items():
        got = report["metrics"][name]
        assert got["value"] == pytest.approx(value) and got["ci_low"] < value < got["ci_high"], name
        assert 0.02 < got["ci_high"] - got["ci_low"] < 0.25, name  # about +-1.96 * sqrt(p(1-p)/n) wide
    assert report["confusion_matrix"] == confusion_matrix(y_true, y_pred).tolist()
    assert report["per_class"]["b"]["support"] == int((y_true == 1).sum())


def test_the_bootstrap_keeps_each_class_count():
    """Right on every 'a', wrong on every 'b': a stratified resample always scores 30 / 50, a plain one would not."""
    y_true = np.array([0] * 30 + [1] * 20)
    y_pred = np.array([0] * 30 + [0] * 20)
    report = classification_report(y_true, y_pred, ["a", "b"], replicates=500)
    assert report["metrics"]["acc"] == {"value": 0.6, "ci_low": 0.6, "ci_high": 0.6}
    assert report["metrics"]["recall_macro"]["ci_low"] == report["metrics"]["recall_macro"]["ci_high"] == 0.5


def test_macro_averages_skip_classes_the_data_lacks():
    report = classification_report(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 2]), ["a", "b", "c"])
    assert report["macro_over_classes"] == ["a", "b"]
    assert report["metrics"]["recall_macro"]["value"] == pytest.approx(0.75)
    assert report["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_evaluate_leaves_out_unknown_classes_and_broken_files_and_says_so(random_model_dir, tmp_path, capsys):
    rows = [(f"p{i}", "Pants") for i in range(6)] + [(f"t{i}", CLASSES[2]) for i in range(4)] + \
           [(f"s{i}", "Skirt") for i in range(3)] + [("gone", "Pants"), ("broken", "Pants")]
    root = write_clothing_dataset(tmp_path / "data", rows, files=[r[0] for r in rows if r[0] != "gone"])
    (root / "images" / "broken.jpg").write_text("not an image")
    reports = {}
    for backend in ("torch", "onnx"):
        code = run_command(evaluate.main, [str(random_model_dir), str(root), "--json", "--backend", backend,
                                           "--cache-dir", str(tmp_path / "cache")])
        assert code == 0
        reports[backend] = json.loads(capsys.readouterr().out)
    report = reports["torch"]
    assert report["images"] == 10 and report["per_class"]["Pants"]["support"] == 6
    assert report["left_out"]["classes the model does not know"] == {"count": 3, "by_class": {"Skirt": 3}}
    assert report["left_out"]["missing files"]["examples"] == ["gone"]
    assert report["left_out"]["corrupt files"]["examples"] == ["broken"]
    assert reports["onnx"]["metrics"] == report["metrics"]
    assert run_command(evaluate.main, [str(random_model_dir), str(root), "--cache-dir", str(tmp_path / "cache")]) == 0
    shown = capsys.readouterr().out
    assert "acc" in shown and "left out: 3 (classes the model does not know)" in shown and "Skirt" in shown


def test_evaluate_refuses_data_without_a_class_of_the_model(random_model_dir, tmp_path, capsys):
    root = write_clothing_dataset(tmp_path / "data", [("a", "Skirt"), ("b", "Hat")])
    assert run_command(evaluate.main, [str(random_model_dir), str(root), "--cache-dir", str(tmp_path / "cache")]) == 2
    error = capsys.readouterr().err
    assert "none of the data's classes ['Hat', 'Skirt'] is a class of the model" in error
    assert run_command(evaluate.main, [str(random_model_dir), str(tmp_path / "nowhere")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run_command(evaluate.main, [str(random_model_dir), str(tmp_path / "empty")]) == 2
    assert "not a dataset layout the project reads" in capsys.readouterr().err


def test_the_refit_trains_as_many_steps_as_the_folds_needed_to_reach_their_best():
    histories = [[0.5, 0.7, 0.6, 0.65], [0.4, 0.6, 0.8, 0.8], [0.3, float("nan"), 0.5, 0.9]]
    best = [best_epoch(h, "max") for h in histories]
    assert best == [2, 3, 4]  # the first best epoch when tied; NaN never counts
    assert best_epoch([0.9, 0.5, 0.5], "min") == 2
    # folds train on 64 images (4 steps of 16), the pool is 96 (6 steps): (2*4 + 3*4 + 4*4) / 3 = 12 steps
    choice = refit_epochs(best, [64, 64, 64], 96, batch_size=16)
    assert (choice.epochs, choice.fold_steps, choice.pool_steps_per_epoch) == (2, (8, 12, 16), 6)
    assert choice.scaled_step_size(9) == 6  # StepLR drops after the same number of steps
    assert "12 steps on average" in choice.explanation("val/acc", 16)
    uneven = refit_epochs([10, 10], [50, 70], 90, batch_size=16)  # 4 and 5 steps an epoch; the pool 6
    assert uneven.epochs == 8 and uneven.fold_steps == (40, 50)  # 45 / 6 = 7.5 rounds up
    overridden = refit_epochs(best, [64, 64, 64], 96, batch_size=16, override=5)
    assert (overridden.epochs, overridden.rule_epochs, overridden.overridden) == (5, 2, True)
    assert overridden.explanation("val/acc", 16).startswith("5, as --epochs asked (the search's rule gives 2")


def test_data_text_cannot_break_the_model_cards_markdown():
    assert md("a|b <script>x</script>") == "a\\|b &lt;script&gt;x&lt;/script&gt;"
    assert md("two\nlines") == "two lines"
    info = {"test": {"per_class": {name: {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
                                   for name in CLASSES}}}
    for row in _per_class_table(info)[4:]:
        assert row.replace("\\|", "").count("|") == 6, row  # 5 cells
