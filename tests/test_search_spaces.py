"""The shipped search spaces are valid and describe what their comments say."""
from __future__ import annotations

from pathlib import Path

import pytest

from tune_clothes.config import Choice
from tune_clothes.config.loader import load_experiment
from tune_clothes.tuning.plan import plan_search

SPACES = Path(__file__).resolve().parents[1] / "search_spaces"


@pytest.mark.parametrize("name, trials", [("demo", 15), ("clothing", 480), ("fashion_mnist", 60), ("adaptive", 12),
                                          ("own_photos", 30)])
def test_shipped_search_spaces_load(name, trials):
    experiment = load_experiment(SPACES / f"{name}.yaml")
    assert experiment.name == name
    assert plan_search(experiment).total_trials == trials


def test_the_own_photos_space_searches_three_networks_on_an_image_folder():
    experiment = load_experiment(SPACES / "own_photos.yaml")
    assert experiment.dataset.kind == "image_folder" and experiment.model.pretrained is True
    assert experiment.search.grid["name"] == Choice(("resnet18", "mobilenet_v3_small", "efficientnet_b0"))


def test_the_clothing_grid_is_the_original_projects_with_folds_grouped_by_sender():
    experiment = load_experiment(SPACES / "clothing.yaml")
    assert experiment.cv.group_by == "sender_id"
    grid = experiment.search.grid
    assert grid == {"lr": Choice((0.01, 0.001, 0.0001)), "batch_size": Choice((32, 64)),
                    "augment": Choice((True, False)), "split": Choice((0.7, 0.8)), "step_lr": Choice((True, False)),
                    "image_size": Choice((224, 512))}
