"""The replay benchmark on a tiny recorded grid made by hand, its numbers held against a hand count: B is the best,
T is tied with it (its folds around B's, no mean difference), H is hopeless; 3 folds, 4 epochs, rungs 1 and 2."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tune_clothes.benchmarks.replay import fold_race_replay, lockstep_replay, read_grid, replay, schedulers, tied_set
from tune_clothes.statistics.race import RaceRule

FOLDS = {"B": [0.80, 0.82, 0.78], "T": [0.79, 0.82, 0.78], "H": [0.10, 0.10, 0.10]}
EPOCHS, PER_CONFIGURATION = 4, 3 * 4  # fold-epochs of one configuration trained to the end


@pytest.fixture
def grid(tmp_path):
    rows = [{"config": config, "fold_index": j, "epoch": epoch, "value": score, "metric": "val/acc",
             "val_train_ratio": 0.5} for config, scores in FOLDS.items() for j, score in enumerate(scores)
            for epoch in range(1, EPOCHS + 1)]
    path = tmp_path / "recorded.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return read_grid(str(path))


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


def test_the_command_prints_the_table(grid, tmp_path):
    pd.DataFrame([{"config": c, "fold_index": j, "epoch": e, "value": v, "metric": "val/acc", "val_train_ratio": 0.5}
                  for c, s in FOLDS.items() for j, v in enumerate(s) for e in range(1, EPOCHS + 1)]).to_csv(
        tmp_path / "r.csv", index=False)
    shown = subprocess.run([sys.executable, "-m", "tune_clothes.benchmarks.replay", str(tmp_path / "r.csv"),
                            "--orders", "3"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "3 configurations x 3 folds x 4 epochs; val/acc: best B (0.8000), 2 configuration(s) tied" in shown.stdout
    assert sum(line.split()[0] in ("none", "asha", "race") for line in shown.stdout.splitlines()) == 5 * 4
