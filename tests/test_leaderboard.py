"""The leaderboard on known numbers: corrected fold statistics, ranking, comparisons with the best (paired only
on identical validation folds), edge cases. Statuses (failed, incomplete, stopped) and the printed table:
test_leaderboard_status.py."""
import math

import numpy as np
import pandas as pd
import pytest
from leaderboard_tables import board_of, frame, row_of, scheme, trial_rows
from scipy import stats

from tune_clothes.analysis.leaderboard import best_configuration
from tune_clothes.config.errors import UserError
from tune_clothes.config.labels import SINGLE_CONFIG
from tune_clothes.config.metric_names import VAL_ACC, VAL_LOSS
from tune_clothes.statistics.fold_tests import corrected_estimate, holm, welch_difference


def test_fold_statistics_on_known_numbers():
    board = board_of(frame(trial_rows({"lr": 0.01}, [0.8, 0.9, 0.7])), ["lr"])
    row = row_of(board, "lr=0.01")
    # corrected resampled t: se = sqrt((1/3 + 1/2) * 0.1^2) = 0.09129, half width = t(0.975, 2 df) * se
    half_width = stats.t.ppf(0.975, 2) * math.sqrt(5 / 6) * 0.1
    assert half_width == pytest.approx(0.3928, abs=1e-4)  # the naive interval's was 0.2484
    assert row[f"{VAL_ACC}/mean"] == pytest.approx(0.8)
    assert row[f"{VAL_ACC}/std"] == pytest.approx(0.1)
    assert row[f"{VAL_ACC}/se"] == pytest.approx(0.0912871, abs=1e-6)
    assert row[f"{VAL_ACC}/ci_low"] == pytest.approx(0.8 - half_width)
    assert row[f"{VAL_ACC}/ci_high"] == pytest.approx(0.8 + half_width)
    assert row[f"{VAL_LOSS}/mean"] == pytest.approx(0.2)
    assert (row["folds_finished"], row["folds_failed"], row["folds_expected"]) == (3, 0, 3)
    assert row["status"] == "complete" and row["rank"] == 1 and row["is_best"] and row["tied_with_best"]
    assert row["comparison"] == "" and pd.isna(row["p_value"]) and pd.isna(row["prob_equivalent"])


def test_the_fold_sizes_of_the_scheme_set_the_correction():
    trials = frame(trial_rows({"lr": 0.01}, [0.8, 0.9, 0.7]))
    board = board_of(trials, ["lr"], schemes={"kfold": scheme(ratio=3 / 7)})  # n_val/n_train of a 0.7 split
    assert board.loc[0, f"{VAL_ACC}/se"] == pytest.approx(math.sqrt((1 / 3 + 3 / 7) * 0.01))


def test_confidence_level_widens_the_interval():
    board = board_of(frame(trial_rows({"lr": 0.01}, [0.8, 0.9, 0.7])), ["lr"], confidence=0.99)
    assert board.loc[0, f"{VAL_ACC}/ci_high"] == pytest.approx(0.8 + stats.t.ppf(0.995, 2) * math.sqrt(5 / 6) * 0.1)


def test_one_finished_fold_has_a_mean_but_no_spread_interval_or_comparison():
    trials = frame(trial_rows({"lr": 0.1}, [0.6, 0.0, 0.0], ["finished", "pending", "terminated"]),
                   trial_rows({"lr": 0.01}, [0.5, 0.55, 0.45]))
    board = board_of(trials, ["lr"])
    row = row_of(board, "lr=0.1")
    assert row[f"{VAL_ACC}/mean"] == pytest.approx(0.6)
    assert all(math.isnan(row[f"{VAL_ACC}/{s}"]) for s in ("std", "se", "ci_low", "ci_high"))
    assert row["status"] == "incomplete" and row["folds_finished"] == 1
    assert row["comparison"] == "" and pd.isna(row["p_holm"]) and row["tied_with_best"]
    assert "1 finished fold: too few to compare" in row["note"]


def test_clearly_worse_is_not_tied_and_tiny_noise_is():
    best = [0.80, 0.90, 0.70, 0.85, 0.75]
    noisy = [v + d for v, d in zip(best, [1e-4, -1e-4, 2e-4, -2e-4, 0.0])]
    worse = [v - d for v, d in zip(best, [0.10, 0.12, 0.09, 0.11, 0.10])]
    trials = frame(trial_rows({"lr": 0.01}, best, folds=5), trial_rows({"lr": 0.02}, noisy, folds=5),
                   trial_rows({"lr": 0.1}, worse, folds=5))
    board = board_of(trials, ["lr"], folds=5)
    assert list(board["config"]) == ["lr=0.01", "lr=0.02", "lr=0.1"]
    assert list(board["tied_with_best"]) == [True, True, False]
    assert list(board["is_best"]) == [True, False, False]
    assert list(board["comparison"]) == ["", "paired", "paired"]
    worse_row = row_of(board, "lr=0.1")
    assert worse_row["prob_best_better"] > 0.99 and worse_row["prob_equivalent"] < 0.01
    assert row_of(board, "lr=0.02")["prob_equivalent"] > 0.99  # within the rope of 0.01


