"""Calibration of the leaderboard's tests: how often each declares a difference between two learners when
there is none (false positives, which alpha = 0.05 promises to keep near 5%), and when one is really better
(power), over many independent synthetic datasets.

    python -m tune_clothes.benchmarks.calibration --datasets 200 --workers 2

Per dataset (its own seed): 3 classes, each a Gaussian with a random mean, seen through two views of 10
features each that are independent and identically distributed given the class. Learners, all random forests:
A on view 1; A' the same forest with another random seed (no real difference); V the same forest on view 2
(no real difference either, since the views are exchangeable, but unlike A' its advantage or handicap on a
given sample persists across folds, which is what makes fold scores correlated); B and B+ like A, trained on a
copy of the labels with 10% and 30% flipped at random (really worse; each margin is measured on 5,000 fresh
points).
Each is cross-validated with 5-fold CV and with 5x2 CV (5 repeats of 2-fold), and the fold scores are compared
as the leaderboard compares them: the naive paired t-test, the corrected resampled paired t-test, and the
Bayesian correlated t-test declaring a difference when P(best better by more than the rope) > 0.95.
"""
from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import RepeatedStratifiedKFold

from tune_clothes.statistics.fold_tests import corrected_estimate

DESIGNS = {"5-fold": (5, 1), "5x2": (2, 5)}  # name -> (folds K, repeats R)
TESTS = ("naive paired t", "corrected paired t", "Bayesian P>0.95")
CASES = {"A vs A' (seed)": ("A'", 0), "A vs V (view)": ("V", 0), "A vs B (worse)": ("B", 1),
         "A vs B+ (worse)": ("B+", 1)}  # other learner, truth (1: A is really better)
CLASSES, VIEW = 3, 10  # classes; features per view


@dataclass(frozen=True)
class Settings:
    samples: int = 300  # cross-validated per dataset
    trees: int = 20
    separation: float = 0.55  # std of the class means per feature, in units of the noise std
    label_noise: tuple[float, float] = (0.1, 0.3)  # fraction of B's and B+'s training labels flipped
    alpha: float = 0.05
    rope: float = 0.01  # the leaderboard's default, accuracy units
    fresh: int = 5000  # fresh points that measure B's true margin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="processes (each forest uses one core)")
    parser.add_argument("--samples", type=int, default=Settings.samples)
    args = parser.parse_args()
    settings = Settings(samples=args.samples)
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(one_dataset, range(args.datasets), [settings] * args.datasets, chunksize=4))
    _print(results, settings, args.datasets, time.perf_counter() - started)


def one_dataset(seed: int, settings: Settings) -> dict:
    """For each design and case: which tests declared a difference between A and the other learner."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, settings.separation, (CLASSES, VIEW))
    n = settings.samples
    y = rng.integers(0, CLASSES, n + settings.fresh)
    x = np.concatenate([means[y] + rng.normal(size=(len(y), VIEW)) for _ in range(2)], axis=1)  # two views
    x_cv, y_cv, x_fresh, y_fresh = x[:n], y[:n], x[n:], y[n:]
    draw, shift = rng.random(n), rng.integers(1, CLASSES, n)
    noisy = [np.where(draw < noise, (y_cv + shift) % CLASSES, y_cv) for noise in settings.label_noise]
    view1, view2 = slice(0, VIEW), slice(VIEW, 2 * VIEW)
    learners = {"A": (seed * 2, view1, y_cv), "A'": (seed * 2 + 1, view1, y_cv), "V": (seed * 2, view2, y_cv),
                "B": (seed * 2, view1, noisy[0]), "B+": (seed * 2, view1, noisy[1])}  # (forest seed, features, labels)

    def accuracy(name: str, train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
        forest_seed, features, labels = learners[name]
        forest = RandomForestClassifier(n_estimators=settings.trees, random_state=forest_seed, n_jobs=1)
        return float(forest.fit(x_cv[train][:, features], labels[train]).score(x_test[:, features], y_test))

    everything = np.arange(n)
    fresh = {name: accuracy(name, everything, x_fresh, y_fresh) for name in ("A", "B", "B+")}
    result = {"accuracy": fresh["A"], "margins": (fresh["A"] - fresh["B"], fresh["A"] - fresh["B+"])}
    for design, (folds, repeats) in DESIGNS.items():
        splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
        scores = {name: np.array([accuracy(name, train, x_cv[val], y_cv[val])
                                  for train, val in splitter.split(x_cv, y_cv)]) for name in learners}
        ratio = 1 / (folds - 1)  # n_val / n_train of K-fold
        result[design] = {case: _declared(scores["A"], scores[other], ratio, settings, truth)
                          for case, (other, truth) in CASES.items()}
    return result


def _declared(a: np.ndarray, b: np.ndarray, ratio: float, settings: Settings, truth: int = 0) -> dict[str, bool]:
    """Whether each test declares a difference (with truth=1: that A is better, the right direction)."""
    differences = a - b
    naive = stats.ttest_rel(a, b).pvalue if np.ptp(differences) > 0 else float(differences.mean() != 0)
    corrected = corrected_estimate(differences, ratio)
    sign = 1 if differences.mean() >= 0 else -1  # the leaderboard's best is the one with the higher mean
    best_better = corrected_estimate(sign * differences, ratio).probabilities(settings.rope)[2]
    right_way = truth == 0 or sign == truth
    return {"naive paired t": bool(naive < settings.alpha and right_way),
            "corrected paired t": bool(corrected.p_value() < settings.alpha and right_way),
            "Bayesian P>0.95": bool(best_better > 0.95 and right_way)}


def _print(results: list[dict], settings: Settings, datasets: int, seconds: float) -> None:
    margins = np.array([r["margins"] for r in results])
    accuracy = np.mean([r["accuracy"] for r in results])
    print(f"{datasets} datasets of {settings.samples} points (3 classes, 2 views of 10 features), random forests "
          f"of {settings.trees} trees (A's accuracy {accuracy:.3f} on average); alpha {settings.alpha}, rope "
          f"{settings.rope}; {seconds:.0f} s")
    for name, noise, margin in zip(("B", "B+"), settings.label_noise, margins.T):
        print(f"{name} (labels {noise:.0%} flipped) is worse than A by {margin.mean():.3f} accuracy on average "
              f"(median {np.median(margin):.3f}, measured on {settings.fresh} fresh points per dataset)")
    print("rate of declared differences [95% Clopper-Pearson interval]; A vs A' and A vs V: no real difference")
    print(f"{'design':7s} {'test':19s}" + "".join(f"{case:>26s}" for case in CASES))
    for design in DESIGNS:
        for test in TESTS:
            cells = [_rate(sum(r[design][case][test] for r in results), datasets) for case in CASES]
            print(f"{design:7s} {test:19s}" + "".join(f"{cell:>26s}" for cell in cells))


def _rate(count: int, total: int) -> str:
    low, high = stats.binomtest(count, total).proportion_ci(0.95, method="exact")
    return f"{count / total:6.1%} [{low:.1%}, {high:.1%}]"


if __name__ == "__main__":
    main()
