"""Folds: stratified, disjoint, covering, identical across processes, tied to the data's fingerprint."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tune_clothes.config.errors import DataError
from tune_clothes.data.folds import load_fold_plan, make_fold_plan, save_fold_plan

LABELS = np.repeat(np.arange(4), [40, 23, 17, 9])
NAMES = ["Dress", "Hat", "Pants", "Shirt"]


def plan(**kw):
    settings = dict(folds=3, seed=7, test_fraction=0.1, splits=[None, 0.7, 0.8])
    settings.update(kw)
    return make_fold_plan(LABELS, NAMES, "fp", **settings)


def test_kfold_parts_are_disjoint_cover_the_pool_and_are_stratified():
    p = plan()
    pool = p.pool
    assert np.intersect1d(pool, p.holdout).size == 0
    assert len(pool) + len(p.holdout) == len(LABELS)
    vals = [p.fold(None, k)[1] for k in range(3)]
    assert np.array_equal(np.sort(np.concatenate(vals)), pool)  # each pool image validates exactly once
    pool_counts = np.bincount(LABELS[pool], minlength=4)
    for k in range(3):
        train, val = p.fold(None, k)
        assert np.intersect1d(train, val).size == 0
        assert np.array_equal(np.sort(np.concatenate([train, val])), pool)
        ideal = pool_counts / 3
        assert np.all(np.abs(np.bincount(LABELS[val], minlength=4) - ideal) <= 1)


def test_holdout_is_stratified_and_never_in_any_fold():
    p = plan(test_fraction=0.2)
    ideal = np.bincount(LABELS) * 0.2
    assert np.all(np.abs(np.bincount(LABELS[p.holdout], minlength=4) - ideal) <= 1)
    for split in (None, 0.7, 0.8):
        for k in range(3):
            train, val = p.fold(split, k)
            assert np.intersect1d(np.concatenate([train, val]), p.holdout).size == 0


def test_fractional_splits_have_the_train_fraction_and_class_ratios():
    p = plan(test_fraction=0.0)
    for split in (0.7, 0.8):
        folds = [p.fold(split, k) for k in range(3)]
        for train, val in folds:
            assert abs(len(train) / len(LABELS) - split) < 0.02
            ideal = np.bincount(LABELS) * (1 - split)
            assert np.all(np.abs(np.bincount(LABELS[val], minlength=4) - ideal) <= 1)
        assert not np.array_equal(folds[0][1], folds[1][1])  # K different splits


def test_same_seed_same_folds_in_another_process(tmp_path):
    save_fold_plan(plan(), tmp_path / "here.json")
    code = ("import numpy as np, sys; sys.path.insert(0, 'tests'); from test_folds import plan; "
            "from tune_clothes.data.folds import save_fold_plan; from pathlib import Path; "
            f"save_fold_plan(plan(), Path({str(tmp_path / 'there.json')!r}))")
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert (tmp_path / "here.json").read_text() == (tmp_path / "there.json").read_text()
    assert (tmp_path / "here.json").read_text() != _saved(plan(seed=8), tmp_path / "other.json")


def _saved(p, path):
    save_fold_plan(p, path)
    return path.read_text()


def test_saved_plan_round_trips_and_refuses_other_data(tmp_path):
    original = plan()
    save_fold_plan(original, tmp_path / "folds.json")
    loaded = load_fold_plan(tmp_path / "folds.json", "fp")
    for split in (None, 0.7):
        for k in range(3):
            for a, b in zip(original.fold(split, k), loaded.fold(split, k)):
                assert np.array_equal(a, b)
    with pytest.raises(DataError, match="fingerprint fp.*now has other"):
        load_fold_plan(tmp_path / "folds.json", "other")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="not a readable fold file"):
        load_fold_plan(tmp_path / "bad.json", "fp")


@pytest.mark.parametrize("settings, message", [
    (dict(folds=10, test_fraction=0.0), "cv.folds=10 needs at least 10 images per class, but 'Shirt' has 9"),
    (dict(folds=3, test_fraction=0.0, splits=[0.95]), "split=0.95 needs at least 20 images per class"),
    (dict(folds=3, test_fraction=0.02), "holds out 1 images, fewer than the 4 classes"),
])
def test_too_few_images_per_class_names_the_class_count_and_fix(settings, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        make_fold_plan(LABELS, NAMES, "fp", **{"seed": 0, "splits": [None], **settings})
    assert "min_images_per_class" in str(err.value) or "raise it" in str(err.value)
