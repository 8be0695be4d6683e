"""`run_search`: check what can be checked before Ray starts, prepare the experiment folder (config, folds, data
fingerprint), start or attach to Ray, and run (or resume) the Tuner until it ends or a signal stops it. What the
results mean is the analysis layer's business, from the files on disk."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import ray
from ray import tune

from tune_clothes.config import Experiment
from tune_clothes.config.errors import UserError
from tune_clothes.data import storage
from tune_clothes.data.datasets import content_key, load_index
from tune_clothes.data.experiment_folder import (
    COSTS_JSON,
    EXPERIMENT_YAML,
    FOLDS_JSON,
    experiment_location,
    read_experiment,
    write_experiment_files,
)
from tune_clothes.data.folds import load_fold_plan, plan_folds, scheme_name
from tune_clothes.data.image_cache import ensure_image_cache
from tune_clothes.training.cost import search_costs
from tune_clothes.tuning.cluster_checks import cpu_advice, local_cpus
from tune_clothes.tuning.estimate import load_estimate
from tune_clothes.tuning.faults import faults_from_env
from tune_clothes.tuning.plan import SearchPlan, plan_search
from tune_clothes.tuning.progress import CompactProgress, PlannedSearch, cluster_usage_from
from tune_clothes.tuning.stop import SearchInterrupted
from tune_clothes.tuning.trainable import TrialInputs
from tune_clothes.tuning.tuner import RayOptions, TunerSpec, check_before_ray, fit_on_ray

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchOptions:
    resume: bool = False  # continue the experiment at <storage>/<name>
    ray: RayOptions = RayOptions()


def run_search(experiment: Experiment, options: SearchOptions = SearchOptions()) -> str:
    """Run (or resume) the search; returns the experiment folder, where its results are. Raises
    `SearchInterrupted` when SIGINT or SIGTERM stopped it, after saving what it had."""
    location = experiment_location(experiment)
    experiment = experiment_to_run(experiment, location, options.resume)
    plan = plan_search(experiment)
    check_before_ray(experiment, options.ray)
    inputs = prepare_inputs(experiment, location, options.resume)
    local = options.ray.target().address is None
    if local and (advice := cpu_advice(experiment, plan.total_trials, local_cpus(options.ray.num_cpus))):
        log.warning("%s", advice)

    def write_files() -> None:  # only once Ray is up and checked: a search refused there leaves no folder
        if not options.resume:
            write_experiment_files(location, experiment, inputs.index, inputs.plan)
            write_costs(location, experiment, inputs.index.num_classes)
    _, signum = fit_on_ray(search_spec(plan, inputs, location, options.resume), options.ray, options.resume,
                           experiment.storage,
                           before_fit=write_files)
    if signum is not None:
        raise SearchInterrupted(location, signum)
    return location


def write_costs(location: str, experiment: Experiment, num_classes: int) -> None:
    """costs.json, for the cost columns of the leaderboard; a network ptflops cannot count costs no search."""
    try:
        costs = search_costs(experiment, num_classes)
    except RuntimeError as err:
        log.warning("the cost columns are left out: %s", err)
        return
    storage.write_text(storage.join(location, COSTS_JSON), json.dumps(costs, indent=2))


def experiment_to_run(experiment: Experiment, location: str, resume: bool) -> Experiment:
    """The given experiment for a new search; the saved one to resume (refusing what does not match)."""
    started = storage.exists(storage.join(location, EXPERIMENT_YAML))
    if resume and not started:
        raise UserError(f"--resume: there is no experiment at {location} to resume; run without --resume to start "
                        f"it (check --name and --storage; from Python: resume, name, storage)")
    if not resume and started:
        raise UserError(f"an experiment already exists at {location}: add --resume to continue it, or pick "
                        f"another --name to start a new one (from Python: resume=True, name=...)")
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


def search_spec(plan: SearchPlan, inputs: TrialInputs, location: str, resume: bool) -> TunerSpec:
    search = plan.experiment.search
    estimated = load_estimate(plan.experiment) if not resume else None
    planned = PlannedSearch(search.metric, search.mode, plan.total_trials, plan.max_epochs,
                            plan.trials_per_configuration, estimated.wall_s if estimated else None)
    progress = CompactProgress(planned, cluster_usage=lambda trials: cluster_usage_from(ray.nodes(), trials))
    return TunerSpec(plan.experiment, tune.with_parameters(plan.trainable, inputs=inputs), location, progress,
                     plan.trial_dirname, searcher=plan.search_algorithm(),
                     scheduler=plan.scheduler(inputs.plan.val_train_ratios(scheme_name(plan.experiment.cv.split)),
                                              location),
                     trials=plan.num_samples, param_space=plan.param_space())
