"""A search on a dataset with every kind of problem (the `messy_search` fixture): corrupt, missing and unsafe
rows, an empty label and a repeated id are left out, a class too small and a class named in drop_classes are
dropped; dataset.json reports all of it by name, and none of those images is in any fold. Which image sits in
a fold is read from the pixels themselves (each image is a colour of its own), not from the index."""
from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import trial_dirs

from tune_clothes.data.experiment_folder import DATASET_JSON, FOLDS_JSON

pytestmark = pytest.mark.slow
KEPT_CLASSES = ["Hat", "Pants", "Shirt"]  # sorted: the class ids the trials use


def test_dataset_json_reports_what_was_dropped_and_left_out_by_name(messy_search):
    data, _, report = messy_search
    dataset = json.loads((Path(report.location) / DATASET_JSON).read_text())
    assert dataset["images"] == len(data.usable)
    assert dataset["class_counts"] == dict(collections.Counter(label for label, _ in data.usable.values()))
    assert dataset["dropped_classes"] == data.dropped_classes
    assert dataset["excluded_ids"] == data.left_out
    assert dataset["excluded"] == {problem: len(ids) for problem, ids in data.left_out.items()}


def images_at_positions(data, cache_dir: Path) -> list[str]:
    """The id of the image in each row of the image cache, told by its colour among every image written."""
    (cache_file,) = (cache_dir / "images").glob("*.npy")
    colours = {image_id: colour for image_id, (_, colour) in data.usable.items()} | data.unused
    ids, palette = list(colours), np.array(list(colours.values()), dtype=float)
    found = []
    for row in np.load(cache_file):
        distances = np.linalg.norm(palette - row.reshape(-1, 3).mean(axis=0), axis=1)
        assert distances.min() < 6, "a cache row is none of the images written"
        found.append(ids[int(distances.argmin())])
    return found


def test_no_dropped_or_left_out_image_is_in_any_fold(messy_search):
    data, experiment, report = messy_search
    location = Path(report.location)
    at = images_at_positions(data, Path(experiment.dataset.cache_dir))
    plan = json.loads((location / FOLDS_JSON).read_text())
    validation = plan["validation"]["kfold"]
    assert plan["holdout"] == [] and len(validation) == experiment.cv.folds
    in_folds = [at[p] for part in validation for p in part]  # each fold trains on the others' parts
    assert sorted(in_folds) == sorted(data.usable)  # every usable image once, and nothing else
    for trial in trial_dirs(location):  # and the trials were validated on exactly those images' classes
        latest = sorted(trial.glob("checkpoint_*"))[-1]
        for k, part in enumerate(validation):
            matrix = json.loads((latest / f"fold{k}_class_metrics.json").read_text())["confusion_matrix"]
            counts = collections.Counter(data.usable[at[p]][0] for p in part)
            assert [sum(row) for row in matrix] == [counts[name] for name in KEPT_CLASSES]
