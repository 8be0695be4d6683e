"""A synthetic experiment folder as a finished grid search leaves it, written without training anything: for
the report's benchmark and its fast tests.

It holds what a real search writes (experiment.yaml, folds.json, dataset.json, versions.json; per trial
params.json, result.json with one line per epoch and Tune's bookkeeping keys, and two checkpoint folders with
the validation predictions) and a small dataset (images.csv and one small JPEG per image), so every section
of the report has something to show. Each configuration gets a skill; each fold's predictions are drawn from
it, and the fold's last-epoch metrics are computed from those predictions, as a real trial's are.
"""
from __future__ import annotations

import csv
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tune_clothes.config import Experiment
from tune_clothes.config import metric_names as M
from tune_clothes.config import trial_record as record
from tune_clothes.data.experiment_folder import experiment_location, write_experiment_files
from tune_clothes.data.folds import make_fold_plan
from tune_clothes.data.index import DatasetIndex
from tune_clothes.training.metrics import epoch_metrics
from tune_clothes.training.predictions import TOP_K, ValidationPredictions, predictions_file, save_predictions

#: The Clothing Dataset's classes and image counts (its 'Skip' class of 11 is below clothing.yaml's minimum).
CLOTHING_COUNTS = {"T-Shirt": 897, "Longsleeve": 645, "Pants": 626, "Shoes": 393, "Shirt": 346, "Dress": 323,
                   "Outwear": 281, "Shorts": 278, "Not sure": 205, "Hat": 152, "Skirt": 139, "Polo": 109,
                   "Undershirt": 105, "Blazer": 101, "Hoodie": 88, "Body": 63, "Other": 54, "Top": 39,
                   "Blouse": 21}
NODES = ("3f6c1a0b9e2d4c5f8a7b6e5d4c3b2a1f", "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d")
START = 1.7e9  # seconds since 1970: when the synthetic search started; trial n starts a minute after trial n-1


@dataclass(frozen=True)
class SyntheticData:
    class_counts: dict[str, int] = field(default_factory=lambda: dict(CLOTHING_COUNTS))
    senders: int = 339  # groups, for cv.group_by
    image_side: int = 24  # pixels of the JPEG files
    seed: int = 0


def write_synthetic_experiment(experiment: Experiment, data: SyntheticData = SyntheticData()) -> str:
    """Write the finished grid search `experiment` (its dataset.root and storage are where the files go);
    returns the experiment folder."""
    rng = np.random.default_rng(data.seed)
    index = _write_dataset(Path(experiment.dataset.root), data, rng)
    groups = rng.integers(0, data.senders, len(index)).astype(str) if experiment.cv.group_by else None
    plan = make_fold_plan(index.labels, index.class_names, index.fingerprint(), experiment.cv,
                          experiment.axis_values("split"), groups)
    location = experiment_location(experiment)
    write_experiment_files(location, experiment, index, plan)
    axes = list(experiment.search.grid)
    configurations = list(itertools.product(*(experiment.search.grid[a].values for a in axes)))
    for number, (values, j) in enumerate(itertools.product(configurations, range(plan.total_folds))):
        configuration = experiment.with_axes(dict(zip(axes, values)))
        val = plan.fold(configuration.cv.split, j)[1]
        params = {**dict(zip(axes, values)), record.FOLD_PARAM: j}
        _write_trial(Path(location) / _trial_name(number, values, axes, j), params, configuration, (index, val), rng)
    return location


def _trial_name(number: int, values: tuple, axes: list[str], j: int) -> str:
    """As Tune names a trial folder (trial id, fold, values), at most 120 characters."""
    return f"0a1b2_{number:05d}_fold{j}_{','.join(f'{a}={v}' for a, v in zip(axes, values))}"[:120]


