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
from ray_nodes import end_processes, process_tree

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


def test_failing_configurations_are_reported_and_the_others_complete(failing_search):
    report = failing_search
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


def test_the_report_lists_the_failed_configurations_with_their_errors(failing_search):
    from test_report import assert_numbers_equal_the_csv_files, read_page

    from tune_clothes.analysis.report.page import write_report
    write_report(failing_search.location)
    html, page = read_page(failing_search.location)
    unfinished = {row["config"]["text"]: row for row in page.rows("unfinished")}
    assert unfinished["lr=0.01"]["status"]["text"] == "failed"
    assert "injected crash at epoch 1" in unfinished["lr=0.01"]["error"]["text"]
    assert "out of GPU memory" in unfinished["lr=0.003"]["error"]["text"]
    assert page.sections["errors"] and "Where the best configuration errs: lr=0.001" in html
    assert_numbers_equal_the_csv_files(failing_search.location, page)


def _report_of(location: Path):
    from test_report import read_page

    from tune_clothes.analysis.report.page import write_report
    from tune_clothes.analysis.summary import write_summary
    write_summary(str(location))
    write_report(str(location))
    return read_page(location)


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
    try:
        deadline = time.monotonic() + 240
        while not _finished_trials(location) and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert driver.poll() is None, f"the search ended before it could be killed: {driver.stderr.read()[-2000:]}"
        assert _finished_trials(location), "no trial finished within 240 s"
    finally:
        end_processes(process_tree(driver.pid), grace_s=0)  # the driver and every Ray process it started
        driver.wait()
    before = _finished_trials(location)
    assert 0 < len(before) < 6
    _, page = _report_of(location)  # the interrupted search: the report says so, and draws what there is
    assert f"{len(before)} of 6 trials finished: the search is still running or was interrupted" in "".join(page.text)
    assert page.sections["leaderboard"] and not page.sections["final"]
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = _finished_trials(location)
    assert len(after) == 6
    assert {name: after[name] for name in before} == before  # finished trials were not run again
    report = pd.read_csv(location / "leaderboard.csv")
    expected = board(clean_search[1])
    pd.testing.assert_frame_equal(report[COMPARED].sort_values("lr").reset_index(drop=True), expected,
                                  check_dtype=False)

