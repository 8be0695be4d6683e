"""The final refit as one Ray Tune trial: the chosen configuration trained on the whole pool through the same
trainable machinery as the search's trials (`trainable.train_and_report`) and the same Tuner (`tuner`), so it
runs where the search ran (a local Ray, or a cluster with --address), checkpoints every epoch, is retried from
its last checkpoint after a crash (`search.max_failures` times), writes its TensorBoard run in the project's
terms, stops cleanly on Ctrl-C, and `final --resume` continues it after an interruption."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from ray import tune

from tune_clothes.config import metric_names as M
from tune_clothes.config import trial_record as record
from tune_clothes.data.datasets import content_key
from tune_clothes.data.image_cache import ImageCache, ensure_image_cache
from tune_clothes.training.callbacks import load_checkpoint
from tune_clothes.training.fit import FoldData
from tune_clothes.training.fold_data import pool_data
from tune_clothes.training.refit_job import RefitFailed, RefitJob
from tune_clothes.tuning.faults import fault_injectors, faults_from_env
from tune_clothes.tuning.stop import SearchInterrupted
from tune_clothes.tuning.trainable import TrialInputs, train_and_report
from tune_clothes.tuning.tuner import RayOptions, TunerSpec, check_before_ray, fit_on_ray

log = logging.getLogger(__name__)
POOL = 0  # the refit's one "fold": the whole pool


def refit_trial(params: dict[str, Any], inputs: TrialInputs, monitor: np.ndarray) -> None:
    """The trial: the pool to train on, `monitor` (pool positions) as its per-epoch 'validation'."""
    def data_of(cache: ImageCache) -> dict[int, FoldData]:
        return {POOL: pool_data(cache, inputs.index, inputs.plan, monitor)}
    train_and_report(inputs.experiment, inputs, data_of, {POOL: fault_injectors(inputs.faults, params, POOL)})


def run_refit(job: RefitJob, options: RayOptions) -> dict[str, Any]:
    """Run (or resume) the refit trial; returns its last epoch's training checkpoint (state dicts, history).
    Raises `SearchInterrupted` when SIGINT or SIGTERM stopped it (its checkpoints are kept for --resume)."""
    experiment = job.experiment
    check_before_ray(experiment, options)
    size = experiment.train.image_size
    key = content_key(job.index)
    ensure_image_cache(job.index, size, Path(experiment.dataset.cache_dir), key=key)  # decode here, once
    inputs = TrialInputs(experiment, job.index, job.plan, {size: key}, faults_from_env())
    spec = TunerSpec(experiment, tune.with_parameters(refit_trial, inputs=inputs, monitor=job.monitor), job.run_dir,
                     RefitProgress(), trial_folder=lambda trial: "pool", keep_best_checkpoint=False)
    results, signum = fit_on_ray(spec, options, job.resume, str(Path(job.run_dir).parent))
    if signum is not None:
        raise SearchInterrupted(job.run_dir, signum)
    result = results[0]
    epochs = experiment.train.epochs
    if result.error is not None or result.checkpoint is None:
        done = (result.metrics or {}).get(record.EPOCHS_DONE, 0)
        raise RefitFailed(f"the refit trial failed after {experiment.search.max_failures} retries, with "
                          f"{done} of {epochs} epochs done: {_first_line(result.error)}; its checkpoints are in "
                          f"{job.run_dir}: fix the cause, then run the same command with --resume")
    with result.checkpoint.as_directory() as directory:
        state = load_checkpoint(Path(directory) / record.checkpoint_file(POOL))
    if state["epoch"] + 1 != epochs:
        raise RefitFailed(f"the refit stopped after {state['epoch'] + 1} of {epochs} epochs; run the same "
                          f"command with --resume to finish it")
    return state


class RefitProgress(tune.Callback):
    """One line per epoch of the refit: the training loss and accuracy, and the monitor's accuracy."""

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        log.info("refit epoch %d/%d: train loss %.4f, train acc %.4f | monitor acc %.4f (%.1f s)",
                 result.get(record.EPOCHS_DONE, 0), result.get(record.EPOCHS_TOTAL, 0),
                 result.get(M.TRAIN_LOSS, float("nan")), result.get(M.TRAIN_ACC, float("nan")),
                 result.get(M.VAL_ACC, float("nan")),
                 result.get(record.EPOCH_SECONDS, float("nan")))

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        log.warning("the refit trial failed; it is retried from its last checkpoint while retries are left")


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip().splitlines() if error is not None else []
    return text[-1] if text else "no error message"
