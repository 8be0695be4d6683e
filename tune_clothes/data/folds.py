"""Cross-validation folds: computed once, as index arrays (like scikit-learn's splitters), saved with the
fingerprint of the data they were made for, and shared by every trial of a search.

Invariants: the holdout and every fold's train/validation parts are disjoint; the validation parts of
K-fold cover the pool (everything but the holdout) exactly once; class ratios follow the pool's. Same
labels, settings and seed give the same folds in any process.

scikit-learn is imported where folds are made (the driver), not by the trials that only read a `FoldPlan`.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from tune_clothes.config import CVConfig
from tune_clothes.config.errors import DataError
from tune_clothes.data import storage
from tune_clothes.data.index import DatasetIndex

FORMAT_VERSION = 1


def scheme_name(split: float | None) -> str:
    """'kfold', or 'split=0.8' for K stratified train/validation splits at that train fraction."""
    return "kfold" if split is None else f"split={split:g}"


@dataclass(frozen=True, eq=False)
class FoldPlan:
    fingerprint: str  # of the DatasetIndex the positions refer to
    folds: int
    seed: int
    test_fraction: float
    num_images: int
    holdout: np.ndarray  # positions no search ever sees
    validation: dict[str, list[np.ndarray]]  # scheme -> each fold's validation positions

    @property
    def pool(self) -> np.ndarray:
        return np.setdiff1d(np.arange(self.num_images), self.holdout)

    def fold(self, split: float | None, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(train, validation) positions of fold k under the scheme of `split`."""
        val = self.validation[scheme_name(split)][k]
        return np.setdiff1d(self.pool, val), val


def make_fold_plan(labels: np.ndarray, class_names: Iterable[str], fingerprint: str, folds: int, seed: int,
                   test_fraction: float, splits: Iterable[float | None]) -> FoldPlan:
    """Holdout first (if any), then folds of the rest for every split value a search uses."""
    from sklearn.model_selection import StratifiedShuffleSplit
    labels = np.asarray(labels)
    names = list(class_names)
    positions = np.arange(len(labels))
    holdout = np.array([], dtype=np.int64)
    if test_fraction > 0:
        _require_per_class(labels, names, 2, f"cv.test_fraction={test_fraction}")
        _require(math.floor(test_fraction * len(labels)) >= len(names),
                 f"cv.test_fraction={test_fraction} holds out {math.floor(test_fraction * len(labels))} images, "
                 f"fewer than the {len(names)} classes: raise it or set it to 0")
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed)
        _, holdout = next(splitter.split(positions, labels))
        holdout = np.sort(holdout)
    pool = np.setdiff1d(positions, holdout)
    validation = {scheme_name(s): _validation_parts(labels[pool], names, folds, seed, s, pool)
                  for s in sorted(set(splits), key=lambda s: -1.0 if s is None else s)}
    return FoldPlan(fingerprint, folds, seed, test_fraction, len(labels), holdout, validation)


def plan_folds(index: DatasetIndex, cv: CVConfig, splits: Iterable[float | None]) -> FoldPlan:
    """The fold plan of an experiment's `cv` settings on `index`, for every split value its search uses."""
    return make_fold_plan(index.labels, index.class_names, index.fingerprint(), cv.folds, cv.seed,
                          cv.test_fraction, splits)


def _validation_parts(pool_labels: np.ndarray, names: list[str], folds: int, seed: int,
                      split: float | None, pool: np.ndarray) -> list[np.ndarray]:
    from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit
    if split is None:
        _require_per_class(pool_labels, names, folds, f"cv.folds={folds}")
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    else:  # every class must land in both parts of the split
        needed = max(2, math.ceil(1 / split - 1e-9), math.ceil(1 / (1 - split) - 1e-9))
        _require_per_class(pool_labels, names, needed, f"split={split:g}")
        splitter = StratifiedShuffleSplit(n_splits=folds, train_size=split, random_state=seed)
    return [np.sort(pool[val]) for _, val in splitter.split(np.zeros(len(pool_labels)), pool_labels)]


def _require_per_class(labels: np.ndarray, names: list[str], needed: int, setting: str) -> None:
    counts = np.bincount(labels, minlength=len(names))
    smallest = int(np.argmin(counts))
    _require(counts[smallest] >= needed,
             f"{setting} needs at least {needed} images per class, but {names[smallest]!r} has "
             f"{counts[smallest]}: raise dataset.min_images_per_class to {needed} (drops such classes), add "
             f"{names[smallest]!r} to dataset.drop_classes, or lower the setting")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise DataError(message)


def save_fold_plan(plan: FoldPlan, location: str | os.PathLike) -> None:
    """Write the plan to a file: a local path or a storage URI (s3://...)."""
    data = {"format": FORMAT_VERSION, "fingerprint": plan.fingerprint, "folds": plan.folds, "seed": plan.seed,
            "test_fraction": plan.test_fraction, "num_images": plan.num_images, "holdout": plan.holdout.tolist(),
            "validation": {scheme: [v.tolist() for v in parts] for scheme, parts in plan.validation.items()}}
    storage.write_text(str(location), json.dumps(data))


def load_fold_plan(location: str | os.PathLike, fingerprint: str) -> FoldPlan:
    """A saved plan; refused when the data it was made for is not the data we have now."""
    try:
        data = json.loads(storage.read_text(str(location)))
        plan = FoldPlan(data["fingerprint"], data["folds"], data["seed"], data["test_fraction"],
                        data["num_images"], np.array(data["holdout"], dtype=np.int64),
                        {s: [np.array(v, dtype=np.int64) for v in parts] for s, parts in data["validation"].items()})
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(f"{location}: not a readable fold file ({err}); delete it to make new folds") from None
    if plan.fingerprint != fingerprint:
        raise DataError(f"{location}: these folds were made for data with fingerprint {plan.fingerprint}, but the "
                        f"dataset now has {fingerprint} (images, labels or class policy changed): restore the data "
                        f"it was made for, or start a new experiment with another --name")
    return plan
