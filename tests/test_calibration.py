"""The README's calibration claim in miniature (`benchmarks.calibration` on 12 small datasets, a few seconds):
where the folds are most correlated (5x2 CV), the naive paired t-test declares differences that are not there
and the corrected one keeps to its level; and on every comparison the corrected test declares a difference only
where the naive one does (its variance is the naive one's, inflated)."""
from __future__ import annotations

import pytest

from tune_clothes.benchmarks.calibration import CASES, DESIGNS, TESTS, Settings, one_dataset

pytestmark = pytest.mark.slow
DATASETS = 12
NO_DIFFERENCE = [case for case, (_, truth) in CASES.items() if truth == 0]


@pytest.fixture(scope="module")
def results():
    settings = Settings(samples=150, trees=8, fresh=500)
    return [one_dataset(seed, settings) for seed in range(DATASETS)]


def declared(results, design: str, cases: list[str], test: str) -> int:
    return sum(result[design][case][test] for result in results for case in cases)


def test_with_correlated_folds_the_naive_test_finds_differences_that_are_not_there(results):
    comparisons = DATASETS * len(NO_DIFFERENCE)  # 24 comparisons of learners that are equally good
    naive = declared(results, "5x2", NO_DIFFERENCE, "naive paired t")
    corrected = declared(results, "5x2", NO_DIFFERENCE, "corrected paired t")
    bayesian = declared(results, "5x2", NO_DIFFERENCE, "Bayesian P>0.95")
    assert naive >= 4 * max(corrected, 1)  # the README: 37% naive vs 1% corrected over 200 datasets
    assert corrected <= 0.1 * comparisons and bayesian <= 0.1 * comparisons


def test_the_corrected_test_declares_only_what_the_naive_one_declares(results):
    for result in results:
        for design in DESIGNS:
            for case in CASES:
                outcome = result[design][case]
                assert outcome["naive paired t"] or not outcome["corrected paired t"], (design, case)
    assert set(TESTS) == set(next(iter(results[0]["5x2"].values())))


def test_a_learner_worse_by_many_points_is_found(results):
    assert declared(results, "5-fold", ["A vs B+ (worse)"], "corrected paired t") >= DATASETS // 6
