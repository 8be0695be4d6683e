"""`run_search`: prepare the experiment folder (config, folds, data fingerprint), start or attach to Ray, and
run (or resume) the Tuner. What the results mean is the analysis layer's business, from the files on disk."""
from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import ray
from ray import tune

from tune_clothes.config import Experiment
from tune_clothes.config.errors import UserError
from tune_clothes.data import storage
from tune_clothes.data.datasets import content_key, load_index
from tune_clothes.data.experiment_folder import (
    EXPERIMENT_YAML,
    FOLDS_JSON,
    experiment_location,
    read_experiment,
    write_experiment_files,
)
from tune_clothes.data.folds import load_fold_plan, plan_folds
from tune_clothes.data.image_cache import ensure_image_cache
from tune_clothes.tuning.cluster_checks import check_gpus, check_local_gpus, check_shared_storage
from tune_clothes.tuning.faults import faults_from_env
from tune_clothes.tuning.plan import SearchPlan, plan_search
from tune_clothes.tuning.progress import CompactProgress
from tune_clothes.tuning.tensorboard import ProjectTensorBoard
from tune_clothes.tuning.trainable import TrialInputs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchOptions:
    resume: bool = False
    address: str | None = None  # a running Ray cluster; None: RAY_ADDRESS, else a new local Ray
    num_cpus: int | None = None  # of a new local Ray (None: all)
    verbose: bool = False  # Ray's own status table and worker logs
    wait_for_gpus: bool = False  # an autoscaler will add the GPUs the trials ask for


def run_search(experiment: Experiment, options: SearchOptions = SearchOptions()) -> str:
    """Run (or resume) the search; returns the experiment folder, where its results are."""
    location = experiment_location(experiment)
    if not _attaching(options):
        check_local_gpus(experiment, options.wait_for_gpus)
    experiment, inputs = prepare_experiment(experiment, location, options.resume)
    _quiet_tune()
    with ray_session(options):
        check_gpus(experiment, options.wait_for_gpus)
        check_shared_storage(experiment.storage)
        if not options.resume:  # only now: a search refused above leaves no folder behind
            write_experiment_files(location, experiment, inputs.index, inputs.plan)
        tuner = build_tuner(plan_search(experiment), inputs, location, options)
        tuner.fit()
    return location


def _quiet_tune() -> None:
    """Set where the search starts, before Ray does: Tune warns whenever it snapshots the experiment state
    often, which one checkpoint per epoch makes it do."""
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")


def prepare_experiment(experiment: Experiment, location: str,
                       resume: bool) -> tuple[Experiment, TrialInputs]:
    """Index and check the data, then make the folds (or load the saved ones to resume) and the image caches."""
    started = storage.exists(storage.join(location, EXPERIMENT_YAML))
    if resume and not started:
        raise UserError(f"--resume: there is no experiment at {location} to resume; run without --resume to start "
                        f"it (check --name and --storage)")
    if not resume and started:
        raise UserError(f"an experiment already exists at {location}: add --resume to continue it, or pick "
                        f"another --name to start a new one")
    if resume:
        experiment = _saved_experiment(experiment, location)
    index = load_index(experiment.dataset)
    if resume:
        folds = load_fold_plan(storage.join(location, FOLDS_JSON), index.fingerprint())
    else:
        folds = plan_folds(index, experiment.cv, experiment.axis_values("split"))
    key = content_key(index)  # reads every image file's metadata: once, here, not in every trial
    sizes = experiment.axis_values("image_size")
    for size in sizes:  # decode once, here, before trials start
        ensure_image_cache(index, size, Path(experiment.dataset.cache_dir), key=key)
    return experiment, TrialInputs(experiment, index, folds, {size: key for size in sizes}, faults_from_env())


def _saved_experiment(given: Experiment, location: str) -> Experiment:
    saved = read_experiment(location)
    if saved != given:
        log.warning("--resume continues the experiment as it was started (%s); the changes in the given search "
                    "space are ignored", storage.join(location, EXPERIMENT_YAML))
    return saved


def _attaching(options: SearchOptions) -> str | None:
    return options.address or os.environ.get("RAY_ADDRESS")


@contextmanager
def ray_session(options: SearchOptions) -> Iterator[None]:
    """Attach to a cluster (--address or RAY_ADDRESS) or start a local Ray; shut down only what we started."""
    if ray.is_initialized():
        yield
        return
    address = _attaching(options) or "local"  # 'local' starts a new Ray, never a stale cluster's leftovers
    ray.init(address=address, num_cpus=options.num_cpus if address == "local" else None,
             include_dashboard=False, log_to_driver=options.verbose,
             logging_level=logging.INFO if options.verbose else logging.WARNING)
    try:
        yield
    finally:
        ray.shutdown()


def build_tuner(plan: SearchPlan, inputs: TrialInputs, location: str, options: SearchOptions) -> tune.Tuner:
    experiment = plan.experiment
    resources = {"cpu": experiment.resources.cpus_per_trial, "gpu": experiment.resources.gpus_per_trial}
    trainable = tune.with_resources(tune.with_parameters(plan.trainable, inputs=inputs), resources)
    if options.resume and tune.Tuner.can_restore(location):  # not when killed before Tune saved anything
        log.info("resuming %s: finished trials are kept, the others continue from their last checkpoint", location)
        return tune.Tuner.restore(location, trainable=trainable, resume_unfinished=True, resume_errored=True,
                                  param_space=plan.param_space())
    search = experiment.search
    return tune.Tuner(
        trainable, param_space=plan.param_space(),
        tune_config=tune.TuneConfig(metric=search.metric, mode=search.mode, search_alg=plan.search_algorithm(),
                                    scheduler=plan.scheduler(), num_samples=plan.num_samples,
                                    max_concurrent_trials=experiment.resources.max_concurrent_trials,
                                    trial_dirname_creator=plan.trial_dirname,
                                    reuse_actors=True),  # no process per trial
        run_config=_run_config(plan, options))


def _run_config(plan: SearchPlan, options: SearchOptions) -> tune.RunConfig:
    search = plan.experiment.search
    if not options.verbose:  # Tune's newer console output prints a banner (and a wrong TensorBoard path) at verbose=0
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    return tune.RunConfig(
        name=plan.experiment.name, storage_path=plan.experiment.storage,
        checkpoint_config=tune.CheckpointConfig(  # the best epoch by the metric; Ray also keeps the latest
            num_to_keep=1, checkpoint_score_attribute=search.metric, checkpoint_score_order=search.mode),
        failure_config=tune.FailureConfig(max_failures=search.max_failures),
        callbacks=[CompactProgress(plan.total_trials, search.metric, search.mode),
                   ProjectTensorBoard(plan.experiment)],  # replaces Ray's TensorBoard logger
        verbose=2 if options.verbose else 0)
