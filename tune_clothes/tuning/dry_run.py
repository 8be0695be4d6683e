"""`search --dry-run`: every distinct trial of a search, rehearsed once for a few steps (`training.rehearsal`)
through Ray, on the resources the search asks for, so that what would fail in its tenth hour fails in its first
minutes: a batch that does not fit in GPU memory, a dataset or weights missing on a worker node, an image size
a model cannot take, a last batch BatchNorm cannot train on, a storage the workers cannot write checkpoints to.
Then what the whole search will cost (`estimate`).

Two trials are the same rehearsal when nothing that shapes the computation differs: the model settings, the
image size, the batch size, the augmentation, the split, and the size of the fold's last training batch (its
training images modulo the batch size); the resources are the same for every trial. The learning rate, StepLR,
weight decay, the seed and the epochs cannot change what runs: one rehearsal stands for every trial that differs
only in them. For an Optuna range of a shaping axis, both ends are rehearsed.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.exceptions import RayError

from tune_clothes.config import Choice, Experiment
from tune_clothes.config import trial_record as record
from tune_clothes.data import storage
from tune_clothes.data.experiment_folder import experiment_location, read_experiment
from tune_clothes.data.image_cache import ensure_image_cache
from tune_clothes.training.callbacks import load_checkpoint
from tune_clothes.training.fold_data import fold_data
from tune_clothes.training.rehearsal import Rehearsal, rehearse
from tune_clothes.tuning.estimate import Estimate, TrialCost, estimate, save_estimate
from tune_clothes.tuning.faults import fault_injectors
from tune_clothes.tuning.plan import in_order
from tune_clothes.tuning.runner import SearchOptions, prepare_inputs
from tune_clothes.tuning.stop import SearchInterrupted
from tune_clothes.tuning.trainable import TrialInputs, explain_out_of_memory, trial_resources
from tune_clothes.tuning.tuner import TunerSpec, check_before_ray, fit_on_ray

log = logging.getLogger(__name__)
SHAPING_AXES = ("name", "pretrained", "freeze_backbone", "image_size", "batch_size", "augment", "split")
CHECKPOINT = "state.pt"
REHEARSAL = "rehearsal"  # the report's key: the measurements


@dataclass(frozen=True)
class Rehearsed:
    """One distinct trial: the configuration and fold tried, and what came of it."""
    configuration: dict[str, Any]  # the shaping axes' values
    fold: int  # j: the first fold whose last training batch has `last_batch` images
    last_batch: int
    outcome: Rehearsal | str | None = None  # the measurements, or the error's last line

    def describe(self, experiment: Experiment) -> str:
        configured = experiment.with_axes(self.configuration)
        train, model = configured.train, configured.model
        split = "" if configured.cv.split is None else f", split {configured.cv.split:g}"
        fold = record.FoldId.from_j(self.fold, experiment.cv.folds).label(experiment.cv.repeats)
        return (f"{model.name}{' pretrained' if model.pretrained else ''}, {train.image_size} px, batch "
                f"{train.batch_size}, augment {train.augment}{split}, last batch {self.last_batch} ({fold})")


def shaping_values(experiment: Experiment) -> list[dict[str, Any]]:
    """Every combination of the searched values that can change what runs: a grid's listed values, both ends of
    an Optuna range. The other axes keep their base values."""
    combinations: list[dict[str, Any]] = [{}]
    for axis, searched in experiment.search.axes.items():
        if axis in SHAPING_AXES:
            values = searched.values if isinstance(searched, Choice) else _ends(searched)
            combinations = [{**c, axis: v} for c in combinations for v in dict.fromkeys(values)]
    return combinations


def _ends(searched) -> tuple:
    return (int(searched.low), int(searched.high)) if searched.integer else (searched.low, searched.high)


def distinct_trials(inputs: TrialInputs, broken: set[int]) -> list[Rehearsed]:
    """One rehearsal per distinct trial (see the module's docstring). `broken`: image positions the image cache
    could not decode, which no fold trains on."""
    experiment, plan = inputs.experiment, inputs.plan
    found: dict[tuple, Rehearsed] = {}
    for configuration in shaping_values(experiment):
        configured = experiment.with_axes(configuration)
        batch = configured.train.batch_size
        for j in range(plan.total_folds):
            train = len(set(plan.fold(configured.cv.split, j)[0].tolist()) - broken)
            last = train % batch or batch
            found.setdefault((_key(configuration), last), Rehearsed(configuration, j, last))
    return list(found.values())


def _key(configuration: dict[str, Any]) -> tuple:
    return tuple(sorted(configuration.items(), key=str))


def rehearsal_params(trials: list[Rehearsed]) -> list[dict[str, Any]]:
    """The rehearsals as Tune trials' parameters, in order."""
    return [{**t.configuration, record.FOLD_PARAM: t.fold} for t in trials]


def rehearsal_trial(params: dict[str, Any], inputs: TrialInputs) -> None:
    """The trainable: one rehearsal on this trial's node and resources, its checkpoint reported through Tune's
    storage (which the driver then reads back); the report's seconds count in the epoch's fixed seconds."""
    started = time.perf_counter()
    experiment = inputs.experiment.with_axes(record.configuration_of(params))
    cpus, device = trial_resources()
    size = experiment.train.image_size
    cache = ensure_image_cache(inputs.index, size, Path(experiment.dataset.cache_dir), workers=cpus,
                               key=inputs.cache_keys[size])
    j = int(params[record.FOLD_PARAM])
    data = fold_data(cache, inputs.index, inputs.plan, experiment.cv.split, j)
    ready_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as directory, explain_out_of_memory(experiment):
        result = rehearse(experiment.recipe, data, device, Path(directory) / CHECKPOINT,
                          fault_injectors(inputs.faults, params, j))
        started = time.perf_counter()  # every epoch of the search reports a checkpoint to Tune, as this one
        tune.report({}, checkpoint=tune.Checkpoint.from_directory(directory))
        report_s = time.perf_counter() - started
        measured = dataclasses.replace(result, setup_s=ready_s + result.setup_s,
                                       epoch_fixed_s=result.epoch_fixed_s + report_s)
        tune.report({REHEARSAL: dataclasses.asdict(measured)}, checkpoint=tune.Checkpoint.from_directory(directory))


def outcome_of(result) -> Rehearsal | str:
    """A rehearsal's Tune result: its measurements once its checkpoint has been read back from the storage, or
    the last line of its error."""
    if result.error is not None:
        return with_fix(str(result.error))
    if result.checkpoint is None:
        return "its checkpoint did not reach the results storage: check --storage"
    with result.checkpoint.as_directory() as directory:
        load_checkpoint(Path(directory) / CHECKPOINT)
    measured = result.metrics[REHEARSAL]
    return Rehearsal(**{**measured, "batches": tuple(measured["batches"])})


def with_outcomes(trials: list[Rehearsed], results, measured: dict[tuple, Rehearsal],
                  stopped_by: str = "the dry run was stopped") -> list[Rehearsed]:
    """`trials` with the outcome of the Tune result of the same parameters; where none came back (Tune stopped),
    what the rehearsal reported before, else why it did not end."""
    by_params = {**measured, **{_key(result.config): outcome_of(result) for result in results}}
    return [replace(t, outcome=by_params.get(_key(params), f"it did not run to its end: {stopped_by}"))
            for t, params in zip(trials, rehearsal_params(trials))]


def with_fix(error: str) -> str:
    """The line of an error that says what happened, with what to do where Ray does not say it."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()] or ["no error message"]
    killed = re.search(r"\d+ worker\(s\) were killed due to the node running low on memory\.", error)
    if killed:
        return (f"Ray killed it: {killed.group(0)} Lower train.batch_size or train.num_workers (each loader worker "
                f"is a process of its own), or run fewer trials at once (raise resources.cpus_per_trial)")
    return lines[-1]


def search_cost(inputs: TrialInputs, rehearsed: list[Rehearsed], at_a_time: int, startup_s: float) -> Estimate:
    """What the search will cost, from the rehearsals (all of which must have succeeded)."""
    experiment, plan = inputs.experiment, inputs.plan
    speeds = {_key(t.configuration): t.outcome for t in rehearsed}
    shapes = shaping_values(experiment)
    per_shape = max(1, experiment.search.configurations // len(shapes))  # other axes: the same speed
    costs = []
    for configuration in shapes:
        configured, speed = experiment.with_axes(configuration), speeds[_key(configuration)]
        folds = [tuple(map(len, plan.fold(configured.cv.split, j))) for j in range(plan.total_folds)]
        trials = [folds] if experiment.search.search_mode is record.SearchMode.LOCKSTEP else [[f] for f in folds]
        costs += [TrialCost(configured.train.epochs, tuple(sizes), speed) for sizes in trials] * per_shape
    return estimate(costs, at_a_time, startup_s, upper_bound=experiment.search.scheduler != "none")


def trials_at_a_time(experiment: Experiment) -> int:
    """Trials the running Ray fits at once."""
    resources, available = experiment.resources, ray.cluster_resources()
    fits = [math.floor(available.get("CPU", 0) / resources.cpus_per_trial + 1e-9)]
    if resources.gpus_per_trial > 0:
        fits.append(math.floor(available.get("GPU", 0) / resources.gpus_per_trial + 1e-9))
    if resources.max_concurrent_trials:
        fits.append(resources.max_concurrent_trials)
    return max(1, min(fits))


class RehearsalProgress(tune.Callback):
    """A line per rehearsal as it ends, and when the first one started (what starting Ray cost)."""

    def __init__(self, total: int):
        self.total, self.ended, self.created = total, 0, time.monotonic()
        self.first_start: float | None = None
        self.measured: dict[tuple, Rehearsal] = {}  # parameters -> what the rehearsal reported

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        if self.first_start is None:
            self.first_start = time.monotonic()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        reported = (trial.last_result or {}).get(REHEARSAL)
        if reported is not None:
            self.measured[_key(trial.config)] = Rehearsal(**{**reported, "batches": tuple(reported["batches"])})
        self._ended(trial, "ok")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._ended(trial, "FAILED")

    def _ended(self, trial, how: str) -> None:
        self.ended += 1
        log.info("rehearsal %d/%d %s (%s)", self.ended, self.total, how,
                 ", ".join(f"{axis}={value}" for axis, value in trial.config.items()))

    @property
    def startup_s(self) -> float:
        return (self.first_start or time.monotonic()) - self.created


@dataclass(frozen=True)
class DryRun:
    rehearsed: list[Rehearsed]  # one per distinct trial, with its measurements or its error
    estimate: Estimate | None  # what the search will cost; None when a rehearsal failed

    @property
    def ok(self) -> bool:
        return self.estimate is not None


def dry_run_search(experiment: Experiment, options: SearchOptions = SearchOptions()) -> DryRun:
    """Rehearse every distinct trial of the search (`dry_run`) on Ray as the search would run, without touching
    its experiment folder; then estimate its cost, and keep the estimate for the search's progress line."""
    location = experiment_location(experiment)
    experiment = read_experiment(location) if options.resume else experiment
    check_before_ray(experiment, options.ray)
    inputs = prepare_inputs(experiment, location, options.resume)
    broken = set()
    for size in experiment.axis_values("image_size"):
        broken |= set(ensure_image_cache(inputs.index, size, Path(experiment.dataset.cache_dir)).failed)
    trials = distinct_trials(inputs, broken)
    once = dataclasses.replace(experiment, search=dataclasses.replace(experiment.search, max_failures=0))
    progress = RehearsalProgress(len(trials))
    spec = TunerSpec(once, tune.with_parameters(rehearsal_trial, inputs=inputs),
                     storage.join(experiment.storage, f".dry-run-{experiment.name}"), progress,
                     trial_folder=lambda trial: f"rehearsal{trial.experiment_tag.split('_', 1)[0]}",
                     searcher=in_order(rehearsal_params(trials)), trials=len(trials), keep_best_checkpoint=False,
                     reports_the_metric=False)
    fits: list[int] = []
    try:
        results, signum = fit_on_ray(spec, options.ray, resume=False, storage_root=experiment.storage,
                                     before_fit=lambda: fits.append(trials_at_a_time(experiment)))
        if signum is not None:
            raise SearchInterrupted(location, signum)
        rehearsed = with_outcomes(trials, results, progress.measured)
    except (RuntimeError, RayError) as err:  # Tune itself gave up (Ray killed a trial's process as it started)
        rehearsed = with_outcomes(trials, [], progress.measured, stopped_by=with_fix(str(err)))
    finally:
        remove_folder(spec.location)
    if any(not isinstance(t.outcome, Rehearsal) for t in rehearsed):
        return DryRun(rehearsed, None)
    cost = search_cost(inputs, rehearsed, fits[0], progress.startup_s)
    save_estimate(experiment, cost)
    return DryRun(rehearsed, cost)


def remove_folder(location: str) -> None:
    """The rehearsals' own Tune folder, once read back (left in place on an object store)."""
    if not storage.is_uri(location):
        shutil.rmtree(location, ignore_errors=True)
