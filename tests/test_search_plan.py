"""`SearchPlan` as Tune and Optuna see it, without starting Ray: the search space becomes Optuna's
distributions (integers inclusive, log scales kept), the searcher is TPE with the experiment's seed, and the
scheduler is ASHA counting epochs, with our grace period, reduction factor and horizon."""
from __future__ import annotations

from types import SimpleNamespace

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from tune_clothes.config import metric_names as M
from tune_clothes.config import trial_record as record
from tune_clothes.config.loader import experiment_from_dict
from tune_clothes.config.trial_record import SearchMode
from tune_clothes.tuning.plan import plan_search

SPACE = {"lr": {"low": 1e-4, "high": 1e-2, "log": True}, "weight_decay": {"low": 0.0, "high": 1e-3},
         "step_size": {"low": 2, "high": 5}, "batch_size": {"low": 8, "high": 64, "log": True},
         "augment": {"choices": [True, False]}}
#: What Optuna must be given for SPACE: the integer bounds inclusive, both ends (Tune's randint excludes its high).
DISTRIBUTIONS = {"lr": FloatDistribution(1e-4, 1e-2, log=True), "weight_decay": FloatDistribution(0.0, 1e-3),
                 "step_size": IntDistribution(2, 5), "batch_size": IntDistribution(8, 64, log=True),
                 "augment": CategoricalDistribution([True, False])}


def adaptive(space=SPACE, **search):
    return plan_search(experiment_from_dict({
        "train": {"epochs": 8}, "cv": {"folds": 3, "seed": 7},
        "search": {"algorithm": "optuna", "metric": M.VAL_LOSS, "num_samples": 5, "space": space, **search}}))


def test_the_space_becomes_optunas_distributions():
    plan = adaptive()
    assert OptunaSearch.convert_search_space(plan.param_space()) == DISTRIBUTIONS
    assert plan.mode is SearchMode.LOCKSTEP and plan.trials_per_configuration == 1 and plan.total_trials == 5


def reference_suggestions(seed: int, count: int) -> list[dict]:
    """What Optuna's TPE sampler with `seed` proposes first for DISTRIBUTIONS, asked directly."""
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed), direction="minimize")
    return [study.ask(fixed_distributions=DISTRIBUTIONS).params for _ in range(count)]


def test_the_searcher_is_tpe_seeded_with_the_cv_seed():
    plan = adaptive()
    searcher = plan.search_algorithm()
    assert isinstance(searcher, OptunaSearch)
    searcher.set_search_properties(M.VAL_LOSS, "min", plan.param_space())  # what the Tuner does
    suggested = [searcher.suggest(f"trial{i}") for i in range(3)]
    assert suggested == reference_suggestions(seed=7, count=3)
    assert suggested != reference_suggestions(seed=8, count=3)  # the comparison tells seeds apart


def test_a_grid_proposes_every_configuration_on_every_fold_once_with_no_scheduler():
    plan = plan_search(experiment_from_dict({"cv": {"folds": 3}, "search": {"grid": {"lr": [0.1, 0.01]}}}))
    searcher = plan.search_algorithm()
    searcher.set_search_properties(M.VAL_LOSS, "min", plan.param_space())  # what the Tuner does
    proposed = [searcher.suggest(f"trial{i}") for i in range(plan.total_trials)]
    assert sorted((trial["lr"], trial[record.FOLD_PARAM]) for trial in proposed) == sorted(
        (lr, fold) for lr in (0.1, 0.01) for fold in range(3))
    for i in range(plan.total_trials):
        searcher.on_trial_complete(f"trial{i}", {M.VAL_LOSS: 1.0})
    assert searcher.suggest("one more") == Searcher.FINISHED  # the grid is done: Tune ends the search
    assert plan.param_space() == {} and plan.scheduler({}, "unused") is None and plan.total_trials == 6


def asha_actions(plan, reports: list[tuple[str, int, float]]) -> list[str]:
    """Feed (trial, epoch, val/loss) reports to the plan's scheduler as Tune would; its decision for each."""
    scheduler = plan.scheduler({}, "unused")
    scheduler.set_search_properties(M.VAL_LOSS, "min")  # what the Tuner does with the TuneConfig's metric
    trials = {name: SimpleNamespace(trial_id=name) for name in dict.fromkeys(name for name, _, _ in reports)}
    for trial in trials.values():
        scheduler.on_trial_add(None, trial)
    return [scheduler.on_trial_result(None, trials[name], {"training_iteration": epoch, M.VAL_LOSS: loss})
            for name, epoch, loss in reports]


def test_asha_counts_epochs_with_our_grace_period_reduction_factor_and_horizon():
    plan = adaptive(scheduler="asha", grace_period=2, reduction_factor=2)  # rungs at epochs 2, 4 and 8
    assert plan.max_epochs == 8
    go, stop = TrialScheduler.CONTINUE, TrialScheduler.STOP
    reports = [("a", 1, 1.0), ("a", 2, 1.0), ("a", 4, 0.5),
               ("b", 1, 5.0),  # far worse, but before the grace period
               ("b", 2, 0.9),  # better than a at the rung of epoch 2
               ("b", 4, 0.9),  # worse than a at epoch 4: a rung with a reduction factor of 2 (not with 3)
               ("c", 2, 2.0),  # worse than a and b at epoch 2
               ("a", 8, 0.1)]  # the last epoch: done
    assert asha_actions(plan, reports) == [go, go, go, go, go, stop, stop, stop]


@pytest.mark.parametrize("epochs, horizon", [({"low": 3, "high": 9}, 9), ({"choices": [4, 12, 6]}, 12)])
def test_asha_horizon_is_the_most_epochs_any_configuration_trains(epochs, horizon):
    plan = adaptive({**SPACE, "epochs": epochs}, scheduler="asha")
    assert plan.max_epochs == horizon == plan.scheduler({}, "unused")._max_t


def test_optuna_is_told_that_a_trial_a_scheduler_ended_early_was_pruned():
    import optuna

    from tune_clothes.config import trial_record as record
    from tune_clothes.tuning.plan import optuna_search
    plan = adaptive(scheduler="race")
    searcher = optuna_search(optuna.samplers.TPESampler(seed=0))
    searcher.set_search_properties(M.VAL_LOSS, "min", plan.param_space())
    for trial_id, epochs_done in (("stopped", 2), ("finished", 8)):
        searcher.suggest(trial_id)
        searcher.on_trial_complete(trial_id, {M.VAL_LOSS: 0.5, record.EPOCHS_DONE: epochs_done,
                                              record.EPOCHS_TOTAL: 8})
    states = [trial.state for trial in searcher._ot_study.trials]  # the study Optuna learns from
    assert states == [optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.COMPLETE]
