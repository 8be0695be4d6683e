"""`load_experiment`: a validated `Experiment` from a search-space YAML file, a plain dict, an experiment folder or
an `Experiment`, with overrides as `--set` gives them; the same checks and messages as the commands."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Union

from tune_clothes.config import Experiment
from tune_clothes.config.loader import experiment_to_dict, experiment_with_overrides, read_yaml_mapping
from tune_clothes.data.experiment_folder import EXPERIMENT_YAML, read_experiment

#: What names an experiment: a YAML file, a dict of its sections, an experiment folder, or an `Experiment`.
ExperimentSource = Union[str, os.PathLike, Mapping[str, Any], Experiment]
#: `--set` overrides: ["train.epochs=2", ...] (values read as YAML) or {"train.epochs": 2, ...}.
Overrides = Union[Iterable[str], Mapping[str, Any], None]


def load_experiment(source: ExperimentSource, overrides: Overrides = None, *, name: str | None = None,
                    storage: str | None = None) -> Experiment:
    """The experiment `source` names, with `overrides` applied and validated as a whole; `name` and `storage`
    as the search command's --name and --storage. Raises `ConfigError` (a `UserError`) naming the source, the
    key and the fix."""
    extra = {**({"name": name} if name else {}), **({"storage": storage} if storage else {})}
    if isinstance(overrides, Mapping):
        overrides = {**overrides, **extra}
    else:
        overrides = [*(overrides or ()), *(f"{key}={value}" for key, value in extra.items())]
    if isinstance(source, Experiment):
        return experiment_with_overrides(experiment_to_dict(source), overrides, f"experiment '{source.name}'")
    if isinstance(source, Mapping):
        return experiment_with_overrides(source, overrides, "the given dict")
    if Path(source).expanduser().is_dir() and (Path(source).expanduser() / EXPERIMENT_YAML).is_file():
        saved = read_experiment(str(Path(source).expanduser().absolute()))
        return experiment_with_overrides(experiment_to_dict(saved), overrides, str(source))
    return experiment_with_overrides(read_yaml_mapping(source), overrides, str(source))
