"""The trainables: thin adapters from trial parameters to the training core, reporting to Tune.

`fold_trial` (grid mode) trains one configuration on one fold. `cv_trial` (optuna mode) trains one
configuration on every fold in lock-step and reports the mean over folds each epoch, which is what Optuna
and ASHA must compare. Both checkpoint every epoch and resume from Tune's checkpoint after a failure.
"""
from __future__ import annotations

import json
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import ray
from ray import tune

from tune_clothes import metric_names as M
from tune_clothes.config import Experiment
from tune_clothes.data.folds import FoldPlan
from tune_clothes.data.index import DatasetIndex
from tune_clothes.training.callbacks import load_checkpoint, save_checkpoint
from tune_clothes.training.fit import Callback, Trainer, TrainingState, fit
from tune_clothes.training.fold_data import fold_data
from tune_clothes.tuning.faults import Fault, fault_injectors
from tune_clothes.tuning.space import axis_values

REPORT_FILE = "report.json"  # per-class F1 and confusion matrix of the checkpoint's epoch


@dataclass(frozen=True)
class TrialInputs:
    """What every trial shares, put in Ray's object store once (`tune.with_parameters`)."""
    experiment: Experiment
    index: DatasetIndex
    plan: FoldPlan
    faults: tuple[Fault, ...] = ()  # injected failures, for the fault-tolerance tests


class TrialOutOfMemory(RuntimeError):
    """The GPU ran out of memory: the message says which settings to lower."""


def fold_trial(params: dict[str, Any], inputs: TrialInputs) -> None:
    experiment = inputs.experiment.with_axes(axis_values(params))
    fold = int(params[M.FOLD])
    device = _device_for_this_trial()
    data = fold_data(experiment, inputs.index, inputs.plan, fold)
    states = _checkpointed_states()
    reporter = FoldReporter(fold, experiment.train.epochs)
    with _explain_out_of_memory(experiment):
        fit(experiment, data, [*fault_injectors(inputs.faults, params, fold), reporter], device=device,
            resume=states.get(fold))


def cv_trial(params: dict[str, Any], inputs: TrialInputs) -> None:
    experiment = inputs.experiment.with_axes(params)
    device = _device_for_this_trial()
    states = _checkpointed_states()
    with _explain_out_of_memory(experiment):
        trainers = [Trainer(experiment, fold_data(experiment, inputs.index, inputs.plan, fold),
                            fault_injectors(inputs.faults, params, fold), device=device, resume=states.get(fold))
                    for fold in range(inputs.plan.folds)]
        while not trainers[0].done:
            rows = [trainer.run_epoch() for trainer in trainers]
            _report([t.state for t in trainers], _fold_means(rows), experiment.train.epochs)


class FoldReporter(Callback):
    def __init__(self, fold: int, epochs: int):
        self.fold, self.epochs = fold, epochs

    def on_epoch_end(self, metrics: dict[str, float], state: TrainingState) -> None:
        _report([state], {**metrics, M.FOLD: self.fold}, self.epochs, folds=[self.fold])


def _fold_means(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean over folds of every metric, its spread, and each fold's own value (`folds/<k>/val/acc`)."""
    metrics: dict[str, float] = {}
    for name in rows[0]:
        values = [row[name] for row in rows]
        metrics[name] = float(np.mean(values))
        if name in M.EPOCH_SCALARS:
            metrics[f"{name}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
            metrics.update({f"folds/{k}/{name}": v for k, v in enumerate(values)})
    return metrics


def _report(states: list[TrainingState], metrics: dict[str, Any], epochs: int, folds: list[int] | None = None) -> None:
    """Report an epoch to Tune with a checkpoint of every fold's state (copied by Ray before `report` returns)."""
    folds = folds if folds is not None else list(range(len(states)))
    with tempfile.TemporaryDirectory() as directory:
        for fold, state in zip(folds, states):
            save_checkpoint(state.checkpoint(), Path(directory) / f"fold{fold}.pt")
            (Path(directory) / f"fold{fold}_{REPORT_FILE}").write_text(json.dumps(state.report))
        done = states[0].epoch + 1
        tune.report({**metrics, M.EPOCHS_DONE: done, M.EPOCHS_TOTAL: epochs, M.NODE_ID: _node_id()},
                    checkpoint=tune.Checkpoint.from_directory(directory))


def _node_id() -> str:
    return ray.get_runtime_context().get_node_id()


def _checkpointed_states() -> dict[int, dict[str, Any]]:
    """fold -> training state from Tune's checkpoint (after a retry or a resumed search), else empty."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return {}
    with checkpoint.as_directory() as directory:
        return {int(path.stem.removeprefix("fold")): load_checkpoint(path)
                for path in Path(directory).glob("fold*.pt")}


def _device_for_this_trial() -> str:
    """CUDA when Tune gave the trial a GPU (Ray sets CUDA_VISIBLE_DEVICES), with threads = its CPUs."""
    resources = tune.get_context().get_trial_resources().required_resources
    torch.set_num_threads(max(1, int(resources.get("CPU", 1))))
    return "cuda" if resources.get("GPU", 0) > 0 else "cpu"


@contextmanager
def _explain_out_of_memory(experiment: Experiment) -> Iterator[None]:
    try:
        yield
    except torch.OutOfMemoryError as err:
        raise TrialOutOfMemory(
            f"out of GPU memory with train.batch_size={experiment.train.batch_size}, "
            f"train.image_size={experiment.train.image_size} and resources.gpus_per_trial="
            f"{experiment.resources.gpus_per_trial}: lower train.batch_size, or raise resources.gpus_per_trial "
            f"so fewer trials share a GPU ({str(err).splitlines()[0] if str(err) else 'OutOfMemoryError'})") from None