def test_paired_and_unpaired_p_values_and_holm_against_the_best():
    best, same_folds, other_split = [0.8, 0.9, 0.7], [0.75, 0.80, 0.70], [0.62, 0.66, 0.55]
    trials = frame(trial_rows({"lr": 0.01, "split": None}, best),
                   trial_rows({"lr": 0.1, "split": None}, same_folds),
                   trial_rows({"lr": 0.01, "split": 0.7}, other_split, scheme_name="split=0.7"))
    schemes = {"kfold": scheme("kfold-a"), "split=0.7": scheme("split-b", ratio=3 / 7)}
    board = board_of(trials, ["lr", "split"], schemes=schemes)
    paired, unpaired = row_of(board, "lr=0.1, split=None"), row_of(board, "lr=0.01, split=0.7")
    assert (paired["comparison"], unpaired["comparison"]) == ("paired", "unpaired")
    expected_paired = corrected_estimate(np.subtract(best, same_folds), 0.5).p_value()
    assert expected_paired == pytest.approx(0.3876276, abs=1e-6)  # as in test_statistics, by hand
    expected_unpaired = welch_difference(corrected_estimate(best, 0.5),
                                         corrected_estimate(other_split, 3 / 7)).p_value()
    assert paired["p_value"] == pytest.approx(expected_paired)
    assert unpaired["p_value"] == pytest.approx(expected_unpaired)
    assert [paired["p_holm"], unpaired["p_holm"]] == pytest.approx(list(holm([expected_paired, expected_unpaired])))
    assert paired["tied_with_best"] == (paired["p_holm"] >= 0.05)


def test_repeats_pair_by_repeat_and_fold_and_narrow_the_interval():
    best = [0.80, 0.90, 0.70, 0.82, 0.88, 0.75]  # j = repeat * 3 + fold
    other = [0.78, 0.85, 0.69, 0.80, 0.84, 0.70]
    trials = frame(trial_rows({"lr": 0.01}, best), trial_rows({"lr": 0.1}, other))
    board = board_of(trials, ["lr"], repeats=2)
    row = row_of(board, "lr=0.1")
    assert (row["folds_finished"], row["folds_expected"], row["status"]) == (6, 6, "complete")
    assert row["p_value"] == pytest.approx(corrected_estimate(np.subtract(best, other), 0.5).p_value())
    # half width / std: t(0.975, J-1) * sqrt(1/J + 1/2) = 3.93 with one repeat of 3 folds, 2.10 with two
    top = row_of(board, "lr=0.01")
    ratio = (top[f"{VAL_ACC}/ci_high"] - top[f"{VAL_ACC}/mean"]) / top[f"{VAL_ACC}/std"]
    assert ratio == pytest.approx(stats.t.ppf(0.975, 5) * math.sqrt(1 / 6 + 1 / 2))
    one_repeat = board_of(frame(trial_rows({"lr": 0.01}, best[:3])), ["lr"]).iloc[0]
    assert (one_repeat[f"{VAL_ACC}/ci_high"] - one_repeat[f"{VAL_ACC}/mean"]) / one_repeat[f"{VAL_ACC}/std"] == \
        pytest.approx(stats.t.ppf(0.975, 2) * math.sqrt(1 / 3 + 1 / 2))


def test_identical_folds_are_tied_and_a_constant_gap_is_not():
    best = [0.8, 0.9, 0.7]
    trials = frame(trial_rows({"lr": 0.01}, best), trial_rows({"lr": 0.02}, best),
                   trial_rows({"lr": 0.03}, [v - 0.05 for v in best]))
    board = board_of(trials, ["lr"])
    same = row_of(board, "lr=0.02")
    assert same["tied_with_best"] and same["p_value"] == 1.0 and same["prob_equivalent"] == 1.0
    assert list(board["rank"]) == [1, 1, 3]  # equal means share a rank
    gap = row_of(board, "lr=0.03")
    assert not gap["tied_with_best"] and gap["p_value"] == 0.0 and gap["prob_best_better"] == 1.0


def test_identical_fold_scores_have_zero_spread_not_nan():
    board = board_of(frame(trial_rows({"lr": 0.01}, [0.7, 0.7, 0.7])), ["lr"])
    row = board.iloc[0]
    assert row[f"{VAL_ACC}/std"] == 0 and row[f"{VAL_ACC}/se"] == 0
    assert row[f"{VAL_ACC}/ci_low"] == row[f"{VAL_ACC}/ci_high"] == pytest.approx(0.7)


