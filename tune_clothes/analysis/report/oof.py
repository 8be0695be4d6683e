"""Out-of-fold predictions of one configuration: every pool image predicted by the fold model that did not
train on it, read back from the trials' checkpoints.

Each fold trial saves its validation predictions with every checkpoint (`training.predictions`); Tune always
keeps the latest checkpoint, whose predictions come from the trial's last reported epoch: the epoch whose
metrics the leaderboard uses (`results.load_trials` reads a trial's last report). So a finished fold's
predictions are those of its checkpoint with `epochs_done` equal to the trial's, and their accuracy is the
fold's reported `val/acc`.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tune_clothes.analysis.report.inputs import ReportInputs
from tune_clothes.analysis.selection import CHECKPOINT_PREFIX
from tune_clothes.config.trial_record import FOLD_INDEX, TrialStatus
from tune_clothes.data import storage
from tune_clothes.training.predictions import ValidationPredictions, load_predictions, predictions_file


@dataclass(frozen=True)
class OutOfFold:
    config: str
    folds: dict[int, ValidationPredictions]  # fold j = repeat * K + fold -> its predictions
    reported: dict[int, float]  # fold j -> the val/acc its trial reported at that epoch
    folds_per_repeat: int  # K
    missing: dict[int, str] = field(default_factory=dict)  # finished fold j without predictions -> why

    def pooled(self, repeat: int | None = None) -> ValidationPredictions:
        """Every fold's predictions in one (of one repeat, with `repeat`), in fold order."""
        parts = [p for j, p in sorted(self.folds.items()) if repeat is None or j // self.folds_per_repeat == repeat]
        if not parts:
            empty = np.array([], dtype=np.int64)
            return ValidationPredictions(0, empty, np.array([], dtype=str), empty, empty,
                                         np.zeros((0, 1), np.int32), np.zeros((0, 1), np.float16))
        return ValidationPredictions(parts[0].epochs_done, *(np.concatenate([getattr(p, name) for p in parts])
                                                             for name in ("positions", "ids", "labels", "predicted",
                                                                          "top_classes", "top_probabilities")))


def out_of_fold(inputs: ReportInputs, config: str) -> OutOfFold:
    """The predictions of every finished fold of `config` at the epoch its trial last reported."""
    finished = inputs.trials[(inputs.trials["config"] == config) & (inputs.trials["status"] == TrialStatus.FINISHED)]
    folds, reported, missing = {}, {}, {}
    checkpoints: dict[str, list[str]] = {}
    for _, row in finished.iterrows():
        j = int(row[FOLD_INDEX])
        if row["trial"] not in checkpoints:
            checkpoints[row["trial"]] = _checkpoints(storage.join(inputs.location, row["trial"]))
        found = _predictions_at(checkpoints[row["trial"]], j, int(row["epochs_done"]))
        if isinstance(found, str):
            missing[j] = found
            continue
        folds[j], reported[j] = found, float(row["val/acc"])
    return OutOfFold(config, folds, reported, inputs.plan.folds, missing)


def _checkpoints(trial_dir: str) -> list[str]:
    """The trial's checkpoint folders, the latest first."""
    names = [name for name in storage.list_dirs(trial_dir) if name.startswith(CHECKPOINT_PREFIX)]
    return [storage.join(trial_dir, name) for name in sorted(names, reverse=True)]


def _predictions_at(checkpoints: list[str], j: int, epochs_done: int) -> ValidationPredictions | str:
    """Fold j's predictions from the checkpoint of epoch `epochs_done`, or why there are none."""
    epochs_seen = []
    for checkpoint in checkpoints:
        path = storage.join(checkpoint, predictions_file(j))
        if not storage.exists(path):
            continue
        try:
            predictions = load_predictions(storage.read_bytes(path))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:  # being copied while a search runs
            epochs_seen.append(f"unreadable {path.rsplit('/', 1)[-1]} ({err})")
            continue
        if predictions.epochs_done == epochs_done:
            return predictions
        epochs_seen.append(f"epoch {predictions.epochs_done}")
    if not epochs_seen:
        return ("no validation predictions in its checkpoints (a search run by a tune_clothes before the report "
                "existed, or checkpoints removed)")
    return f"no checkpoint of its last epoch ({epochs_done}) holds predictions; found: {', '.join(epochs_seen)}"


def coverage(oof: OutOfFold, pool: np.ndarray, repeats: int) -> list[str]:
    """Problems with "every pool image exactly once per repeat": one line per repeat that breaks it."""
    problems = []
    for repeat in range(repeats):
        positions = oof.pooled(repeat).positions
        unique, counts = np.unique(positions, return_counts=True)
        twice = int((counts > 1).sum())
        absent = len(np.setdiff1d(pool, unique))
        outside = len(np.setdiff1d(unique, pool))
        if twice or absent or outside:
            problems.append(f"repeat {repeat}: {absent} pool image(s) without a prediction, {twice} predicted more "
                            f"than once, {outside} not in the pool")
    return problems


def fold_accuracies(oof: OutOfFold) -> pd.DataFrame:
    """Per fold j: the accuracy of its saved predictions beside the accuracy its trial reported."""
    return pd.DataFrame([{"j": j, "images": len(p), "predictions": p.accuracy(), "reported": oof.reported[j]}
                         for j, p in sorted(oof.folds.items())])
