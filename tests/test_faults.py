"""Fault injection on real searches (real Ray, real processes): a crash retried from its checkpoint, retries
exhausted, and a driver killed with SIGKILL, compared with the same search run without faults (`clean_search`).
What a trial out of GPU memory says is tested without Ray, in test_devices.py."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import search_and_summarize, tiny_space, trial_dirs
from ray_nodes import end_processes, process_tree, wait_for
from test_report import assert_numbers_equal_the_csv_files, read_page

from tune_clothes.analysis.summary import ExperimentSummary, write_summary
from tune_clothes.config import metric_names as M
from tune_clothes.config import trial_record as record
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
        rows[(params["lr"], params[record.FOLD_PARAM])] = [json.loads(line) for line in
                                               (trial / "result.json").read_text().splitlines()]
    return rows


def board(report) -> pd.DataFrame:
    return report.leaderboard[COMPARED].sort_values("lr").reset_index(drop=True)


def test_failing_configurations_are_reported_and_the_others_complete(failing_search):
    """A trial that crashes on every attempt exhausts its retry (max_failures=1)."""
    report = failing_search
    by_lr = report.leaderboard.set_index("lr")
    assert by_lr.loc[0.001, "status"] == "complete" and by_lr.loc[0.001, "folds_finished"] == 2
    assert by_lr.loc[0.01, "status"] == "failed" and by_lr.loc[0.01, "folds_finished"] == 1
    assert "injected crash at epoch 1" in by_lr.loc[0.01, "error"]
    assert report.best == {"lr": 0.001}
    assert "failed: lr=0.01" in report.table
    failures = {trial["config"][record.FOLD_PARAM]: trial["num_failures"]
                for trial in saved_trials(report.location).values()
                if trial["config"]["lr"] == 0.01}
    assert failures == {0: 2, 1: 0}  # the first attempt and its one retry, as Tune counted them


def test_the_report_lists_the_failed_configurations_with_their_errors(failing_search):
    html, page = _report_of(failing_search.location)
    unfinished = {row["config"]["text"]: row for row in page.rows("unfinished")}
    assert unfinished["lr=0.01"]["status"]["text"] == "failed"
    assert "injected crash at epoch 1" in unfinished["lr=0.01"]["error"]["text"]
    assert page.sections["errors"] and "Where the best configuration errs: lr=0.001" in html
    assert_numbers_equal_the_csv_files(failing_search.location, page)


def test_a_configuration_that_finished_some_folds_is_drawn_where_the_leaderboard_counts_it(failing_search,
                                                                                          tmp_path):
    """The failing search without lr=0.001 (as if it were the only configuration): lr=0.01 finished fold 1 and
    failed on fold 0, so nothing can be ranked; the report draws its finished fold, marked, instead of saying
    that no configuration finished a fold."""
    location = tmp_path / "partial"
    shutil.copytree(failing_search.location, location)
    for trial in location.glob("lr=0.001_fold*"):
        shutil.rmtree(trial)
    html, page = _report_of(location)
    assert "No configuration has finished a fold yet" not in html
    assert all(page.sections[name] for name in ("spread", "curves", "errors"))
    assert "Where the best configuration errs: lr=0.01 (failed: 1 of 2 folds finished)" in html
    assert "the best finished folds are those of lr=0.01 (failed: 1 of 2 folds finished)" in html
    assert len(page.rows("fold_accuracy")) == 1  # its one finished fold's predictions
    assert [row["config"]["text"] for row in page.rows("fold_scores")] == ["lr=0.01"]


def _report_of(location: str | Path):
    """The summary and report.html written from the folder's files as they are now; (html, parsed page)."""
    from tune_clothes.analysis.report.page import write_report
    write_summary(str(location))
    write_report(str(location))
    return read_page(location)


@dataclass(frozen=True)
class Interrupted:
    location: Path
    crash_markers: list[Path]  # one per time the crash fired
    saved: dict[str, dict]  # what Tune's saved state said of each trial folder when the driver was killed
    results_then: dict[str, str]  # trial folder -> its result.json then, for the trials saved as finished
    page_then: str  # the text of report.html written from the folder right after the kill
    report: ExperimentSummary  # after the resume


def saved_trials(location: str | Path) -> dict[str, dict] | None:
    """Trial folder -> {status, config, num_failures} in Tune's saved experiment state (what a resumed search
    goes by: each run of the search writes its own file, named by its start time, and the newest counts); None
    while there is no complete state file yet."""
    try:
        state_file = max(Path(location).glob("experiment_state-*.json"))
        trials = [(json.loads(trial), json.loads(runtime))
                  for trial, runtime in json.loads(state_file.read_text())["trial_data"]]
    except ValueError:  # no file yet (max of nothing), or one Tune is still writing
        return None
    return {trial["relative_logdir"]: {"status": trial["status"], "config": trial["config"],
                                       "num_failures": runtime["num_failures"]} for trial, runtime in trials}


