"""Fashion-MNIST as a dataset, end to end, on files the tests write (`fashion_mnist_files`): the shipped
search space with dataset.root pointed at the IDX folder or the CSV file, the train command and a small grid
search on each format, the one-channel image cache, and the leaderboard."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import search_and_summarize, trial_dirs

from tune_clothes import train
from tune_clothes.config.loader import load_experiment
from tune_clothes.data.experiment_folder import BEST_CONFIG_YAML, DATASET_JSON
from tune_clothes.data.fashion_mnist import FASHION_MNIST_CLASSES

SPACE = Path(__file__).resolve().parents[1] / "search_spaces" / "fashion_mnist.yaml"


def dataset_root(files, kind: str) -> Path:
    return files.idx_dir if kind == "idx" else files.csv_file


@pytest.mark.parametrize("kind", ["idx", "csv"])
def test_the_train_command_trains_the_shipped_space_on_either_format(fashion_mnist_files, tmp_path, capsys, kind):
    root = dataset_root(fashion_mnist_files, kind)
    argv = ["--config", str(SPACE), "--fold", "4", "--set", f"dataset.root={root}", "--set",
            f"dataset.cache_dir={tmp_path / 'cache'}", "--set", "train.epochs=1", "--out", str(tmp_path / "run"),
            "--device", "cpu"]
    assert train.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("epoch   1  train loss") and lines[-1].startswith("done: val/acc")
    assert (tmp_path / "run" / "checkpoints" / "best.pt").is_file()
    (cache_file,) = (tmp_path / "cache" / "images").glob("fashion_mnist-*-28px.npy")
    np.testing.assert_array_equal(np.load(cache_file)[..., 0], fashion_mnist_files.images)  # 28 px: as written


def search(space: Path, overrides: list[str], tmp_path: Path):
    common = [f"storage={tmp_path / 'results'}", f"dataset.cache_dir={tmp_path / 'cache'}", "cv.folds=2"]
    experiment = load_experiment(space, [*common, *overrides])
    return experiment, search_and_summarize(experiment)


def class_metrics(location: Path) -> list[dict]:
    return [json.loads(path.read_text()) for trial in trial_dirs(location)
            for path in sorted(trial.glob("checkpoint_*"))[-1].glob("fold*_class_metrics.json")]


@pytest.mark.slow
def test_the_shipped_space_searches_the_idx_files(fashion_mnist_files, ray_local, tmp_path):
    """search_spaces/fashion_mnist.yaml as shipped (fashion_cnn at 28 px, 2 CPUs and a loader worker per trial,
    augmentation of grey images), its grid cut to one configuration, its epochs to one, its folds to two."""
    overrides = [f"dataset.root={fashion_mnist_files.idx_dir}", "train.epochs=1", "search.grid.lr=[0.01]",
                 "search.grid.batch_size=[32]", "search.grid.augment=[true]"]
    experiment, report = search(SPACE, overrides, tmp_path)
    assert experiment.train.num_workers == 1 and experiment.resources.cpus_per_trial == 2
    board = report.leaderboard
    assert board["status"].tolist() == ["complete"] and board["folds_finished"].tolist() == [2]
    dataset = json.loads((Path(report.location) / DATASET_JSON).read_text())
    assert dataset["kind"] == "fashion_mnist" and dataset["images"] == len(fashion_mnist_files.labels)
    assert dataset["class_counts"] == {name: 6 for name in FASHION_MNIST_CLASSES}
    metrics = class_metrics(Path(report.location))
    assert len(metrics) == 2 and all(m["class_names"] == list(FASHION_MNIST_CLASSES) for m in metrics)
    assert sum(sum(map(sum, m["confusion_matrix"])) for m in metrics) == 60  # each image validated once


@pytest.mark.slow
def test_a_grid_search_on_the_csv_ranks_its_configurations(fashion_mnist_files, ray_local, tmp_path):
    overrides = [f"dataset.root={fashion_mnist_files.csv_file}", "name=fashion_csv", "train.epochs=1",
                 "train.num_workers=0", "resources.cpus_per_trial=1", "search.grid={lr: [0.01, 0.0001]}",
                 "search.metric=val/loss"]
    experiment, report = search(SPACE, overrides, tmp_path)
    board = report.leaderboard.sort_values("rank")
    assert board["rank"].tolist() == [1, 2] and (board["status"] == "complete").all()
    assert (board["folds_finished"] == 2).all() and board["is_best"].tolist() == [True, False]
    losses = board["val/loss/mean"].tolist()
    assert losses[0] < losses[1] and report.best == {"lr": board["lr"].iloc[0]}
    best = load_experiment(Path(report.location) / BEST_CONFIG_YAML)  # ready to train: the CSV and the best lr
    assert best.dataset.root == str(fashion_mnist_files.csv_file) and best.train.lr == report.best["lr"]
    dataset = json.loads((Path(report.location) / DATASET_JSON).read_text())
    assert dataset["class_counts"] == {name: 6 for name in FASHION_MNIST_CLASSES}
