"""`load_results`: a search's results as Python objects, read from its folder (local, shared or s3://) without
Ray, for a finished, running, interrupted or failed search alike."""
from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tune_clothes.analysis.results import load_history
from tune_clothes.analysis.summary import ExperimentSummary, one_configuration, read_summary
from tune_clothes.analysis.tensorboard_curves import CV_RUNS
from tune_clothes.config import Experiment
from tune_clothes.config.errors import UserError
from tune_clothes.config.trial_record import TrialStatus
from tune_clothes.data import storage
from tune_clothes.data.experiment_folder import EXPERIMENT_YAML, REPORT_HTML


@dataclass(frozen=True)
class SearchResults:
    """A search's results. Public: every property and method below; the files behind them are documented in
    the README (leaderboard.csv, cv_results.csv, trials.csv). `summary` is the analysis layer's object behind
    them, not part of the API."""

    summary: ExperimentSummary

    @property
    def location(self) -> str:
        """The experiment folder, `<storage>/<name>`."""
        return self.summary.location

    @property
    def experiment(self) -> Experiment:
        """The experiment as the search ran it."""
        return self.summary.experiment

    @property
    def leaderboard(self) -> pd.DataFrame:
        """One row per configuration, best first: the metrics' fold means with corrected intervals, the
        comparison with the best, status (as leaderboard.csv)."""
        return self.summary.leaderboard

    @property
    def table(self) -> str:
        """The leaderboard as the search command prints it, with its legend."""
        return self.summary.table

    @property
    def trials(self) -> pd.DataFrame:
        """One row per configuration and fold: status, error, epochs, last-epoch metrics (as trials.csv)."""
        return self.summary.trials

    @property
    def cv_results(self) -> dict[str, Any]:
        """scikit-learn's `cv_results_` layout: a dict of arrays, one entry per configuration; `param_<axis>` are
        masked arrays, `params` a list of dicts, `split<j>_<metric>` the fold j scores (as cv_results.csv)."""
        table = self.summary.cv_results
        columns: dict[str, Any] = {}
        for name in table.columns:
            values = table[name]
            if name == "params":
                columns[name] = [json.loads(text) for text in values]
            elif name.startswith("param_"):
                columns[name] = np.ma.masked_array(values.to_numpy(dtype=object), mask=values.isna().to_numpy())
            elif name.startswith("rank_") and not values.isna().any():
                columns[name] = values.to_numpy(dtype=np.int64)
            else:
                columns[name] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        return columns

    @property
    def best_config(self) -> dict[str, Any] | None:
        """Axis -> value of the best configuration; None while no configuration has finished a fold."""
        return self.summary.best

    @property
    def best_experiment(self) -> Experiment | None:
        """The experiment with the best configuration filled in and nothing left to search (best_config.yaml)."""
        return None if self.best_config is None else one_configuration(self.experiment, self.best_config)

    @property
    def cost(self) -> str:
        """What the search trained, beside what training every configuration to the end would."""
        return self.summary.cost

    @property
    def complete(self) -> bool:
        """Whether every planned trial ended (finished, failed, stopped or eliminated): nothing is left to run.
        (An Optuna search plans `search.num_samples` configurations; it proposes them one by one.)"""
        search = self.experiment.search
        proposed = search.algorithm == "grid" or len(self.leaderboard) >= search.num_samples
        return proposed and not self.trials["status"].isin([TrialStatus.INCOMPLETE, TrialStatus.NOT_STARTED]).any()

    def history(self) -> pd.DataFrame:
        """Every fold's every epoch: the axes, the fold (`repeat`, `fold_in_repeat`, `fold_index`), `trial`,
        `epoch` (1 = the first) and each training and validation metric. Read from disk at each call."""
        return load_history(self.location, self.experiment)

    @property
    def report_path(self) -> str | None:
        """report.html, once a search or `report` wrote it."""
        path = storage.join(self.location, REPORT_HTML)
        return path if storage.exists(path) else None

    @property
    def tensorboard_runs(self) -> list[str]:
        """TensorBoard's runs: each trial's folder, then `cv_mean/<configuration>` (the fold mean and spread).
        `tensorboard --logdir <location>` shows them all."""
        runs = [storage.join(self.location, name) for name in sorted(self.trials["trial"].dropna().unique())]
        curves = storage.join(self.location, CV_RUNS)
        if storage.exists(curves):
            runs += [storage.join(curves, name) for name in storage.list_dirs(curves)]
        return runs

    def __str__(self) -> str:
        return f"{self.table}\n\ncost: {self.cost}\nresults: {self.location}"

    def _repr_html_(self) -> str:  # a notebook shows the leaderboard
        return (f"<p>{html.escape(self.location)}: {html.escape(self.cost)}</p>"
                f"{self.leaderboard.to_html(index=False, na_rep='')}")  # to_html escapes every cell


def load_results(location: str | os.PathLike) -> SearchResults:
    """The results of the search in `location` (a folder, `~/...`, or `s3://...`), read from its files."""
    location = str(location)
    if not storage.is_uri(location):
        location = os.path.abspath(os.path.expanduser(location))
    if not storage.exists(storage.join(location, EXPERIMENT_YAML)):
        raise UserError(f"{location}: no {EXPERIMENT_YAML} here, so no search ran here; pass an experiment folder, "
                        f"<storage>/<name>, as the search printed it")
    return SearchResults(read_summary(location))
