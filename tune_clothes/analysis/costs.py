"""The cost columns of a search's tables: each configuration's network parameters (`params_m`, millions) and
multiply-accumulates per image (`gmacs`, 1e9), from the costs.json the search wrote before its first trial
(counted by `training.cost`, as `complexity --model NAME --image-size N` prints them). An experiment from before
costs.json, or one whose networks ptflops could not count, has no cost columns."""
from __future__ import annotations

import json

import pandas as pd

from tune_clothes.config import Experiment, axis_names
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
    found = [costs.get((chosen.model.name, chosen.train.image_size), {})
             for chosen in _configurations(frame, experiment, prefix)]
    frame = frame.copy()
    position = frame.columns.get_loc(after) + 1 if after in frame.columns else len(frame.columns)
    for offset, column in enumerate(COST_COLUMNS):
        frame.insert(position + offset, column, [cost.get(column) for cost in found])
    return frame


def _configurations(frame: pd.DataFrame, experiment: Experiment, prefix: str) -> list[Experiment]:
    """Each row's configuration: the experiment with the row's axis values (an empty one keeps the experiment's)."""
    axes = [name for name in axis_names() if f"{prefix}{name}" in frame.columns]
    return [experiment.with_axes({axis: value for axis in axes
                                  if (value := plain(row[f"{prefix}{axis}"])) is not None})
            for _, row in frame.iterrows()]
