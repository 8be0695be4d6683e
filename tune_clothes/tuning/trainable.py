"""The trainables: thin adapters from trial parameters to the training core (`train_folds`), sending each
epoch to Tune.

`fold_trial` (`SearchMode.FOLD_TRIALS`) trains one configuration on one fold j. `cv_trial`
(`SearchMode.LOCKSTEP`) trains one configuration on every fold (all R*K of them, with `cv.repeats`) in lock-step
and sends the mean over folds each epoch, which is what Optuna and ASHA must compare. What a report holds is
`trial_record.epoch_report`'s business. Both checkpoint every epoch (with each fold's
validation predictions of that epoch, for the report) and resume from Tune's checkpoint after a failure.
"""
from __future__ import annotations

import functools
import json
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import ray
import torch
from ray import tune

from tune_clothes.config import Experiment
from tune_clothes.config import trial_record as record
from tune_clothes.data.folds import FoldPlan
from tune_clothes.data.image_cache import ImageCache, ensure_image_cache
from tune_clothes.data.index import DatasetIndex
from tune_clothes.training.callbacks import load_checkpoint, save_checkpoint
from tune_clothes.training.fit import Callback, FoldData, TrainingState, train_folds
from tune_clothes.training.fold_data import fold_data
from tune_clothes.training.predictions import predictions_file, save_predictions, validation_predictions
from tune_clothes.tuning.faults import Fault, fault_injectors

CLASS_METRICS_FILE = "class_metrics.json"  # per-class F1 and confusion matrix of the checkpoint's epoch


@dataclass(frozen=True)
class TrialInputs:
    """What every trial shares, put in Ray's object store once (`tune.with_parameters`)."""
    experiment: Experiment
    index: DatasetIndex
    plan: FoldPlan
    cache_keys: Mapping[int, str]  # image size -> the image cache's key, computed once by the driver
    faults: tuple[Fault, ...] = ()  # injected failures, for the fault-tolerance tests


class TrialOutOfMemory(RuntimeError):
    """The GPU ran out of memory: the message says which settings to lower."""


def fold_trial(params: dict[str, Any], inputs: TrialInputs) -> None:
    """One configuration on the fold j = `params["fold"]`."""
    configuration = record.configuration_of(params)
    _train(inputs.experiment.with_axes(configuration), [int(params[record.FOLD_PARAM])], params, inputs)


def cv_trial(params: dict[str, Any], inputs: TrialInputs) -> None:
    """One configuration on every fold in lock-step, reporting the mean over folds each epoch."""
    _train(inputs.experiment.with_axes(params), list(range(inputs.plan.total_folds)), params, inputs)


def _train(experiment: Experiment, folds: list[int], params: dict[str, Any], inputs: TrialInputs) -> None:
    def data_of(cache: ImageCache) -> dict[int, FoldData]:
        return {k: fold_data(cache, inputs.index, inputs.plan, experiment.cv.split, k) for k in folds}
    train_and_report(experiment, inputs, data_of, {k: fault_injectors(inputs.faults, params, k) for k in folds})


def train_and_report(experiment: Experiment, inputs: TrialInputs,
                     data_of: Callable[[ImageCache], dict[int, FoldData]],
                     callbacks: Mapping[int, Sequence[Callback]]) -> None:
    """Inside a trial: train `experiment` on the parts `data_of(image cache)` gives (key -> data), reporting
    every epoch to Tune with a checkpoint, and continuing from Tune's checkpoint after a retry or a resume."""
    cpus, device = trial_resources()
    size = experiment.train.image_size
    cache = ensure_image_cache(inputs.index, size, Path(experiment.dataset.cache_dir), workers=cpus,
                               key=inputs.cache_keys[size])
    folds = data_of(cache)
    send = functools.partial(_send_to_tune, epochs=experiment.train.epochs, folds=folds, ids=inputs.index.ids)
    with explain_out_of_memory(experiment):
        train_folds(experiment.recipe, folds, callbacks, device=device, resume=_checkpointed_states(),
                    after_epoch=send)


def _send_to_tune(states: dict[int, TrainingState], epochs: int, folds: Mapping[int, FoldData],
                  ids: Sequence[str]) -> None:
    """Send an epoch to Tune with a checkpoint of every fold's state and its validation predictions at this
    epoch (copied by Ray before `report` returns), so the latest checkpoint, which Tune always keeps, holds
    the predictions behind the trial's last reported metrics: the ones the leaderboard uses."""
    with tempfile.TemporaryDirectory() as directory:
        for fold, state in states.items():
            save_checkpoint(state.checkpoint(), Path(directory) / record.checkpoint_file(fold))
            (Path(directory) / f"fold{fold}_{CLASS_METRICS_FILE}").write_text(json.dumps(state.class_metrics))
            save_predictions(validation_predictions(state, folds[fold].val, ids),
                             Path(directory) / predictions_file(fold))
        done = next(iter(states.values())).epoch + 1
        report = record.epoch_report({j: state.history[-1] for j, state in states.items()}, done, epochs,
                                     {record.NODE_ID: _node_id(), record.REPORTED_AT: time.time()})
        tune.report(report, checkpoint=tune.Checkpoint.from_directory(directory))


def _node_id() -> str:
    return ray.get_runtime_context().get_node_id()


def _checkpointed_states() -> dict[int, dict[str, Any]]:
    """fold j -> training state from Tune's checkpoint (after a retry or a resumed search), else empty."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return {}
    with checkpoint.as_directory() as directory:
        return {record.checkpoint_fold(path.name): load_checkpoint(path)
                for path in Path(directory).glob(record.CHECKPOINT_GLOB)}


def trial_resources() -> tuple[int, str]:
    """The trial's CPUs (torch's threads follow them) and device: CUDA when Tune gave the trial a GPU (Ray
    sets CUDA_VISIBLE_DEVICES)."""
    resources = tune.get_context().get_trial_resources().required_resources
    cpus = max(1, int(resources.get("CPU", 1)))
    torch.set_num_threads(cpus)
    return cpus, "cuda" if resources.get("GPU", 0) > 0 else "cpu"


@contextmanager
def explain_out_of_memory(experiment: Experiment) -> Iterator[None]:
    try:
        yield
    except torch.OutOfMemoryError as err:
        raise TrialOutOfMemory(
            f"out of GPU memory with train.batch_size={experiment.train.batch_size}, "
            f"train.image_size={experiment.train.image_size} and resources.gpus_per_trial="
            f"{experiment.resources.gpus_per_trial}: lower train.batch_size, or raise resources.gpus_per_trial "
            f"so fewer trials share a GPU ({str(err).splitlines()[0] if str(err) else 'OutOfMemoryError'})") from None