def _write_dataset(root: Path, data: SyntheticData, rng: np.random.Generator) -> DatasetIndex:
    names = tuple(sorted(data.class_counts))
    labels = np.repeat(np.arange(len(names)), [data.class_counts[n] for n in names])
    ids = tuple(f"img{i:05d}" for i in range(len(labels)))
    (root / "images").mkdir(parents=True, exist_ok=True)
    with open(root / "images.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "sender_id", "label", "kids"])
        writer.writerows([image_id, i % data.senders, names[label], "False"] for i, (image_id, label)
                         in enumerate(zip(ids, labels)))
    colours = rng.integers(0, 256, (len(names), 3))
    for image_id, label in zip(ids, labels):
        pixels = np.clip(colours[label] + rng.normal(0, 40, (data.image_side, data.image_side, 3)), 0, 255)
        Image.fromarray(pixels.astype(np.uint8)).save(root / "images" / f"{image_id}.jpg", quality=80)
    return DatasetIndex("clothing", str(root), ids, labels.astype(np.int64), names)


def _write_trial(trial_dir: Path, params: dict[str, Any], experiment: Experiment,
                 validation: tuple[DatasetIndex, np.ndarray], rng: np.random.Generator) -> None:
    """A finished trial: params.json, a result.json line per epoch, the last two epochs' checkpoints."""
    index, val = validation
    trial_id = trial_dir.name[:11]
    number = int(trial_id[6:])
    start = START + 60.0 * number
    trial_dir.mkdir(parents=True)
    (trial_dir / "params.json").write_text(json.dumps(params))
    skill = _skill(params)
    epochs = experiment.train.epochs
    predictions = [_predictions(index, val, skill * (1 - 0.5 * np.exp(-e)), e, rng) for e in (epochs - 1, epochs)]
    lines, elapsed = [], 0.0
    for epoch in range(1, epochs + 1):
        seconds = float(rng.uniform(40, 60))
        elapsed += seconds
        row = {**_metrics(predictions, epoch, epochs, len(index.class_names), rng), M.LR: experiment.train.lr,
               M.EPOCH: epoch - 1}
        report = record.epoch_report({params[record.FOLD_PARAM]: row}, epoch, epochs,
                                     {record.NODE_ID: NODES[number % 2]})
        lines.append(json.dumps({**report, record.TUNE_TIME_THIS_ITER: seconds, record.TUNE_TIME_TOTAL: elapsed,
                                 record.TUNE_TIMESTAMP: start + elapsed, "training_iteration": epoch,
                                 "trial_id": trial_id, "done": epoch == epochs, "config": params}))
    (trial_dir / "result.json").write_text("\n".join(lines) + "\n")
    for checkpoint, made in zip((epochs - 2, epochs - 1), predictions):
        folder = trial_dir / f"checkpoint_{checkpoint:06d}"
        folder.mkdir()
        save_predictions(made, folder / predictions_file(params[record.FOLD_PARAM]))


def _skill(params: dict[str, Any]) -> float:
    """A configuration's accuracy, the same for every fold and run: from a hash of its values."""
    digest = hashlib.sha256(json.dumps(record.configuration_of(params), sort_keys=True).encode())
    return 0.45 + 0.35 * int(digest.hexdigest()[:8], 16) / 0xFFFFFFFF


def _predictions(index: DatasetIndex, val: np.ndarray, skill: float, epochs_done: int,
                 rng: np.random.Generator) -> ValidationPredictions:
    """Right with probability `skill`, else mostly the next class (a confusable neighbour)."""
    classes = len(index.class_names)
    labels = index.labels[val]
    wrong = np.where(rng.random(len(val)) < 0.7, (labels + 1) % classes, rng.integers(0, classes, len(val)))
    predicted = np.where(rng.random(len(val)) < skill, labels, wrong)
    scores = rng.dirichlet(np.full(classes, 0.5), len(val))
    scores[np.arange(len(val)), predicted] += rng.uniform(0.3, 2.0, len(val))
    scores /= scores.sum(axis=1, keepdims=True)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :min(TOP_K, classes)]
    return ValidationPredictions(epochs_done, val.astype(np.int64), np.array([index.ids[i] for i in val]),
                                 labels.astype(np.int64), predicted.astype(np.int64), top.astype(np.int32),
                                 np.take_along_axis(scores, top, axis=1).astype(np.float16))


def _metrics(predictions: list[ValidationPredictions], epoch: int, epochs: int, classes: int,
             rng: np.random.Generator) -> dict[str, float]:
    """The last epoch's validation metrics from its predictions; earlier epochs approach them."""
    last = predictions[-1]
    final = epoch_metrics("val", last.labels, last.predicted, classes)
    progress = 1 - 0.6 * np.exp(-3 * epoch / epochs)
    values = final if epoch == epochs else {k: float(v * progress + rng.normal(0, 0.01)) for k, v in final.items()}
    train = {k.replace("val/", "train/"): min(1.0, float(v * 1.1 * progress)) for k, v in final.items()}
    return {**values, **train, M.VAL_LOSS: float(2.5 * (1 - values[M.VAL_ACC]) + 0.3),
            M.TRAIN_LOSS: float(2.2 * (1 - train[M.TRAIN_ACC]) + 0.1)}
