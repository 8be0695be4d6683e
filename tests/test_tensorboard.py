"""TensorBoard speaks the project's language, on the tiny search of `clean_search` (2 learning rates x 3 folds,
3 epochs): each trial's run has the project's metric names and nothing of Ray's, its HPARAMS entry is the
configuration, and `cv_mean/<configuration>` holds the mean over folds of every metric, epoch by epoch."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from conftest import trial_dirs

from tune_clothes.analysis.tensorboard_curves import CV_RUNS, write_configuration_curves
from tune_clothes.config import metric_names as M
from tune_clothes.config import trial_record as record

pytestmark = pytest.mark.slow
RUN_SCALARS = {*M.EPOCH_SCALARS, M.LR}
VAL_METRICS = {name for name in M.EPOCH_SCALARS if name.startswith("val/")}


def events_of(folder: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    return EventAccumulator(str(folder)).Reload()


def reports(trial: Path) -> list[dict]:
    return [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]


def test_each_trial_run_has_the_projects_metrics_and_nothing_of_rays(clean_search):
    _, summary = clean_search
    trials = trial_dirs(Path(summary.location))
    assert sorted(t.name for t in trials) == [f"lr={lr}_fold{k}" for lr in ("0.001", "0.01") for k in range(3)]
    for trial in trials:
        events = events_of(trial)
        assert set(events.Tags()["scalars"]) == RUN_SCALARS, trial.name  # no ray/tune/..., no fold, no epochs
        rows = reports(trial)
        for name in RUN_SCALARS:
            points = events.Scalars(name)
            assert [p.step for p in points] == [1, 2, 3], name  # step = epoch, 1 = the first
            assert [p.value for p in points] == pytest.approx([row[name] for row in rows], rel=1e-6), name


def hparams_of(trial: Path):
    from tensorboard.plugins.hparams import metadata
    content = events_of(trial).PluginTagToContent(metadata.PLUGIN_NAME)
    session = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    experiment = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    values = {name: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
              for name, value in session.hparams.items()}
    return values, {info.name.tag for info in experiment.metric_infos}


def test_hparams_are_the_configuration_and_the_final_validation_metrics(clean_search):
    experiment, summary = clean_search
    for trial in trial_dirs(Path(summary.location)):
        hparams, metrics = hparams_of(trial)
        lr = json.loads((trial / "params.json").read_text())["lr"]
        assert hparams["lr"] == pytest.approx(lr)
        assert record.FOLD_PARAM not in hparams and "train.lr" not in hparams and "train.num_workers" not in hparams
        train = experiment.train
        assert {k: hparams[k] for k in ("model.name", "train.image_size", "train.epochs", "train.batch_size",
                                        "train.augment")} == {
            "model.name": experiment.model.name, "train.image_size": train.image_size, "train.epochs": train.epochs,
            "train.batch_size": train.batch_size, "train.augment": str(train.augment)}
        assert not any(k.startswith("augment.") for k in hparams)  # augmentation is off in this search
        assert metrics == VAL_METRICS


def test_each_configuration_has_a_run_of_its_fold_means_rewritten_not_appended(clean_search):
    _, summary = clean_search
    location = Path(summary.location)
    assert write_configuration_curves(str(location)) == [f"{CV_RUNS}/lr=0.001", f"{CV_RUNS}/lr=0.01"]
    write_configuration_curves(str(location))  # again, as `report` does during a search: no duplicated steps
    for lr in ("0.001", "0.01"):
        run = location / CV_RUNS / f"lr={lr}"
        assert len(list(run.glob("events.out.tfevents.*"))) == 1
        folds = [reports(t) for t in trial_dirs(location) if t.name.startswith(f"lr={lr}_")]
        events = events_of(run)
        for name in M.EPOCH_SCALARS:
            per_fold = np.array([[row[name] for row in rows] for rows in folds])  # fold x epoch
            expected = {name: per_fold.mean(0), f"{name}/fold_min": per_fold.min(0),
                        f"{name}/fold_max": per_fold.max(0), f"{name}/fold_std": per_fold.std(0, ddof=1)}
            for tag, values in expected.items():
                points = events.Scalars(tag)
                assert [p.step for p in points] == [1, 2, 3], tag
                assert [p.value for p in points] == pytest.approx(values, rel=1e-5, abs=1e-7), tag
    layout = events_of(location / CV_RUNS).PluginTagToContent("custom_scalars")
    assert layout, "no custom-scalars layout for the mean with its min-max band"


# Ready: the first card has drawn its data table, 2 s ago (its lines are drawn just after the table).
TB_READY = """(() => {
    const text = document.body ? document.body.innerText : "";
    if (!window.tableSeenAt && text.includes("Pin cards for a quick view") && text.includes("Step"))
        window.tableSeenAt = performance.now();
    return window.tableSeenAt && performance.now() - window.tableSeenAt > 2000;
})()"""


def test_tensorboard_opens_on_the_projects_metrics_in_a_real_browser(clean_search, tmp_path):
    """A real TensorBoard server on the finished search, and headless Chromium on its page: the first card is
    one of the project's metrics, no tag of Ray's anywhere, runs named by configuration and fold. The screenshot
    is kept (test-artefacts/tensorboard.png, or $TEST_ARTEFACTS)."""
    from headless_chromium import find_chromium, open_page, screenshot_path
    if find_chromium() is None:
        pytest.skip("no Chromium on this machine: .ci/run installs Debian's chromium (apt-get install chromium)")
    location = Path(clean_search[1].location)
    write_configuration_curves(str(location))
    with tensorboard_server(location, tmp_path / "tensorboard.log") as url:
        tags = wait_for_json(f"{url}/data/plugin/scalars/tags")
        check = open_page(url, timeout_s=45, ready=TB_READY)
    path = screenshot_path("tensorboard.png")
    path.write_bytes(check.screenshot)
    print(f"screenshot: {path}")
    spread = {f"{name}/{s}" for name in M.EPOCH_SCALARS for s in ("fold_min", "fold_max", "fold_std")}
    assert {run: set(run_tags) <= (spread | RUN_SCALARS) for run, run_tags in tags.items()} == dict.fromkeys(tags, True)
    assert "ray/" not in check.text and check.errors == []
    first_group, first_card = check.text.split("Pin cards for a quick view and comparison", 1)[1].split()[:2]
    assert first_group == first_card == M.LR  # TensorBoard sorts groups by name: lr, train, val
    for run in ("lr=0.001_fold0", "lr=0.01_fold2", "cv_mean/lr=0.001"):
        assert run in check.text


@contextmanager
def tensorboard_server(logdir: Path, log: Path):
    """`tensorboard --logdir` on a free local port, stopped (this process only) when the block ends."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with open(log, "w") as output:
        server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host",
                                   "127.0.0.1", "--port", str(port)], stdout=output, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_for_json(url: str, timeout_s: float = 30):
    """The JSON at `url` once the server answers it with something (TensorBoard loads runs after starting)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                answer = json.load(response)
            if answer:
                return answer
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer from {url} in {timeout_s} s")
        time.sleep(0.3)
