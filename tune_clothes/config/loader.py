"""YAML (and `--set key=value` overrides) in, a validated `Experiment` out; and back to plain dicts.

Every error names the file and the dotted key, and suggests the closest valid key for a typo.
"""
from __future__ import annotations

import collections.abc
import copy
import dataclasses
import difflib
import os
import types
import typing
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, Union

import yaml

from tune_clothes.config import NOT_AXES, Experiment, axis_names
from tune_clothes.config.errors import ConfigError
from tune_clothes.config.search_space import Axis, Choice, Range, axis_from_yaml, axis_to_yaml

#: Axes whose every value needs something prepared before trials start (folds per split, a cache per size).
PRECOMPUTED_AXES = ("split", "image_size")


def load_experiment(path: str | os.PathLike, overrides: Iterable[str] = ()) -> Experiment:
    """Read a search-space file, apply `key=value` overrides, and validate everything."""
    return experiment_with_overrides(read_yaml_mapping(path), overrides, str(path))


def experiment_with_overrides(raw: Mapping[str, Any], overrides: Iterable[str] | Mapping[str, Any],
                              source: str) -> Experiment:
    """Validate the raw config mapping with `overrides` applied: `key=value` strings (the value read as YAML, as
    `--set` reads it) or a mapping of dotted keys to values. Errors name `source` and the overrides."""
    raw = copy.deepcopy(dict(raw))
    if isinstance(overrides, Mapping):
        assignments = [(str(key), value, f"{key}={value!r}") for key, value in overrides.items()]
    else:
        assignments = [(*parse_override(text), text) for text in overrides]
    if assignments:
        source = f"{source} with --set {' '.join(shown for _, _, shown in assignments)}"
    try:
        for key, value, shown in assignments:
            set_dotted(raw, key, value, shown)
        return experiment_from_dict(raw)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def read_yaml_mapping(path: str | os.PathLike) -> dict:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{path}: no such file; pass a search space such as search_spaces/demo.yaml")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))  # safe: builds no Python objects
    except yaml.MarkedYAMLError as err:
        raise ConfigError(f"{path}{_at(err.problem_mark)}: not valid YAML: {err.problem or err.context}"
                          + (f" ({err.context}{_at(err.context_mark, ' at')})" if err.context else "")) from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from None
    if data is None:
        raise ConfigError(f"{path}: the file is empty; a search space is a mapping of sections (name, dataset, "
                          f"model, train, cv, search, ...): start from search_spaces/demo.yaml")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections (name, dataset, train, ...), "
                          f"not a {type(data).__name__}")
    return data


def _at(mark, word: str = ",") -> str:
    return f"{word} line {mark.line + 1}, column {mark.column + 1}" if mark else ""


def parse_override(assignment: str) -> tuple[str, Any]:
    """`train.lr=0.01` -> ("train.lr", 0.01): the value is read as YAML."""
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {assignment!r}: expected key=value, e.g. --set train.epochs=2")
    try:
        return key.strip(), yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(f"--set {assignment!r}: the value is not valid YAML") from None


def set_dotted(raw: dict, key: str, value: Any, shown: str) -> None:
    """raw[a][b] = value for key `a.b`, making the sections it needs; `shown` names the override in errors."""
    *parents, leaf = key.strip().split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {shown!r}: {part!r} is not a section")
    node[leaf] = value


def experiment_from_dict(raw: Mapping[str, Any]) -> Experiment:
    experiment = build_dataclass(Experiment, raw, "")
    return check_search_axes(resolve_paths(experiment))


def resolve_paths(experiment: Experiment) -> Experiment:
    """Make paths absolute now: Ray trials run in directories of their own."""
    dataset = experiment.dataset
    root = os.path.abspath(os.path.expanduser(dataset.root)) if dataset.root else None
    dataset = dataclasses.replace(dataset, root=root, cache_dir=os.path.abspath(os.path.expanduser(dataset.cache_dir)))
    storage = experiment.storage
    if "://" not in storage:
        storage = os.path.abspath(os.path.expanduser(storage))
    return dataclasses.replace(experiment, dataset=dataset, storage=storage)


def experiment_to_dict(experiment: Experiment) -> dict:
    """A plain, YAML-safe dict that `experiment_from_dict` reads back to an equal experiment."""
    search = experiment.search
    axes = {"grid": {a: axis_to_yaml(v, in_grid=True) for a, v in search.grid.items()},
            "space": {a: axis_to_yaml(v, in_grid=False) for a, v in search.space.items()}}
    plain = _plain(dataclasses.asdict(experiment))
    plain["search"].update(_plain(axes))  # in their YAML shape, not as the dataclasses' fields
    return plain


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# --- building dataclasses from mappings, with type checks --------------------------------------------------

def build_dataclass(cls: type, data: Any, prefix: str) -> Any:
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise ConfigError(unknown_key_message(f"{prefix}{key}", [f"{prefix}{name}" for name in fields]))
    hints = typing.get_type_hints(cls)
    values = {key: convert(value, hints[key], f"{prefix}{key}") for key, value in data.items()}
    return cls(**values)


def unknown_key_message(key: str, valid: list[str]) -> str:
    """Suggest the sibling key closest to the typo (compared on the last part: `train.` matches everything)."""
    prefix, _, name = key.rpartition(".")
    names = [v.rpartition(".")[2] for v in valid]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.7)
    dotted = f"{prefix}." if prefix else ""
    hint = f" (did you mean {dotted + close[0]!r}?)" if close else f"; valid keys here: {', '.join(sorted(valid))}"
    return f"unknown key {key!r}{hint}"


