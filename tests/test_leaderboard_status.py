"""The leaderboard's statuses on known numbers (a failed configuration, an incomplete one, no complete one, and
configurations ASHA stopped) and the printed table with its legend."""
import math

import numpy as np
import pandas as pd
import pytest
from leaderboard_tables import board_of, frame, row_of, trial_rows

from tune_clothes.analysis.leaderboard import best_configuration
from tune_clothes.analysis.table import format_leaderboard
from tune_clothes.config.metric_names import VAL_ACC, VAL_F1, VAL_LOSS


def test_failed_config_keeps_its_first_error_and_no_rank_or_comparison():
    failed = trial_rows({"lr": 10.0}, [0.95, 0.9, 0.0], ["finished", "finished", "failed"],
                        [None, None, "RuntimeError: loss diverged"])
    trials = frame(failed, trial_rows({"lr": 0.01}, [0.5, 0.55, 0.45]))
    board = board_of(trials, ["lr"])
    assert list(board["config"]) == ["lr=0.01", "lr=10.0"]  # at the bottom despite its better finished folds
    row = row_of(board, "lr=10.0")
    assert row["status"] == "failed" and pd.isna(row["rank"]) and not row["tied_with_best"]
    assert row["comparison"] == "" and pd.isna(row["p_value"]) and pd.isna(row["p_holm"])
    assert row["error"] == "RuntimeError: loss diverged"
    assert (row["folds_finished"], row["folds_failed"]) == (2, 1)
    assert pd.isna(row_of(board, "lr=0.01")["error"])
    assert "nan" not in board.to_csv(index=False).lower()  # missing numbers are empty cells


def test_incomplete_config_is_ranked_but_the_complete_one_is_best():
    trials = frame(trial_rows({"lr": 0.02}, [0.95, 0.97, 0.0], ["finished", "finished", "terminated"]),
                   trial_rows({"lr": 0.01}, [0.8, 0.9, 0.7]))
    board = board_of(trials, ["lr"])
    incomplete = row_of(board, "lr=0.02")
    assert incomplete["status"] == "incomplete" and incomplete["rank"] == 1 and not incomplete["is_best"]
    assert incomplete["comparison"] == "paired" and not pd.isna(incomplete["p_value"])  # over its 2 folds
    assert row_of(board, "lr=0.01")["is_best"]
    assert best_configuration(board) == {"lr": 0.01}


def test_without_a_complete_config_the_top_one_is_best_with_a_note():
    trials = frame(trial_rows({"lr": 0.02}, [0.95, 0.0, 0.0], ["finished", "pending", "pending"]),
                   trial_rows({"lr": 0.01}, [0.8, 0.9, 0.0], ["finished", "finished", "pending"]))
    board = board_of(trials, ["lr"])
    best = board[board["is_best"]].iloc[0]
    assert best["config"] == "lr=0.02" and "no configuration finished all 3 folds" in best["note"]
    other = row_of(board, "lr=0.01")  # the best has one fold: not enough evidence to separate them
    assert other["tied_with_best"] and other["comparison"] == "" and pd.isna(other["p_value"])
    assert "the best has 1 finished fold" in other["note"]


def test_format_leaderboard_shows_stats_marks_and_failures():
    trials = frame(trial_rows({"lr": 0.01}, [0.8, 0.9, 0.7]),
                   trial_rows({"lr": 0.1}, [0.5, 0.6, 0.41]),
                   trial_rows({"lr": 10.0}, [0.0] * 3, ["failed"] * 3, ["RuntimeError: loss diverged\ntrace"] * 3))
    board = board_of(trials, ["lr"])
    lines = format_leaderboard(board, VAL_ACC, ["lr"]).splitlines()
    best_line = next(line for line in lines if "lr=0.01" in line)
    for text in ("0.8000 ± 0.1000", "[0.4072, 1.1928]", "3/3", "complete", "*"):
        assert text in best_line
    worse_line = next(line for line in lines if "lr=0.1 " in line)
    assert "*" not in worse_line and "0.5033" in worse_line and "paired" in worse_line
    assert any("failed" in line and "0/3" in line for line in lines)
    assert any(line.startswith("failed: lr=10.0: RuntimeError: loss diverged") for line in lines)
    assert not any("trace" in line or "nan" in line.lower() for line in lines)
    legend = "\n".join(lines[lines.index(next(line for line in lines if line.startswith("CI "))):])
    for text in ("95% corrected resampled t-interval", "(Nadeau & Bengio 2003)", "(1/J + n_val/n_train) * s^2",
                 "paired on identical validation folds", "Holm-adjusted", "* = tied with the best: p_holm >= 0.05",
                 "Bayesian correlated t-test", "rope of +-0.01"):
        assert text in legend


