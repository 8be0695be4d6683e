"""cv_results.csv in scikit-learn's layout, on a small table of trials with known numbers."""
import io
import json
import math

import numpy as np
import pandas as pd
import pytest

from tune_clothes.analysis.comparison import FoldScheme
from tune_clothes.analysis.cv_results import cv_results
from tune_clothes.analysis.leaderboard import BoardSettings, summarize
from tune_clothes.analysis.results import TRAIN_METRICS
from tune_clothes.config.metric_names import OPTIMISABLE, VAL_ACC, VAL_LOSS
from tune_clothes.config.trial_record import FoldId

K, R = 2, 2


def trials() -> pd.DataFrame:
    """lr=0.01 finished all 4 folds; lr=0.1 finished folds j=0 and j=3 (1 failed, 2 pending)."""
    rows = []
    for lr, accs, statuses in [(0.01, [0.8, 0.7, 0.9, 0.6], ["finished"] * 4),
                               (0.1, [0.5, math.nan, math.nan, 0.4], ["finished", "failed", "pending", "finished"])]:
        for j, (acc, status) in enumerate(zip(accs, statuses)):
            row = {"lr": lr, **FoldId.from_j(j, K).columns(), "scheme": "kfold", "status": status,
                   "best_epoch": j + 1 if status == "finished" else pd.NA, "fit_time": 10.0 + j}
            row.update({m: acc for m in OPTIMISABLE})
            row.update({VAL_LOSS: 1 - acc, **{m: acc + 0.1 for m in TRAIN_METRICS}})
            rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.astype({"best_epoch": "Int64"})


def test_one_row_per_configuration_with_a_split_column_per_finished_fold():
    table = pd.read_csv(io.StringIO(cv_results(trials(), ["lr"]).to_csv(index=False)))  # what a user loads
    assert list(table["param_lr"]) == [0.01, 0.1]
    assert [json.loads(p) for p in table["params"]] == [{"lr": 0.01}, {"lr": 0.1}]
    assert [c for c in table if c.startswith("split") and c.endswith("_acc") and "train" not in c] == [
        "split0_acc", "split1_acc", "split2_acc", "split3_acc"]
    assert table.loc[0, ["split0_acc", "split3_acc", "mean_acc"]].tolist() == pytest.approx([0.8, 0.6, 0.75])
    assert table.loc[1, "split0_acc"] == 0.5 and np.isnan(table.loc[1, "split1_acc"])
    assert table.loc[1, "mean_acc"] == pytest.approx(0.45)
    assert table.loc[0, "std_acc"] == pytest.approx(np.std([0.8, 0.7, 0.9, 0.6]))  # ddof=0, as scikit-learn
    assert list(table["rank_acc"]) == [1, 2] and list(table["rank_loss"]) == [1, 2]  # lower loss ranks first
    assert table.loc[0, "mean_train_acc"] == pytest.approx(0.85)
    assert table.loc[0, "mean_fit_time"] == pytest.approx(11.5) and table.loc[1, "mean_fit_time"] == 11.5
    assert list(table.loc[1, ["split0_best_epoch", "split3_best_epoch"]]) == [1, 4]
    order = list(table.columns)
    assert order[:4] == ["mean_fit_time", "std_fit_time", "param_lr", "params"]
    assert order.index("rank_acc") == order.index("std_acc") + 1


def test_its_means_equal_the_leaderboards():
    frame = trials()
    scheme = FoldScheme("kfold", dict.fromkeys(range(R * K), 1.0))
    board = summarize(frame, BoardSettings(("lr",), VAL_ACC, "max", K, {"kfold": scheme}, repeats=R))
    table = cv_results(frame, ["lr"]).set_index("param_lr")
    for _, row in board.iterrows():
        assert table.loc[row["lr"], "mean_acc"] == pytest.approx(row[f"{VAL_ACC}/mean"])
        assert table.loc[row["lr"], "mean_loss"] == pytest.approx(row[f"{VAL_LOSS}/mean"])
