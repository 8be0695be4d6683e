"""The replay benchmark on a tiny recorded grid made by hand, its numbers held against a hand count: B is the best,
T is tied with it (its folds around B's, no mean difference), H is hopeless; 3 folds, 4 epochs, rungs 1 and 2."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tune_clothes.benchmarks import replay as bench
from tune_clothes.benchmarks.replay import fold_race_replay, lockstep_replay, read_grid, replay, schedulers, tied_set
from tune_clothes.statistics.race import RaceRule

FOLDS = {"B": [0.80, 0.82, 0.78], "T": [0.79, 0.82, 0.78], "H": [0.10, 0.10, 0.10]}
EPOCHS, PER_CONFIGURATION = 4, 3 * 4  # fold-epochs of one configuration trained to the end
FLAT = {config: dict.fromkeys(range(1, EPOCHS + 1), scores) for config, scores in FOLDS.items()}  # the same each epoch


def write_grid(path, curves) -> str:
    """curves: configuration -> epoch -> its fold scores."""
    rows = [{"config": config, "fold_index": j, "epoch": epoch, "value": score, "metric": "val/acc",
             "val_train_ratio": 0.5} for config, by_epoch in curves.items() for epoch, scores in by_epoch.items()
            for j, score in enumerate(scores)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


@pytest.fixture
def grid(tmp_path):
    return read_grid(write_grid(tmp_path / "recorded.csv", FLAT))


def test_the_full_grids_best_and_tied_set_are_the_leaderboards(grid):
    assert tied_set(grid) == ("B", {"B", "T"})


@pytest.mark.parametrize("order, concurrency, trained", [
    (["H", "B", "T"], 1, 3 * PER_CONFIGURATION),  # H runs alone first: nothing to compare it with
    (["B", "H", "T"], 1, 2 * PER_CONFIGURATION + 3),  # H is eliminated after its first epoch (3 folds)
    (["T", "H", "B"], 1, 2 * PER_CONFIGURATION + 3),  # ... by T, the best at that rung so far
    (["H", "B", "T"], 2, 2 * PER_CONFIGURATION + 6),  # B's epoch 1 eliminates H, which stops at its next report
])
def test_a_race_trains_what_a_hand_count_says(grid, tmp_path, order, concurrency, trained):
    race = schedulers(grid, str(tmp_path))["race ttest"]()
    done, finished, ended = lockstep_replay(grid, order, concurrency, race)
    assert done == trained and {"B", "T"} <= finished and ("H" in ended) == (trained < 3 * PER_CONFIGURATION)


def test_racing_over_folds_skips_the_folds_of_the_hopeless_one(grid):
    done, finished, eliminated = fold_race_replay(grid, ["B", "T", "H"], 1, RaceRule("ttest", 0.05))
    assert eliminated == {"H"} and finished == {"B", "T"}
    assert done == 2 * 3 * EPOCHS + 2 * EPOCHS  # H trains folds 0 and 1: two finished folds are the least a test needs


def test_the_replay_table_averages_the_orders(grid):
    table = replay(grid, orders=6, concurrencies=(1,)).set_index("scheduler")
    assert table.loc["none", "epochs trained"] == 1.0 and table.loc["none", "chose the best"] == 1.0
    rng = np.random.default_rng(0)
    orders = [list(rng.permutation(list(grid.scores))) for _ in range(6)]
    expected = np.mean([1.0 if order[0] == "H" else (2 * PER_CONFIGURATION + 3) / (3 * PER_CONFIGURATION)
                        for order in orders])
    assert table.loc["race ttest", "epochs trained"] == pytest.approx(expected)
    assert table.loc["race ttest", "chose the best"] == 1.0 and table.loc["race ttest", "eliminated a tied one"] == 0


def test_the_evidence_floor_stops_each_configuration_at_the_first_look_that_separates_it(tmp_path):
    # L (a late loser) runs with B at epochs 1 and 2 and is hopeless from epoch 3: the rungs (1, 2) never see it
    # behind, a look at every epoch does at epoch 3. H is behind from epoch 1; T is tied throughout.
    late = {epoch: FOLDS["T"] if epoch < 3 else FOLDS["H"] for epoch in range(1, EPOCHS + 1)}
    grid = read_grid(write_grid(tmp_path / "late.csv", {**FLAT, "L": late}))
    rule = RaceRule("ttest", 0.05)
    full = 4 * EPOCHS
    assert bench.evidence_floor(grid, rule, [1, 2]) == ((3 * EPOCHS + 1) / full, {"H"})
    assert bench.evidence_floor(grid, rule, [1, 2, 3]) == ((2 * EPOCHS + 1 + 3) / full, {"H", "L"})
    table = bench.floors(grid).set_index(["floor of", "looks"])
    assert table.loc[("race ttest", "rungs [1, 2]"), "epochs trained"] == (3 * EPOCHS + 1) / full
    assert table.loc[("race ttest", "every epoch"), "eliminated tied ones"] == 0


def test_the_command_takes_scheduler_settings_and_refuses_bad_ones(tmp_path):
    path = write_grid(tmp_path / "r.csv", FLAT)
    assert read_grid(path, ["search.grace_period=2"]).experiment.search.grace_period == 2
    shown = subprocess.run([sys.executable, "-m", "tune_clothes.benchmarks.replay", path, "--set",
                            "search.race_alpha=2"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 1 and "r.csv with --set search.race_alpha=2: " in shown.stderr
    assert "must be between 0 and 1" in shown.stderr and "Traceback" not in shown.stderr


def test_the_command_prints_the_table(tmp_path):
    path = write_grid(tmp_path / "r.csv", FLAT)
    shown = subprocess.run([sys.executable, "-m", "tune_clothes.benchmarks.replay", path, "--orders", "3"],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "3 configurations x 3 folds x 4 epochs; val/acc: best B (0.8000), 1 other(s) tied with it" in shown.stdout
    table, floor = ([line.split()[0] for line in part.splitlines() if line.strip()]
                    for part in shown.stdout.split("evidence floor"))
    assert sum(word in ("none", "asha", "race") for word in table) == 5 * 4 and floor.count("race") == 2 * 2
