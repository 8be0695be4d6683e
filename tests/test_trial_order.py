"""A grid's trials run longest first (no long trial left alone at the end), and among equals fold by fold (a
search stopped half-way has every configuration on the same first folds); a resumed search's searcher
proposes only the trials not proposed before."""
from __future__ import annotations

from pathlib import Path

from conftest import tiny_space

from tune_clothes.config.loader import experiment_from_dict
from tune_clothes.tuning.plan import GridInOrder, grid_trials, plan_search


def test_longest_trials_first_then_fold_by_fold(tmp_path: Path) -> None:
    space = tiny_space(tmp_path, "order", search={"grid": {"lr": [0.01, 0.001], "epochs": [2, 6]}}, cv={"folds": 2})
    trials = grid_trials(experiment_from_dict(space))
    assert [(t["epochs"], t["fold"], t["lr"]) for t in trials] == [
        (6, 0, 0.01), (6, 0, 0.001), (6, 1, 0.01), (6, 1, 0.001),
        (2, 0, 0.01), (2, 0, 0.001), (2, 1, 0.01), (2, 1, 0.001)]


def test_the_searcher_proposes_each_trial_once_across_a_resume(tmp_path: Path) -> None:
    plan = plan_search(experiment_from_dict(tiny_space(tmp_path, "order")))
    limiter = plan.search_algorithm()
    assert limiter.max_concurrent == plan.num_samples == plan.total_trials == 6 and plan.param_space() == {}
    searcher = limiter.searcher
    first = [searcher.suggest(f"t{i}") for i in range(2)]
    searcher.save(str(tmp_path / "searcher.json"))
    resumed = GridInOrder([])
    resumed.restore(str(tmp_path / "searcher.json"))
    rest = [resumed.suggest(f"t{i}") for i in range(4)]
    assert resumed.suggest("t6") == GridInOrder.FINISHED
    assert first + rest == grid_trials(plan.experiment)


def test_a_raced_grid_starts_its_configurations_in_an_order_shuffled_with_the_seed(tmp_path: Path) -> None:
    """Lock-step trials, one per configuration: not the order of the grid's lists (learning rates listed from
    the highest would always start the race with the same kind of configuration), the same order every time."""
    lrs = [0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 0.0003, 0.0001]
    space = tiny_space(tmp_path, "raced", lrs=lrs, search={"scheduler": "race"})
    first, again = (grid_trials(experiment_from_dict(space)) for _ in range(2))
    assert first == again and sorted(t["lr"] for t in first) == sorted(lrs)
    assert [t["lr"] for t in first] != lrs and all("fold" not in t for t in first)
    other_seed = grid_trials(experiment_from_dict({**space, "cv": {**space["cv"], "seed": 1}}))
    assert [t["lr"] for t in other_seed] != [t["lr"] for t in first]
