"""Everything the report is made from, read once from the experiment folder: the experiment, its folds, the
trials and leaderboard (computed as `summary.write_summary` computes them), cv_results, every epoch of every
trial, and the data and version files. Works on a finished, running or interrupted experiment."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tune_clothes.analysis.cv_results import cv_results
from tune_clothes.analysis.leaderboard import config_labels
from tune_clothes.analysis.results import search_axes
from tune_clothes.analysis.summary import cost_line, summarize_experiment
from tune_clothes.config import Experiment
from tune_clothes.config import trial_record as record
from tune_clothes.config.metric_names import EPOCH_SCALARS
from tune_clothes.config.trial_record import ENDED_EARLY, FOLD_INDEX, ConfigurationStatus, SearchMode, TrialStatus
from tune_clothes.data import storage
from tune_clothes.data.experiment_folder import DATASET_JSON, FOLDS_JSON, VERSIONS_JSON, read_reports
from tune_clothes.data.folds import FoldPlan, read_fold_plan

TIMESTAMP, TIME_TOTAL = record.TUNE_TIMESTAMP, record.TUNE_TIME_TOTAL


@dataclass(frozen=True)
class ReportInputs:
    location: str
    experiment: Experiment
    plan: FoldPlan
    trials: pd.DataFrame  # results.load_trials, plus `config` (the leaderboard's label)
    board: pd.DataFrame  # the leaderboard, as leaderboard.csv holds it
    cv: pd.DataFrame  # cv_results, as cv_results.csv holds it
    history: pd.DataFrame  # one row per (trial, fold, epoch): see `epoch_history`
    dataset: dict[str, Any]  # dataset.json ({} when the experiment has none)
    versions: dict[str, str]  # versions.json
    cost: str  # `summary.cost_line`: the epochs trained, of all a full run would

    @property
    def axes(self) -> list[str]:
        return search_axes(self.experiment)

    @property
    def metric(self) -> str:
        return self.experiment.search.metric

    @property
    def mode(self) -> SearchMode:
        return self.experiment.search.search_mode

    def best(self) -> pd.Series | None:
        best = self.board[self.board["is_best"].astype(bool)]
        return None if best.empty else best.iloc[0]

    def ranked(self, count: int) -> pd.DataFrame:
        """The top `count` ranked configurations that trained to the end, best first (not those ended early)."""
        ranked = self.board["rank"].notna() & ~self.board["status"].isin(ENDED_EARLY)
        return self.board[ranked].head(count)

    def shown(self, count: int) -> pd.DataFrame:
        """The configurations whose folds the report draws: the top `count` ranked ones and, where there are
        fewer, those with finished folds that cannot be ranked (a fold failed), best mean first: every fold the
        leaderboard counts is drawn somewhere (`partial_note` marks them)."""
        ranked = self.ranked(count)
        board = self.board
        partial = board[board["rank"].isna() & (board["folds_finished"] > 0)]
        partial = partial.sort_values(f"{self.metric}/mean", ascending=self.experiment.search.mode == "min")
        return pd.concat([ranked, partial]).head(count)


def partial_note(row: pd.Series) -> str:
    """`(failed: 1 of 2 folds finished)` for a configuration that did not finish every fold, else empty."""
    if row["status"] == ConfigurationStatus.COMPLETE:
        return ""
    return f" ({row['status']}: {row['folds_finished']} of {row['folds_expected']} folds finished)"


def read_inputs(location: str) -> ReportInputs:
    experiment, trials, board = summarize_experiment(location)
    axes = search_axes(experiment)
    plan = read_fold_plan(storage.join(location, FOLDS_JSON))
    cost = cost_line(experiment, trials)
    trials = trials.assign(config=config_labels(trials, axes))  # before the filter: as the board labels them
    trials = trials[trials["status"] != TrialStatus.NOT_STARTED]  # the page is about trials that ran
    history = epoch_history(location, trials)
    return ReportInputs(location, experiment, plan, trials, board, cv_results(trials, axes), history,
                        _json(storage.join(location, DATASET_JSON)), _json(storage.join(location, VERSIONS_JSON)), cost)


def epoch_history(location: str, trials: pd.DataFrame) -> pd.DataFrame:
    """One row per (trial, fold, reported epoch): `trial`, `config`, `fold_index` (j), `epoch` (1 = the first),
    `start` and `timestamp` (seconds since 1970: when the trial started, when the epoch was reported), and every
    per-epoch metric of that fold (`trial_record.fold_metrics`)."""
    configs = trials.drop_duplicates("trial").set_index("trial")["config"]
    rows = []
    for trial, config in configs.items():
        reports = read_reports(storage.join(location, trial))
        start = _start(reports)
        for report in reports:
            common = {"trial": trial, "config": config, "epoch": report.get(record.EPOCHS_DONE), "start": start,
                      TIMESTAMP: report.get(TIMESTAMP), TIME_TOTAL: report.get(TIME_TOTAL)}
            rows.extend({**common, FOLD_INDEX: j, **record.fold_metrics(report, j, EPOCH_SCALARS)}
                        for j in record.reported_folds(report))
    columns = ["trial", "config", FOLD_INDEX, "epoch", "start", TIMESTAMP, TIME_TOTAL, *EPOCH_SCALARS]
    history = pd.DataFrame(rows, columns=columns)
    numeric = [c for c in columns if c not in ("trial", "config")]
    history[numeric] = history[numeric].apply(pd.to_numeric, errors="coerce")
    return history


def _start(reports: list[dict[str, Any]]) -> float:
    """When the trial started: its first report's time minus the seconds it had trained by then."""
    if not reports:
        return np.nan
    first = reports[0]
    try:
        return float(first[TIMESTAMP]) - float(first.get(record.TUNE_TIME_THIS_ITER, 0.0))
    except (KeyError, TypeError, ValueError):
        return np.nan


def _json(location: str) -> dict:
    if not storage.exists(location):
        return {}
    try:
        return json.loads(storage.read_text(location))
    except ValueError:
        return {}
