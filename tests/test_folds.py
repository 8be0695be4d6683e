"""Folds: stratified, disjoint, covering, repeated, grouped, identical across processes, tied to the data's
fingerprint."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tune_clothes.config import CVConfig
from tune_clothes.config.errors import ConfigError, DataError
from tune_clothes.data.folds import load_fold_plan, make_fold_plan, read_fold_plan, save_fold_plan

LABELS = np.repeat(np.arange(4), [40, 23, 17, 9])
NAMES = ["Dress", "Hat", "Pants", "Shirt"]


def plan(splits=(None, 0.7, 0.8), groups=None, **cv):
    settings = {"folds": 3, "seed": 7, "test_fraction": 0.1, **cv}
    return make_fold_plan(LABELS, NAMES, "fp", CVConfig(**settings), splits, groups)


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
        plan(**{"seed": 0, "splits": [None], **settings})
    assert "min_images_per_class" in str(err.value) or "raise it" in str(err.value)


def test_repeats_are_independent_k_folds_and_repeat_0_is_the_unrepeated_plan():
    repeated, single = plan(repeats=2), plan()
    assert repeated.total_folds == 6 and [repeated.repeat_and_fold(j) for j in (0, 2, 3, 5)] == [
        (0, 0), (0, 2), (1, 0), (1, 2)]
    for repeat in range(2):
        vals = [repeated.fold(None, repeat * 3 + k)[1] for k in range(3)]
        assert np.array_equal(np.sort(np.concatenate(vals)), repeated.pool)  # each repeat covers the pool once
    for k in range(3):
        assert np.array_equal(repeated.fold(None, k)[1], single.fold(None, k)[1])
        assert not np.array_equal(repeated.fold(None, 3 + k)[1], repeated.fold(None, k)[1])
    assert np.array_equal(repeated.holdout, single.holdout)
    with pytest.raises(ConfigError, match="folds 0..5 .2 repeat.s. x 3 folds"):
        repeated.fold(None, 6)


def test_fold_file_records_repeat_and_fold_and_reads_the_old_format(tmp_path):
    original = plan(repeats=2, splits=[None])
    save_fold_plan(original, tmp_path / "folds.json")
    saved = json.loads((tmp_path / "folds.json").read_text())
    assert saved["format"] == 2 and saved["repeats"] == 2 and saved["group_by"] is None
    assert [(p["repeat"], p["fold"]) for p in saved["validation"]["kfold"]] == [
        (r, k) for r in (0, 1) for k in (0, 1, 2)]
    assert saved["repeat_seeds"][0] == 7 and len(set(saved["repeat_seeds"])) == 2
    loaded = read_fold_plan(tmp_path / "folds.json")
    assert loaded.repeats == 2 and all(np.array_equal(a, b) for a, b in
                                       zip(loaded.validation["kfold"], original.validation["kfold"]))
    old = plan(splits=[None])  # format 1: one repeat, the parts as plain lists
    (tmp_path / "v1.json").write_text(json.dumps({
        "format": 1, "fingerprint": "fp", "folds": 3, "seed": 7, "test_fraction": 0.1, "num_images": len(LABELS),
        "holdout": old.holdout.tolist(), "validation": {"kfold": [v.tolist() for v in old.validation["kfold"]]}}))
    v1 = load_fold_plan(tmp_path / "v1.json", "fp")
    assert (v1.repeats, v1.group_by) == (1, None)
    assert np.array_equal(v1.fold(None, 2)[1], old.fold(None, 2)[1])
    (tmp_path / "v9.json").write_text(json.dumps({**saved, "format": 9}))
    with pytest.raises(DataError, match="format 9: this tune_clothes reads formats 1 and 2"):
        load_fold_plan(tmp_path / "v9.json", "fp")


GROUPS = np.array([f"s{i % 13}" for i in range(len(LABELS))])  # 13 senders, each with several classes


@pytest.mark.parametrize("split", [None, 0.7, 0.8])
def test_grouped_folds_keep_every_group_on_one_side_and_every_class_on_both(split):
    p = plan(splits=[split], groups=GROUPS, group_by="sender_id", test_fraction=0.1)
    assert p.group_by == "sender_id"
    assert not set(GROUPS[p.holdout]) & set(GROUPS[p.pool])  # the holdout is grouped too
    vals = []
    for k in range(3):
        train, val = p.fold(split, k)
        assert not set(GROUPS[train]) & set(GROUPS[val])
        assert set(LABELS[val]) == set(LABELS[train]) == set(range(4))
        vals.append(val)
        if split is not None:
            assert abs(len(train) / len(p.pool) - split) < 0.12  # whole groups: the fraction is approximate
    assert len({tuple(v) for v in vals}) == 3  # K different validation parts
    if split is None:
        assert np.array_equal(np.sort(np.concatenate(vals)), p.pool)


def test_a_class_from_too_few_groups_names_the_class_its_groups_and_the_fix():
    groups = GROUPS.copy()
    groups[LABELS == 3] = ["s1", "s2"] * 4 + ["s1"]  # every 'Shirt' from two senders
    with pytest.raises(DataError) as err:
        plan(splits=[None], groups=groups, group_by="sender_id", test_fraction=0.0)
    message = str(err.value)
    for text in ("cv.group_by='sender_id'", "'Shirt'", "2 sender_id value(s)", "s1 (5 images), s2 (4 images)",
                 "cv.folds=3", "dataset.drop_classes", "cv.group_by to null"):
        assert text in message


def test_grouped_repeats_are_refused_with_the_reason():
    with pytest.raises(ConfigError, match="cv.repeats=2: grouped folds barely change with the seed"):
        CVConfig(repeats=2, group_by="sender_id")
