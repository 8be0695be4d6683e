"""Leaderboard inputs made by hand for the leaderboard tests: fold rows of configurations with known scores."""
from __future__ import annotations

import math

import pandas as pd

from tune_clothes.analysis.comparison import FoldScheme
from tune_clothes.analysis.leaderboard import BoardSettings, summarize
from tune_clothes.config.metric_names import VAL_ACC, VAL_F1, VAL_LOSS
from tune_clothes.config.trial_record import FoldId

K = 3  # folds in most tests


def scheme(identity: str = "kfold-a", folds: int = K, repeats: int = 1, ratio: float | None = None) -> FoldScheme:
    """A fold scheme whose folds have n_val/n_train = `ratio` (K-fold's 1/(K-1) by default)."""
    ratio = 1 / (folds - 1) if ratio is None else ratio
    return FoldScheme(identity, dict.fromkeys(range(repeats * folds), ratio))


def settings(axes, metric=VAL_ACC, mode="max", folds=K, repeats=1, schemes=None, **kw) -> BoardSettings:
    schemes = schemes or {"kfold": scheme(folds=folds, repeats=repeats)}
    return BoardSettings(tuple(axes), metric, mode, folds, schemes, repeats=repeats, **kw)


def board_of(trials: pd.DataFrame, axes, **kw) -> pd.DataFrame:
    return summarize(trials, settings(axes, **kw))


def trial_rows(axes: dict, accs: list, statuses: list | None = None, errors: list | None = None,
               scheme_name: str = "kfold", folds: int = K) -> list[dict]:
    """One row per fold (j = repeat * K + fold) of one configuration; val/loss = 1 - acc, so its ranking is
    the reverse of acc's."""
    statuses = statuses or ["finished"] * len(accs)
    errors = errors or [None] * len(accs)
    rows = []
    for j, (acc, status, error) in enumerate(zip(accs, statuses, errors)):
        value = acc if status == "finished" else math.nan
        rows.append({**axes, **FoldId.from_j(j, folds).columns(), "scheme": scheme_name, "status": status,
                     "error": error, VAL_ACC: value, VAL_F1: value, VAL_LOSS: 1 - value})
    return rows


def frame(*configs: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([row for rows in configs for row in rows])


def row_of(board: pd.DataFrame, config: str) -> pd.Series:
    matches = board[board["config"] == config]
    assert len(matches) == 1, f"{config!r} not exactly once in {list(board['config'])}"
    return matches.iloc[0]
