"""A search on a dataset with every kind of problem (the `messy_search` fixture): corrupt, missing and unsafe
rows, an empty label and a repeated id are left out, a class too small and a class named in drop_classes are
dropped; dataset.json reports all of it by name, and none of those images is in any fold. Which image sits in
a fold is read from the pixels themselves (each image is a colour of its own), not from the index. And a class
policy that cannot work on this data is refused, counted after the broken rows are left out."""
from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import trial_dirs, write_messy_clothing

from tune_clothes.config import DatasetConfig
from tune_clothes.config.errors import DataError
from tune_clothes.data.datasets import load_index
from tune_clothes.data.experiment_folder import DATASET_JSON, FOLDS_JSON

KEPT_CLASSES = ["Hat", "Pants", "Shirt"]  # sorted: the class ids the trials use


@pytest.mark.slow
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


@pytest.mark.slow
def test_no_dropped_or_left_out_image_is_in_any_fold(messy_search):
    data, experiment, report = messy_search
    location = Path(report.location)
    at = images_at_positions(data, Path(experiment.dataset.cache_dir))
    plan = json.loads((location / FOLDS_JSON).read_text())
    validation = [part["positions"] for part in plan["validation"]["kfold"]]
    assert plan["holdout"] == [] and len(validation) == experiment.cv.folds
    in_folds = [at[p] for part in validation for p in part]  # each fold trains on the others' parts
    assert sorted(in_folds) == sorted(data.usable)  # every usable image once, and nothing else
    for trial in trial_dirs(location):  # and the trials were validated on exactly those images' classes
        latest = sorted(trial.glob("checkpoint_*"))[-1]
        for k, part in enumerate(validation):
            matrix = json.loads((latest / f"fold{k}_class_metrics.json").read_text())["confusion_matrix"]
            counts = collections.Counter(data.usable[at[p]][0] for p in part)
            assert [sum(row) for row in matrix] == [counts[name] for name in KEPT_CLASSES]


@pytest.mark.parametrize("policy, message", [
    ({"min_images_per_class": 8, "drop_classes": ("Undefined", "Pants")},
     r"images.csv: only 1 class\(es\) left after dataset.drop_classes=\['Undefined', 'Pants'\] and "
     r"dataset.min_images_per_class=8 \(dropped \{'Hat': 7, 'Pants': 8, 'Skirt': 2, 'Undefined': 2\}\); a "
     r"classifier needs at least 2: lower min_images_per_class or drop fewer classes"),
    ({"drop_classes": ("Hats",)},
     r"dataset.drop_classes: 'Hats' is not a class of .*images.csv \(did you mean 'Hat'\?\)"),
])
def test_a_class_policy_that_cannot_work_is_refused(tmp_path, policy, message):
    """Counted after the broken rows are left out: Shirt keeps 8 images without its corrupt and repeated rows."""
    data = write_messy_clothing(tmp_path / "data")
    with pytest.raises(DataError, match=message):
        load_index(DatasetConfig(kind="clothing", root=str(data.root), cache_dir=str(tmp_path / "cache"), **policy))
