"""tune_clothes: cross-validated hyperparameter search for clothing-image classifiers on Ray Tune.

From Python (the public API; see `tune_clothes.api`):

    import tune_clothes as tc
    results = tc.search("search_spaces/demo.yaml", {"train.epochs": 2})
    results.leaderboard                      # a DataFrame, best first
    model = tc.final(results)
    model.predict(["photo.jpg"])             # top classes as a DataFrame

From a shell: one module per command (`python -m tune_clothes.<command>`, or `tune-clothes <command>`;
`cli.COMMANDS` lists them). The library lives in its layers, each importing only the ones before it:
`config` -> `data` -> `training` -> `tuning` (the only Ray) ; `analysis` reads results from disk; both decide with
`statistics` (the fold statistics and the race's decision, pure), which imports nothing of the project;
`packaging` builds and serves the final model; `api` sits on top of them all, and the commands on top of it.
Importing `tune_clothes` imports none of them: each public name is loaded when first used.
"""
from __future__ import annotations

import importlib
import sys
import types
from typing import Any

#: Public name -> the module that defines it.
_PUBLIC = {
    "load_experiment": "tune_clothes.api.experiments",
    "search": "tune_clothes.api.searching", "dry_run": "tune_clothes.api.searching",
    "load_results": "tune_clothes.api.results", "SearchResults": "tune_clothes.api.results",
    "final": "tune_clothes.api.models", "load_model": "tune_clothes.api.models", "Model": "tune_clothes.api.models",
    "UserError": "tune_clothes.config.errors", "ConfigError": "tune_clothes.config.errors",
    "SearchInterrupted": "tune_clothes.tuning.stop",
    "RefitFailed": "tune_clothes.training.refit_job", "ExportCheckFailed": "tune_clothes.packaging.onnx_export",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'tune_clothes' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])


class _Package(types.ModuleType):
    """`tune_clothes.search` and `tune_clothes.final` are the API's functions, although the commands of the same
    names are modules of this package (`python -m tune_clothes.search`): importing a submodule sets the package's
    attribute of its name, and here that attribute stays the function. The command modules are in sys.modules
    (importlib.import_module("tune_clothes.search") returns one)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _PUBLIC and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
