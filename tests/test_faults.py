"""Fault injection on real searches (real Ray, real processes): crashes, exhausted retries, out-of-memory,
and a driver killed with SIGKILL, compared with the same search run without faults."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import search_and_summarize, tiny_space, trial_dirs
from ray_nodes import end_processes, process_tree, wait_for

from tune_clothes.config import metric_names as M
from tune_clothes.config.loader import experiment_from_dict, load_experiment
from tune_clothes.tuning.faults import ENV_VAR
from tune_clothes.tuning.runner import SearchOptions

pytestmark = pytest.mark.slow
COMPARED = ["lr", "status", "folds_finished", "val/acc/mean", "val/acc/std", "val/loss/mean", "rank"]


def run_with_faults(root: Path, name: str, faults: list[dict], monkeypatch, **space):
    monkeypatch.setenv(ENV_VAR, json.dumps(faults))
    return search_and_summarize(experiment_from_dict(tiny_space(root, name, **space)))


def trial_results(location: Path) -> dict[tuple, list[dict]]:
    """(lr, fold) -> the trial's reported rows."""
    rows = {}
    for trial in trial_dirs(location):
        params = json.loads((trial / "params.json").read_text())
        rows[(params["lr"], params[M.FOLD])] = [json.loads(line) for line in
                                               (trial / "result.json").read_text().splitlines()]
    return rows


def board(report) -> pd.DataFrame:
    return report.leaderboard[COMPARED].sort_values("lr").reset_index(drop=True)


def test_a_crash_mid_epoch_is_retried_from_the_checkpoint_with_the_same_result(clean_search, tmp_path,
                                                                                 monkeypatch):
    fault = {"kind": "crash", "epoch": 1, "batch": 1, "fold": 0, "axes": {"lr": 0.01},
             "once_dir": str(tmp_path / "fired")}
    report = run_with_faults(tmp_path, "crash", [fault], monkeypatch)
    assert len(list((tmp_path / "fired").iterdir())) == 1  # the fault did fire
    crashed = trial_results(Path(report.location))[(0.01, 0)]
    assert [row[M.EPOCH] for row in crashed] == [0, 1, 2]  # epoch 0 was not trained again: resumed after it
    reference = trial_results(Path(clean_search[1].location))[(0.01, 0)]
    for name in M.EPOCH_SCALARS:
        assert crashed[-1][name] == reference[-1][name], name
    pd.testing.assert_frame_equal(board(report), board(clean_search[1]))


def test_failing_configurations_are_reported_and_the_others_complete(ray_local, tmp_path, monkeypatch):
    faults = [{"kind": "crash", "epoch": 1, "fold": 0, "axes": {"lr": 0.01}},  # every attempt
              {"kind": "oom", "epoch": 0, "fold": 1, "axes": {"lr": 0.003}}]
    report = run_with_faults(tmp_path, "failing", faults, monkeypatch, lrs=(0.01, 0.003, 0.001),
                             cv={"folds": 2}, train={"epochs": 2})  # enough to fail in the second epoch
    by_lr = report.leaderboard.set_index("lr")
    assert by_lr.loc[0.001, "status"] == "complete" and by_lr.loc[0.001, "folds_finished"] == 2
    assert by_lr.loc[0.01, "status"] == "failed" and by_lr.loc[0.01, "folds_finished"] == 1
    assert "injected crash at epoch 1" in by_lr.loc[0.01, "error"]
    assert by_lr.loc[0.003, "status"] == "failed"
    assert "out of GPU memory" in by_lr.loc[0.003, "error"]
    assert "lower train.batch_size" in by_lr.loc[0.003, "error"]
    assert "resources.gpus_per_trial" in by_lr.loc[0.003, "error"]
    assert report.best == {"lr": 0.001}
    assert "failed: lr=0.003" in report.table


def saved_as_finished(location: Path) -> set[str] | None:
    """The trial folders that Tune's saved experiment state lists as finished (TERMINATED): what a resumed
    search keeps. None while there is no complete state file yet."""
    try:
        (state_file,) = location.glob("experiment_state-*.json")
        trials = [json.loads(trial) for trial, _ in json.loads(state_file.read_text())["trial_data"]]
    except ValueError:  # no file yet, or one Tune is still writing
        return None
    return {trial["relative_logdir"] for trial in trials if trial["status"] == "TERMINATED"}


def test_a_killed_driver_resumes_without_rerunning_finished_trials(clean_search, tmp_path):
    """A search driver attached to this session's Ray is SIGKILLed mid-search: one of its trials is held in its
    second epoch until the kill, so the search cannot end first. The trials Tune had saved as finished before
    the kill are not run again when the search is resumed; the others continue; the result equals a run
    without the kill."""
    import ray
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(tiny_space(tmp_path, "killed")))
    hold = {"kind": "hold", "epoch": 1, "fold": 2, "axes": {"lr": 0.001}, "release_file": str(tmp_path / "never")}
    command = [sys.executable, "-m", "tune_clothes.search", "--space", str(space),
               "--address", ray.get_runtime_context().gcs_address]
    location = tmp_path / "results" / "killed"
    driver = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env={**os.environ, ENV_VAR: json.dumps([hold])})
    try:
        saved = wait_for(lambda: _alive(driver) and saved_as_finished(location), 240,
                         "Tune to save a finished trial")
    finally:
        end_processes(process_tree(driver.pid), grace_s=0)  # SIGKILL: Ray ends the trials of its job
        driver.wait()
    assert 0 < len(saved) < 6, saved
    before = {name: (location / name / "result.json").read_text() for name in saved}
    report = search_and_summarize(load_experiment(space), SearchOptions(resume=True))
    after = {trial.name: (trial / "result.json").read_text() for trial in trial_dirs(location)}
    assert len(after) == 6 and {name: after[name] for name in before} == before  # finished: not run again
    assert (report.leaderboard["folds_finished"] == 3).all()
    pd.testing.assert_frame_equal(board(report), board(clean_search[1]))


def _alive(driver: subprocess.Popen) -> bool:
    if driver.poll() is not None:
        raise AssertionError(f"the search ended ({driver.returncode}) before it could be killed: "
                             f"{driver.stderr.read().decode(errors='replace')[-2000:]}")
    return True
