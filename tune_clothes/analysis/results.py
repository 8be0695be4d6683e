"""Trial results read back from an experiment folder, without Ray: one row per (configuration, repeat, fold).

A trial folder holds Ray's `params.json` (the trial's parameters), `result.json` (one JSON line per reported
epoch) and, if an attempt crashed, `error.txt`. A trial is finished when its last report says every epoch
ran; it failed when it has an error and is not finished; it was stopped (by ASHA, at a rung) when Tune's
saved experiment state says it ended (TERMINATED) before its last epoch; anything else is incomplete
(interrupted, pending, or still running). A grid trial is one fold j = repeat * K + fold (its `fold` parameter);
an Optuna trial holds every fold, reported as `folds/<j>/<metric>`. A grid's trials that have no folder yet
are listed as not started, so that an interrupted search still shows every configuration.
"""
from __future__ import annotations

import itertools
import json
import math
from typing import Any

import pandas as pd

from tune_clothes.config import Experiment
from tune_clothes.config.metric_names import (
    EPOCH_SCALARS,
    EPOCHS_DONE,
    FOLD,
    NODE_ID,
    OPTIMISABLE,
    is_final_report,
)
from tune_clothes.data import storage
from tune_clothes.data.folds import scheme_name

FINISHED, FAILED, STOPPED, INCOMPLETE, NOT_STARTED = "finished", "failed", "stopped", "incomplete", "not started"
TUNE_ENDED = "TERMINATED"  # Tune's status of a trial that ended without an error: finished, or stopped
TRAIN_METRICS = tuple(name for name in EPOCH_SCALARS if name.startswith("train/"))
TIME_TOTAL = "time_total_s"  # Tune's seconds of training in the trial so far


def load_trials(location: str, experiment: Experiment) -> pd.DataFrame:
    """Every trial in `location`, in grid mode as it is, in optuna mode expanded to one row per fold.

    Columns: the axes, `repeat`, `fold` (within the repeat), `scheme` (the fold plan's scheme: `kfold`,
    `split=0.8`), `status` (finished, failed, stopped, incomplete, not started), `error`, `epochs_done`, `best_epoch`
    (1 = the first epoch; best by the search metric), `fit_time` (seconds per fold), `trial`, `node`, and every
    validation and training metric of the last epoch."""
    axes = search_axes(experiment)
    ended = {name for name, status in tune_statuses(location).items() if status == TUNE_ENDED}
    rows: list[dict[str, Any]] = []
    for name in storage.list_dirs(location):
        trial_dir = storage.join(location, name)
        if storage.exists(storage.join(trial_dir, "params.json")):
            rows.extend(_trial_rows(trial_dir, name, axes, experiment, name in ended))
    rows.extend(_not_started_rows(experiment, rows))
    columns = [*axes, "repeat", FOLD, "scheme", "status", "error", "epochs_done", "best_epoch", "fit_time", "trial",
               "node", *OPTIMISABLE, *TRAIN_METRICS]
    trials = pd.DataFrame(rows, columns=columns)
    return trials.astype({"repeat": "int64", FOLD: "int64", "best_epoch": "Int64"})


def search_axes(experiment: Experiment) -> list[str]:
    return list(experiment.search.axes)


def tune_statuses(location: str) -> dict[str, str]:
    """Trial folder name -> its status in Tune's newest saved experiment state (`experiment_state-*.json`,
    written as the search goes); empty when there is none or it cannot be read."""
    states = [name for name in storage.list_files(location)
              if name.startswith("experiment_state-") and name.endswith(".json")]
    if not states:
        return {}
    try:
        saved = json.loads(storage.read_text(storage.join(location, max(states))))  # names sort by time
        trials = [json.loads(trial) for trial, _ in saved["trial_data"]]
        return {trial["relative_logdir"]: trial["status"] for trial in trials if trial.get("relative_logdir")}
    except (ValueError, KeyError, TypeError):
        return {}


def _trial_rows(trial_dir: str, name: str, axes: list[str], experiment: Experiment,
                ended: bool) -> list[dict[str, Any]]:
    params = json.loads(storage.read_text(storage.join(trial_dir, "params.json")))
    reports = read_reports(trial_dir)
    last = reports[-1] if reports else {}
    error = _error_message(trial_dir)
    finished = is_final_report(last)
    status = FINISHED if finished else FAILED if error else STOPPED if ended and reports else INCOMPLETE
    common = {**{axis: params.get(axis) for axis in axes}, "status": status,
              "error": None if finished else error, "epochs_done": last.get(EPOCHS_DONE, 0), "trial": name,
              "node": last.get(NODE_ID), "scheme": scheme_name(params.get("split", experiment.cv.split))}
    folds = experiment.cv.folds
    if FOLD in params:  # grid mode: the trial is one fold
        fold_keys = {int(params[FOLD]): ""}
        seconds = last.get(TIME_TOTAL, math.nan)
    else:  # optuna mode: every fold in lock-step, in one trial's time
        total = experiment.cv.repeats * folds
        fold_keys = {j: f"folds/{j}/" for j in range(total)}
        seconds = last.get(TIME_TOTAL, math.nan) / total
    metric, mode = experiment.search.metric, experiment.search.mode
    return [{**common, "repeat": j // folds, FOLD: j % folds, "fit_time": seconds,
             "best_epoch": _best_epoch(reports, prefix + metric, mode),
             **{m: _number(last.get(prefix + m)) for m in (*OPTIMISABLE, *TRAIN_METRICS)}}
            for j, prefix in fold_keys.items()]


def _not_started_rows(experiment: Experiment, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A row for every (configuration, repeat, fold) of a grid that has no trial folder (an Optuna search's
    configurations are not known before it proposes them)."""
    search, cv = experiment.search, experiment.cv
    if search.algorithm != "grid":
        return []
    grid = search.grid
    seen = {(tuple(row[axis] for axis in grid), row["repeat"], row[FOLD]) for row in rows}
    return [{**dict(zip(grid, values)), "repeat": repeat, FOLD: fold, "status": NOT_STARTED, "epochs_done": 0,
             "scheme": scheme_name(dict(zip(grid, values)).get("split", cv.split))}
            for values in itertools.product(*(experiment.axis_values(axis) for axis in grid))
            for repeat in range(cv.repeats) for fold in range(cv.folds)
            if (values, repeat, fold) not in seen]


def read_reports(trial_dir: str) -> list[dict[str, Any]]:
    """Every report of the trial (Tune's result.json, a JSON object a line); a line cut short by a killed
    process is skipped."""
    path = storage.join(trial_dir, "result.json")
    if not storage.exists(path):
        return []
    reports = []
    for line in storage.read_text(path).splitlines():
        try:
            reports.append(json.loads(line))
        except ValueError:
            continue
    return reports


def _best_epoch(reports: list[dict[str, Any]], key: str, mode: str) -> float:
    """The epoch (1 = first) with the best value of `key`, the earliest of equals; NaN when none has it."""
    values = [(_number(report.get(key)), report.get(EPOCHS_DONE)) for report in reports]
    values = [(value, epoch) for value, epoch in values if not math.isnan(value) and epoch is not None]
    if not values:
        return math.nan
    sign = 1 if mode == "max" else -1
    best = max(values, key=lambda item: sign * item[0])  # max() keeps the first of equal values
    return float(best[1])


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
