"""Every configuration against the best: paired when both were validated on identical validation sets, unpaired
otherwise; a two-sided corrected test, Holm's adjustment over all comparisons with the best, and the posterior
probabilities of the Bayesian correlated t-test (practical equivalence within a rope, or the best better).

Which validation sets a configuration used comes from the fold plan (`fold_schemes`), never from fold numbers:
fold 2 under `split=0.7` and fold 2 under K-fold are different images.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from tune_clothes.data.folds import FoldPlan
from tune_clothes.statistics.fold_tests import TEstimate, corrected_estimate, holm, welch_difference

PAIRED, UNPAIRED = "paired", "unpaired"
FoldKey = int  # the fold's j (trial_record.FoldId)


@dataclass(frozen=True)
class FoldScheme:
    """How a configuration was validated: which validation sets, and each fold's size ratio."""
    identity: str  # equal exactly when the validation sets (and the holdout) are identical
    val_train_ratios: Mapping[FoldKey, float]  # n_val / n_train of each fold, from the actual fold sizes

    def ratio(self, folds: Iterable[FoldKey]) -> float:
        """The mean n_val/n_train over `folds` (the folds a statistic uses)."""
        return float(np.mean([self.val_train_ratios[key] for key in folds]))


def fold_schemes(plan: FoldPlan) -> dict[str, FoldScheme]:
    """Scheme name (`kfold`, `split=0.8`) -> its identity and fold sizes, from an experiment's fold plan."""
    schemes = {}
    for name, parts in plan.validation.items():
        digest = hashlib.sha256(np.asarray(plan.holdout, dtype=np.int64).tobytes())
        for part in parts:
            digest.update(np.asarray(part, dtype=np.int64).tobytes() + b"|")
        schemes[name] = FoldScheme(digest.hexdigest()[:16], plan.val_train_ratios(name))
    return schemes


@dataclass(frozen=True)
class FoldScores:
    """One configuration's finished folds on the ranking metric, and the scheme they were validated under."""
    values: pd.Series  # indexed by the fold's j
    scheme: FoldScheme

    def estimate(self) -> TEstimate | None:
        return corrected_estimate(self.values.to_numpy(), self.scheme.ratio(self.values.index))


@dataclass(frozen=True)
class Comparison:
    comparison: str = ""  # PAIRED, UNPAIRED, or "" when not compared
    p_value: float = math.nan
    prob_equivalent: float = math.nan
    prob_best_better: float = math.nan
    note: str = ""


def compare(best: FoldScores, other: FoldScores, better_sign: int, rope: float) -> Comparison:
    """`other` against `best`. `better_sign` is +1 when higher is better (accuracy), -1 when lower is (loss)."""
    if len(other.values) < 2:
        return Comparison(note=f"{len(other.values)} finished fold: too few to compare with the best")
    if len(best.values) < 2:
        return Comparison(note=f"the best has {len(best.values)} finished fold: too few to compare with it")
    kind, difference, note = _difference(best, other)
    toward_best = TEstimate(better_sign * difference.mean, difference.se, difference.df)  # > 0: the best is better
    _, within, above = toward_best.probabilities(rope)
    return Comparison(kind, toward_best.p_value(), within, above, note)


def _difference(best: FoldScores, other: FoldScores) -> tuple[str, TEstimate, str]:
    """best - other: over the shared folds when the validation sets are identical, else of the two means."""
    same_sets = best.scheme.identity == other.scheme.identity
    shared = best.values.index.intersection(other.values.index)
    if same_sets and len(shared) >= 2:
        differences = best.values[shared].to_numpy() - other.values[shared].to_numpy()
        return PAIRED, corrected_estimate(differences, best.scheme.ratio(shared)), ""
    note = f"only {len(shared)} fold(s) shared with the best: compared unpaired" if same_sets else ""
    return UNPAIRED, welch_difference(best.estimate(), other.estimate()), note


def compare_with_best(scores: Mapping[int, FoldScores], best: int, better_sign: int, rope: float,
                      alpha: float) -> pd.DataFrame:
    """One row per key of `scores` (the ranked configurations): `comparison`, `p_value`, `p_holm` (Holm over
    all the comparisons), `tied_with_best` (`p_holm >= alpha`, or no test possible), `prob_equivalent`,
    `prob_best_better` and `note`. The best's own row compares nothing and is tied with itself."""
    rows = {i: Comparison() if i == best else compare(scores[best], other, better_sign, rope)
            for i, other in scores.items()}
    table = pd.DataFrame.from_dict({i: dataclasses.asdict(c) for i, c in rows.items()}, orient="index")
    table["p_holm"] = holm(table["p_value"].to_numpy(dtype=float))
    table["tied_with_best"] = ~(table["p_holm"] < alpha)  # NaN: no evidence of a difference
    return table
