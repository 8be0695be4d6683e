"""`SearchPlan`: the one place where a grid search and an Optuna search differ, and where our search config
becomes Ray Tune's objects (parameter space, search algorithm, scheduler, trial folder names).

Grid: every (configuration, fold) pair is a trial, `fold` being one more grid axis (right for a grid run to
the end, see the Ray notes), listed in the order they should run (`grid_trials`); with `cv.repeats: R` the axis
runs over j = repeat * K + fold, R*K values. Optuna: a trial is one configuration with all R*K folds inside, in
lock-step, so Optuna and ASHA only ever see the mean over folds.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ray import tune
from ray.tune.search import Searcher

from tune_clothes.config import Axis, Choice, Experiment
from tune_clothes.config.labels import Labeller
from tune_clothes.config.metric_names import FOLD  # the trial parameter that names the fold, in grid mode
from tune_clothes.tuning.trainable import cv_trial, fold_trial


@dataclass(frozen=True)
class SearchPlan:
    experiment: Experiment
    lockstep: bool  # a trial trains all folds of one configuration (optuna); else one fold (grid)
    trainable: Callable  # the trial function: fold_trial or cv_trial
    num_samples: int  # Tune's num_samples: configurations Optuna proposes; the trials of a grid
    configurations: int  # configurations the search runs

    @property
    def axes(self) -> dict[str, Axis]:
        return self.experiment.search.axes

    @property
    def folds_per_configuration(self) -> int:
        """J = R*K: every fold of every repeat."""
        return self.experiment.cv.repeats * self.experiment.cv.folds

    @property
    def trials_per_configuration(self) -> int:
        return 1 if self.lockstep else self.folds_per_configuration

    @property
    def total_trials(self) -> int:
        return self.configurations * self.trials_per_configuration

    @property
    def max_epochs(self) -> int:
        """The most epochs any configuration trains (ASHA's horizon)."""
        epochs = self.axes.get("epochs")
        if epochs is not None and not isinstance(epochs, Choice):
            return int(epochs.high)
        return max(self.experiment.axis_values("epochs"))

    def param_space(self) -> dict[str, Any]:
        if not self.lockstep:
            return {}  # search_algorithm() proposes every trial of the grid, whole
        return {axis: _sampler(values) for axis, values in self.axes.items()}

    def search_algorithm(self):
        if not self.lockstep:  # not Tune's grid_search, which orders the trials by the axes' names
            from ray.tune.search import ConcurrencyLimiter
            trials = grid_trials(self.experiment)
            # Tune keeps one trial pending for a searcher, as many as a limiter allows for a limited one: without
            # it, a trial's process would start only once the one before it runs (seconds of an idle CPU)
            return ConcurrencyLimiter(GridInOrder(trials), max_concurrent=len(trials))
        import optuna
        from ray.tune.search.optuna import OptunaSearch
        # metric and mode come from TuneConfig: giving them here too is an error in Ray
        return OptunaSearch(sampler=optuna.samplers.TPESampler(seed=self.experiment.cv.seed))

    def scheduler(self):
        search = self.experiment.search
        if search.scheduler != "asha":
            return None
        from ray.tune.schedulers import ASHAScheduler
        return ASHAScheduler(time_attr="training_iteration", max_t=self.max_epochs,
                             grace_period=search.grace_period, reduction_factor=search.reduction_factor)

    def trial_dirname(self, trial) -> str:
        """The trial's folder, which TensorBoard shows as its run: the configuration's label and the fold
        (`lr=0.001_fold2`, `lr=0.001_repeat1_fold2` with repeats), or, for a trial holding every fold, the label
        and the trial's number (`lr=0.00138,batch_size=32_trial3`). Path-safe and short; Tune adds a suffix if
        two ever collide."""
        # digits that tell a grid's listed values apart (a Range lists none: 3 significant digits)
        labeller = Labeller.of_values({axis: getattr(values, "values", ()) for axis, values in self.axes.items()})
        configuration = {k: v for k, v in trial.config.items() if k != FOLD}
        name = labeller.folder_name(configuration)[:100]
        if FOLD not in trial.config:
            return f"{name}_trial{trial.experiment_tag.split('_', 1)[0]}"  # Tune's tag: `<n>_<parameters>`
        repeat, k = divmod(int(trial.config[FOLD]), self.experiment.cv.folds)
        return f"{name}_repeat{repeat}_fold{k}" if self.experiment.cv.repeats > 1 else f"{name}_fold{k}"


def plan_search(experiment: Experiment) -> SearchPlan:
    search = experiment.search
    if search.algorithm == "grid":
        configurations = 1
        for values in search.grid.values():
            configurations *= len(values.values)
        trials = configurations * experiment.cv.repeats * experiment.cv.folds  # one per fold j of each
        return SearchPlan(experiment, lockstep=False, trainable=fold_trial, num_samples=trials,
                          configurations=configurations)
    return SearchPlan(experiment, lockstep=True, trainable=cv_trial, num_samples=search.num_samples,
                      configurations=search.num_samples)


class GridInOrder(Searcher):
    """Proposes the trials of a grid, whole and in the order given, then no more."""

    def __init__(self, trials: list[dict[str, Any]]):
        super().__init__()
        self.trials, self.proposed = list(trials), 0

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec) -> bool:
        self._metric, self._mode = metric, mode  # a grid runs every trial whatever they say
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | str:
        if self.proposed == len(self.trials):
            return Searcher.FINISHED
        self.proposed += 1
        return dict(self.trials[self.proposed - 1])

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Nothing to learn from a result: the grid is fixed."""

    def save(self, checkpoint_path: str) -> None:  # so that a resumed search proposes only the rest
        Path(checkpoint_path).write_text(json.dumps({"trials": self.trials, "proposed": self.proposed}))

    def restore(self, checkpoint_path: str) -> None:
        state = json.loads(Path(checkpoint_path).read_text())
        self.trials, self.proposed = state["trials"], state["proposed"]


def grid_trials(experiment: Experiment) -> list[dict[str, Any]]:
    """Every (configuration, fold) trial of a grid, in the order to run them: the longest first (epochs x
    pixels per image, a trial's work for a given model), so that no long trial is left alone at the end; among
    equals, fold by fold (every configuration on fold 0, then on fold 1, ...), so that a search stopped half-way
    has compared its configurations on the same folds."""
    axes = experiment.search.grid
    configurations = [dict(zip(axes, values)) for values in itertools.product(*(a.values for a in axes.values()))]
    folds = range(experiment.cv.repeats * experiment.cv.folds)  # j = repeat * K + fold
    trials = [{**configuration, FOLD: fold} for fold in folds for configuration in configurations]
    return sorted(trials, key=lambda trial: -_work(experiment.with_axes({k: v for k, v in trial.items() if k != FOLD})))


def _work(experiment: Experiment) -> int:
    return experiment.train.epochs * experiment.train.image_size ** 2


def _sampler(values: Axis):
    if isinstance(values, Choice):
        return tune.choice(list(values.values))
    if values.integer:  # randint's upper bound is exclusive
        return (tune.lograndint if values.log else tune.randint)(int(values.low), int(values.high) + 1)
    return (tune.loguniform if values.log else tune.uniform)(values.low, values.high)


