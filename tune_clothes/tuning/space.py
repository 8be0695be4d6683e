"""The one place where our search config becomes Ray Tune objects: parameter space, search algorithm,
scheduler, and trial folder names.

Grid mode: every (configuration, fold) pair is a trial, `fold` being one more grid axis (right for a grid
run to the end, see the Ray notes). Optuna mode: a trial is a configuration with all its folds inside, so
Optuna and ASHA only ever see the mean over folds.
"""
from __future__ import annotations

import typing
from typing import Any, Mapping

from ray import tune

from tune_clothes.config import Experiment, axis_names
from tune_clothes.metric_names import FOLD  # the trial parameter that names the fold, in grid mode



def axis_values(params: Mapping[str, Any]) -> dict[str, Any]:
    """The search-axis values of a trial's parameters (everything but the fold)."""
    return {k: v for k, v in params.items() if k != FOLD}


def param_space(experiment: Experiment) -> dict[str, Any]:
    search = experiment.search
    if search.algorithm == "grid":
        space = {axis: tune.grid_search(list(values)) for axis, values in search.grid.items()}
        space[FOLD] = tune.grid_search(list(range(experiment.cv.folds)))
        return space
    return {axis: _sampler(experiment, axis, spec) for axis, spec in search.space.items()}


def _sampler(experiment: Experiment, axis: str, spec: Mapping[str, Any]):
    if "choices" in spec:
        return tune.choice(list(spec["choices"]))
    section = getattr(experiment, axis_names()[axis])
    low, high, log = float(spec["low"]), float(spec["high"]), bool(spec.get("log", False))
    if typing.get_type_hints(type(section))[axis] is int:
        return tune.lograndint(int(low), int(high) + 1) if log else tune.randint(int(low), int(high) + 1)
    return tune.loguniform(low, high) if log else tune.uniform(low, high)


def search_algorithm(experiment: Experiment):
    if experiment.search.algorithm != "optuna":
        return None
    import optuna
    from ray.tune.search.optuna import OptunaSearch
    # metric and mode come from TuneConfig: giving them here too is an error in Ray
    return OptunaSearch(sampler=optuna.samplers.TPESampler(seed=experiment.cv.seed))


def scheduler(experiment: Experiment):
    search = experiment.search
    if search.scheduler != "asha":
        return None
    from ray.tune.schedulers import ASHAScheduler
    return ASHAScheduler(time_attr="training_iteration", max_t=max_epochs(experiment),
                         grace_period=search.grace_period, reduction_factor=search.reduction_factor)


def max_epochs(experiment: Experiment) -> int:
    spec = experiment.search.space.get("epochs")
    if spec and "choices" not in spec:
        return int(spec["high"])
    return max(axis_value_sets(experiment, "epochs"))


def num_trials(experiment: Experiment) -> int:
    search = experiment.search
    if search.algorithm != "grid":
        return search.num_samples
    total = experiment.cv.folds
    for values in search.grid.values():
        total *= len(values)
    return total


def axis_value_sets(experiment: Experiment, axis: str) -> list:
    """Every value an axis can take in this search (the base value when it is not searched)."""
    search = experiment.search
    if axis in search.grid:
        return list(search.grid[axis])
    if axis in search.space and "choices" in search.space[axis]:
        return list(search.space[axis]["choices"])
    return [getattr(getattr(experiment, axis_names()[axis]), axis)]


def trial_dirname(trial) -> str:
    """Short, readable trial folder names (Ray's default can exceed path limits)."""
    parts = [f"{k}={_short(v)}" for k, v in sorted(axis_values(trial.config).items())]
    fold = f"_fold{trial.config[FOLD]}" if FOLD in trial.config else ""
    return f"{trial.trial_id}{fold}_{','.join(parts)}"[:120]


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
