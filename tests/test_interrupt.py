"""Ctrl-C in the middle of a real search started from Python, as in a notebook (SIGINT to the process group of
the process that called `tune_clothes.search`, as a terminal or Jupyter's "interrupt" sends it): the search stops
and raises `SearchInterrupted`, whose results list every configuration, with no Ray traceback and no Ray process
left behind; `tune_clothes.search(folder, resume=True)` then completes the search and keeps every trial that Tune
had saved as finished, unchanged. The search runs in a Python process with a local Ray of its own; the resume
runs in this process, on the test session's Ray, which saves a second Ray start. (The command's own stop, its
exit status and resume command, is test_signals_and_auth's.)

"Finished" is what Tune's saved experiment state says, which is what a resume goes by: a trial whose last epoch
lands while the search is stopping (Tune saves its state, then stops the trials) is continued from its last
saved checkpoint instead. One trial is held in its second epoch until the search is stopping, so the search is
always interrupted with a trial running, never finished before the signal."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml
from conftest import tiny_space
from ray_nodes import end_processes, lines_until, process_tree, running, wait_for
from test_faults import saved_trials

import tune_clothes as tc
from tune_clothes.config import trial_record as record
from tune_clothes.data.experiment_folder import LEADERBOARD_CSV
from tune_clothes.tuning.faults import ENV_VAR

pytestmark = pytest.mark.slow
TIMEOUT_S = 300  # the search takes 10-30 s on 2 cores, minutes on a starved machine
NOTEBOOK_CELL = """
import sys
import tune_clothes as tc
try:
    tc.search(sys.argv[1], num_cpus=2)
except tc.SearchInterrupted as stopped:
    print(stopped.results)
    print("complete:", stopped.results.complete)
    print("notes:", *stopped.__notes__)
    sys.exit(stopped.exit_status)
"""


def finished_trials(location: Path) -> dict[str, str]:
    """Trial folder -> its result.json, for the trials Tune's saved state has as finished (and whose results say
    every epoch ran)."""
    finished = {}
    for name, trial in (saved_trials(location) or {}).items():
        path = location / name / "result.json"
        lines = path.read_text().splitlines() if path.exists() else []
        if trial["status"] == "TERMINATED" and lines and record.is_final_report(json.loads(lines[-1])):
            finished[name] = path.read_text()
    return finished


def test_ctrl_c_stops_cleanly_and_resume_completes_the_search(ray_local, tmp_path, capfd):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(tiny_space(tmp_path, "stopped", train={"epochs": 5}, cv={"folds": 2})))
    location = tmp_path / "results" / "stopped"
    command = [sys.executable, "-c", NOTEBOOK_CELL, str(space)]
    hold = {"kind": "hold", "epoch": 1, "fold": 1, "axes": {"lr": 0.001}, "release_file": str(tmp_path / "release")}
    environment = {**os.environ, ENV_VAR: json.dumps([hold]),
                   "TUNE_GLOBAL_CHECKPOINT_S": "1"}  # Tune saves its state each second (10 s by default)
    driver = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=environment)
    seen: dict[int, psutil.Process] = {}

    def first_trial_finished() -> bool:
        seen.update((p.pid, p) for p in process_tree(driver.pid)[1:])  # Ray's processes, started by the driver
        assert driver.poll() is None, f"the search ended before it could be interrupted:\n{driver.stdout.read()}"
        return bool(finished_trials(location))

    try:
        wait_for(first_trial_finished, TIMEOUT_S, "Tune to save a trial as finished")
        os.killpg(driver.pid, signal.SIGINT)
        before_stop = lines_until(driver, "SIGINT: stopping the search", TIMEOUT_S)
        # released once the search is stopping: the held trial ends its epoch and Tune stops it, instead of
        # killing it after its 10 s grace (the README says so), which would only make the test slower
        (tmp_path / "release").touch()
        rest, _ = driver.communicate(timeout=TIMEOUT_S)
        output = before_stop + rest
    finally:
        end_processes(process_tree(driver.pid), grace_s=0)
    assert driver.returncode == 130, output
    for unwanted in ("Traceback", "Failed to fetch metrics", "Tuner.restore"):
        assert unwanted not in output, output
    ray_processes = [p for p in seen.values() if running(p)]
    assert not ray_processes or wait_for(lambda: not any(map(running, ray_processes)), 10, "Ray to end")
    board = pd.read_csv(location / LEADERBOARD_CSV)  # written for the stopped search, with every configuration
    assert sorted(board["lr"]) == [0.001, 0.01] and "rank  tied  config" in output
    assert "complete: False" in output and "resume=True" in output
    assert "interrupted" in output  # the last progress line: trials stopped mid-way, as opposed to not started
    statuses = set(pd.read_csv(location / "trials.csv")["status"])  # interrupted is not what ASHA stopped
    assert "stopped" not in statuses, statuses
    stopped = tc.load_results(location)
    assert not stopped.complete and sorted(stopped.leaderboard["lr"]) == [0.001, 0.01]
    assert set(stopped.trials["status"]) >= {"finished", "incomplete"}
    before = finished_trials(location)
    assert 0 < len(before) < 4, output
    capfd.readouterr()
    resumed = tc.search(location, resume=True)
    shown = capfd.readouterr()
    assert resumed.complete and resumed.best_config is not None, shown.out + shown.err
    assert Path(resumed.report_path).is_file() and len(resumed.tensorboard_runs) >= 4
    # no Ray banner on resume either (Tune restores its settings with the experiment), nor its TensorBoard path
    assert "Configuration for experiment" not in shown.out and "driver_artifacts" not in shown.out
    after = finished_trials(location)
    assert len(after) == 4
    assert {name: after[name] for name in before} == before  # the finished trials were kept, not run again