def convert(value: Any, hint: Any, key: str) -> Any:
    """Check `value` against the type `hint`; return it in the field's type (lists become tuples)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return build_dataclass(hint, value, f"{key}.")
    if origin in (Union, types.UnionType):
        return _convert_union(value, args, key)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}={value!r}: must be one of {', '.join(map(repr, args))}")
        return value
    if origin is tuple:
        return _convert_tuple(value, args, key)
    if origin in (collections.abc.Mapping, dict):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}={value!r}: must be a mapping")
        if args and args[1] in (Choice, Axis):  # search.grid / search.space: typed axis values
            return {str(k): axis_from_yaml(_freeze(v), f"{key}.{k}", in_grid=args[1] is Choice)
                    for k, v in value.items()}
        return {str(k): _freeze(v) for k, v in value.items()}
    if hint is Any:
        return value
    return _convert_scalar(value, hint, key)


def _convert_union(value: Any, args: tuple, key: str) -> Any:
    if value is None:
        if type(None) in args:
            return None
        raise ConfigError(f"{key} must not be empty (null)")
    errors = []
    for option in (a for a in args if a is not type(None)):
        try:
            return convert(value, option, key)
        except ConfigError as err:
            errors.append(str(err))
    raise ConfigError(errors[0] if len(errors) == 1 else
                      f"{key}={value!r}: must be one of the types {[a.__name__ for a in args]}")


def _convert_tuple(value: Any, args: tuple, key: str) -> tuple:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{key}={value!r}: must be a list")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
    if len(value) != len(args):
        raise ConfigError(f"{key}={value!r}: must be a list of {len(args)} values")
    return tuple(convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))


def _convert_scalar(value: Any, hint: type, key: str) -> Any:
    if hint is float and isinstance(value, str):
        try:  # YAML 1.1 reads 1e-3 (no dot) as a string
            return float(value)
        except ValueError:
            pass
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{key}={value!r}: must be {_type_words(hint)}, not {type(value).__name__}")


def _type_words(hint: type) -> str:
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(
        hint, hint.__name__)


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, Mapping):
        return {str(k): _freeze(v) for k, v in value.items()}
    return value


# --- search axes ------------------------------------------------------------------------------------------

#: Axis names read as another field's: `search.grid.model: [resnet18, efficientnet_b0]` varies model.name.
AXIS_ALIASES = {"model": "name"}


def check_search_axes(experiment: Experiment) -> Experiment:
    """Every value of every axis (each choice, both bounds of a range) must make a valid experiment.

    Returns the experiment with the axes' values in their fields' types (YAML reads `1e-3` as a string).
    """
    search = experiment.search
    for section, axes in (("grid", search.grid), ("space", search.space)):
        for alias, field in AXIS_ALIASES.items():
            if alias in axes and field in axes:
                raise ConfigError(f"search.{section}: both {alias!r} and {field!r} vary model.{field}; keep one")
    grid = {AXIS_ALIASES.get(axis, axis): _checked_axis(experiment, axis, values, f"search.grid.{axis}")
            for axis, values in search.grid.items()}
    space = {AXIS_ALIASES.get(axis, axis): _checked_axis(experiment, axis, spec, f"search.space.{axis}")
             for axis, spec in search.space.items()}
    return dataclasses.replace(experiment, search=dataclasses.replace(search, grid=grid, space=space))


def _checked_axis(experiment: Experiment, axis: str, values: Axis, key: str) -> Axis:
    axis = AXIS_ALIASES.get(axis, axis)
    _check_axis_name(axis, key, axis_names())
    if axis in PRECOMPUTED_AXES and not isinstance(values, Choice):
        raise ConfigError(f"{key}={axis_to_yaml(values, in_grid=False)!r}: {axis} needs a list of choices "
                          f"({{choices: [...]}}): folds and image caches are made for each value before the search "
                          f"starts")
    field_type = typing.get_type_hints(type(getattr(experiment, axis_names()[axis])))[axis]
    where = key if isinstance(values, Range) or key.startswith("search.grid") else f"{key}.choices"
    points = [_check_value(experiment, axis, value, field_type, f"{where}{name}") for name, value in values.points()]
    if isinstance(values, Range):
        return Range(*points, log=values.log, integer=field_type is int)
    try:
        return Choice(tuple(points))
    except ConfigError as err:
        raise ConfigError(f"{key}={list(values.values)!r}: {err}") from None


def _check_axis_name(axis: str, key: str, names: dict[str, str]) -> None:
    fixed = [f for f in NOT_AXES if f.endswith(f".{axis}")]
    if fixed:
        raise ConfigError(f"{key}: {fixed[0]} describes the cross-validation or the run, not a configuration, and "
                          f"cannot vary in a search: set {fixed[0]} once instead")
    if axis not in names:
        raise ConfigError(unknown_key_message(key, [key.rsplit(".", 1)[0] + "." + n for n in names]))


def _check_value(experiment: Experiment, axis: str, value: Any, field_type: Any, key: str) -> Any:
    """`value` in the axis field's type, after checking that it makes a valid experiment."""
    value = convert(value, field_type, key)
    try:
        experiment.with_axes({axis: value})
    except ConfigError as err:
        raise ConfigError(f"{key}: {err}") from None
    return value
