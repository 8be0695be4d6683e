"""Cross-validation folds: computed once, as index arrays (like scikit-learn's splitters), saved with the
fingerprint of the data they were made for, and shared by every trial of a search.

Invariants: the holdout and every fold's train/validation parts are disjoint; within each repeat, the
validation parts of K-fold cover the pool (everything but the holdout) exactly once; class ratios follow the
pool's. Same labels, settings and seed give the same folds in any process. With `cv.repeats: R` there are
R*K folds, numbered j = repeat * K + fold; with `cv.group_by`, see `grouped_folds`.

scikit-learn is imported where folds are made (the driver), not by the trials that only read a `FoldPlan`.
"""
from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from tune_clothes.config import CVConfig
from tune_clothes.config.errors import ConfigError, DataError
from tune_clothes.data import storage
from tune_clothes.data.datasets import load_groups
from tune_clothes.data.grouped_folds import LabelledGroups, grouped_holdout, grouped_kfold, grouped_splits
from tune_clothes.data.index import DatasetIndex

log = logging.getLogger(__name__)


def scheme_name(split: float | None) -> str:
    """'kfold', or 'split=0.8' for K stratified train/validation splits at that train fraction."""
    return "kfold" if split is None else f"split={split:g}"


def repeat_seeds(seed: int, repeats: int) -> list[int]:
    """The seed of each repeat: `seed` itself for repeat 0 (so one repeat gives the folds it always gave), and
    for repeat r > 0 the first word of numpy's SeedSequence(seed) child r: independent and reproducible."""
    children = np.random.SeedSequence(seed).spawn(repeats)
    return [seed] + [int(child.generate_state(1)[0]) for child in children[1:]]


