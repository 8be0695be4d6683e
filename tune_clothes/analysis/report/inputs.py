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
from tune_clothes.analysis.leaderboard import STOPPED, config_labels
from tune_clothes.analysis.results import NOT_STARTED, TIME_TOTAL, read_reports, search_axes
from tune_clothes.analysis.summary import summarize_experiment
from tune_clothes.config import Experiment
from tune_clothes.config.metric_names import EPOCH_SCALARS, EPOCHS_DONE, FOLD
from tune_clothes.data import storage
from tune_clothes.data.experiment_folder import DATASET_JSON, FOLDS_JSON, VERSIONS_JSON
from tune_clothes.data.folds import FoldPlan, read_fold_plan

TIMESTAMP = "timestamp"  # Tune's wall-clock time of a report, seconds since 1970


@dataclass(frozen=True)
class ReportInputs:
    location: str
    experiment: Experiment
    plan: FoldPlan
    trials: pd.DataFrame  # results.load_trials, plus `config` (the leaderboard's label) and `j` (repeat*K+fold)
    board: pd.DataFrame  # the leaderboard, as leaderboard.csv holds it
    cv: pd.DataFrame  # cv_results, as cv_results.csv holds it
    history: pd.DataFrame  # one row per (trial, fold j, epoch): see `epoch_history`
    dataset: dict[str, Any]  # dataset.json ({} when the experiment has none)
    versions: dict[str, str]  # versions.json

    @property
    def axes(self) -> list[str]:
        return search_axes(self.experiment)

    @property
    def metric(self) -> str:
        return self.experiment.search.metric

    @property
    def lockstep(self) -> bool:
        """An Optuna search: a trial trains one configuration on every fold."""
        return self.experiment.search.algorithm != "grid"

    def best(self) -> pd.Series | None:
        best = self.board[self.board["is_best"].astype(bool)]
        return None if best.empty else best.iloc[0]

    def ranked(self, count: int) -> pd.DataFrame:
        """The top `count` ranked configurations that trained to the end, best first (not those ASHA stopped)."""
        return self.board[self.board["rank"].notna() & (self.board["status"] != STOPPED)].head(count)


def read_inputs(location: str) -> ReportInputs:
    experiment, trials, board = summarize_experiment(location)
    axes = search_axes(experiment)
    plan = read_fold_plan(storage.join(location, FOLDS_JSON))
    trials = trials.assign(config=config_labels(trials, axes),  # before the filter: as the board labels them
                           j=trials["repeat"] * plan.folds + trials[FOLD])
    trials = trials[trials["status"] != NOT_STARTED]  # the page is about trials that ran; the board lists all
    history = epoch_history(location, trials, plan.total_folds)
    return ReportInputs(location, experiment, plan, trials, board, cv_results(trials, axes, plan.folds), history,
                        _json(storage.join(location, DATASET_JSON)), _json(storage.join(location, VERSIONS_JSON)))


def epoch_history(location: str, trials: pd.DataFrame, total_folds: int) -> pd.DataFrame:
    """One row per (trial, fold j, reported epoch): `trial`, `config`, `j`, `epoch` (1 = the first), `start`
    and `timestamp` (seconds since 1970: when the trial started, when the epoch was reported), and every
    per-epoch metric of that fold. A lock-step trial's folds come from its `folds/<j>/<metric>` keys."""
    configs = trials.drop_duplicates("trial").set_index("trial")["config"]
    rows = []
    for trial, config in configs.items():
        reports = read_reports(storage.join(location, trial))
        start = _start(reports)
        for report in reports:
            common = {"trial": trial, "config": config, "epoch": report.get(EPOCHS_DONE), "start": start,
                      TIMESTAMP: report.get(TIMESTAMP), TIME_TOTAL: report.get(TIME_TOTAL)}
            if FOLD in report:
                rows.append({**common, "j": report[FOLD], **{m: report.get(m) for m in EPOCH_SCALARS}})
                continue
            rows.extend({**common, "j": j, **{m: report.get(f"folds/{j}/{m}") for m in EPOCH_SCALARS}}
                        for j in range(total_folds))
    columns = ["trial", "config", "j", "epoch", "start", TIMESTAMP, TIME_TOTAL, *EPOCH_SCALARS]
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
        return float(first[TIMESTAMP]) - float(first.get("time_this_iter_s", 0.0))
    except (KeyError, TypeError, ValueError):
        return np.nan


def _json(location: str) -> dict:
    if not storage.exists(location):
        return {}
    try:
        return json.loads(storage.read_text(location))
    except ValueError:
        return {}
