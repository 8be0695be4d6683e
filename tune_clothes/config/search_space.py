"""The typed values of a search axis, validated when they are built.

- `Choice`: a list of values. A grid axis is always one (`lr: [0.01, 0.001]` under `search.grid`); under
  `search.space` it is Optuna's categorical (`batch_size: {choices: [16, 32]}`).
- `Range`: Optuna samples a number in [low, high], uniformly or on a log scale
  (`lr: {low: 1e-4, high: 1e-2, log: true}` under `search.space`); whole numbers for an integer field.

`axis_from_yaml` and `axis_to_yaml` are the YAML shape of both, so a saved experiment reads back equal.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Union

from tune_clothes.config.errors import ConfigError


@dataclass(frozen=True)
class Choice:
    values: tuple

    def __post_init__(self) -> None:
        if not isinstance(self.values, tuple) or not self.values:
            raise ConfigError("must be a non-empty list of values, e.g. [0.01, 0.001]")
        if len(set(self.values)) != len(self.values):
            raise ConfigError("lists a value twice; each value once")

    def points(self) -> list[tuple[str, Any]]:
        """(name, value) of every value a trial can get: what must make a valid experiment."""
        return [(f"[{i}]", value) for i, value in enumerate(self.values)]


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    log: bool = False
    integer: bool = False  # the field is a whole number: sample integers in [low, high]

    def __post_init__(self) -> None:
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (self.low, self.high))
        if not numbers or self.low >= self.high:
            raise ConfigError(f"low={self.low!r}, high={self.high!r}: need two numbers with low < high")
        if not isinstance(self.log, bool):
            raise ConfigError(f"log={self.log!r}: must be true or false")
        if self.log and self.low <= 0:
            raise ConfigError(f"a log range needs low > 0, got {self.low!r}")

    def points(self) -> list[tuple[str, Any]]:
        return [(".low", self.low), (".high", self.high)]


Axis = Union[Choice, Range]


def axis_from_yaml(raw: Any, key: str, in_grid: bool) -> Axis:
    """A grid's list, or a space's `{choices: [...]}` / `{low, high, log}`; errors name `key`."""
    if in_grid:
        if not isinstance(raw, (list, tuple)):
            raise ConfigError(f"{key}={raw!r}: must be a non-empty list of values, e.g. [0.01, 0.001]")
        return _built(Choice, key, tuple(raw), shown=list(raw))
    if isinstance(raw, Mapping) and set(raw) == {"choices"}:
        choices = raw["choices"]
        if not isinstance(choices, (list, tuple)) or not choices:
            raise ConfigError(f"{key}.choices={choices!r}: must be a non-empty list")
        return _built(Choice, f"{key}.choices", tuple(_number(c) for c in choices), shown=list(choices))
    if not isinstance(raw, Mapping) or not {"low", "high"} <= set(raw) <= {"low", "high", "log"}:
        raise ConfigError(f"{key}={_shown(raw)!r}: use {{choices: [...]}} or {{low: .., high: .., log: true|false}}")
    try:
        return Range(_number(raw["low"]), _number(raw["high"]), raw.get("log", False))
    except ConfigError as err:
        raise ConfigError(f"{key}: {err}") from None


def axis_to_yaml(axis: Axis, in_grid: bool) -> Any:
    if isinstance(axis, Choice):
        return list(axis.values) if in_grid else {"choices": list(axis.values)}
    return {"low": axis.low, "high": axis.high, "log": axis.log}


def _built(cls: type, key: str, values: tuple, shown: Any) -> Axis:
    try:
        return cls(values)
    except ConfigError as err:
        raise ConfigError(f"{key}={shown!r}: {err}") from None


def _number(value: Any) -> Any:
    """YAML 1.1 reads `1e-3` (no dot) as a string: such strings are numbers here."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _shown(raw: Any) -> Any:
    return dict(raw) if isinstance(raw, Mapping) else raw
