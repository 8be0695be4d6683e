"""The fold statistics on numbers worked out by hand, and the Bayesian correlated t-test against baycomp."""
import math

import numpy as np
import pytest

from tune_clothes.statistics.fold_tests import TEstimate, corrected_estimate, holm, welch_difference

T_975_2DF = 4.302652729749462  # Student-t quantile 0.975 with 2 degrees of freedom (any t table)


def test_corrected_interval_of_three_folds():
    # K = 3 folds: n_val/n_train = 1/2. s^2 = 0.01, so Var(mean) = (1/3 + 1/2) * 0.01 = 0.008333...
    estimate = corrected_estimate([0.8, 0.9, 0.7], val_train_ratio=0.5)
    assert estimate.mean == pytest.approx(0.8)
    assert estimate.se == pytest.approx(math.sqrt(0.01 * 5 / 6))  # 0.0913, vs 0.0577 uncorrected
    assert estimate.df == 2
    low, high = estimate.interval(0.95)
    assert (low, high) == pytest.approx((0.8 - T_975_2DF * 0.0912871, 0.8 + T_975_2DF * 0.0912871), abs=1e-6)
    assert high - low == pytest.approx(2 * 0.392777, abs=1e-6)


def test_paired_p_value_on_the_differences():
    # differences 0.05, 0.10, 0.00: mean 0.05, s^2 = 0.0025, se = sqrt((1/3 + 1/2) * 0.0025) = 0.0456,
    # t = 1.0954; with 2 df the two-sided p is 1 - t / sqrt(2 + t^2) = 0.38763.
    best, other = np.array([0.80, 0.90, 0.70]), np.array([0.75, 0.80, 0.70])
    difference = corrected_estimate(best - other, val_train_ratio=0.5)
    assert difference.mean / difference.se == pytest.approx(1.0954451, abs=1e-6)
    assert difference.p_value() == pytest.approx(0.3876276, abs=1e-6)


def test_unpaired_welch_p_value():
    # se 0.05 each, 2 df each: Welch-Satterthwaite gives (2 * 0.0025)^2 / (2 * 0.0025^2 / 2) = 4 df;
    # t = 0.1 / sqrt(0.005) = sqrt(2); with 4 df the two-sided p is 0.230200 (closed form of the t CDF).
    difference = welch_difference(TEstimate(0.8, 0.05, 2), TEstimate(0.7, 0.05, 2))
    assert difference.mean == pytest.approx(0.1)
    assert difference.se == pytest.approx(math.sqrt(0.005))
    assert difference.df == pytest.approx(4)
    assert difference.p_value() == pytest.approx(0.2301996, abs=1e-6)


def test_holm_steps_down_and_keeps_missing_values():
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04, made monotone: 0.03, 0.06, 0.06
    adjusted = holm([0.04, np.nan, 0.01, 0.03])
    assert np.isnan(adjusted[1])
    assert adjusted[[0, 2, 3]] == pytest.approx([0.06, 0.03, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert len(holm([])) == 0


def test_identical_scores_have_zero_spread_not_nan():
    same = corrected_estimate([0.7, 0.7, 0.7], 0.5)
    low, high = same.interval(0.95)
    assert same.se == 0 and low == high == pytest.approx(0.7)
    rounding = corrected_estimate(np.array([0.9, 0.8, 0.3]) - np.array([0.8, 0.7, 0.2]), 0.5)  # 0.1 +- 1e-17
    assert rounding.se == 0
    assert rounding.p_value() == 0.0  # a constant gap: certain, not 0/0
    assert corrected_estimate([0.8, 0.8], 1.0).p_value() == 0.0
    assert corrected_estimate([0.0, 0.0], 1.0).p_value() == 1.0
    assert rounding.probabilities(0.01) == (0.0, 0.0, 1.0)
    assert rounding.probabilities(0.2) == (0.0, 1.0, 0.0)


def test_one_fold_has_no_estimate():
    assert corrected_estimate([0.8], 0.5) is None
    assert corrected_estimate([], 0.5) is None


BAYCOMP_CASES = [  # (best's fold scores, other's, repeats, rope)
    ([.80, .82, .79, .81, .83], [.78, .80, .79, .80, .80], 1, 0.01),
    ([.80, .82, .79, .81, .83], [.78, .80, .79, .80, .80], 1, 0.0),
    ([.71, .74, .69, .75, .70, .72, .73, .70, .74, .71], [.70, .71, .70, .70, .72, .69, .74, .69, .72, .73], 2, 0.01),
    ([.52, .61, .48], [.50, .55, .51], 1, 0.05),
    ([.9, .9, .9], [.85, .85, .85], 1, 0.01),  # zero variance of the differences
]


@pytest.mark.parametrize("best, other, repeats, rope", BAYCOMP_CASES)
def test_bayesian_correlated_t_test_equals_baycomp(best, other, repeats, rope):
    baycomp = pytest.importorskip("baycomp")
    best, other = np.array(best), np.array(other)
    folds = len(best) // repeats
    posterior = corrected_estimate(best - other, val_train_ratio=1 / (folds - 1))  # baycomp's K-fold ratio
    below, within, above = posterior.probabilities(rope)
    # baycomp's left is its first argument better: here, the best better by more than the rope
    expected = baycomp.two_on_single(best, other, rope=rope, runs=repeats)
    if rope == 0:
        assert (above, below) == pytest.approx(expected, abs=1e-6)
        assert within == pytest.approx(0, abs=1e-12)
    else:
        assert (above, within, below) == pytest.approx(expected, abs=1e-6)