@dataclass(frozen=True, eq=False)
class FoldPlan:
    fingerprint: str  # of the DatasetIndex the positions refer to
    folds: int  # K, per repeat
    seed: int
    test_fraction: float
    num_images: int
    holdout: np.ndarray  # positions no search ever sees
    validation: dict[str, list[np.ndarray]]  # scheme -> the validation positions of fold j = repeat * K + fold
    repeats: int = 1
    group_by: str | None = None  # the images.csv column that no split cuts through

    @property
    def total_folds(self) -> int:
        """J = R*K: the trials of one configuration in grid mode."""
        return self.repeats * self.folds

    @property
    def pool(self) -> np.ndarray:
        return np.setdiff1d(np.arange(self.num_images), self.holdout)

    def repeat_and_fold(self, j: int) -> tuple[int, int]:
        if not 0 <= j < self.total_folds:
            raise ConfigError(f"fold={j}: this experiment has folds 0..{self.total_folds - 1} "
                              f"({self.repeats} repeat(s) x {self.folds} folds, j = repeat * {self.folds} + fold)")
        return divmod(j, self.folds)

    def val_train_ratios(self, scheme: str) -> dict[int, float]:
        """n_val / n_train of each fold j of `scheme` (`scheme_name`): the corrected t-test's correction."""
        pool = len(self.pool)
        return {j: len(part) / (pool - len(part)) for j, part in enumerate(self.validation[scheme])}

    def fold(self, split: float | None, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(train, validation) positions of fold j (= repeat * K + fold) under the scheme of `split`."""
        self.repeat_and_fold(j)
        val = self.validation[scheme_name(split)][j]
        return np.setdiff1d(self.pool, val), val


def make_fold_plan(labels: np.ndarray, class_names: Iterable[str], fingerprint: str, cv: CVConfig,
                   splits: Iterable[float | None], groups: np.ndarray | None = None,
                   holdout: Iterable[int] | None = None) -> FoldPlan:
    """Holdout first (if any), then R repeats of folds of the rest for every split value a search uses.

    `groups` (each image's value in the `cv.group_by` column) is needed exactly when `cv.group_by` is set.
    `holdout`: the positions the data itself holds out (an image folder's test/), instead of `cv.test_fraction`."""
    labels, names = np.asarray(labels), tuple(class_names)
    if (groups is None) != (cv.group_by is None):
        raise ValueError(f"cv.group_by={cv.group_by!r} needs the groups, and only it does")
    grouped = None if groups is None else LabelledGroups(labels, np.asarray(groups), names, cv.group_by)
    if holdout is None:
        holdout, fraction = _holdout(labels, names, cv, grouped), cv.test_fraction
    else:
        holdout = np.sort(np.asarray(list(holdout), dtype=np.int64))
        fraction = round(len(holdout) / max(len(labels), 1), 4)
    pool = np.setdiff1d(np.arange(len(labels)), holdout)
    in_pool = None if grouped is None else grouped.subset(pool)
    validation = {}
    for split in sorted(set(splits), key=lambda s: -1.0 if s is None else s):
        parts = [part for seed in repeat_seeds(cv.seed, cv.repeats)
                 for part in _validation_parts(labels[pool], names, cv.folds, seed, split, in_pool)]
        validation[scheme_name(split)] = [np.sort(pool[part]) for part in parts]
    return FoldPlan(fingerprint, cv.folds, cv.seed, fraction, len(labels), holdout, validation,
                    cv.repeats, cv.group_by)


def plan_folds(index: DatasetIndex, cv: CVConfig, splits: Iterable[float | None]) -> FoldPlan:
    """The fold plan of an experiment's `cv` settings on `index`, for every split value its search uses."""
    groups = load_groups(index, cv.group_by) if cv.group_by is not None else None
    if index.test_positions is not None and cv.test_fraction:
        log.warning("%s: its test/ folder is the locked holdout (%d images); cv.test_fraction=%g is not used",
                    index.root, len(index.test_positions), cv.test_fraction)
    return make_fold_plan(index.labels, index.class_names, index.fingerprint(), cv, splits, groups,
                          index.test_positions)


def _holdout(labels: np.ndarray, names: tuple[str, ...], cv: CVConfig,
             grouped: LabelledGroups | None) -> np.ndarray:
    fraction = cv.test_fraction
    if fraction == 0:
        return np.array([], dtype=np.int64)
    _require_per_class(labels, names, 2, f"cv.test_fraction={fraction}")
    _require(math.floor(fraction * len(labels)) >= len(names),
             f"cv.test_fraction={fraction} holds out {math.floor(fraction * len(labels))} images, "
             f"fewer than the {len(names)} classes: raise it or set it to 0")
    if grouped is not None:
        return grouped_holdout(grouped, fraction, cv.seed)
    from sklearn.model_selection import StratifiedShuffleSplit
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=cv.seed)
    _, holdout = next(splitter.split(np.zeros(len(labels)), labels))
    return np.sort(holdout)


def _validation_parts(pool_labels: np.ndarray, names: tuple[str, ...], folds: int, seed: int,
                      split: float | None, grouped: LabelledGroups | None) -> list[np.ndarray]:
    """One repeat's K validation parts, as positions in the pool."""
    from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit
    if grouped is not None:
        return grouped_kfold(grouped, folds, seed) if split is None else grouped_splits(grouped, folds, split, seed)
    if split is None:
        _require_per_class(pool_labels, names, folds, f"cv.folds={folds}")
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    else:  # every class must land in both parts of the split
        needed = max(2, math.ceil(1 / split - 1e-9), math.ceil(1 / (1 - split) - 1e-9))
        _require_per_class(pool_labels, names, needed, f"split={split:g}")
        splitter = StratifiedShuffleSplit(n_splits=folds, train_size=split, random_state=seed)
    return [val for _, val in splitter.split(np.zeros(len(pool_labels)), pool_labels)]


def _require_per_class(labels: np.ndarray, names: tuple[str, ...], needed: int, setting: str) -> None:
    counts = np.bincount(labels, minlength=len(names))
    smallest = int(np.argmin(counts))
    _require(counts[smallest] >= needed,
             f"{setting} needs at least {needed} images per class, but {names[smallest]!r} has "
             f"{counts[smallest]}: raise dataset.min_images_per_class to {needed} (drops such classes), add "
             f"{names[smallest]!r} to dataset.drop_classes, or lower the setting")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise DataError(message)


# --- folds.json ---------------------------------------------------------------------------------------------

FORMAT_VERSION = 2  # 2: repeats, group_by and each fold's repeat; 1 (read only): one repeat, no groups


def save_fold_plan(plan: FoldPlan, location: str | os.PathLike) -> None:
    """Write the plan to a file: a local path or a storage URI (s3://...)."""
    validation = {scheme: [{"repeat": j // plan.folds, "fold": j % plan.folds, "positions": part.tolist()}
                           for j, part in enumerate(parts)] for scheme, parts in plan.validation.items()}
    data = {"format": FORMAT_VERSION, "fingerprint": plan.fingerprint, "folds": plan.folds,
            "repeats": plan.repeats, "seed": plan.seed, "repeat_seeds": repeat_seeds(plan.seed, plan.repeats),
            "group_by": plan.group_by, "test_fraction": plan.test_fraction, "num_images": plan.num_images,
            "holdout": plan.holdout.tolist(), "validation": validation}
    storage.write_text(str(location), json.dumps(data))


def read_fold_plan(location: str | os.PathLike) -> FoldPlan:
    """A saved plan (this format or format 1), as it is: for the analysis of an experiment's results."""
    try:
        return _plan_from_json(json.loads(storage.read_text(str(location))))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(f"{location}: not a readable fold file ({err}); delete it to make new folds") from None


def load_fold_plan(location: str | os.PathLike, fingerprint: str) -> FoldPlan:
    """A saved plan to train on; refused when the data it was made for is not the data we have now."""
    plan = read_fold_plan(location)
    if plan.fingerprint != fingerprint:
        raise DataError(f"{location}: these folds were made for data with fingerprint {plan.fingerprint}, but the "
                        f"dataset now has {fingerprint} (images, labels or class policy changed): restore the data "
                        f"it was made for, or start a new experiment with another --name")
    return plan


def _plan_from_json(data: dict) -> FoldPlan:
    version = data.get("format")
    if version not in (1, FORMAT_VERSION):
        raise ValueError(f"format {version!r}: this tune_clothes reads formats 1 and {FORMAT_VERSION}; a newer "
                         f"version wrote it")
    folds, repeats = data["folds"], data.get("repeats", 1)
    validation = {}
    for scheme, parts in data["validation"].items():
        if version > 1:  # each part says which repeat and fold it is: keep the order j = repeat * K + fold
            parts = [part["positions"] for part in sorted(parts, key=lambda p: (p["repeat"], p["fold"]))]
        if len(parts) != repeats * folds:
            raise ValueError(f"scheme {scheme!r} has {len(parts)} folds, expected {repeats} x {folds}")
        validation[scheme] = [np.array(part, dtype=np.int64) for part in parts]
    return FoldPlan(data["fingerprint"], folds, data["seed"], data["test_fraction"], data["num_images"],
                    np.array(data["holdout"], dtype=np.int64), validation, repeats, data.get("group_by"))
