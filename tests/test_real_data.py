"""A search on the real Clothing Dataset (skipped where ../shared/data has none) whose folds end on a training batch
of one image: resnet18's BatchNorm layers cannot train on one image, which crashed such a fold in its first
epoch, every retry; now every trial completes."""
from __future__ import annotations

import pytest
from conftest import search_and_summarize

from tune_clothes.config.loader import experiment_from_dict
from tune_clothes.data.datasets import load_index
from tune_clothes.data.folds import plan_folds

pytestmark = pytest.mark.slow
KEPT = ("Skirt", "Polo", "Hoodie")  # three of its smaller classes: a few hundred photos, a quick search


def space(root, tmp_path, batch_size: int) -> dict:
    counts = {"T-Shirt", "Longsleeve", "Pants", "Shoes", "Shirt", "Dress", "Outwear", "Shorts", "Not sure", "Hat",
              "Undershirt", "Blazer", "Body", "Other", "Top", "Blouse", "Skip"}
    return {"name": "real-one-image", "storage": str(tmp_path / "results"),
            "dataset": {"kind": "clothing", "root": str(root), "cache_dir": str(tmp_path / "cache"),
                        "drop_classes": sorted(counts - set(KEPT))},
            "model": {"name": "resnet18"},
            "train": {"epochs": 1, "image_size": 32, "batch_size": batch_size, "augment": False},
            "cv": {"folds": 2, "seed": 7}, "resources": {"cpus_per_trial": 1}, "search": {"max_failures": 0}}


def test_a_real_search_whose_fold_ends_on_one_image_completes(real_clothing, ray_local, tmp_path):
    probe = experiment_from_dict(space(real_clothing, tmp_path, 8))
    index = load_index(probe.dataset)
    assert set(index.class_names) == set(KEPT)
    plan = plan_folds(index, probe.cv, [None])
    sizes = [len(plan.fold(None, j)[0]) for j in range(plan.total_folds)]
    batch = next(b for b in range(8, max(sizes)) if any(n % b == 1 for n in sizes))  # a last batch of one image
    summary = search_and_summarize(experiment_from_dict(space(real_clothing, tmp_path, batch)))
    (row,) = summary.leaderboard.itertuples()
    assert row.status == "complete" and row.folds_finished == 2, f"batch {batch}, training parts {sizes}"