def test_mode_min_ranks_lower_loss_first():
    trials = frame(trial_rows({"lr": 0.1}, [0.5, 0.55, 0.45]), trial_rows({"lr": 0.01}, [0.8, 0.9, 0.7]))
    board = board_of(trials, ["lr"], metric=VAL_LOSS, mode="min")
    assert list(board["config"]) == ["lr=0.01", "lr=0.1"]
    assert list(board["rank"]) == [1, 2]
    assert board.loc[0, f"{VAL_LOSS}/mean"] < board.loc[1, f"{VAL_LOSS}/mean"]
    assert list(board.columns).index(f"{VAL_LOSS}/mean") < list(board.columns).index(f"{VAL_ACC}/mean")
    assert board.loc[1, "prob_best_better"] > 0.9  # lower loss is better: the best's side


def test_same_folds_with_too_few_shared_are_compared_unpaired():
    trials = frame(trial_rows({"lr": 0.01}, [0.8, 0.9, 0.7, 0.85, 0.0, 0.0], ["finished"] * 4 + ["pending"] * 2),
                   trial_rows({"lr": 0.1}, [0.0, 0.0, 0.0, 0.5, 0.6, 0.55], ["pending"] * 3 + ["finished"] * 3))
    row = row_of(board_of(trials, ["lr"], repeats=2), "lr=0.1")
    assert row["comparison"] == "unpaired" and "only 1 fold(s) shared" in row["note"]


def test_none_axis_values_form_their_own_group():
    trials = frame(trial_rows({"scheduler": None, "lr": 0.01}, [0.8, 0.9, 0.7]),
                   trial_rows({"scheduler": "cosine", "lr": 0.01}, [0.5, 0.6, 0.4]),
                   trial_rows({"scheduler": None, "lr": 0.1}, [0.3, 0.4, 0.2]))
    board = board_of(trials, ["scheduler", "lr"])
    assert list(board["config"]) == ["scheduler=None, lr=0.01", "scheduler=cosine, lr=0.01",
                                     "scheduler=None, lr=0.1"]
    assert list(board["folds_finished"]) == [3, 3, 3]
    assert best_configuration(board) == {"scheduler": None, "lr": 0.01}


def test_missing_value_of_a_nullable_integer_axis_is_none():
    trials = frame(trial_rows({"batch_size": None}, [0.8, 0.9, 0.7]), trial_rows({"batch_size": 32}, [0.1] * 3))
    trials["batch_size"] = trials["batch_size"].astype("Int64")  # as a loader keeping ints exact would
    board = board_of(trials, ["batch_size"])
    assert list(board["config"]) == ["batch_size=None", "batch_size=32"]
    assert best_configuration(board) == {"batch_size": None}


def test_no_axes_is_one_configuration():
    board = board_of(frame(trial_rows({}, [0.8, 0.9, 0.7])), [])
    assert len(board) == 1 and board.loc[0, "config"] == SINGLE_CONFIG and board.loc[0, "is_best"]
    assert best_configuration(board) == {}


def test_best_configuration_returns_plain_python_types():
    axes = {"batch_size": 32, "lr": 0.001, "pretrained": True, "optimizer": "adam"}
    trials = frame(trial_rows(axes, [0.8, 0.9, 0.7]), trial_rows({**axes, "batch_size": 64}, [0.1, 0.2, 0.1]))
    best = best_configuration(board_of(trials, list(axes)))
    assert best == axes
    assert [type(v) for v in best.values()] == [int, float, bool, str]


def test_best_configuration_without_finished_folds_names_the_error():
    trials = frame(trial_rows({"lr": 1.0}, [0.0] * 3, ["failed"] * 3, ["ValueError: bad lr"] * 3))
    board = board_of(trials, ["lr"])
    with pytest.raises(UserError, match="bad lr"):
        best_configuration(board)


def test_bad_arguments_are_rejected_with_the_value():
    trials = frame(trial_rows({"lr": 0.01}, [0.8, 0.9, 0.7]))
    with pytest.raises(UserError, match="mode='maximum'"):
        board_of(trials, ["lr"], mode="maximum")
    with pytest.raises(UserError, match="val/accuracy"):
        board_of(trials, ["lr"], metric="val/accuracy")
    with pytest.raises(ValueError, match="fold j=0"):
        board_of(pd.concat([trials, trials.iloc[:1]]), ["lr"])
    with pytest.raises(ValueError, match="'momentum'"):
        board_of(trials, ["lr", "momentum"])
    with pytest.raises(ValueError, match="split=0.8"):
        board_of(trials.assign(scheme="split=0.8"), ["lr"])
