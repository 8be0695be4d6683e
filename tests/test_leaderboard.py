"""The leaderboard on known numbers: fold statistics, ranking, paired ties, failures, formatting."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tune_clothes.analysis.leaderboard import SINGLE_CONFIG, best_configuration, format_leaderboard, summarize
from tune_clothes.config.errors import UserError
from tune_clothes.config.metric_names import VAL_ACC, VAL_F1, VAL_LOSS

K = 3  # folds in most tests


def trial_rows(axes: dict, accs: list, statuses: list | None = None, errors: list | None = None) -> list[dict]:
    """One row per fold of one configuration; val/loss = 1 - acc so its ranking is the reverse of acc's."""
    statuses = statuses or ["finished"] * len(accs)
    errors = errors or [None] * len(accs)
    rows = []
    for fold, (acc, status, error) in enumerate(zip(accs, statuses, errors)):
        value = acc if status == "finished" else math.nan
        rows.append({**axes, "fold": fold, "status": status, "error": error,
                     VAL_ACC: value, VAL_F1: value, VAL_LOSS: 1 - value})
    return rows


def frame(*configs: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([row for rows in configs for row in rows])


def row_of(board: pd.DataFrame, config: str) -> pd.Series:
    matches = board[board["config"] == config]
    assert len(matches) == 1, f"{config!r} not exactly once in {list(board['config'])}"
    return matches.iloc[0]


def test_fold_statistics_on_known_numbers():
    board = summarize(frame(trial_rows({"lr": 0.01}, [0.8, 0.9, 0.7])), ["lr"], VAL_ACC, "max", K)
    row = row_of(board, "lr=0.01")
    half_width = stats.t.ppf(0.975, 2) * 0.1 / math.sqrt(3)
    assert half_width == pytest.approx(0.2484, abs=1e-4)
    assert row[f"{VAL_ACC}/mean"] == pytest.approx(0.8)
    assert row[f"{VAL_ACC}/std"] == pytest.approx(0.1)
    assert row[f"{VAL_ACC}/ci_low"] == pytest.approx(0.8 - half_width)
    assert row[f"{VAL_ACC}/ci_high"] == pytest.approx(0.8 + half_width)
    assert row[f"{VAL_LOSS}/mean"] == pytest.approx(0.2)
    assert (row["folds_finished"], row["folds_failed"], row["folds_expected"]) == (3, 0, 3)
    assert row["status"] == "complete" and row["rank"] == 1 and row["is_best"] and row["tied_with_best"]


def test_confidence_level_widens_the_interval():
    board = summarize(frame(trial_rows({"lr": 0.01}, [0.8, 0.9, 0.7])), ["lr"], VAL_ACC, "max", K,
                      confidence=0.99)
    half_width = stats.t.ppf(0.995, 2) * 0.1 / math.sqrt(3)
    assert board.loc[0, f"{VAL_ACC}/ci_high"] == pytest.approx(0.8 + half_width)


def test_one_finished_fold_has_a_mean_but_no_std_or_interval():
    trials = frame(trial_rows({"lr": 0.1}, [0.6, 0.0, 0.0], ["finished", "pending", "terminated"]))
    row = summarize(trials, ["lr"], VAL_ACC, "max", K).iloc[0]
    assert row[f"{VAL_ACC}/mean"] == pytest.approx(0.6)
    assert all(math.isnan(row[f"{VAL_ACC}/{s}"]) for s in ("std", "ci_low", "ci_high"))
    assert row["status"] == "incomplete" and row["folds_finished"] == 1


def test_clearly_worse_is_not_tied_and_tiny_noise_is():
    best = [0.80, 0.90, 0.70, 0.85, 0.75]
    noisy = [v + d for v, d in zip(best, [1e-4, -1e-4, 2e-4, -2e-4, 0.0])]
    worse = [v - d for v, d in zip(best, [0.10, 0.12, 0.09, 0.11, 0.10])]
    trials = frame(trial_rows({"lr": 0.01}, best), trial_rows({"lr": 0.02}, noisy),
                   trial_rows({"lr": 0.1}, worse))
    board = summarize(trials, ["lr"], VAL_ACC, "max", 5)
    assert list(board["config"]) == ["lr=0.01", "lr=0.02", "lr=0.1"]
    assert list(board["tied_with_best"]) == [True, True, False]
    assert list(board["is_best"]) == [True, False, False]


def test_identical_folds_are_tied_and_a_constant_gap_is_not():
    best = [0.8, 0.9, 0.7]
    trials = frame(trial_rows({"lr": 0.01}, best), trial_rows({"lr": 0.02}, best),
                   trial_rows({"lr": 0.03}, [v - 0.05 for v in best]))
    board = summarize(trials, ["lr"], VAL_ACC, "max", K)
    assert row_of(board, "lr=0.02")["tied_with_best"]
    assert list(board["rank"]) == [1, 1, 3]  # equal means share a rank
    assert not row_of(board, "lr=0.03")["tied_with_best"]


def test_mode_min_ranks_lower_loss_first():
    trials = frame(trial_rows({"lr": 0.1}, [0.5, 0.55, 0.45]), trial_rows({"lr": 0.01}, [0.8, 0.9, 0.7]))
    board = summarize(trials, ["lr"], VAL_LOSS, "min", K)
    assert list(board["config"]) == ["lr=0.01", "lr=0.1"]
    assert list(board["rank"]) == [1, 2]
    assert board.loc[0, f"{VAL_LOSS}/mean"] < board.loc[1, f"{VAL_LOSS}/mean"]
    assert list(board.columns).index(f"{VAL_LOSS}/mean") < list(board.columns).index(f"{VAL_ACC}/mean")


def test_failed_config_keeps_its_first_error_and_no_rank():
    failed = trial_rows({"lr": 10.0}, [0.95, 0.0, 0.0], ["finished", "failed", "failed"],
                        [None, "RuntimeError: loss is NaN", "CUDA out of memory"])
    trials = frame(failed, trial_rows({"lr": 0.01}, [0.5, 0.55, 0.45]))
    board = summarize(trials, ["lr"], VAL_ACC, "max", K)
    assert list(board["config"]) == ["lr=0.01", "lr=10.0"]  # at the bottom despite its better finished fold
    row = row_of(board, "lr=10.0")
    assert row["status"] == "failed" and pd.isna(row["rank"]) and not row["tied_with_best"]
    assert row["error"] == "RuntimeError: loss is NaN"
    assert (row["folds_finished"], row["folds_failed"]) == (1, 2)
    assert pd.isna(row_of(board, "lr=0.01")["error"])


def test_incomplete_config_is_ranked_but_the_complete_one_is_best():
    trials = frame(trial_rows({"lr": 0.02}, [0.95, 0.97, 0.0], ["finished", "finished", "terminated"]),
                   trial_rows({"lr": 0.01}, [0.8, 0.9, 0.7]))
    board = summarize(trials, ["lr"], VAL_ACC, "max", K)
    incomplete = row_of(board, "lr=0.02")
    assert incomplete["status"] == "incomplete" and incomplete["rank"] == 1 and not incomplete["is_best"]
    assert row_of(board, "lr=0.01")["is_best"]
    assert best_configuration(board) == {"lr": 0.01}


def test_without_a_complete_config_the_top_one_is_best_with_a_note():
    trials = frame(trial_rows({"lr": 0.02}, [0.95, 0.0, 0.0], ["finished", "pending", "pending"]),
                   trial_rows({"lr": 0.01}, [0.8, 0.9, 0.0], ["finished", "finished", "pending"]))
    board = summarize(trials, ["lr"], VAL_ACC, "max", K)
    best = board[board["is_best"]].iloc[0]
    assert best["config"] == "lr=0.02" and "no configuration finished all 3 folds" in best["note"]
    other = row_of(board, "lr=0.01")  # one shared fold only: not enough evidence to separate them
    assert other["tied_with_best"] and "only 1 fold(s) shared" in other["note"]


def test_none_axis_values_form_their_own_group():
    trials = frame(trial_rows({"scheduler": None, "lr": 0.01}, [0.8, 0.9, 0.7]),
                   trial_rows({"scheduler": "cosine", "lr": 0.01}, [0.5, 0.6, 0.4]),
                   trial_rows({"scheduler": None, "lr": 0.1}, [0.3, 0.4, 0.2]))
    board = summarize(trials, ["scheduler", "lr"], VAL_ACC, "max", K)
    assert list(board["config"]) == ["scheduler=None, lr=0.01", "scheduler=cosine, lr=0.01",
                                     "scheduler=None, lr=0.1"]
    assert list(board["folds_finished"]) == [3, 3, 3]
    assert best_configuration(board) == {"scheduler": None, "lr": 0.01}


def test_missing_value_of_a_nullable_integer_axis_is_none():
    trials = frame(trial_rows({"batch_size": None}, [0.8, 0.9, 0.7]), trial_rows({"batch_size": 32}, [0.1] * 3))
    trials["batch_size"] = trials["batch_size"].astype("Int64")  # as a loader keeping ints exact would
    board = summarize(trials, ["batch_size"], VAL_ACC, "max", K)
    assert list(board["config"]) == ["batch_size=None", "batch_size=32"]
    assert best_configuration(board) == {"batch_size": None}


def test_no_axes_is_one_configuration():
    trials = frame(trial_rows({}, [0.8, 0.9, 0.7]))
    board = summarize(trials, [], VAL_ACC, "max", K)
    assert len(board) == 1 and board.loc[0, "config"] == SINGLE_CONFIG and board.loc[0, "is_best"]
    assert best_configuration(board) == {}


def test_best_configuration_returns_plain_python_types():
    axes = {"batch_size": 32, "lr": 0.001, "pretrained": True, "optimizer": "adam"}
    trials = frame(trial_rows(axes, [0.8, 0.9, 0.7]), trial_rows({**axes, "batch_size": 64}, [0.1, 0.2, 0.1]))
    best = best_configuration(summarize(trials, list(axes), VAL_ACC, "max", K))
    assert best == axes
    assert [type(v) for v in best.values()] == [int, float, bool, str]


def test_best_configuration_without_finished_folds_names_the_error():
    trials = frame(trial_rows({"lr": 1.0}, [0.0] * 3, ["failed"] * 3, ["ValueError: bad lr"] * 3))
    board = summarize(trials, ["lr"], VAL_ACC, "max", K)
    with pytest.raises(UserError, match="bad lr"):
        best_configuration(board)


def test_bad_arguments_are_rejected_with_the_value():
    trials = frame(trial_rows({"lr": 0.01}, [0.8, 0.9, 0.7]))
    with pytest.raises(UserError, match="mode='maximum'"):
        summarize(trials, ["lr"], VAL_ACC, "maximum", K)
    with pytest.raises(UserError, match="val/accuracy"):
        summarize(trials, ["lr"], "val/accuracy", "max", K)
    with pytest.raises(ValueError, match="fold 0"):
        summarize(pd.concat([trials, trials.iloc[:1]]), ["lr"], VAL_ACC, "max", K)
    with pytest.raises(ValueError, match="'momentum'"):
        summarize(trials, ["lr", "momentum"], VAL_ACC, "max", K)


def test_format_leaderboard_shows_stats_marks_and_failures():
    trials = frame(trial_rows({"lr": 0.01}, [0.8, 0.9, 0.7]),
                   trial_rows({"lr": 0.1}, [0.5, 0.52, 0.47]),
                   trial_rows({"lr": 10.0}, [0.0] * 3, ["failed"] * 3, ["RuntimeError: loss is NaN\ntrace"] * 3))
    board = summarize(trials, ["lr"], VAL_ACC, "max", K)
    lines = format_leaderboard(board, VAL_ACC, ["lr"]).splitlines()
    best_line = next(line for line in lines if "lr=0.01" in line)
    for text in ("0.8000 ± 0.1000", "[0.5516, 1.0484]", "3/3", "complete", "*"):
        assert text in best_line
    worse_line = next(line for line in lines if "lr=0.1 " in line)
    assert "*" not in worse_line and "0.4967" in worse_line
    assert any("failed" in line and "0/3" in line for line in lines)
    assert any(line.startswith("failed: lr=10.0: RuntimeError: loss is NaN") for line in lines)
    assert not any("trace" in line for line in lines)
    legend = next(line for line in lines if line.startswith("* = not distinguishable from the best"))
    assert "alpha=0.05" in legend
    assert any(line.startswith("CI = 95% Student-t") for line in lines)


def test_format_leaderboard_cuts_at_max_rows():
    trials = frame(*(trial_rows({"seed": s}, list(np.linspace(0.5, 0.7, 3) + s / 100)) for s in range(5)))
    text = format_leaderboard(summarize(trials, ["seed"], VAL_ACC, "max", K), VAL_ACC, ["seed"], max_rows=2)
    assert "seed=4" in text and "seed=3" in text and "seed=0" not in text
    assert "3 more configurations not shown" in text
