"""The summary of a search, from the files on disk: `leaderboard.csv`, `best_config.yaml`, `trials.csv`, and
the leaderboard as a text table. Works on a finished, running or interrupted experiment; needs no running Ray."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pandas as pd
import yaml

from tune_clothes.analysis.leaderboard import best_configuration, format_leaderboard, summarize
from tune_clothes.analysis.results import NOT_STARTED, load_trials, search_axes
from tune_clothes.config.loader import experiment_to_dict
from tune_clothes.data import storage
from tune_clothes.data.experiment_folder import BEST_CONFIG_YAML, LEADERBOARD_CSV, read_experiment

TRIALS_CSV = "trials.csv"


@dataclass(frozen=True)
class ExperimentSummary:
    location: str
    leaderboard: pd.DataFrame
    table: str  # the leaderboard as text, with a legend
    best: dict[str, Any] | None  # axis -> value of the best configuration; None when none finished a fold


def write_summary(location: str) -> ExperimentSummary:
    experiment = read_experiment(location)
    trials = load_trials(location, experiment)
    axes = search_axes(experiment)
    search = experiment.search
    board = summarize(trials, axes, search.metric, search.mode, experiment.cv.folds)
    board = _mark_not_started(board, trials, axes)
    storage.write_text(storage.join(location, LEADERBOARD_CSV), board.to_csv(index=False))
    storage.write_text(storage.join(location, TRIALS_CSV), trials.to_csv(index=False))
    best = best_configuration(board) if board["is_best"].any() else None
    if best is not None:
        storage.write_text(storage.join(location, BEST_CONFIG_YAML), _best_config_yaml(experiment, best, board))
    return ExperimentSummary(location, board, format_leaderboard(board, search.metric, axes), best)


def _mark_not_started(board: pd.DataFrame, trials: pd.DataFrame, axes: list[str]) -> pd.DataFrame:
    """Status 'not started' for configurations none of whose trials started (an interrupted grid search)."""
    if not axes or trials.empty:
        return board
    started = trials[trials["status"] != NOT_STARTED]
    started_configurations = set(started[axes].itertuples(index=False, name=None))
    waiting = [tuple(row) not in started_configurations for row in board[axes].itertuples(index=False, name=None)]
    board.loc[waiting, "status"] = NOT_STARTED
    return board


def _best_config_yaml(experiment, best: dict[str, Any], board: pd.DataFrame) -> str:
    """The experiment with the best values filled in and nothing left to search: ready for `train`/`search`."""
    chosen = experiment.with_axes(best)
    chosen = dataclasses.replace(chosen, search=dataclasses.replace(chosen.search, algorithm="grid", grid={},
                                                                   space={}, scheduler="none"))
    row = board[board["is_best"].astype(bool)].iloc[0]
    metric = experiment.search.metric
    header = (f"# Best configuration of experiment '{experiment.name}': {row['config']}\n"
              f"# {metric}: {row[f'{metric}/mean']:.4f} mean over {row['folds_finished']} folds, 95% CI "
              f"[{row[f'{metric}/ci_low']:.4f}, {row[f'{metric}/ci_high']:.4f}]\n")
    return header + yaml.safe_dump(experiment_to_dict(chosen), sort_keys=False)
