"""`run_search`: check what can be checked before Ray starts, prepare the experiment folder (config, folds, data
fingerprint), start or attach to Ray, and run (or resume) the Tuner until it ends or a signal stops it. What the
results mean is the analysis layer's business, from the files on disk."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

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
from tune_clothes.training.models import fetch_pretrained_weights
from tune_clothes.tuning.cluster_checks import (
    check_shared_storage,
    check_trials_fit,
    cluster_nodes,
    cpu_advice,
    local_cpus,
    this_machine,
)
from tune_clothes.tuning.faults import faults_from_env
from tune_clothes.tuning.plan import SearchPlan, plan_search
from tune_clothes.tuning.progress import CompactProgress, PlannedSearch, cluster_usage_from
from tune_clothes.tuning.session import RayTarget, cluster_address, ray_session
from tune_clothes.tuning.stop import SearchInterrupted, stop_on_signals
from tune_clothes.tuning.tensorboard import ProjectTensorBoard
from tune_clothes.tuning.trainable import TrialInputs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchOptions:
    resume: bool = False
    address: str | None = None  # a running Ray cluster; None: RAY_ADDRESS, else a new local Ray
    num_cpus: int | None = None  # of a new local Ray (None: all)
    verbose: bool = False  # Ray's own status table and worker logs
    wait_for_nodes: bool = False  # an autoscaler will add nodes with the CPUs and GPUs trials ask for

    def ray_target(self) -> RayTarget:
        return RayTarget(cluster_address(self.address), self.num_cpus, self.verbose)


def run_search(experiment: Experiment, options: SearchOptions = SearchOptions()) -> str:
    """Run (or resume) the search; returns the experiment folder, where its results are. Raises
    `SearchInterrupted` when SIGINT or SIGTERM stopped it, after saving what it had."""
    location = experiment_location(experiment)
    experiment = experiment_to_run(experiment, location, options.resume)
    target = options.ray_target()
    plan = plan_search(experiment)
    check_before_ray(experiment, target, options)
    inputs = prepare_inputs(experiment, location, options.resume)
    if target.address is None and (advice := cpu_advice(experiment, plan.total_trials, local_cpus(options.num_cpus))):
        log.warning("%s", advice)
    _quiet_tune(options.verbose)
    with ray_session(target, location), stop_on_signals() as stop:
        check_on_ray(experiment, target, options, experiment.storage)
        if not options.resume:  # only now: a search refused above leaves no folder behind
            write_experiment_files(location, experiment, inputs.index, inputs.plan)
        build_tuner(plan, inputs, location, options).fit()
    if stop.signum is not None:
        raise SearchInterrupted(location, stop.signum)
    return location


def check_before_ray(experiment: Experiment, target: RayTarget, options: SearchOptions) -> None:
    """What is refused before Ray starts: trials too big for this machine (for a local Ray), and pretrained
    weights that cannot be fetched (once, here, not in every trial)."""
    if target.address is None:
        check_trials_fit(experiment, [this_machine(experiment, options.num_cpus)], "this machine",
                         options.wait_for_nodes)
    for pretrained in set(experiment.axis_values("pretrained")):
        fetch_pretrained_weights(pretrained)


def check_on_ray(experiment: Experiment, target: RayTarget, options: SearchOptions, storage_root: str) -> None:
    """What is checked once Ray is up: trials too big for any node of a cluster, and a results storage every
    node can see."""
    if target.address is not None:
        check_trials_fit(experiment, cluster_nodes(), "the Ray cluster", options.wait_for_nodes)
    check_shared_storage(storage_root)


def experiment_to_run(experiment: Experiment, location: str, resume: bool) -> Experiment:
    """The given experiment for a new search; the saved one to resume (refusing what does not match)."""
    started = storage.exists(storage.join(location, EXPERIMENT_YAML))
    if resume and not started:
        raise UserError(f"--resume: there is no experiment at {location} to resume; run without --resume to start "
                        f"it (check --name and --storage)")
    if not resume and started:
        raise UserError(f"an experiment already exists at {location}: add --resume to continue it, or pick "
                        f"another --name to start a new one")
    if not resume:
        return experiment
    saved = read_experiment(location)
    if saved != experiment:
        log.warning("--resume continues the experiment as it was started (%s); the changes in the given search "
                    "space are ignored", storage.join(location, EXPERIMENT_YAML))
    return saved


def prepare_inputs(experiment: Experiment, location: str, resume: bool) -> TrialInputs:
    """Index and check the data, then make the folds (or load the saved ones to resume) and the image caches."""
    index = load_index(experiment.dataset)
    if resume:
        folds = load_fold_plan(storage.join(location, FOLDS_JSON), index.fingerprint())
    else:
        folds = plan_folds(index, experiment.cv, experiment.axis_values("split"))
    key = content_key(index)  # reads every image file's metadata: once, here, not in every trial
    sizes = experiment.axis_values("image_size")
    for size in sizes:  # decode once, here, before trials start
        ensure_image_cache(index, size, Path(experiment.dataset.cache_dir), key=key)
    return TrialInputs(experiment, index, folds, {size: key for size in sizes}, faults_from_env())


def prepare_experiment(experiment: Experiment, location: str, resume: bool) -> tuple[Experiment, TrialInputs]:
    """`experiment_to_run`, then `prepare_inputs`: what a search does before Ray starts."""
    experiment = experiment_to_run(experiment, location, resume)
    return experiment, prepare_inputs(experiment, location, resume)


class _DropReplacedMessages(logging.Filter):
    """Tune's messages that this package says better itself: its stop notice and resume hint (ours name the
    command), the trials it lists as not completed, and the metrics it cannot read for trials not started."""
    REPLACED = ("Stop signal received", "Experiment has been interrupted", "Trials did not complete",
                "Failed to fetch metrics")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.REPLACED)


def _quiet_tune(verbose: bool) -> None:
    """Set where the search starts, before Tune runs."""
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # SIGINT is ours: see stop.py
    # Tune warns whenever it snapshots the experiment state often, which one checkpoint per epoch makes it do
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if not verbose:
        # Tune's newer console output prints a banner (and a wrong TensorBoard path) even at verbose=0; set here,
        # not with the RunConfig, so that it holds for a resumed search too (Tune restores its RunConfig)
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
        for name in ("ray.tune.tune", "ray.tune.analysis.experiment_analysis"):
            logger = logging.getLogger(name)
            if not any(isinstance(f, _DropReplacedMessages) for f in logger.filters):
                logger.addFilter(_DropReplacedMessages())


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
    return tune.RunConfig(
        name=plan.experiment.name, storage_path=plan.experiment.storage,
        checkpoint_config=tune.CheckpointConfig(  # the best epoch by the metric; Ray also keeps the latest
            num_to_keep=1, checkpoint_score_attribute=search.metric, checkpoint_score_order=search.mode),
        failure_config=tune.FailureConfig(max_failures=search.max_failures),
        # ProjectTensorBoard replaces Ray's TensorBoard logger
        callbacks=[_progress(plan), ProjectTensorBoard(plan.experiment)],
        verbose=2 if options.verbose else 0)


def _progress(plan: SearchPlan) -> CompactProgress:
    search = plan.experiment.search
    planned = PlannedSearch(search.metric, search.mode, plan.total_trials, plan.max_epochs,
                            plan.trials_per_configuration)
    return CompactProgress(planned, cluster_usage=lambda trials: cluster_usage_from(ray.nodes(), trials))
