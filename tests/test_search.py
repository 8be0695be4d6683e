"""A real, tiny search on a real local Ray: every (configuration, fold) trial runs and checkpoints, and the
leaderboard is right and reproducible from disk (its TensorBoard runs: test_tensorboard.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import trial_dirs

from tune_clothes.config import metric_names as M
from tune_clothes.config import trial_record as record
from tune_clothes.config.loader import load_experiment
from tune_clothes.data.experiment_folder import (
    BEST_CONFIG_YAML,
    CV_RESULTS_CSV,
    DATASET_JSON,
    EXPERIMENT_YAML,
    FOLDS_JSON,
    LEADERBOARD_CSV,
    VERSIONS_JSON,
)
from tune_clothes.report import main as report_main

pytestmark = pytest.mark.slow




def test_every_configuration_runs_on_every_fold(clean_search):
    experiment, report = clean_search
    board = report.leaderboard
    assert sorted(board["lr"]) == [0.001, 0.01]
    assert (board["folds_finished"] == 3).all() and (board["status"] == "complete").all()
    assert board["is_best"].sum() == 1
    assert report.best == {"lr": board.loc[board["is_best"], "lr"].item()}
    assert "lr=0.001" in report.table and "lr=0.01" in report.table
    best = load_experiment(Path(report.location) / BEST_CONFIG_YAML)  # ready for train or another search
    assert best.train.lr == report.best["lr"] and best.search.grid == {}


def test_trials_share_the_saved_folds_and_keep_checkpoints(clean_search):
    experiment, report = clean_search
    location = Path(report.location)
    for name in (EXPERIMENT_YAML, FOLDS_JSON, DATASET_JSON, VERSIONS_JSON, LEADERBOARD_CSV, CV_RESULTS_CSV,
                 BEST_CONFIG_YAML):
        assert (location / name).is_file(), name
    trials = trial_dirs(location)
    assert len(trials) == 6
    folds = [part["positions"] for part in json.loads((location / FOLDS_JSON).read_text())["validation"]["kfold"]]
    for trial in trials:
        results = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
        assert [r[M.EPOCH] for r in results] == [0, 1, 2]
        assert len(results[-1]) > 10 and results[-1][record.EPOCHS_DONE] == 3
        checkpoints = sorted(trial.glob("checkpoint_*"))
        assert 1 <= len(checkpoints) <= 2  # the best by val/acc, and the latest
        fold = json.loads((trial / "params.json").read_text())[record.FOLD_PARAM]
        class_metrics = json.loads((checkpoints[-1] / f"fold{fold}_class_metrics.json").read_text())
        assert sum(map(sum, class_metrics["confusion_matrix"])) == len(folds[fold])  # validated on its fold


def test_report_command_reproduces_the_leaderboard_from_disk(clean_search, capsys):
    _, report = clean_search
    location = Path(report.location)
    before = (location / LEADERBOARD_CSV).read_text()
    (location / LEADERBOARD_CSV).unlink()
    assert report_main([str(location)]) == 0
    assert (location / LEADERBOARD_CSV).read_text() == before
    assert "lr=0.001" in capsys.readouterr().out


def test_resume_of_a_search_killed_before_tune_saved_anything_runs_it(ray_local, tmp_path):
    from conftest import search_and_summarize, tiny_space

    from tune_clothes.config.loader import experiment_from_dict
    from tune_clothes.data.experiment_folder import experiment_location, write_experiment_files
    from tune_clothes.tuning.runner import SearchOptions, prepare_experiment
    experiment = experiment_from_dict(tiny_space(tmp_path, "early", lrs=(0.01,), train={"epochs": 1},
                                                 cv={"folds": 2}))
    location = experiment_location(experiment)
    _, inputs = prepare_experiment(experiment, location, resume=False)
    write_experiment_files(location, experiment, inputs.index, inputs.plan)  # the driver died right after this
    report = search_and_summarize(experiment, SearchOptions(resume=True))
    assert report.leaderboard["folds_finished"].tolist() == [2]


def test_the_report_of_a_finished_search_has_every_section_and_the_csv_numbers(clean_search):
    from test_report import assert_numbers_equal_the_csv_files, check_out_of_fold, read_page

    from tune_clothes.analysis.report.page import write_report
    _, report = clean_search
    write_report(report.location)
    html, page = read_page(report.location)
    assert [name for name, applies in page.sections.items() if not applies] == ["compute", "adaptive", "final"]
    assert "All 6 trials finished." in html
    assert "Every configuration runs the same network at the same size" in html  # one network: no trade-off
    assert_numbers_equal_the_csv_files(report.location, page)
    assert check_out_of_fold(report.location) == 2


def test_out_of_fold_predictions_are_what_the_checkpointed_fold_models_predict(clean_search):
    """Reload each fold model of the best configuration from the checkpoint beside its predictions and predict
    its validation images again, from the image cache: the same classes."""
    import numpy as np
    import torch

    from tune_clothes.analysis.report.inputs import read_inputs
    from tune_clothes.config import ModelConfig
    from tune_clothes.data.image_cache import find_image_cache
    from tune_clothes.packaging.inference import model_input
    from tune_clothes.training.callbacks import load_checkpoint
    from tune_clothes.training.models import build_model
    from tune_clothes.training.predictions import load_predictions, predictions_file
    experiment, report = clean_search
    inputs = read_inputs(report.location)
    cache = np.load(find_image_cache(Path(experiment.dataset.cache_dir), "synthetic", inputs.dataset["fingerprint"],
                                     experiment.train.image_size), mmap_mode="r")
    best = inputs.trials[inputs.trials["config"] == inputs.best()["config"]]
    for trial, j in zip(best["trial"], best["fold_index"]):
        latest = max((Path(report.location) / trial).glob("checkpoint_*"))
        saved = load_predictions(latest / predictions_file(j))
        network = build_model(ModelConfig(name="fashion_cnn"), len(inputs.dataset["class_counts"])).eval()
        network.load_state_dict(load_checkpoint(latest / f"fold{j}.pt")["model"])
        with torch.inference_mode():
            again = network(model_input(np.array(cache[saved.positions]), 3)).argmax(dim=1).numpy()
        assert np.array_equal(again, saved.predicted), trial


def test_the_report_of_an_optuna_and_asha_search_shows_what_asha_stopped(messy_search):
    from test_report import assert_numbers_equal_the_csv_files, check_out_of_fold, read_page

    from tune_clothes.analysis.report.page import write_report
    _, _, summary = messy_search
    write_report(summary.location)
    _, page = read_page(summary.location)
    board = summary.leaderboard
    complete = int((board["status"] == "complete").sum())
    assert [name for name, applies in page.sections.items() if not applies] == (
        ["compute", "final"] if complete >= 2 else ["compute", "effects", "final"])  # effects: 2 complete ones
    rungs = page.rows("asha_rungs")
    assert [int(row["rung"]["value"]) for row in rungs if "rung" in row] == [1, 2]  # 3 epochs, grace 1, factor 2
    ended = sum(int(row["stopped"]["value"]) for row in rungs)
    assert ended == (board["status"] == "stopped").sum() >= 1  # every configuration ASHA stopped, at its rung
    assert ended == (board["status"] != "complete").sum()
    assert_numbers_equal_the_csv_files(summary.location, page)
    assert check_out_of_fold(summary.location) >= 1  # lock-step trials: every fold in one trial
