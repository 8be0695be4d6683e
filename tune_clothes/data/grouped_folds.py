"""Folds that respect groups (`cv.group_by`, e.g. the sender of a photo): every image of a group lands on the
same side of every split, so a validation score measures new groups, not new photos of known ones.

Built on scikit-learn's `StratifiedGroupKFold`, which keeps class ratios as well as groups allow:
- K-fold: its K folds.
- K splits at train fraction `split`, and the locked holdout: the held-out fraction as m of M stratified
  grouped blocks (0.3 = 3 of 10); split k takes m consecutive blocks starting at block floor(k*M/K), so the K
  validation parts are distinct and spread evenly over the blocks. (Drawing them with K seeds would not do:
  `StratifiedGroupKFold` places groups greedily by their class mix, and other seeds give nearly the same blocks.)

Every class must appear on both sides of every split; when the groups make that impossible, the error names
the class, its groups and the fix.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from tune_clothes.config.errors import DataError

MAX_BLOCKS_DENOMINATOR = 20  # a fraction is rounded to m/M with M <= 20 (0.123 -> 1/8)
SHOWN_GROUPS = 6  # groups named in an error message


@dataclass(frozen=True)
class LabelledGroups:
    """Labels and group values of some images (positions 0..n-1), with what messages need to name them."""
    labels: np.ndarray
    groups: np.ndarray
    class_names: tuple[str, ...]
    column: str  # the images.csv column the groups come from

    def subset(self, positions: np.ndarray) -> LabelledGroups:
        return LabelledGroups(self.labels[positions], self.groups[positions], self.class_names, self.column)


def grouped_kfold(data: LabelledGroups, folds: int, seed: int) -> list[np.ndarray]:
    """The validation positions of K stratified grouped folds."""
    _require_groups_per_class(data, folds, f"cv.folds={folds}")
    parts = _blocks(data, folds, seed)
    _require_spread(data, parts, "the {side} part of fold {j}", f"cv.folds={folds}")
    return parts


def grouped_splits(data: LabelledGroups, folds: int, split: float, seed: int) -> list[np.ndarray]:
    """The validation positions of K stratified grouped splits at train fraction `split`."""
    _require_groups_per_class(data, 2, f"split={split:g}")
    blocks, held = blocks_for(1 - split, at_least=folds)
    parts = _blocks(data, blocks, seed)
    starts = [k * blocks // folds for k in range(folds)]
    validation = [np.sort(np.concatenate([parts[(start + i) % blocks] for i in range(held)])) for start in starts]
    _require_spread(data, validation, "the {side} part of split {j}", f"split={split:g}")
    return validation


def grouped_holdout(data: LabelledGroups, fraction: float, seed: int) -> np.ndarray:
    """The positions of a stratified grouped holdout of about `fraction` of the images."""
    _require_groups_per_class(data, 2, f"cv.test_fraction={fraction:g}")
    blocks, held = blocks_for(fraction, at_least=2)
    holdout = np.sort(np.concatenate(_blocks(data, blocks, seed)[:held]))
    _require_spread(data, [holdout], "the {side}", f"cv.test_fraction={fraction:g}",
                    sides=("holdout", "search pool (everything but the holdout)"))
    return holdout


def blocks_for(fraction: float, at_least: int) -> tuple[int, int]:
    """(M, m): `fraction` as m of M blocks, with M >= `at_least`."""
    rounded = Fraction(fraction).limit_denominator(MAX_BLOCKS_DENOMINATOR)
    blocks = rounded.denominator * math.ceil(at_least / rounded.denominator)
    return blocks, max(1, rounded.numerator * blocks // rounded.denominator)


def _blocks(data: LabelledGroups, blocks: int, seed: int) -> list[np.ndarray]:
    from sklearn.model_selection import StratifiedGroupKFold  # in the driver only: trials never make folds
    splitter = StratifiedGroupKFold(n_splits=blocks, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # a class with fewer images than blocks: _require_spread decides
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        return [np.sort(val) for _, val in splitter.split(np.zeros(len(data.labels)), data.labels, data.groups)]


def _require_groups_per_class(data: LabelledGroups, needed: int, setting: str) -> None:
    for label, name in enumerate(data.class_names):
        groups = np.unique(data.groups[data.labels == label])
        if len(groups) < needed:
            raise DataError(f"cv.group_by={data.column!r}: class {name!r} has images from {len(groups)} "
                            f"{data.column} value(s) ({_describe_groups(data, label)}), but {setting} needs it in "
                            f"every validation and training part, so at least {needed}: {_FIX.format(name=name)}")


def _require_spread(data: LabelledGroups, validation: list[np.ndarray], part: str, setting: str,
                    sides: tuple[str, str] = ("validation", "training")) -> None:
    """Every class on both sides of every split; `part` names one side of split j: "the {side} part of ..."."""
    everywhere = np.bincount(data.labels, minlength=len(data.class_names))
    for j, val in enumerate(validation):
        held = np.bincount(data.labels[val], minlength=len(data.class_names))
        for label in np.flatnonzero((held == 0) | (held == everywhere)):
            name = data.class_names[label]
            side = sides[0] if held[label] == 0 else sides[1]
            raise DataError(f"cv.group_by={data.column!r}: with {setting}, {part.format(side=side, j=j)} has no "
                            f"image of class {name!r}, whose images come from "
                            f"{_describe_groups(data, label)}: {_FIX.format(name=name)}")


_FIX = ("add {name!r} to dataset.drop_classes (or raise dataset.min_images_per_class), use fewer folds or a "
        "smaller holdout, or set cv.group_by to null")


def _describe_groups(data: LabelledGroups, label: int) -> str:
    """`204 (586 images), 181 (457), ... and 5 more`: the class's groups, largest first."""
    values, counts = np.unique(data.groups[data.labels == label], return_counts=True)
    order = np.argsort(-counts, kind="stable")
    shown = [f"{values[i]} ({counts[i]} image{'s' if counts[i] != 1 else ''})" for i in order[:SHOWN_GROUPS]]
    more = f" and {len(values) - SHOWN_GROUPS} more" if len(values) > SHOWN_GROUPS else ""
    return f"{data.column} " + ", ".join(shown) + more
