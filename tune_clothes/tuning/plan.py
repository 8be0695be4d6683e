"""`SearchPlan`: where our search config becomes Ray Tune's objects (parameter space, search algorithm,
scheduler, trial folder names), by the search's algorithm (which configurations) and `SearchMode` (how they are
laid out in trials).

`SearchMode.FOLD_TRIALS` (a grid run to the end): every (configuration, fold) pair is a trial, the fold j being
one more parameter (right for a grid run to the end, see the Ray notes), listed in the order they should run
(`grid_trials`); with `cv.repeats: R`, j = repeat * K + fold runs over R*K values. `SearchMode.LOCKSTEP`: a
trial is one configuration with all R*K folds inside, so Optuna and a scheduler only ever see fold means.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from ray import tune
from ray.tune.search import Searcher

from tune_clothes.config import Axis, Choice, Experiment
from tune_clothes.config.labels import Labeller
from tune_clothes.config.trial_record import FOLD_PARAM, FoldId, SearchMode, configuration_of, is_final_report
from tune_clothes.tuning.trainable import cv_trial, fold_trial


@dataclass(frozen=True)
class SearchPlan:
    experiment: Experiment

    @property
    def mode(self) -> SearchMode:
        return self.experiment.search.search_mode

    @property
    def is_grid(self) -> bool:
        return self.experiment.search.algorithm == "grid"

    @property
    def trainable(self) -> Callable:
        return fold_trial if self.mode is SearchMode.FOLD_TRIALS else cv_trial

    @property
    def axes(self) -> dict[str, Axis]:
        return self.experiment.search.axes

    @property
    def trials_per_configuration(self) -> int:
        return self.mode.trials_per_configuration(self.experiment.folds_per_configuration)

    @property
    def total_trials(self) -> int:
        return self.experiment.planned_trials

    @property
    def num_samples(self) -> int:
        """Tune's num_samples: every trial of a grid (its searcher proposes them whole); Optuna's samples."""
        return self.total_trials if self.is_grid else self.experiment.search.num_samples

    @property
    def max_epochs(self) -> int:
        """The most epochs any configuration trains (ASHA's horizon)."""
        epochs = self.axes.get("epochs")
        if epochs is not None and not isinstance(epochs, Choice):
            return int(epochs.high)
        return max(self.experiment.axis_values("epochs"))

    def param_space(self) -> dict[str, Any]:
        if self.is_grid:
            return {}  # search_algorithm() proposes every trial of the grid, whole
        return {axis: _sampler(values) for axis, values in self.axes.items()}

    def search_algorithm(self):
        if self.is_grid:  # not Tune's grid_search, which orders the trials by the axes' names
            return in_order(grid_trials(self.experiment))
        import optuna
        # metric and mode come from TuneConfig: giving them here too is an error in Ray
        return optuna_search(optuna.samplers.TPESampler(seed=self.experiment.cv.seed))

    def scheduler(self, val_train_ratio: dict[int, float], location: str):
        """ASHA, the race (which needs each fold's n_val/n_train and the experiment folder), or None."""
        search = self.experiment.search
        if search.scheduler == "race":
            from tune_clothes.tuning.race import RaceScheduler
            return RaceScheduler(self.experiment, val_train_ratio, self.max_epochs, location)
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
        name = labeller.folder_name(configuration_of(trial.config))[:100]
        if FOLD_PARAM not in trial.config:
            return f"{name}_trial{trial.experiment_tag.split('_', 1)[0]}"  # Tune's tag: `<n>_<parameters>`
        fold = FoldId.from_j(trial.config[FOLD_PARAM], self.experiment.cv.folds)
        return f"{name}_repeat{fold.repeat}_fold{fold.k}" if self.experiment.cv.repeats > 1 else f"{name}_fold{fold.k}"


def plan_search(experiment: Experiment) -> SearchPlan:
    return SearchPlan(experiment)


def optuna_search(sampler):
    """Tune's Optuna searcher, telling Optuna that a trial a scheduler ended early was pruned (Tune's own tells
    it the trial completed, with the value it had reached)."""
    from ray.tune.search.optuna import OptunaSearch

    class EarlyEndsArePruned(OptunaSearch):
        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
            if result is not None and not error and not is_final_report(result):
                result = None  # no value and no error: Optuna's PRUNED
            super().on_trial_complete(trial_id, result, error)
    return EarlyEndsArePruned(sampler=sampler)


def in_order(trials: list[dict[str, Any]]):
    """Tune's search algorithm proposing `trials` (their parameters), whole and in this order."""
    from ray.tune.search import ConcurrencyLimiter
    # Tune keeps one trial pending for a searcher, as many as a limiter allows for a limited one: without it, a
    # trial's process would start only once the one before it runs (seconds of an idle CPU)
    return ConcurrencyLimiter(GridInOrder(trials), max_concurrent=len(trials))


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
    """Every trial of a grid, in the order to run them: the longest first (epochs x pixels per image, a trial's
    work for a given model), so that no long trial is left alone at the end. With fold trials, among equals,
    fold by fold (every configuration on fold 0, then on fold 1, ...), so that a search stopped half-way has
    compared its configurations on the same folds. In lock-step (a trial per configuration, with a scheduler),
    among equals in an order shuffled with cv.seed: a scheduler compares a configuration only with those that
    reached a rung before it, and the first ones run to their end unjudged; the grid's own order (learning rates
    listed from the highest, say) would put the same kind of configuration there every time."""
    axes = experiment.search.grid
    configurations = [dict(zip(axes, values)) for values in itertools.product(*(a.values for a in axes.values()))]
    if experiment.search.search_mode is SearchMode.FOLD_TRIALS:
        folds = range(experiment.cv.repeats * experiment.cv.folds)  # j = repeat * K + fold
        trials = [{**configuration, FOLD_PARAM: j} for j in folds for configuration in configurations]
    else:
        order = np.random.default_rng(experiment.cv.seed).permutation(len(configurations))
        trials = [configurations[i] for i in order]
    return sorted(trials, key=lambda trial: -_work(experiment.with_axes(configuration_of(trial))))


def _work(experiment: Experiment) -> int:
    return experiment.train.epochs * experiment.train.image_size ** 2


def _sampler(values: Axis):
    if isinstance(values, Choice):
        return tune.choice(list(values.values))
    if values.integer:  # randint's upper bound is exclusive
        return (tune.lograndint if values.log else tune.randint)(int(values.low), int(values.high) + 1)
    return (tune.loguniform if values.log else tune.uniform)(values.low, values.high)


