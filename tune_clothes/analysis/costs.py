"""The cost columns of a search's tables: each configuration's network parameters (`params_m`, millions) and
multiply-accumulates per image (`gmacs`, 1e9), from the costs.json the search wrote before its first trial
(counted by `training.cost`, as `complexity --model NAME --image-size N` prints them). An experiment from before
costs.json, or one whose networks ptflops could not count, has no cost columns."""
from __future__ import annotations

import json

import pandas as pd

from tune_clothes.config import Experiment
from tune_clothes.config.labels import plain
from tune_clothes.data import storage
from tune_clothes.data.experiment_folder import COSTS_JSON

COST_COLUMNS = ("params_m", "gmacs")


def read_costs(location: str) -> dict[tuple[str, int], dict[str, float]] | None:
    """(network, image size) -> its cost columns; None when the experiment has no costs.json."""
    path = storage.join(location, COSTS_JSON)
    if not storage.exists(path):
        return None
    networks = json.loads(storage.read_text(path))["networks"]
    return {(n["name"], int(n["image_size"])): {c: n[c] for c in COST_COLUMNS} for n in networks}


def with_costs(frame: pd.DataFrame, experiment: Experiment, costs: dict | None, prefix: str = "",
               after: str | None = None) -> pd.DataFrame:
    """`frame` (one row per configuration; its axis columns named `prefix + axis`) with the cost columns,
    inserted after column `after` (at the end when None)."""
    if costs is None:
        return frame
    names = _values(frame, f"{prefix}name", experiment.model.name)
    sizes = _values(frame, f"{prefix}image_size", experiment.train.image_size)
    found = [costs.get((str(name), int(size)), {}) for name, size in zip(names, sizes)]
    frame = frame.copy()
    position = frame.columns.get_loc(after) + 1 if after in frame.columns else len(frame.columns)
    for offset, column in enumerate(COST_COLUMNS):
        frame.insert(position + offset, column, [cost.get(column) for cost in found])
    return frame


def _values(frame: pd.DataFrame, column: str, base: object) -> list:
    """The column's value in each row, or the experiment's own value where the search does not vary it."""
    if column not in frame.columns:
        return [base] * len(frame)
    return [base if pd.isna(value) else plain(value) for value in frame[column]]
