"""A real search with `split` as an axis and `cv.repeats: 2`, interrupted by a failing trial and resumed: every
configuration runs R*K trials, rows on another split than the best are compared unpaired, and the files
(folds.json, trials.csv, cv_results.csv) know the repeat."""
from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import search_and_summarize, tiny_space, trial_dirs
from scipy import stats

from tune_clothes.config import metric_names as M
from tune_clothes.config import trial_record as record
from tune_clothes.config.loader import experiment_from_dict
from tune_clothes.statistics.fold_tests import corrected_estimate, welch_difference
from tune_clothes.tuning.faults import ENV_VAR
from tune_clothes.tuning.runner import SearchOptions

pytestmark = pytest.mark.slow
FOLDS, REPEATS = 2, 2
FAILING = {"lr": 0.001, "split": 0.7}  # its fold j = 3 (repeat 1, fold 1) fails on every attempt


@pytest.fixture(scope="module")
def interrupted_and_resumed(ray_local, tmp_path_factory):
    root = tmp_path_factory.mktemp("repeats")
    space = tiny_space(root, "repeats", train={"epochs": 2}, cv={"folds": FOLDS, "repeats": REPEATS},
                       search={"grid": {"lr": [0.01, 0.001], "split": [None, 0.7]}, "max_failures": 0})
    experiment = experiment_from_dict(space)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_VAR, json.dumps([{"kind": "crash", "epoch": 0, "fold": 3, "axes": FAILING}]))
        first = search_and_summarize(experiment)
    finished_before = _finished_results(Path(first.location))
    resumed = search_and_summarize(experiment, SearchOptions(resume=True))
    return first, finished_before, resumed


def _finished_results(location: Path) -> dict[str, str]:
    """Trial folder -> its result.json, for the trials that ran all their epochs."""
    results = {trial.name: (trial / "result.json").read_text() for trial in trial_dirs(location)}
    return {name: text for name, text in results.items()
            if text.strip() and json.loads(text.splitlines()[-1])[record.EPOCHS_DONE] == 2}


def test_every_configuration_runs_repeats_times_folds_trials(interrupted_and_resumed):
    _, _, resumed = interrupted_and_resumed
    location = Path(resumed.location)
    trials = trial_dirs(location)
    assert len(trials) == 4 * REPEATS * FOLDS
    folds = sorted(json.loads((t / "params.json").read_text())[record.FOLD_PARAM] for t in trials)
    assert folds == sorted(list(range(REPEATS * FOLDS)) * 4)
    assert sum(t.name.endswith("_repeat1_fold1") for t in trials) == 4  # the trial folder names the repeat
    saved = json.loads((location / "folds.json").read_text())
    assert saved["repeats"] == REPEATS and len(saved["validation"]) == 2  # kfold and split=0.7
    table = pd.read_csv(location / "trials.csv")
    columns = zip(table["repeat"], table["fold_in_repeat"], table["fold_index"])
    assert sorted(columns) == sorted([(r, k, 2 * r + k) for r in range(2) for k in range(2)] * 4)


def test_the_interruption_is_resumed_without_rerunning_finished_trials(interrupted_and_resumed):
    first, finished_before, resumed = interrupted_and_resumed
    failing = first.leaderboard.set_index(["lr", "split"]).loc[(0.001, 0.7)]
    assert failing["status"] == "failed" and (failing["folds_finished"], failing["folds_failed"]) == (3, 1)
    assert len(finished_before) == 15
    after = _finished_results(Path(resumed.location))
    assert len(after) == 16 and {name: after[name] for name in finished_before} == finished_before
    board = resumed.leaderboard
    assert (board["status"] == "complete").all() and (board["folds_expected"] == REPEATS * FOLDS).all()


def test_rows_on_another_split_than_the_best_are_unpaired_with_the_welch_p_value(interrupted_and_resumed):
    _, _, resumed = interrupted_and_resumed
    location = Path(resumed.location)
    board = resumed.leaderboard
    best = board[board["is_best"]].iloc[0]
    others = board[~board["is_best"]]
    same_split = others["split"].isna() if pd.isna(best["split"]) else others["split"] == best["split"]
    assert set(others.loc[same_split, "comparison"]) == {"paired"}
    assert set(others.loc[~same_split, "comparison"]) == {"unpaired"}
    trials = pd.read_csv(location / "trials.csv")
    ratios = _val_train_ratios(location)
    estimates = {}
    for _, row in board.iterrows():
        split = None if pd.isna(row["split"]) else row["split"]
        on_split = trials["split"].isna() if split is None else trials["split"] == split
        mine = trials[(trials["lr"] == row["lr"]) & on_split]
        scheme = "kfold" if split is None else f"split={split:g}"
        estimates[row["config"]] = corrected_estimate(mine.sort_values("fold_index")[M.VAL_ACC], ratios[scheme])
    for _, row in others[~same_split].iterrows():
        expected = welch_difference(estimates[best["config"]], estimates[row["config"]]).p_value()
        assert row["p_value"] == pytest.approx(expected)
    # the corrected interval: half width = t(0.975, J-1) * sqrt((1/J + n_val/n_train) * s^2), J = R*K = 4
    scheme = "kfold" if pd.isna(best["split"]) else f"split={best['split']:g}"
    expected_half = stats.t.ppf(0.975, 3) * np.sqrt(1 / 4 + ratios[scheme]) * best[f"{M.VAL_ACC}/std"]
    assert best[f"{M.VAL_ACC}/ci_high"] - best[f"{M.VAL_ACC}/mean"] == pytest.approx(expected_half)


