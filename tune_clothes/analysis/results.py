"""Trial results read back from an experiment folder, without Ray: one row per (configuration, fold).

A trial folder holds Ray's `params.json` (the trial's parameters), `result.json` (one JSON line per reported
epoch) and, if an attempt crashed, `error.txt` (a `Failure # n` header per failed attempt). A trial is finished
when its last report says every epoch ran; it failed when it has an error, is not finished, and has no retry left
(or a rule stopped retrying it); it was stopped (by ASHA, at a rung) or eliminated (by a race) when the search
recorded that it ended it early (`trial_record.ENDED_FILE`); anything else is incomplete (interrupted, being
retried, pending, or still running). A fold trial is one fold j (its `fold` parameter); a lock-step trial
holds every fold (see `trial_record`). A grid's trials that have no folder yet are listed as not started, so that
an interrupted search still shows every configuration.
"""
from __future__ import annotations

import itertools
import json
import math
from typing import Any

import pandas as pd

from tune_clothes.config import Experiment
from tune_clothes.config import trial_record as record
from tune_clothes.config.labels import Labeller
from tune_clothes.config.metric_names import EPOCH_SCALARS, OPTIMISABLE
from tune_clothes.config.trial_record import FOLD_IN_REPEAT, FOLD_INDEX, REPEAT, FoldId, TrialStatus
from tune_clothes.data import storage
from tune_clothes.data.experiment_folder import read_reports
from tune_clothes.data.folds import scheme_name

TRAIN_METRICS = tuple(name for name in EPOCH_SCALARS if name.startswith("train/"))
FOLD_COLUMNS = [REPEAT, FOLD_IN_REPEAT, FOLD_INDEX]


def load_trials(location: str, experiment: Experiment) -> pd.DataFrame:
    """Every trial in `location`, one row per fold it trains (a lock-step trial gives one row per fold).

    Columns: the axes, `repeat`, `fold_in_repeat` (k), `fold_index` (j = repeat * K + k), `scheme` (the fold
    plan's scheme: `kfold`, `split=0.8`), `status` (a `TrialStatus`: finished, failed, stopped, incomplete, not
    started), `error`, `epochs_done`, `best_epoch` (1 = the first epoch; best by the search metric), `fit_time`
    (seconds per fold), `trial`, `node`, and every validation and training metric of the last epoch."""
    axes = search_axes(experiment)
    rows: list[dict[str, Any]] = []
    for name in storage.list_dirs(location):
        trial_dir = storage.join(location, name)
        if storage.exists(storage.join(trial_dir, "params.json")):
            rows.extend(_trial_rows(trial_dir, name, axes, experiment))
    rows.extend(_not_started_rows(experiment, rows))
    columns = [*axes, *FOLD_COLUMNS, "scheme", "status", "error", "epochs_done", "best_epoch", "fit_time",
               "trial", "node", "eliminated_at", "eliminated_p", "lost_to", *OPTIMISABLE, *TRAIN_METRICS]
    trials = pd.DataFrame(rows, columns=columns)
    return trials.astype({**dict.fromkeys(FOLD_COLUMNS, "int64"), "best_epoch": "Int64"})


def load_history(location: str, experiment: Experiment) -> pd.DataFrame:
    """Every fold's every reported epoch: one row per (trial, fold, epoch). Columns: the axes, `repeat`,
    `fold_in_repeat`, `fold_index`, `trial`, `epoch` (1 = the first), and every training and validation metric
    (`EPOCH_SCALARS`) of that fold at that epoch."""
    axes = search_axes(experiment)
    rows = []
    for name in storage.list_dirs(location):
        trial_dir = storage.join(location, name)
        if not storage.exists(storage.join(trial_dir, "params.json")):
            continue
        params = json.loads(storage.read_text(storage.join(trial_dir, "params.json")))
        configuration = {axis: params.get(axis) for axis in axes}
        for fold in trial_folds(params, experiment):
            rows += [{**configuration, **fold.columns(), "trial": name, "epoch": report[record.EPOCHS_DONE],
                      **record.fold_metrics(report, fold.j, EPOCH_SCALARS)}
                     for report in read_reports(trial_dir) if report.get(record.EPOCHS_DONE)]
    history = pd.DataFrame(rows, columns=[*axes, *FOLD_COLUMNS, "trial", "epoch", *EPOCH_SCALARS])
    history = history.dropna(how="all", subset=list(EPOCH_SCALARS))  # a lock-step report without this fold
    # an epoch trained again after a retry or a resume: its last report is the one the search kept
    history = history.drop_duplicates(["trial", FOLD_INDEX, "epoch"], keep="last")
    return history.sort_values(["trial", FOLD_INDEX, "epoch"], ignore_index=True)


def search_axes(experiment: Experiment) -> list[str]:
    return list(experiment.search.axes)


