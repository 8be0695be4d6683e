"""The race's decision, pure: which configurations the evidence already separates from the best, at one look.

A look happens at a rung (an epoch), whenever a configuration reports that epoch: every configuration recorded
at the rung so far, each with its fold scores at that epoch, is compared with the best of them (the best mean
over folds) on the folds both have, with the corrected resampled paired t of the leaderboard (Nadeau & Bengio's
variance), by one of two rules (`RaceRule`):

- `ttest`: the leaderboard's test, two-sided, with Holm's adjustment over the look's comparisons: eliminated
  when worse and the adjusted p-value is below alpha;
- `bayes`: the Bayesian correlated t-test of the leaderboard's P(best>) column: eliminated when the posterior
  probability that the best is better by more than the rope is above 1 - alpha.

One tied with the best is never eliminated, and one with fewer than two folds in common with it is not tested;
one whose score is not a number on a fold (its training diverged: a loss of inf or nan) is eliminated at once.
The error over the looks: a configuration can be eliminated at any of the L rungs, and a rung is looked at again
as configurations arrive, so a fixed alpha per look eliminates a configuration as good as the best more often
than alpha says. The race spends its alpha evenly over the rungs (`search.race_alpha / L` at each, a Bonferroni
bound over the rungs, which the re-looks within a rung escape); the replay benchmark counts how often a
configuration of the full grid's tied set was eliminated all the same.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Mapping

import numpy as np

from tune_clothes.statistics.fold_tests import corrected_estimate, holm

RULES = ("ttest", "bayes")
FoldScores = Mapping[int, float]  # fold j -> the metric at the rung's epoch


@dataclass(frozen=True)
class Elimination:
    configuration: Hashable
    epoch: int  # the rung it was eliminated at
    lost_to: Hashable  # the best at that look
    p_holm: float  # the evidence at that look: the Holm-adjusted p-value (ttest), 1 - P(best better) (bayes)


def rungs(grace_period: int, reduction_factor: int, max_epochs: int) -> list[int]:
    """The epochs the race looks at: grace_period, then each times reduction_factor, before the last epoch
    (ASHA's rungs, so the two schedulers look at the same epochs)."""
    found, epoch = [], grace_period
    while epoch < max_epochs:
        found.append(epoch)
        epoch *= reduction_factor
    return found


def look_alpha(alpha: float, looks: int) -> float:
    return alpha / max(looks, 1)


def best_of(recorded: Mapping[Hashable, FoldScores], better_sign: int) -> Hashable | None:
    """The configuration with the best mean at the rung (the first recorded among equals)."""
    means = {key: float(np.mean(list(scores.values()))) for key, scores in recorded.items() if scores}
    finite = {key: mean for key, mean in means.items() if math.isfinite(mean)}
    return max(finite, key=lambda key: better_sign * finite[key]) if finite else None


@dataclass(frozen=True)
class RaceRule:
    kind: str  # "ttest" or "bayes"
    alpha: float  # at this look: search.race_alpha / the number of rungs
    rope: float = 0.01  # bayes: differences within it are practically none (search.rope)


def look(recorded: Mapping[Hashable, FoldScores], val_train_ratio: Mapping[int, float], better_sign: int,
         rule: RaceRule, epoch: int) -> list[Elimination]:
    """The configurations the evidence at this rung separates from its best (see the module's docstring);
    `val_train_ratio` is n_val/n_train of each fold j, `better_sign` +1 when higher is better. An elimination's
    `p_holm` is the adjusted p-value (ttest) or 1 - P(best better by more than the rope) (bayes)."""
    best = best_of(recorded, better_sign)
    if best is None:
        return []
    tested, evidence = [], []
    for key, scores in recorded.items():
        if key != best and not all(math.isfinite(score) for score in scores.values()):
            tested.append((key, True))
            evidence.append(0.0)  # diverged: no evidence is needed
            continue
        shared = sorted(set(scores) & set(recorded[best]))
        differences = np.array([better_sign * (recorded[best][j] - scores[j]) for j in shared])  # > 0: best better
        if key == best or not np.isfinite(differences).all():
            continue
        estimate = corrected_estimate(differences, float(np.mean([val_train_ratio[j] for j in shared])))
        if estimate is None:
            continue
        tested.append((key, estimate.mean > 0))
        evidence.append(estimate.p_value() if rule.kind == "ttest" else 1 - estimate.probabilities(rule.rope)[2])
    if rule.kind == "ttest" and evidence:
        evidence = list(holm(evidence))
    return [Elimination(key, epoch, best, float(p)) for (key, worse), p in zip(tested, evidence)
            if worse and p < rule.alpha]
