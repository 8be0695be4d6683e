"""Which configuration of a search becomes the final model, and what the search says about it: its
leaderboard estimate and its finished fold trials (metric history, kept checkpoints), from the files on disk.

The configuration is the leaderboard's best, or the one a `--config` file names by its search-axis values.
It must have finished every fold: a model is not built from a configuration the search did not measure.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tune_clothes.analysis.results import search_axes
from tune_clothes.analysis.summary import summarize_experiment
from tune_clothes.config import Experiment, axis_section
from tune_clothes.config import trial_record as record
from tune_clothes.config.errors import UserError
from tune_clothes.config.labels import plain
from tune_clothes.config.loader import load_experiment
from tune_clothes.config.metric_names import OPTIMISABLE
from tune_clothes.config.trial_record import FOLD_INDEX, ConfigurationStatus, FoldId, TrialStatus
from tune_clothes.data import storage
from tune_clothes.data.experiment_folder import read_reports

log = logging.getLogger(__name__)
CHECKPOINT_PREFIX = "checkpoint_"  # Tune's checkpoint folders inside a trial folder


@dataclass(frozen=True)
class FoldRun:
    """One finished fold model of the configuration."""
    trial_dir: str
    fold: FoldId
    history: tuple[float, ...]  # the search metric after each epoch
    checkpoints: tuple[str, ...]  # the checkpoint folders Tune kept (the best by the metric, and the latest)


@dataclass(frozen=True)
class Selection:
    experiment: Experiment  # the search's experiment with the configuration's values applied
    axes: dict[str, Any]  # search axis -> the configuration's value
    label: str  # as the leaderboard shows it
    estimate: dict[str, dict[str, float]]  # metric -> its leaderboard statistics (mean, ci_low, ci_high, ...)
    runs: tuple[FoldRun, ...]


def select_configuration(location: str, config_file: str | None = None,
                         values: dict[str, Any] | None = None) -> Selection:
    """The configuration to build, checked to be complete: the one with these search-axis `values`, else the
    one `config_file` names by its values, else the leaderboard's best."""
    experiment, trials, board = summarize_experiment(location)
    axes = search_axes(experiment)
    finished = trials[trials["status"] == TrialStatus.FINISHED]
    if finished.empty:
        raise UserError(f"{location}: no fold of any configuration has finished, so there is nothing to build a "
                        f"model from: run the search to the end (the same search command with --resume)")
    if values is None and config_file is not None:
        values = _values_in_file(config_file, axes, experiment)
    row = _best_row(board, location) if values is None else _named_row(board, values, config_file or location)
    if row["status"] != ConfigurationStatus.COMPLETE:
        error = f"; its first error: {row['error']}" if isinstance(row["error"], str) else ""
        complete = board[board["status"] == ConfigurationStatus.COMPLETE]
        other = (f"the best that did is {complete.iloc[0]['config']} (--config its best_config.yaml, edited)"
                 if len(complete) else "none did yet")
        raise UserError(f"{location}: configuration {row['config']} is {row['status']} ({row['folds_finished']} "
                        f"of {row['folds_expected']} folds finished{error}); a final model needs a configuration "
                        f"that trained every fold to the end, and {other}; or resume the search (--resume)")
    values = {axis: plain(row[axis]) for axis in axes}
    mine = finished[_having(finished, values)]
    metric = experiment.search.metric
    folds = experiment.cv.folds
    runs = tuple(_fold_run(storage.join(location, r.trial), FoldId.from_j(r[FOLD_INDEX], folds), metric)
                 for _, r in mine.iterrows())
    estimate = {m: {stat.split("/")[-1]: float(row[stat]) for stat in row.index if stat.startswith(f"{m}/")}
                for m in OPTIMISABLE if f"{m}/mean" in row.index}
    return Selection(experiment.with_axes(values), values, str(row["config"]), estimate, runs)


def _values_in_file(config_file: str, axes: list[str], experiment: Experiment) -> dict[str, Any]:
    """The search-axis values of a one-configuration file (best_config.yaml, edited)."""
    named = load_experiment(config_file)
    if named.search.axes:
        raise UserError(f"{config_file}: it searches {sorted(named.search.axes)}; --config takes one "
                        f"configuration (best_config.yaml of the experiment, with the values you want)")
    values = {axis: getattr(getattr(named, axis_section(axis)), axis) for axis in axes}
    chosen = experiment.with_axes(values)
    differing = [f.name for f in dataclasses.fields(Experiment) if f.name not in ("name", "storage", "search")
                 and getattr(named, f.name) != getattr(chosen, f.name)]
    if differing:
        log.warning("%s: only its search-axis values (%s) pick the configuration; its other settings in %s differ "
                    "from the search's and are ignored", config_file, _label(values), ", ".join(differing))
    return values


def _named_row(board: pd.DataFrame, values: dict[str, Any], source: str) -> pd.Series:
    """The leaderboard row of the configuration with these search-axis values."""
    matches = board[_having(board, values)]
    if matches.empty:
        listed = "; ".join(board["config"].head(10))
        raise UserError(f"{source}: no configuration of this search has {_label(values)}; its configurations "
                        f"are: {listed}")
    return matches.iloc[0]


def _best_row(board: pd.DataFrame, location: str) -> pd.Series:
    best = board[board["is_best"].astype(bool)]
    if best.empty:
        raise UserError(f"{location}: no configuration can be ranked (each one with a finished fold also failed "
                        f"on another); fix the errors in its leaderboard and resume the search (--resume)")
    return best.iloc[0]


def _having(table: pd.DataFrame, values: dict[str, Any]) -> pd.Series:
    """Rows of `table` with these axis values (a missing value, None or NaN, equals a missing value)."""
    def same(a: Any, b: Any) -> bool:
        a, b = plain(a), plain(b)
        return (a is None and b is None) or a == b
    return table.apply(lambda row: all(same(row[axis], value) for axis, value in values.items()), axis=1,
                       result_type="reduce").astype(bool) if len(table) else pd.Series([], dtype=bool)


def _fold_run(trial_dir: str, fold: FoldId, metric: str) -> FoldRun:
    """A fold model's metric per epoch, and the checkpoints its trial kept."""
    history = tuple(record.fold_metric(report, fold.j, metric) for report in read_reports(trial_dir))
    checkpoints = tuple(storage.join(trial_dir, name) for name in storage.list_dirs(trial_dir)
                        if name.startswith(CHECKPOINT_PREFIX))
    return FoldRun(trial_dir, fold, history, checkpoints)


def _label(values: dict[str, Any]) -> str:
    return ", ".join(f"{axis}={value!r}" for axis, value in values.items()) or "(no search axes)"