CRASHED = {"lr": 0.01, record.FOLD_PARAM: 0}  # crashes once, in its second epoch
HELD = {"lr": 0.01, record.FOLD_PARAM: 2}  # waits in its second epoch until the driver is killed


@pytest.fixture(scope="module")
def interrupted(clean_search, tmp_path_factory) -> Interrupted:
    """One configuration of the clean search (lr=0.01, the same data and folds), run by a driver attached to
    this session's Ray with two faults: CRASHED crashes once, HELD is held until the end, so the search cannot
    finish before the kill. Once Tune has saved CRASHED as finished (retried in this driver), the driver is
    SIGKILLed; the search is then resumed here, without faults."""
    import ray
    root = tmp_path_factory.mktemp("interrupted")
    space = root / "space.yaml"
    space.write_text(yaml.safe_dump(tiny_space(root, "killed", lrs=(0.01,))))
    faults = [{"kind": "crash", "epoch": 1, "batch": 1, "fold": 0, "axes": {"lr": 0.01},
               "once_dir": str(root / "fired")},
              {"kind": "hold", "epoch": 1, "fold": 2, "axes": {"lr": 0.01}, "release_file": str(root / "never")}]
    command = [sys.executable, "-m", "tune_clothes.search", "--space", str(space),
               "--address", ray.get_runtime_context().gcs_address]
    location = root / "results" / "killed"
    driver = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env={**os.environ, ENV_VAR: json.dumps(faults),
                                   # Tune saves its state every 10 s at first; each second here, to wait less
                                   "TUNE_GLOBAL_CHECKPOINT_S": "1"})
    try:
        saved = wait_for(lambda: _alive(driver) and _finished(CRASHED, saved_trials(location) or {}, location), 240,
                         "Tune to save the crashed trial as finished")
    finally:
        end_processes(process_tree(driver.pid), grace_s=0)  # SIGKILL: Ray then ends the trials of its job
        driver.wait()
    results_then = {name: (location / name / "result.json").read_text() for name, trial in saved.items()
                    if _complete(trial, location / name)}
    _, page = _report_of(location)  # the interrupted search: the report says so, and draws what there is
    report = search_and_summarize(load_experiment(space), SearchOptions(resume=True))
    return Interrupted(location, list((root / "fired").iterdir()), saved, results_then, "".join(page.text), report)


def _finished(config: dict, saved: dict[str, dict], location: Path) -> dict[str, dict] | None:
    """`saved` if it lists the trial of `config` as finished and its result.json says so too: Tune saves its state
    and copies the trials' files to storage separately, so one can be ahead of the other."""
    done = any(t["config"] == config and _complete(t, location / name) for name, t in saved.items())
    return saved if done else None


def _complete(saved: dict, trial_dir: Path) -> bool:
    """Finished in Tune's saved state and in the trial's result.json."""
    path = trial_dir / "result.json"
    lines = path.read_text().splitlines() if path.is_file() else []
    try:
        return saved["status"] == "TERMINATED" and bool(lines) and record.is_final_report(json.loads(lines[-1]))
    except ValueError:  # a line being written
        return False


def _alive(driver: subprocess.Popen) -> bool:
    if driver.poll() is not None:
        raise AssertionError(f"the search ended ({driver.returncode}) before it could be killed: "
                             f"{driver.stderr.read().decode(errors='replace')[-2000:]}")
    return True


def test_a_crash_mid_epoch_is_retried_from_the_checkpoint_with_the_same_result(interrupted, clean_search):
    assert len(interrupted.crash_markers) == 1  # the fault fired, once
    (crashed,) = [t for t in interrupted.saved.values() if t["config"] == CRASHED]
    assert crashed["num_failures"] == 1  # Tune retried it, in the driver it ran in
    rows = trial_results(interrupted.location)[(0.01, 0)]
    assert [row[M.EPOCH] for row in rows] == [0, 1, 2]  # epoch 0 was not trained again: resumed after it
    reference = trial_results(Path(clean_search[1].location))[(0.01, 0)]
    for name in M.EPOCH_SCALARS:
        assert rows[-1][name] == reference[-1][name], name


def test_a_killed_driver_resumes_without_rerunning_finished_trials(interrupted, clean_search):
    before = interrupted.results_then
    assert 0 < len(before) < 3 and not _finished(HELD, interrupted.saved, interrupted.location)
    after = {trial.name: (trial / "result.json").read_text() for trial in trial_dirs(interrupted.location)}
    assert len(after) == 3 and {name: after[name] for name in before} == before  # finished: not run again
    resumed = board(interrupted.report).drop(columns="rank")
    uninterrupted = board(clean_search[1]).drop(columns="rank")
    pd.testing.assert_frame_equal(resumed, uninterrupted[uninterrupted["lr"] == 0.01].reset_index(drop=True))
    assert resumed["folds_finished"].tolist() == [3]


def test_the_report_of_an_interrupted_search_says_so(interrupted):
    finished = len(interrupted.results_then)
    assert f"{finished} of 3 trials finished: the search is still running or was interrupted" in interrupted.page_then
