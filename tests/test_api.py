"""The Python API (`import tune_clothes as tc`) on the searches the suite already runs: `load_results` on a
finished grid, a failed search and an Optuna + ASHA one, read without Ray; `load_experiment` from each kind of
source with the commands' messages; and the bad input a caller can give. The API against the commands on the
same search is in test_final; Ctrl-C in a search started from Python, and its resume, in test_interrupt; the
notebook in test_notebook."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_space

import tune_clothes as tc
from tune_clothes.config import metric_names as M

pytestmark = pytest.mark.slow


def test_load_results_of_a_finished_grid_search(clean_search):
    experiment, summary = clean_search
    results = tc.load_results(summary.location)
    assert results.experiment == experiment and results.complete
    assert results.leaderboard.to_csv(index=False) == (Path(summary.location) / "leaderboard.csv").read_text()
    assert results.best_config == summary.best and results.best_experiment.train.lr == summary.best["lr"]
    assert not results.best_experiment.search.axes  # nothing left to search: ready for `train`
    cv = results.cv_results  # scikit-learn's layout: one entry per configuration
    assert sorted(p["lr"] for p in cv["params"]) == [0.001, 0.01] and isinstance(cv["param_lr"], np.ma.MaskedArray)
    written = pd.read_csv(Path(summary.location) / "cv_results.csv")
    np.testing.assert_allclose(cv["mean_acc"], written["mean_acc"])
    assert cv["rank_acc"].dtype == np.int64 and sorted(cv["rank_acc"]) == [1, 2]
    history = results.history()  # 2 configurations x 3 folds x 3 epochs
    assert len(history) == 18 and sorted(history["epoch"].unique()) == [1, 2, 3]
    last = history[history["epoch"] == 3].set_index(["trial", "fold_index"])[M.VAL_ACC]
    finished = results.trials.set_index(["trial", "fold_index"])[M.VAL_ACC]
    pd.testing.assert_series_equal(last.sort_index(), finished.sort_index(), check_names=False)
    assert len(results.tensorboard_runs) >= 6 and all(Path(run).is_dir() for run in results.tensorboard_runs)
    assert "rank  tied  config" in str(results) and summary.location in results._repr_html_()
    # through a URI, as s3://... is read (pyarrow's filesystem; no S3 server here)
    remote = tc.load_results(f"file://{summary.location}")
    assert remote.leaderboard.to_csv(index=False) == results.leaderboard.to_csv(index=False)
    assert len(remote.history()) == 18 and remote.best_config == results.best_config


def test_load_results_of_a_search_whose_configuration_failed(failing_search):
    results = tc.load_results(failing_search.location)
    assert results.complete and results.best_config == {"lr": 0.001}
    failed = results.trials[results.trials["status"] == "failed"]
    assert set(failed["lr"]) == {0.01} and failed["error"].str.contains("crash").all()
    assert results.leaderboard.set_index("lr").loc[0.01, "status"] != "complete"


def test_load_results_of_an_optuna_and_asha_search(messy_search):
    _, experiment, summary = messy_search
    results = tc.load_results(summary.location)
    assert len(results.leaderboard) == 3 and set(results.cv_results) >= {"param_lr", "param_batch_size", "params"}
    assert results.complete  # its 3 samples proposed and ended (ASHA's stopped ones count as ended)
    assert results.best_config == summary.best
    stopped = results.trials[results.trials["status"] == "stopped"]
    history = results.history()
    for trial, epochs in stopped.groupby("trial")["epochs_done"].first().items():  # ASHA's: fewer epochs
        assert history[history["trial"] == trial]["epoch"].max() == epochs < experiment.train.epochs


def test_load_experiment_from_a_file_a_dict_a_folder_and_an_experiment(clean_search, tmp_path):
    experiment, summary = clean_search
    assert tc.load_experiment(summary.location) == experiment  # the experiment folder: as the search ran it
    space = tiny_space(tmp_path, "api")
    from_dict = tc.load_experiment(space, {"train.epochs": 2}, name="other")
    assert from_dict.train.epochs == 2 and from_dict.name == "other"
    assert tc.load_experiment(from_dict, ["train.lr=0.5"]).train.lr == 0.5
    demo = Path(__file__).parents[1] / "search_spaces" / "demo.yaml"
    assert tc.load_experiment(demo, ["cv.folds=3"]).cv.folds == 3
    with pytest.raises(tc.ConfigError, match=r"the given dict with --set train.epoch=2: unknown key 'train.epoch' "
                                             r"\(did you mean 'train.epochs'\?\)"):
        tc.load_experiment(space, {"train.epoch": 2})
    with pytest.raises(tc.UserError, match="no such file"):
        tc.load_experiment(tmp_path / "missing.yaml")


def test_bad_input_from_python_gets_the_commands_messages(clean_search, random_model_dir, tmp_path):
    _, summary = clean_search
    with pytest.raises(tc.UserError, match="no experiment.yaml here"):
        tc.load_results(tmp_path)
    with pytest.raises(tc.UserError, match="an experiment already exists at .*resume"):
        tc.search(summary.location)
    with pytest.raises(tc.UserError, match="strategy 'best'"):
        tc.final(summary.location, strategy="best")
    model = tc.load_model(random_model_dir)
    with pytest.raises(tc.UserError, match="topk=9: must be between 1 and the model's 3 classes"):
        model.predict(np.zeros((16, 16, 3), np.uint8), topk=9)
    with pytest.raises(tc.UserError, match=r"image 1: an array of float64 \(16, 16, 3\).*astype\(np.uint8\)"):
        model.predict([np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16, 3))])
    with pytest.raises(tc.UserError, match="backend='tf'"):
        model.predict(np.zeros((16, 16), np.uint8), backend="tf")
    with pytest.raises(tc.UserError, match="no such folder"):
        tc.load_model(tmp_path / "nothing")


def test_neither_importing_the_package_nor_reading_results_imports_torch_or_ray(clean_search):
    code = ("import sys, tune_clothes as tc; results = tc.load_results(sys.argv[1]); results.leaderboard; "
            "results.history(); print(sorted(m for m in ('torch', 'ray') if m in sys.modules))")
    shown = subprocess.run([sys.executable, "-c", code, clean_search[1].location], capture_output=True, text=True,
                           timeout=120)
    assert shown.returncode == 0 and shown.stdout.strip() == "[]", shown.stderr
