"""What an experiment folder holds besides Ray's own files, so a result can be audited and reproduced:
the resolved config, the folds, the data's fingerprint and report, and the versions that ran it."""
from __future__ import annotations

import importlib.metadata
import json
import platform
from typing import Any

import yaml

from tune_clothes.config import Experiment
from tune_clothes.config.errors import UserError
from tune_clothes.config.loader import experiment_from_dict, experiment_to_dict
from tune_clothes.data import storage
from tune_clothes.data.folds import FoldPlan, save_fold_plan
from tune_clothes.data.index import DatasetIndex

EXPERIMENT_YAML = "experiment.yaml"
FOLDS_JSON = "folds.json"
DATASET_JSON = "dataset.json"
VERSIONS_JSON = "versions.json"
COSTS_JSON = "costs.json"  # parameters and MACs of each network and image size the search trains
LEADERBOARD_CSV = "leaderboard.csv"
CV_RESULTS_CSV = "cv_results.csv"
BEST_CONFIG_YAML = "best_config.yaml"
REPORT_HTML = "report.html"
RESULT_JSON = "result.json"  # in a trial's folder: Tune's reports, a JSON object a line
FINAL_DIR = "final"  # where `final` builds the model of the search, unless given --out
MODEL_JSON = "model.json"  # in a model folder: how the model was made; written last, so a folder with it is complete
TEST_METRICS_JSON = "test_metrics.json"  # in a model folder: the locked test set's metrics, when there was one
PACKAGES = ("tune_clothes", "ray", "torch", "torchvision", "albumentations", "scikit-learn", "pandas", "numpy",
            "pillow", "optuna", "ptflops")


def experiment_location(experiment: Experiment) -> str:
    return storage.join(experiment.storage, experiment.name)


def write_experiment_files(location: str, experiment: Experiment, index: DatasetIndex, plan: FoldPlan) -> None:
    storage.write_text(storage.join(location, EXPERIMENT_YAML),
                       yaml.safe_dump(experiment_to_dict(experiment), sort_keys=False))
    save_fold_plan(plan, storage.join(location, FOLDS_JSON))
    dataset = {"fingerprint": index.fingerprint(), "kind": index.kind, "root": index.root, "images": len(index),
               "holdout_images": len(plan.holdout), "class_counts": index.class_counts(),
               "dropped_classes": index.dropped_classes,
               "excluded": {problem: len(ids) for problem, ids in index.excluded.items()},
               "excluded_ids": index.excluded}  # problem -> the ids left out, by name
    storage.write_text(storage.join(location, DATASET_JSON), json.dumps(dataset, indent=2))
    storage.write_text(storage.join(location, VERSIONS_JSON), json.dumps(package_versions(), indent=2))


def read_experiment(location: str) -> Experiment:
    """The experiment as it was resolved when the search started."""
    path = storage.join(location, EXPERIMENT_YAML)
    if not storage.exists(path):
        raise UserError(f"{location}: no {EXPERIMENT_YAML} here; pass the folder of an experiment that "
                        f"tune_clothes.search started (<storage>/<name>)")
    return experiment_from_dict(yaml.safe_load(storage.read_text(path)))


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def read_reports(trial_dir: str) -> list[dict[str, Any]]:
    """Every report of the trial (Tune's result.json, a JSON object a line); a line cut short by a killed
    process is skipped."""
    path = storage.join(trial_dir, RESULT_JSON)
    if not storage.exists(path):
        return []
    reports = []
    for line in storage.read_text(path).splitlines():
        try:
            reports.append(json.loads(line))
        except ValueError:
            continue
    return reports
