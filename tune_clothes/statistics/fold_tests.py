"""Statistics of cross-validated scores that account for the correlation between folds (numpy and scipy only).

The J fold scores of one configuration are not independent samples: any two training sets share most of their
images, so the scores are positively correlated and s^2/J underestimates the variance of their mean. Nadeau &
Bengio (2003, "Inference for the generalization error") correct it to

    Var(mean) = (1/J + n_val/n_train) * s^2,    with J - 1 degrees of freedom,

the *corrected resampled t*; Bouckaert & Frank (2004) showed it keeps its level with repeated CV too. The same
Student-t is the posterior of the mean under the Bayesian correlated t-test (Benavoli, Corani, Demsar, Zaffalon,
JMLR 2017), so one object, `TEstimate`, gives the interval, the two-sided p-value and the posterior
probabilities of a region of practical equivalence (rope).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

# Spreads and means below this (metric units) are float rounding, not a difference: 0.9 - 0.8 - 0.1 != 0.
FLOAT_NOISE = 1e-12


@dataclass(frozen=True)
class TEstimate:
    """A mean (or a difference of means), its corrected standard error, and the degrees of freedom of its
    Student-t distribution: the sampling distribution of the t statistic, and the Bayesian posterior."""
    mean: float
    se: float  # 0 when every fold gave the same value: then the distribution is a point
    df: float

    def interval(self, confidence: float) -> tuple[float, float]:
        """Two-sided interval of the mean at `confidence` (0.95)."""
        half_width = float(stats.t.ppf((1 + confidence) / 2, self.df)) * self.se
        return self.mean - half_width, self.mean + half_width

    def p_value(self) -> float:
        """Two-sided p-value of "the true mean is 0". With zero spread: 1 for a zero mean, else 0."""
        if self.se == 0:
            return 1.0 if abs(self.mean) <= FLOAT_NOISE else 0.0
        return float(2 * stats.t.sf(abs(self.mean) / self.se, self.df))

    def probabilities(self, rope: float) -> tuple[float, float, float]:
        """Posterior probabilities that the true mean is below -rope, within [-rope, rope], above rope."""
        if self.se == 0:
            below, above = float(self.mean < -rope), float(self.mean > rope)
        else:
            below = float(stats.t.cdf(-rope, self.df, loc=self.mean, scale=self.se))
            above = float(stats.t.sf(rope, self.df, loc=self.mean, scale=self.se))
        return below, max(0.0, 1.0 - below - above), above


def corrected_estimate(values: Sequence[float], val_train_ratio: float) -> TEstimate | None:
    """The corrected resampled t-estimate of the mean of J >= 2 fold scores; None for fewer.

    `val_train_ratio` is n_val/n_train of the folds (1/(K-1) for K-fold, (1-split)/split for splits)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return None
    variance = 0.0 if np.ptp(x) <= FLOAT_NOISE else float(x.var(ddof=1))
    return TEstimate(float(x.mean()), math.sqrt((1 / len(x) + val_train_ratio) * variance), len(x) - 1)


def welch_difference(a: TEstimate, b: TEstimate) -> TEstimate:
    """The distribution of a - b for two independent estimates: standard errors add in quadrature, degrees of
    freedom by Welch-Satterthwaite. For configurations not validated on the same folds."""
    va, vb = a.se ** 2, b.se ** 2
    df = (va + vb) ** 2 / (va ** 2 / a.df + vb ** 2 / b.df) if va + vb > 0 else a.df + b.df
    return TEstimate(a.mean - b.mean, math.sqrt(va + vb), df)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment (family-wise error) of the p-values that are not NaN; NaN stays NaN."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    order = present[np.argsort(p[present], kind="stable")]
    stepped = p[order] * (len(order) - np.arange(len(order)))  # smallest times m, next times m-1, ...
    adjusted[order] = np.minimum(np.maximum.accumulate(stepped), 1.0)
    return adjusted
