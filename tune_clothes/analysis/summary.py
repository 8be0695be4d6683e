"""The summary of a search, from the files on disk: `leaderboard.csv`, `cv_results.csv`, `best_config.yaml`,
`trials.csv`, and the leaderboard as a text table. Works on a finished, running or interrupted experiment;
needs no running Ray."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pandas as pd
import yaml

from tune_clothes.analysis.comparison import fold_schemes
from tune_clothes.analysis.costs import read_costs, with_costs
from tune_clothes.analysis.cv_results import cv_results
from tune_clothes.analysis.leaderboard import BoardSettings, best_configuration, summarize
from tune_clothes.analysis.results import load_trials, search_axes
from tune_clothes.analysis.table import format_leaderboard
from tune_clothes.config import Experiment
from tune_clothes.config.labels import plain
from tune_clothes.config.loader import experiment_to_dict
from tune_clothes.config.trial_record import ConfigurationStatus, TrialStatus
from tune_clothes.data import storage
from tune_clothes.data.experiment_folder import (
    BEST_CONFIG_YAML,
    CV_RESULTS_CSV,
    FOLDS_JSON,
    LEADERBOARD_CSV,
    read_experiment,
)
from tune_clothes.data.folds import read_fold_plan

TRIALS_CSV = "trials.csv"


@dataclass(frozen=True)
class ExperimentSummary:
    location: str
    leaderboard: pd.DataFrame
    table: str  # the leaderboard as text, with a legend
    best: dict[str, Any] | None  # axis -> value of the best configuration; None when none finished a fold
    cost: str  # what the search trained, beside what training every configuration to the end would
    experiment: Experiment  # as the search ran it (experiment.yaml)
    trials: pd.DataFrame  # one row per configuration and fold (`results.load_trials`)
    costs: dict | None = None  # `costs.read_costs`: (network, image size) -> its parameters and MACs

    @property
    def cv_results(self) -> pd.DataFrame:
        table = cv_results(self.trials, search_axes(self.experiment))
        return with_costs(table, self.experiment, self.costs, prefix="param_", after="params")


def cost_line(experiment: Experiment, trials: pd.DataFrame) -> str:
    """`trained 2,310 of the 9,600 epochs a full grid would (24%)`: epochs of one fold (a fold trial's epoch;
    a lock-step trial's epoch counts once per fold), against every configuration seen on every fold."""
    trained = int(pd.to_numeric(trials["epochs_done"], errors="coerce").fillna(0).sum())
    axes = search_axes(experiment)
    configurations = trials.drop_duplicates(axes) if axes else trials.head(1)
    folds = experiment.folds_per_configuration
    full = sum(experiment.with_axes({a: plain(row[a]) for a in axes}).train.epochs * folds
               for _, row in configurations.iterrows())
    what = "a full grid" if experiment.search.algorithm == "grid" else f"its {len(configurations)} configurations"
    share = f" ({trained / full:.0%})" if full else ""
    return f"trained {trained:,} of the {full:,} epochs {what} would to the end{share}"


def read_summary(location: str) -> ExperimentSummary:
    """The summary of the experiment at `location`, from its files; writes nothing."""
    experiment, trials, board = summarize_experiment(location)
    search = experiment.search
    best = best_configuration(board) if board["is_best"].any() else None
    return ExperimentSummary(location, board, format_leaderboard(board, search.metric, search_axes(experiment)),
                             best, cost_line(experiment, trials), experiment, trials, read_costs(location))


def write_summary(location: str) -> ExperimentSummary:
    """`read_summary`, and its files written in the experiment folder."""
    summary = read_summary(location)
    storage.write_text(storage.join(location, LEADERBOARD_CSV), summary.leaderboard.to_csv(index=False))
    storage.write_text(storage.join(location, CV_RESULTS_CSV), summary.cv_results.to_csv(index=False))
    storage.write_text(storage.join(location, TRIALS_CSV), summary.trials.to_csv(index=False))
    if summary.best is not None:
        storage.write_text(storage.join(location, BEST_CONFIG_YAML), _best_config_yaml(summary))
    return summary


def summarize_experiment(location: str) -> tuple[Experiment, pd.DataFrame, pd.DataFrame]:
    """The experiment, its trials (one row per configuration and fold) and its leaderboard, from the files."""
    experiment = read_experiment(location)
    plan = read_fold_plan(storage.join(location, FOLDS_JSON))
    trials = load_trials(location, experiment)
    search = experiment.search
    settings = BoardSettings(tuple(search_axes(experiment)), search.metric, search.mode, folds=plan.folds,
                             repeats=plan.repeats, schemes=fold_schemes(plan), rope=search.rope)
    board = _mark_not_started(summarize(trials, settings), trials, list(settings.axes))
    board = with_costs(board, experiment, read_costs(location), after="config")
    board.attrs["folds"] = plan.folds  # K per repeat, for the table's legend
    return experiment, trials, board


def _mark_not_started(board: pd.DataFrame, trials: pd.DataFrame, axes: list[str]) -> pd.DataFrame:
    """Status 'not started' for configurations none of whose trials started (an interrupted grid search)."""
    if not axes or trials.empty:
        return board
    started = (trials.assign(started=trials["status"] != TrialStatus.NOT_STARTED)
               .groupby(axes, dropna=False, as_index=False)["started"].any())
    flags = board[axes].merge(started, on=axes, how="left")["started"]  # NaN keys match NaN keys (split: None)
    board.loc[~flags.fillna(False).to_numpy(dtype=bool), "status"] = ConfigurationStatus.NOT_STARTED.value
    return board


def one_configuration(experiment: Experiment, values: dict[str, Any]) -> Experiment:
    """The experiment with `values` (axis -> value) filled in and nothing left to search: ready for `train`, or
    for a search of that one configuration."""
    chosen = experiment.with_axes(values)
    return dataclasses.replace(chosen, search=dataclasses.replace(chosen.search, algorithm="grid", grid={},
                                                                  space={}, scheduler="none"))


def _best_config_yaml(summary: ExperimentSummary) -> str:
    """best_config.yaml: the best configuration as `one_configuration`, with a header that says how good it is."""
    experiment, board = summary.experiment, summary.leaderboard
    chosen = one_configuration(experiment, summary.best)
    row = board[board["is_best"].astype(bool)].iloc[0]
    metric = experiment.search.metric
    interval = (f"corrected 95% CI [{row[f'{metric}/ci_low']:.4f}, {row[f'{metric}/ci_high']:.4f}]"
                if pd.notna(row[f"{metric}/ci_low"]) else "no interval from one fold")
    header = (f"# Best configuration of experiment '{experiment.name}': {row['config']}\n"
              f"# {metric}: {row[f'{metric}/mean']:.4f} mean over {row['folds_finished']} folds, {interval}\n")
    return header + yaml.safe_dump(experiment_to_dict(chosen), sort_keys=False)
