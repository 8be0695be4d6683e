"""The final refit as one Ray Tune trial: the chosen configuration trained on the whole pool through the same
trainable machinery as the search's trials (`trainable.train_and_report`), so it runs where the search ran
(a local Ray, or a cluster with --address), checkpoints every epoch, is retried from its last checkpoint
after a crash (`search.max_failures` times), and `final --resume` continues it after an interruption."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from ray import tune

from tune_clothes.config import metric_names as M
from tune_clothes.data.datasets import content_key
from tune_clothes.data.image_cache import ImageCache, ensure_image_cache
from tune_clothes.training.callbacks import load_checkpoint
from tune_clothes.training.fit import FoldData
from tune_clothes.training.fold_data import pool_data
from tune_clothes.training.refit_job import RefitFailed, RefitJob
from tune_clothes.tuning.faults import fault_injectors, faults_from_env
from tune_clothes.tuning.runner import SearchOptions, check_before_ray, check_on_ray
from tune_clothes.tuning.session import ray_session
from tune_clothes.tuning.trainable import TrialInputs, train_and_report

log = logging.getLogger(__name__)
POOL = 0  # the refit's one "fold": the whole pool


def refit_trial(params: dict[str, Any], inputs: TrialInputs, monitor: np.ndarray) -> None:
    """The trial: the pool to train on, `monitor` (pool positions) as its per-epoch 'validation'."""
    def data_of(cache: ImageCache) -> dict[int, FoldData]:
        return {POOL: pool_data(cache, inputs.index, inputs.plan, monitor)}
    train_and_report(inputs.experiment, inputs, data_of, {POOL: fault_injectors(inputs.faults, params, POOL)})


def run_refit(job: RefitJob, options: SearchOptions) -> dict[str, Any]:
    """Run (or resume) the refit trial; returns its last epoch's training checkpoint (state dicts, history)."""
    experiment = job.experiment
    target = options.ray_target()
    check_before_ray(experiment, target, options)
    size = experiment.train.image_size
    key = content_key(job.index)
    ensure_image_cache(job.index, size, Path(experiment.dataset.cache_dir), key=key)  # decode here, once
    inputs = TrialInputs(experiment, job.index, job.plan, {size: key}, faults_from_env())
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")  # as the search
    with ray_session(target, job.run_dir):
        check_on_ray(experiment, target, options, str(Path(job.run_dir).parent))
        result = _tuner(job, inputs, options).fit()[0]
    epochs = experiment.train.epochs
    if result.error is not None or result.checkpoint is None:
        done = (result.metrics or {}).get(M.EPOCHS_DONE, 0)
        raise RefitFailed(f"the refit trial failed after {experiment.search.max_failures} retries, with "
                          f"{done} of {epochs} epochs done: {_first_line(result.error)}; its checkpoints are in "
                          f"{job.run_dir}: fix the cause, then run the same command with --resume")
    with result.checkpoint.as_directory() as directory:
        state = load_checkpoint(Path(directory) / f"fold{POOL}.pt")
    if state["epoch"] + 1 != epochs:
        raise RefitFailed(f"the refit stopped after {state['epoch'] + 1} of {epochs} epochs; run the same "
                          f"command with --resume to finish it")
    return state


def _tuner(job: RefitJob, inputs: TrialInputs, options: SearchOptions) -> tune.Tuner:
    resources = inputs.experiment.resources
    trainable = tune.with_resources(tune.with_parameters(refit_trial, inputs=inputs, monitor=job.monitor),
                                    {"cpu": resources.cpus_per_trial, "gpu": resources.gpus_per_trial})
    if not options.verbose:  # as the search: no banner and wrong TensorBoard path from Tune's newer output
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    if job.resume and tune.Tuner.can_restore(job.run_dir):  # not when killed before Tune saved anything
        log.info("resuming the refit in %s from its last checkpoint", job.run_dir)
        return tune.Tuner.restore(job.run_dir, trainable=trainable, resume_unfinished=True, resume_errored=True)
    search = inputs.experiment.search
    return tune.Tuner(trainable, tune_config=tune.TuneConfig(trial_dirname_creator=lambda trial: "pool"),
                      run_config=tune.RunConfig(
                          name=Path(job.run_dir).name, storage_path=str(Path(job.run_dir).parent),
                          checkpoint_config=tune.CheckpointConfig(num_to_keep=1),  # the latest: the model
                          failure_config=tune.FailureConfig(max_failures=search.max_failures),
                          callbacks=[RefitProgress()], verbose=2 if options.verbose else 0))


class RefitProgress(tune.Callback):
    """One line per epoch of the refit: the training loss and accuracy, and the monitor's accuracy."""

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        log.info("refit epoch %d/%d: train loss %.4f, train acc %.4f | monitor acc %.4f (%.1f s)",
                 result.get(M.EPOCHS_DONE, 0), result.get(M.EPOCHS_TOTAL, 0), result.get(M.TRAIN_LOSS, float("nan")),
                 result.get(M.TRAIN_ACC, float("nan")), result.get(M.VAL_ACC, float("nan")),
                 result.get("time/epoch_s", float("nan")))

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        log.warning("the refit trial failed; it is retried from its last checkpoint while retries are left")


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip().splitlines() if error is not None else []
    return text[-1] if text else "no error message"
