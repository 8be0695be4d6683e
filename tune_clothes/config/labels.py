"""Configuration labels for people: `lr=0.00138, batch_size=32`. The one place a value of a search axis is
formatted for reading (terminal leaderboard, progress line, report, TensorBoard run names).

Floats get a few significant digits, and more where an axis needs them to keep its distinct values distinct
(0.0013816 and 0.0013824 print as 0.0013816 and 0.0013824, not both as 0.00138). Full precision stays in the
CSV and YAML files, never here.
"""
from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping

import numpy as np

DIGITS = 3  # significant digits of a float in a label, unless its axis needs more to tell values apart
MAX_DIGITS = 17  # enough for any float64 to print exactly
SINGLE_CONFIG = "(single configuration)"  # the label of an experiment with no search axes
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+,-]+")  # kept in a folder name: safe on POSIX, Windows and S3


def readable(value: Any, digits: int = DIGITS) -> str:
    """One value as a person reads it: floats with `digits` significant digits, anything else as str."""
    value = plain(value)
    if isinstance(value, float) and math.isfinite(value):
        shown = f"{value:.{digits}g}"
        return shown if any(c in shown for c in ".e") else f"{shown}.0"  # 10.0 reads as a float, not 10
    return str(value)


def digits_to_tell_apart(values: Iterable[Any]) -> int:
    """The fewest significant digits (at least DIGITS) at which distinct float values print differently."""
    floats = {plain(v) for v in values if isinstance(plain(v), float) and math.isfinite(plain(v))}
    for digits in range(DIGITS, MAX_DIGITS + 1):
        if len({readable(v, digits) for v in floats}) == len(floats):
            return digits
    return MAX_DIGITS


class Labeller:
    """Labels of configurations, each axis with the digits that keep its known values apart."""

    def __init__(self, axes: Iterable[str], known: Iterable[Mapping[str, Any]] = ()):
        known = list(known)
        self.axes = tuple(axes)
        self.digits = {axis: digits_to_tell_apart(c.get(axis) for c in known) for axis in self.axes}

    @classmethod
    def of_values(cls, values: Mapping[str, Iterable[Any]]) -> Labeller:
        """From each axis's known values (e.g. a grid's lists)."""
        labeller = cls(values)
        labeller.digits = {axis: digits_to_tell_apart(known) for axis, known in values.items()}
        return labeller

    def label(self, configuration: Mapping[str, Any]) -> str:
        """`lr=0.00138, batch_size=32` (axes in their order), or SINGLE_CONFIG when there are none."""
        if not self.axes:
            return SINGLE_CONFIG
        return ", ".join(f"{axis}={readable(configuration.get(axis), self.digits[axis])}" for axis in self.axes)

    def folder_name(self, configuration: Mapping[str, Any]) -> str:
        """The label as a folder name: `lr=0.00138,batch_size=32`; any other character becomes '-'."""
        if not self.axes:
            return "configuration"
        return path_safe(self.label(configuration).replace(", ", ","))


def path_safe(text: str) -> str:
    return _UNSAFE.sub("-", text).strip("-.") or "-"


def plain(value: Any) -> Any:
    """A plain Python value: numpy scalars unwrapped, a NaN or pd.NA (a missing axis value) as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is not None and not isinstance(value, (str, bool, int, float)) and _is_missing(value):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _is_missing(value: Any) -> bool:
    try:
        return bool(value != value)  # NaN-likes; pd.NA raises TypeError on bool()
    except TypeError:
        return True