def _trial_rows(trial_dir: str, name: str, axes: list[str], experiment: Experiment) -> list[dict[str, Any]]:
    params = json.loads(storage.read_text(storage.join(trial_dir, "params.json")))
    reports = read_reports(trial_dir)
    last = reports[-1] if reports else {}
    error, attempts_failed = _error_message(trial_dir)
    ended = ended_early(trial_dir)
    finished = record.is_final_report(last)
    # a crashed trial with retries left that no rule stopped was being retried when the search was interrupted:
    # --resume continues it, so it has not failed (a search that ran to its end has retried every such trial)
    retrying = attempts_failed <= experiment.search.max_failures and not (ended and ended.get("reason"))
    status = (TrialStatus.FINISHED if finished else TrialStatus.INCOMPLETE if error and retrying else
              TrialStatus.FAILED if error else ended["status"] if ended and reports else TrialStatus.INCOMPLETE)
    if error and ended and ended.get("reason"):  # why the search did not retry it
        error = f"{error} ({ended['reason']})"
    race = {"eliminated_at": ended.get("eliminated_at"), "eliminated_p": ended.get("evidence"),
            "lost_to": Labeller(axes).label(ended["lost_to"]) if ended.get("lost_to") else None} \
        if ended and status is TrialStatus.ELIMINATED else {}
    common = {**{axis: params.get(axis) for axis in axes}, **race, "status": status.value,
              "error": None if finished else error, "epochs_done": last.get(record.EPOCHS_DONE, 0), "trial": name,
              "node": last.get(record.NODE_ID), "scheme": scheme_name(params.get("split", experiment.cv.split))}
    folds = trial_folds(params, experiment)
    seconds = _number(last.get(record.TUNE_TIME_TOTAL)) / len(folds)  # lock-step folds share the trial's time
    metric, mode = experiment.search.metric, experiment.search.mode
    return [{**common, **fold.columns(), "fit_time": seconds,
             "best_epoch": _best_epoch(reports, fold.j, metric, mode),
             **record.fold_metrics(last, fold.j, (*OPTIMISABLE, *TRAIN_METRICS))}
            for fold in folds]


def trial_folds(params: dict[str, Any], experiment: Experiment) -> list[FoldId]:
    """The folds a trial trains: its `fold` parameter's (a fold trial), else every fold (lock-step)."""
    cv = experiment.cv
    if record.FOLD_PARAM in params:
        return [FoldId.from_j(params[record.FOLD_PARAM], cv.folds)]
    return record.all_folds(cv.folds, cv.repeats)


def _not_started_rows(experiment: Experiment, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A row for every (configuration, fold) of a grid that has no trial folder (an Optuna search's
    configurations are not known before it proposes them)."""
    search, cv = experiment.search, experiment.cv
    if search.algorithm != "grid":
        return []
    grid = search.grid
    seen = {(tuple(row[axis] for axis in grid), row[FOLD_INDEX]) for row in rows}
    return [{**dict(zip(grid, values)), **fold.columns(), "status": TrialStatus.NOT_STARTED.value,
             "epochs_done": 0, "scheme": scheme_name(dict(zip(grid, values)).get("split", cv.split))}
            for values in itertools.product(*(experiment.axis_values(axis) for axis in grid))
            for fold in record.all_folds(cv.folds, cv.repeats)
            if (values, fold.j) not in seen]


def _best_epoch(reports: list[dict[str, Any]], j: int, metric: str, mode: str) -> float:
    """The epoch (1 = first) with fold j's best value of `metric`, the earliest of equals; NaN when none has it."""
    values = [(record.fold_metric(report, j, metric), report.get(record.EPOCHS_DONE)) for report in reports]
    values = [(value, epoch) for value, epoch in values if not math.isnan(value) and epoch is not None]
    if not values:
        return math.nan
    sign = 1 if mode == "max" else -1
    best = max(values, key=lambda item: sign * item[0])  # max() keeps the first of equal values
    return float(best[1])


def ended_early(trial_dir: str) -> dict[str, Any] | None:
    """What the search recorded when it ended the trial before its last epoch (`trial_record.ENDED_FILE`);
    None when it did not, or the file cannot be read (then the trial is not called stopped on a guess)."""
    path = storage.join(trial_dir, record.ENDED_FILE)
    if not storage.exists(path):
        return None
    try:
        return record.read_ended_early(storage.read_text(path))
    except (ValueError, KeyError, TypeError):
        return None


def _error_message(trial_dir: str) -> tuple[str | None, int]:
    """The last line of Tune's error.txt (`SomeError: message`), which is what the user needs to read, and how
    many attempts failed (Tune writes a `Failure # n` header for each)."""
    path = storage.join(trial_dir, "error.txt")
    if not storage.exists(path):
        return None, 0
    text = storage.read_text(path)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else "the trial failed without an error message"), max(1, text.count("Failure #"))


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