def _val_train_ratios(location: Path) -> dict[str, float]:
    """Scheme -> the mean n_val/n_train of its folds, from folds.json."""
    saved = json.loads((location / "folds.json").read_text())
    pool = saved["num_images"] - len(saved["holdout"])
    return {scheme: float(np.mean([len(p["positions"]) / (pool - len(p["positions"])) for p in parts]))
            for scheme, parts in saved["validation"].items()}


def test_cv_results_has_a_split_column_per_fold_and_the_leaderboards_means(interrupted_and_resumed):
    _, _, resumed = interrupted_and_resumed
    location = Path(resumed.location)
    results = pd.read_csv(location / "cv_results.csv")
    assert len(results) == 4 and {"params", "param_lr", "param_split", "mean_fit_time", "std_fit_time"} <= set(results)
    assert [c for c in results if c.endswith("_acc") and c.startswith("split") and "train" not in c] == [
        f"split{j}_acc" for j in range(REPEATS * FOLDS)]
    assert {f"split{j}_best_epoch" for j in range(4)} <= set(results) and "split0_train_acc" in results
    assert (results["mean_fit_time"] > 0).all()
    board = pd.read_csv(location / "leaderboard.csv")
    merged = results.merge(board, left_on=["param_lr", "param_split"], right_on=["lr", "split"], how="outer")
    assert len(merged) == 4
    assert np.allclose(merged["mean_acc"], merged[f"{M.VAL_ACC}/mean"])
    assert sorted(results["rank_acc"]) == sorted(board[f"{M.VAL_ACC}/mean"].rank(method="min", ascending=False))


def test_out_of_fold_predictions_cover_the_pool_once_per_repeat(interrupted_and_resumed):
    """Two repeats of 2 folds: each repeat's K-fold models predict every pool image once; the split=0.7
    configurations' folds predict exactly their own validation images. The resumed trial included."""
    from test_report import check_out_of_fold
    _, _, resumed = interrupted_and_resumed
    assert check_out_of_fold(resumed.location) == 4


def _member_folds(model_folder: Path, location: Path, metric: str) -> dict[int, tuple[float, float]]:
    """fold j -> (the member's value of `metric`, that fold's best value in its trial's result.json)."""
    info = json.loads((model_folder / "model.json").read_text())
    found = {}
    for member in info["training"]["members"]:
        j = member["fold_index"]
        rows = [json.loads(line) for line in (location / member["trial"] / "result.json").read_text().splitlines()]
        best = max(record.fold_metric(row, j, metric) for row in rows)
        found[j] = (member[metric], best)
    assert len(found) == len(info["training"]["members"]), "a fold model is in the ensemble twice"
    return found


def test_an_ensemble_after_a_grid_with_repeats_averages_every_fold_model(interrupted_and_resumed, tmp_path):
    final = importlib.import_module("tune_clothes.final")  # the command
    from tune_clothes.cli import run_command
    _, _, resumed = interrupted_and_resumed
    location = Path(resumed.location)
    assert run_command(final.main, [str(location), "--strategy", "ensemble", "--out", str(tmp_path / "model")]) == 0
    members = _member_folds(tmp_path / "model", location, M.VAL_ACC)
    assert sorted(members) == list(range(REPEATS * FOLDS))
    assert all(value == best for value, best in members.values())  # each at its own fold's best epoch


@pytest.fixture(scope="module")
def optuna_with_repeats(ray_local, tmp_path_factory):
    root = tmp_path_factory.mktemp("optuna-repeats")
    space = tiny_space(root, "optuna-repeats", train={"epochs": 3}, cv={"folds": FOLDS, "repeats": REPEATS},
                       search={"algorithm": "optuna", "num_samples": 1, "grid": {},
                               "space": {"lr": {"low": 0.001, "high": 0.01, "log": True}}})
    return Path(search_and_summarize(experiment_from_dict(space)).location)


def test_an_ensemble_after_optuna_with_repeats_averages_every_fold_model(optuna_with_repeats, tmp_path):
    final = importlib.import_module("tune_clothes.final")  # the command
    from tune_clothes.cli import run_command
    location = optuna_with_repeats
    assert run_command(final.main, [str(location), "--strategy", "ensemble", "--out", str(tmp_path / "model")]) == 0
    members = _member_folds(tmp_path / "model", location, M.VAL_ACC)
    assert sorted(members) == list(range(REPEATS * FOLDS))
    assert all(value == best for value, best in members.values())


def test_the_refit_after_optuna_with_repeats_counts_every_fold_models_best_epoch(optuna_with_repeats, tmp_path):
    final = importlib.import_module("tune_clothes.final")  # the command
    from tune_clothes.analysis.refit_epochs import best_epoch
    from tune_clothes.cli import run_command
    location = optuna_with_repeats
    assert run_command(final.main, [str(location), "--out", str(tmp_path / "model")]) == 0
    info = json.loads((tmp_path / "model" / "model.json").read_text())
    (trial,) = trial_dirs(location)
    rows = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
    expected = [best_epoch([record.fold_metric(row, j, M.VAL_ACC) for row in rows], "max")
                for j in range(REPEATS * FOLDS)]
    assert info["training"]["epoch_rule"]["fold_best_epochs"] == expected
    assert info["cv_estimate"]["folds"] == REPEATS * FOLDS
