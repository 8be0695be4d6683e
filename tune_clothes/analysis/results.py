"""Trial results read back from an experiment folder, without Ray: one row per (configuration, fold).

A trial folder holds Ray's `params.json` (the trial's parameters), `result.json` (one JSON line per reported
epoch) and, if an attempt crashed, `error.txt`. A trial is finished when its last report says every epoch
ran; it failed when it has an error and is not finished; anything else is incomplete (interrupted,
pending, or stopped early by ASHA). A grid's trials that have no folder yet are listed as not started, so that
an interrupted search still shows every configuration.
"""
from __future__ import annotations

import itertools
import json
import math
from typing import Any

import pandas as pd

from tune_clothes.config import Choice, Experiment
from tune_clothes.config.metric_names import EPOCHS_DONE, FOLD, NODE_ID, OPTIMISABLE, is_final_report
from tune_clothes.data import storage

FINISHED, FAILED, INCOMPLETE, NOT_STARTED = "finished", "failed", "incomplete", "not started"


def load_trials(location: str, experiment: Experiment) -> pd.DataFrame:
    """Every trial in `location`, in grid mode as it is, in optuna mode expanded to one row per fold."""
    axes = search_axes(experiment)
    rows: list[dict[str, Any]] = []
    for name in storage.list_dirs(location):
        trial_dir = storage.join(location, name)
        if storage.exists(storage.join(trial_dir, "params.json")):
            rows.extend(_trial_rows(trial_dir, name, axes, experiment.cv.folds))
    rows.extend(_not_started_rows(experiment, rows))
    columns = [*axes, FOLD, "status", "error", "epochs_done", "trial", "node", *OPTIMISABLE]
    return pd.DataFrame(rows, columns=columns)


def search_axes(experiment: Experiment) -> list[str]:
    return list(experiment.search.axes)


def _trial_rows(trial_dir: str, name: str, axes: list[str], folds: int) -> list[dict[str, Any]]:
    params = json.loads(storage.read_text(storage.join(trial_dir, "params.json")))
    last = _last_result(trial_dir)
    error = _error_message(trial_dir)
    finished = is_final_report(last)
    status = FINISHED if finished else FAILED if error else INCOMPLETE
    common = {**{axis: params.get(axis) for axis in axes}, "status": status,
              "error": None if finished else error, "epochs_done": last.get(EPOCHS_DONE, 0), "trial": name,
              "node": last.get(NODE_ID)}
    if FOLD in params:  # grid mode: the trial is one fold
        return [{**common, FOLD: params[FOLD], **{m: _number(last.get(m)) for m in OPTIMISABLE}}]
    return [{**common, FOLD: k, **{m: _number(last.get(f"folds/{k}/{m}")) for m in OPTIMISABLE}}
            for k in range(folds)]


def _not_started_rows(experiment: Experiment, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A row for every (configuration, fold) of a grid that has no trial folder (an Optuna search's
    configurations are not known before it proposes them)."""
    grid = experiment.search.grid
    if experiment.search.algorithm != "grid" or not all(isinstance(axis, Choice) for axis in grid.values()):
        return []
    seen = {(tuple(row[axis] for axis in grid), row[FOLD]) for row in rows}
    return [{**dict(zip(grid, values)), FOLD: fold, "status": NOT_STARTED, "epochs_done": 0}
            for values in itertools.product(*(axis.values for axis in grid.values()))
            for fold in range(experiment.cv.folds) if (values, fold) not in seen]


def _last_result(trial_dir: str) -> dict[str, Any]:
    path = storage.join(trial_dir, "result.json")
    if not storage.exists(path):
        return {}
    lines = [line for line in storage.read_text(path).splitlines() if line.strip()]
    for line in reversed(lines):  # a line cut short by a killed process is skipped
        try:
            return json.loads(line)
        except ValueError:
            continue
    return {}


def _error_message(trial_dir: str) -> str | None:
    """The last line of the traceback (`SomeError: message`), which is what the user needs to read."""
    path = storage.join(trial_dir, "error.txt")
    if not storage.exists(path):
        return None
    lines = [line.strip() for line in storage.read_text(path).splitlines() if line.strip()]
    return lines[-1] if lines else "the trial failed without an error message"


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
