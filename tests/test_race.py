"""The race's decision on hand-made fold curves (no Ray): a clearly worse configuration is eliminated at the first
rung where the corrected test separates it, a tied one never is, and a late bloomer is what the race can get
wrong."""
from __future__ import annotations

import numpy as np
import pytest

from tune_clothes.statistics.fold_tests import corrected_estimate, holm
from tune_clothes.statistics.race import RaceRule, look, look_alpha, rungs

K = 5
RATIO = dict.fromkeys(range(K), 1 / (K - 1))  # 5-fold: n_val / n_train = 1/4
ALPHA = look_alpha(0.05, 3)  # 3 rungs: 1, 2, 4 of 8 epochs
TTEST = RaceRule("ttest", ALPHA)


def curve(start: float, gain: float, epochs: int = 8, fold_offsets=(0.0, 0.01, -0.01, 0.02, -0.02),
          noise: float = 0.0, seed: int = 0) -> dict[int, dict[int, float]]:
    """epoch -> fold j -> score: a learning curve start + gain * (1 - 0.6^epoch), the folds offset alike for every
    configuration (fold difficulty, which pairing removes), plus independent noise."""
    rng = np.random.default_rng(seed)
    return {e: {j: start + gain * (1 - 0.6 ** e) + offset + rng.normal(0, noise)
                for j, offset in enumerate(fold_offsets)} for e in range(1, epochs + 1)}


def race_over(curves: dict[str, dict[int, dict[int, float]]], order: list[str], rule=TTEST) -> dict[str, int]:
    """Configuration -> the rung it was eliminated at, replaying the race as the scheduler runs it: the
    configurations report each rung in `order` (one at a time), and a look follows every report."""
    eliminated: dict[str, int] = {}
    for epoch in rungs(1, 2, 8):
        recorded = {}
        for name in order:
            if name in eliminated:
                continue
            recorded[name] = curves[name][epoch]
            for verdict in look(recorded, RATIO, +1, rule, epoch):
                eliminated.setdefault(verdict.configuration, epoch)
    return eliminated


def test_the_rungs_are_ashas():
    assert rungs(1, 2, 8) == [1, 2, 4] and rungs(2, 3, 20) == [2, 6, 18] and rungs(8, 2, 8) == []


def test_a_clearly_worse_configuration_is_eliminated_at_the_first_rung_that_separates_it():
    curves = {"good": curve(0.50, 0.30, noise=0.005, seed=1), "hopeless": curve(0.10, 0.02, noise=0.005, seed=2)}
    assert race_over(curves, ["good", "hopeless"]) == {"hopeless": 1}
    verdict, = look({"good": curves["good"][1], "hopeless": curves["hopeless"][1]}, RATIO, +1, TTEST, 1)
    differences = np.array([curves["good"][1][j] - curves["hopeless"][1][j] for j in range(K)])
    assert verdict.lost_to == "good" and verdict.epoch == 1
    assert verdict.p_holm == pytest.approx(corrected_estimate(differences, 0.25).p_value())  # one comparison


def test_a_worse_configuration_the_first_rung_cannot_separate_goes_on_until_one_can():
    """Worse by 0.02 at epoch 1 with noise 0.01 per fold: not separable there; by 0.08 from epoch 2 on, it is."""
    good = curve(0.50, 0.30, noise=0.0)
    slower = {e: {j: v - (0.02 if e == 1 else 0.08) + 0.01 * (-1) ** j for j, v in folds.items()}
              for e, folds in good.items()}
    assert race_over({"good": good, "slower": slower}, ["good", "slower"]) == {"slower": 2}


def test_a_tied_configuration_is_never_eliminated():
    good = curve(0.50, 0.30, noise=0.01, seed=3)
    twin = curve(0.50, 0.30, noise=0.01, seed=4)  # the same curve, other noise
    worse = curve(0.20, 0.10, noise=0.01, seed=5)
    for order in (["good", "twin", "worse"], ["worse", "twin", "good"], ["twin", "worse", "good"]):
        eliminated = race_over({"good": good, "twin": twin, "worse": worse}, order)
        assert "good" not in eliminated and "twin" not in eliminated and eliminated.get("worse") == 1


def test_holm_adjusts_over_the_comparisons_of_a_look():
    best = {j: 0.8 + 0.01 * j for j in range(K)}
    others = {f"c{i}": {j: 0.8 + 0.01 * j - 0.004 * (i + 1) + 0.003 * (-1) ** (i + j) for j in range(K)}
              for i in range(4)}
    verdicts = {v.configuration: v.p_holm for v in look({"best": best, **others}, RATIO, +1, RaceRule("ttest", 1.0), 2)}
    raw = [corrected_estimate(np.array([best[j] - s[j] for j in range(K)]), 0.25).p_value() for s in others.values()]
    assert [verdicts[name] for name in others] == pytest.approx(list(holm(raw)))


def test_a_late_bloomer_is_eliminated_before_it_blooms():
    """The documented case: a configuration that learns slowly (a low learning rate) but ends best. At epoch 1 it
    is far behind on every fold, so the race eliminates it there: a race stops what the evidence at a rung
    separates, it cannot know the curves will cross. Rungs further out (search.grace_period) protect slow
    starters at the price of more epochs."""
    fast = curve(0.60, 0.10)  # 0.64 at epoch 1, 0.69 at epoch 8
    bloomer = curve(0.20, 0.60)  # 0.44 at epoch 1, 0.79 at epoch 8
    assert bloomer[8][0] > fast[8][0] and bloomer[1][0] < fast[1][0]
    assert race_over({"fast": fast, "bloomer": bloomer}, ["fast", "bloomer"]) == {"bloomer": 1}
    later = {}
    for epoch in rungs(4, 2, 8):  # grace period 4: the one rung is epoch 4, where it is ahead
        later.update({v.configuration: epoch for v in look({"fast": fast[epoch], "bloomer": bloomer[epoch]},
                                                             RATIO, +1, RaceRule("ttest", 0.05), epoch)})
    assert later == {"fast": 4}


def test_the_bayesian_rule_eliminates_what_is_worse_by_more_than_the_rope_with_the_posterior_it_reports():
    best = {j: 0.60 + 0.02 * (-1) ** j for j in range(K)}
    close = {j: v - 0.005 for j, v in best.items()}  # worse by half the rope: practically the same
    far = {j: v - 0.10 + 0.01 * (j % 2) for j, v in best.items()}
    rule = RaceRule("bayes", 0.05, rope=0.01)
    (verdict,) = look({"best": best, "close": close, "far": far}, RATIO, +1, rule, 4)
    differences = np.array([best[j] - far[j] for j in range(K)])
    posterior = corrected_estimate(differences, 0.25).probabilities(0.01)[2]
    assert verdict.configuration == "far" and verdict.p_holm == pytest.approx(1 - posterior)
    assert look({"best": best, "far": far}, RATIO, -1, rule, 4)[0].configuration == "best"  # lower is better


def test_a_diverged_configuration_is_eliminated_at_once():
    best = {j: 0.5 + 0.01 * j for j in range(K)}
    diverged = {j: float("nan") if j else 2.3 for j in range(K)}
    (verdict,) = look({"best": best, "diverged": diverged}, RATIO, -1, TTEST, 1)
    assert verdict.configuration == "diverged" and verdict.p_holm == 0.0
