"""`cv_results.csv`: a search in the layout of scikit-learn's `GridSearchCV.cv_results_`, one row per
configuration, for readers who know it.

Columns, in scikit-learn's order: `mean_fit_time`, `std_fit_time` (seconds per fold's trial), `param_<axis>`,
`params` (JSON), then for each validation metric (`val/acc` is `acc`): `split<j>_acc` for every finished fold
j = repeat * K + fold, `mean_acc`, `std_acc`, `rank_acc`; for each training metric `split<j>_train_acc`,
`mean_train_acc`, `std_train_acc`; and `split<j>_best_epoch` (1 = the first epoch). As in scikit-learn, `std_`
is the population std (ddof=0; the leaderboard's `std` is the sample std) and rank 1 is the best mean, equal
means sharing the lowest rank; a configuration without a finished fold has no rank.
"""
from __future__ import annotations

import json
from typing import Sequence

import numpy as np
import pandas as pd

from tune_clothes.analysis.leaderboard import config_groups, plain_value
from tune_clothes.analysis.results import TRAIN_METRICS
from tune_clothes.config.metric_names import OPTIMISABLE
from tune_clothes.config.trial_record import FOLD_INDEX, TrialStatus


def cv_results(trials: pd.DataFrame, axes: Sequence[str]) -> pd.DataFrame:
    """One row per configuration of `trials` (as `results.load_trials` reads them)."""
    finished = trials[trials["status"] == TrialStatus.FINISHED]
    splits = sorted(int(j) for j in finished[FOLD_INDEX].unique())
    rows = [_row(group, axes, splits) for group in config_groups(trials, axes)]
    table = pd.DataFrame(rows)
    for metric, mode in OPTIMISABLE.items():
        name = _short(metric)
        ranks = table[f"mean_{name}"].rank(method="min", ascending=(mode == "min")).astype("Int64")
        table.insert(table.columns.get_loc(f"std_{name}") + 1, f"rank_{name}", ranks)
    return table


def _row(group: pd.DataFrame, axes: Sequence[str], splits: list[int]) -> dict[str, object]:
    finished = group[group["status"] == TrialStatus.FINISHED]
    by_split = finished.set_index(FOLD_INDEX)
    params = {axis: plain_value(group[axis].iloc[0]) for axis in axes}
    row: dict[str, object] = {"mean_fit_time": _mean(finished["fit_time"]), "std_fit_time": _std(finished["fit_time"]),
                              **{f"param_{axis}": value for axis, value in params.items()},
                              "params": json.dumps(params)}
    for metric in OPTIMISABLE:
        row.update(_metric_columns(by_split, metric, _short(metric), splits))
    for metric in TRAIN_METRICS:
        row.update(_metric_columns(by_split, metric, f"train_{_short(metric)}", splits))
    epochs = by_split["best_epoch"]
    row.update({f"split{j}_best_epoch": epochs.get(j, pd.NA) for j in splits})
    return row


def _metric_columns(by_split: pd.DataFrame, metric: str, name: str, splits: list[int]) -> dict[str, float]:
    values = pd.to_numeric(by_split[metric], errors="coerce")
    columns = {f"split{j}_{name}": float(values.get(j, np.nan)) for j in splits}
    return {**columns, f"mean_{name}": _mean(values), f"std_{name}": _std(values)}


def _short(metric: str) -> str:
    """`val/acc` -> `acc`, `train/acc` -> `acc`."""
    return metric.split("/", 1)[1]


def _mean(values: pd.Series) -> float:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.mean()) if len(values) else np.nan


def _std(values: pd.Series) -> float:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.std(ddof=0)) if len(values) else np.nan