def test_format_leaderboard_cuts_at_max_rows():
    trials = frame(*(trial_rows({"seed": s}, list(np.linspace(0.5, 0.7, 3) + s / 100)) for s in range(5)))
    text = format_leaderboard(board_of(trials, ["seed"]), VAL_ACC, ["seed"], max_rows=2)
    assert "seed=4" in text and "seed=3" in text and "seed=0" not in text
    assert "3 more configurations not shown" in text


def stopped_rows(lr: float, accs: list, epoch: int) -> list[dict]:
    """A configuration ASHA stopped after `epoch` epochs, with each fold's val/acc there."""
    return [{**row, "status": "stopped", "epochs_done": epoch, VAL_ACC: acc, VAL_F1: acc, VAL_LOSS: 1 - acc}
            for row, acc in zip(trial_rows({"lr": lr}, accs, ["stopped"] * len(accs)), accs)]


def test_configurations_asha_stopped_rank_after_the_others_with_their_epoch_and_value():
    trials = frame(trial_rows({"lr": 0.01}, [0.5, 0.6, 0.4]),
                   stopped_rows(0.1, [0.9, 0.8, 0.7], epoch=3),  # better than lr=0.01, but after 3 epochs only
                   stopped_rows(0.2, [0.95, 0.9, 0.85], epoch=3),
                   stopped_rows(0.3, [0.2, 0.3, 0.1], epoch=6),  # survived a later rung: before both
                   trial_rows({"lr": 9.0}, [0.0] * 3, ["incomplete"] * 3))
    board = board_of(trials.assign(epochs_done=trials["epochs_done"].fillna(12)), ["lr"])
    assert list(board["config"]) == ["lr=0.01", "lr=0.3", "lr=0.2", "lr=0.1", "lr=9.0"]
    assert list(board["rank"].astype("float").fillna(-1)) == [1, 2, 3, 4, -1]
    assert list(board["status"]) == ["complete", "stopped", "stopped", "stopped", "incomplete"]
    stopped = row_of(board, "lr=0.2")
    assert stopped["stopped_epoch"] == 3 and stopped["stopped_mean"] == pytest.approx(0.9)
    assert math.isnan(stopped[f"{VAL_ACC}/mean"]) and stopped["comparison"] == "" and not stopped["is_best"]
    assert row_of(board, "lr=0.01")["is_best"]
    lines = format_leaderboard(board, VAL_ACC, ["lr"]).splitlines()
    line = next(line for line in lines if "lr=0.2 " in line)
    assert "0.9000 at epoch 3" in line and "stopped" in line
    assert any(line.startswith("stopped = ASHA stopped it early") for line in lines)


def eliminated_rows(lr: float, accs: list, epoch: int, lost_to: str | None) -> list[dict]:
    """A configuration the race eliminated at `epoch`, having lost to `lost_to` (None: not recorded)."""
    return [{**row, "status": "eliminated", "eliminated_at": epoch, "eliminated_p": 0.004, "lost_to": lost_to}
            for row in stopped_rows(lr, accs, epoch)]


def test_an_eliminated_configuration_says_what_it_lost_to_or_that_it_was_not_recorded():
    trials = frame(trial_rows({"lr": 0.01}, [0.5, 0.6, 0.4]), eliminated_rows(0.3, [0.2, 0.3, 0.1], 2, "lr=0.01"),
                   eliminated_rows(0.9, [0.1, 0.1, 0.1], 1, None))  # a race resumed by an earlier version
    board = board_of(trials.assign(epochs_done=trials["epochs_done"].fillna(12)), ["lr"])
    assert list(board["status"]) == ["complete", "eliminated", "eliminated"]
    assert row_of(board, "lr=0.3")["note"] == "eliminated at epoch 2: worse than lr=0.01 (race evidence 0.004)"
    assert row_of(board, "lr=0.9")["note"] == ("eliminated at epoch 1: worse than the rung's best (not recorded) "
                                               "(race evidence 0.004)")
    assert "None" not in board.to_csv(index=False)
