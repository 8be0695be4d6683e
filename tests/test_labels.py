"""Configuration labels for people: a few significant digits, distinct values kept distinct, safe as folders."""
from __future__ import annotations

import numpy as np
import pandas as pd

from tune_clothes.analysis.leaderboard import config_labels
from tune_clothes.config.labels import SINGLE_CONFIG, Labeller, readable


def test_floats_read_with_three_significant_digits():
    labeller = Labeller(["lr", "batch_size", "step_lr"], [{"lr": 0.0013816356822574799}, {"lr": 0.01}])
    label = labeller.label({"lr": 0.0013816356822574799, "batch_size": np.int64(32), "step_lr": False})
    assert label == "lr=0.00138, batch_size=32, step_lr=False"
    assert readable(np.float64(3e-05)) == "3e-05" and readable(None) == "None" and readable("adam") == "adam"


def test_distinct_values_of_an_axis_keep_distinct_labels():
    values = [0.0013816356822574799, 0.0013824, 0.00138]
    labels = Labeller(["lr"], [{"lr": v} for v in values])
    shown = [labels.label({"lr": v}) for v in values]
    assert shown == ["lr=0.0013816", "lr=0.0013824", "lr=0.00138"]
    assert Labeller.of_values({"lr": values}).label({"lr": values[0]}) == shown[0]
    # a table's labels: one digit count per axis, from every row
    frame = pd.DataFrame({"lr": values, "wd": [0.1, 0.1, 0.2]})
    assert config_labels(frame, ["lr", "wd"]) == [f"{s}, wd={w}" for s, w in zip(shown, ["0.1", "0.1", "0.2"])]


def test_folder_names_are_path_safe_and_an_experiment_without_axes_has_one_label():
    labeller = Labeller(["model", "lr"])
    name = labeller.folder_name({"model": "../my net/é", "lr": 0.001})
    assert name == "model=..-my-net-,lr=0.001"  # one folder: no separator, space or non-ASCII letter
    assert Labeller([]).label({}) == SINGLE_CONFIG and Labeller([]).folder_name({}) == "configuration"


def test_the_progress_line_labels_the_best_configuration_readably():
    from types import SimpleNamespace

    from tune_clothes.config import metric_names as M
    from tune_clothes.config import trial_record as record
    from tune_clothes.tuning.progress import CompactProgress, PlannedSearch
    progress = CompactProgress(PlannedSearch(M.VAL_ACC, "max", trials=4, epochs_per_trial=3,
                                             folds_per_configuration=2))
    runs = [(0.0013816356822574799, 0.9), (0.0013824, 0.5), (0.0013816356822574799, 0.8)]
    trials = [SimpleNamespace(trial_id=str(n), config={"lr": lr, record.FOLD_PARAM: n}, status="TERMINATED",
                              last_result={M.VAL_ACC: acc, record.EPOCHS_DONE: 3, record.EPOCHS_TOTAL: 3})
              for n, (lr, acc) in enumerate(runs)]
    assert "best val/acc 0.8500 (lr=0.0013816, 2/2 folds)" in progress.line(trials, progress.started)
