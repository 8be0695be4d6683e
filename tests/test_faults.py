"""Fault injection on real searches (real Ray, real processes): crashes, exhausted retries, out-of-memory,
and a driver killed with SIGKILL, compared with the same search run without faults."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import search_and_summarize, tiny_space, trial_dirs
from ray_nodes import end_processes, process_tree, running, wait_for

from tune_clothes.config import metric_names as M
from tune_clothes.config.loader import experiment_from_dict
from tune_clothes.tuning.faults import ENV_VAR

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
              {"kind": "oom", "epoch": 0, "fold": 2, "axes": {"lr": 0.003}}]
    report = run_with_faults(tmp_path, "failing", faults, monkeypatch, lrs=(0.01, 0.003, 0.001))
    by_lr = report.leaderboard.set_index("lr")
    assert by_lr.loc[0.001, "status"] == "complete" and by_lr.loc[0.001, "folds_finished"] == 3
    assert by_lr.loc[0.01, "status"] == "failed" and by_lr.loc[0.01, "folds_finished"] == 2
    assert "injected crash at epoch 1" in by_lr.loc[0.01, "error"]
    assert by_lr.loc[0.003, "status"] == "failed"
    assert "out of GPU memory" in by_lr.loc[0.003, "error"]
    assert "lower train.batch_size" in by_lr.loc[0.003, "error"]
    assert "resources.gpus_per_trial" in by_lr.loc[0.003, "error"]
    assert report.best == {"lr": 0.001}
    assert "failed: lr=0.003" in report.table


def _finished_trials(location: Path) -> dict[str, str]:
    finished = {}
    for trial in trial_dirs(location) if location.is_dir() else []:
        lines = (trial / "result.json").read_text().splitlines() if (trial / "result.json").exists() else []
        if lines and json.loads(lines[-1]).get(M.EPOCHS_DONE) == 3:
            finished[trial.name] = (trial / "result.json").read_text()
    return finished


def test_a_killed_driver_resumes_without_rerunning_finished_trials(clean_search, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(tiny_space(tmp_path, "killed")))
    command = [sys.executable, "-m", "tune_clothes.search", "--space", str(space), "--num-cpus", "2"]
    location = tmp_path / "results" / "killed"
    driver = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ray_processes = []
    try:
        deadline = time.monotonic() + 240
        while not _finished_trials(location) and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert driver.poll() is None, f"the search ended before it could be killed: {driver.stderr.read()[-2000:]}"
        assert _finished_trials(location), "no trial finished within 240 s"
        ray_processes = process_tree(driver.pid)[1:]  # Ray's processes (the raylet's workers and agents too)
    finally:
        driver.kill()  # SIGKILL: the search gets no chance to shut its Ray down
        driver.wait()
    try:  # its reaper sees to it: no Ray process outlives the search
        wait_for(lambda: not any(map(running, ray_processes)), 30, "the killed search's Ray processes to end")
    except TimeoutError:
        pytest.fail(f"still running: {[(p.pid, p.name()) for p in ray_processes if running(p)]}")
    finally:
        end_processes(ray_processes, grace_s=0)
    before = _finished_trials(location)
    assert 0 < len(before) < 6
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = _finished_trials(location)
    assert len(after) == 6
    assert {name: after[name] for name in before} == before  # finished trials were not run again
    report = pd.read_csv(location / "leaderboard.csv")
    expected = board(clean_search[1])
    pd.testing.assert_frame_equal(report[COMPARED].sort_values("lr").reset_index(drop=True), expected,
                                  check_dtype=False)

