"""`search --dry-run`: every distinct trial rehearsed once, through Ray, before the search; what makes two trials
distinct; what a failing one prints; and the cost estimate it makes of the search."""
from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import yaml
from conftest import tiny_space

from tune_clothes.cli import run_command
from tune_clothes.config.loader import experiment_from_dict
from tune_clothes.data.datasets import load_index
from tune_clothes.data.folds import plan_folds
from tune_clothes.training.rehearsal import FULL_BATCHES, Rehearsal, rehearse
from tune_clothes.training.standalone import prepare_fold
from tune_clothes.tuning.dry_run import distinct_trials
from tune_clothes.tuning.estimate import TrialCost, estimate, load_estimate
from tune_clothes.tuning.faults import ENV_VAR
from tune_clothes.tuning.trainable import TrialInputs

search = importlib.import_module("tune_clothes.search")  # the command (tune_clothes.search is the API's function)


def inputs_of(space: dict) -> TrialInputs:
    experiment = experiment_from_dict(space)
    index = load_index(experiment.dataset)
    return TrialInputs(experiment, index, plan_folds(index, experiment.cv, experiment.axis_values("split")), {})


def test_trials_are_distinct_by_what_shapes_them_and_not_by_the_learning_rate(tmp_path):
    """5 classes of 15 images, 3 folds: every training part holds 50 images. With batch 8 the last batch has 2
    images, with batch 7 it has 1 (the batch BatchNorm cannot train on); the learning rate changes nothing that
    runs."""
    space = tiny_space(tmp_path, "distinct", lrs=(0.1, 0.01, 0.001),
                       search={"grid": {"lr": [0.1, 0.01, 0.001], "batch_size": [8, 7]}})
    trials = distinct_trials(inputs_of(space), broken=set())
    assert sorted((t.configuration["batch_size"], t.last_batch) for t in trials) == [(7, 1), (8, 2)]
    assert all(set(t.configuration) == {"batch_size"} and t.fold == 0 for t in trials)
    one_broken = distinct_trials(inputs_of(space), broken={0})  # image 0 trains in two folds: 49 images there
    assert sorted((t.configuration["batch_size"], t.last_batch) for t in one_broken) == [
        (7, 1), (7, 7), (8, 1), (8, 2)]


@pytest.mark.parametrize("model", ["fashion_cnn", "resnet18"])
def test_a_rehearsal_trains_on_the_folds_own_last_batch_and_resumes_from_its_checkpoint(tmp_path, model):
    space = tiny_space(tmp_path, "rehearse", model={"name": model}, train={"image_size": 32, "batch_size": 8})
    experiment = experiment_from_dict(space)
    data = prepare_fold(experiment, 0)  # 50 training images: the rehearsal takes 3 batches of 8 and a last of 2
    measured = rehearse(experiment.recipe, data, "cpu", tmp_path / "state.pt")
    assert measured.batches == (8,) * FULL_BATCHES + (len(data.train) % 8,)
    assert measured.train_s_per_image > 0 and measured.epoch_fixed_s >= 0 and measured.setup_s > 0
    assert (tmp_path / "state.pt").is_file()


def test_the_estimate_runs_the_longest_trials_first_on_the_slots_there_are():
    speed = Rehearsal((8,), train_s_per_image=0.01, val_s_per_image=0.0, epoch_fixed_s=1.0, setup_s=2.0)
    costs = [TrialCost(epochs, ((100, 20),), speed) for epochs in (4, 2, 2, 1)]  # 2 s setup + 2 s per epoch
    assert [c.seconds for c in costs] == [10.0, 6.0, 6.0, 4.0]
    two = estimate(costs, at_a_time=2, startup_s=5.0, upper_bound=False)
    assert two.wall_s == 5.0 + 14.0  # 10 | 6 + 6 -> then 4 joins the first slot free: 10 + 4 = 14
    assert two.trial_hours == pytest.approx(26 / 3600) and (two.trials, two.at_a_time) == (4, 2)
    assert estimate(costs, at_a_time=8, startup_s=0.0, upper_bound=True).wall_s == 10.0
    assert "at most" in estimate(costs, 1, 0.0, upper_bound=True).line()


def dry_run(tmp_path: Path, capsys, monkeypatch, faults: list | None = None, **sections) -> tuple[int, str]:
    """`search --dry-run` (on the test session's Ray): exit status and what it printed."""
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(tiny_space(tmp_path, "dry", **sections)))
    monkeypatch.setenv(ENV_VAR, json.dumps(faults or []))
    capsys.readouterr()
    status = run_command(search.main, ["--space", str(space), "--dry-run"])
    return status, capsys.readouterr().out


@pytest.mark.slow
def test_a_dry_run_rehearses_each_distinct_trial_and_estimates_the_search(ray_local, tmp_path, capsys, monkeypatch):
    status, out = dry_run(tmp_path, capsys, monkeypatch, search={"grid": {"lr": [0.01, 0.001], "batch_size": [8, 16]}})
    assert status == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("dry run: 2 distinct trial(s) of the 12 in the search")
    assert sum(line.startswith("  ok      fashion_cnn, 16 px, batch") for line in lines) == 2
    assert lines[-1].startswith("estimated cost: ") and "for 12 trials, 2 at a time" in lines[-1]
    assert not (tmp_path / "results" / "dry").exists()  # the experiment is untouched: the search can start
    assert not list((tmp_path / "results").glob(".dry-run-*"))  # the rehearsals' own folder is removed
    saved = load_estimate(experiment_from_dict(tiny_space(tmp_path, "dry", search={
        "grid": {"lr": [0.01, 0.001], "batch_size": [8, 16]}})))
    assert saved is not None and saved.trials == 12 and f"{saved.trial_hours:.2f} trial-hours" in lines[-1]


@pytest.mark.slow
def test_a_failing_rehearsal_is_one_line_with_its_fix_and_exit_status_1(ray_local, tmp_path, capsys, monkeypatch):
    status, out = dry_run(tmp_path, capsys, monkeypatch, faults=[{"kind": "oom", "epoch": 0,
                                                                  "axes": {"batch_size": 16}}],
                          search={"grid": {"lr": [0.01], "batch_size": [8, 16]}})
    assert status == 1, out
    failed = [line for line in out.splitlines() if line.startswith("  FAILED")]
    assert len(failed) == 1 and "batch 16" in failed[0]
    assert "out of GPU memory with train.batch_size=16" in failed[0] and "lower train.batch_size" in failed[0]
    assert "estimated cost" not in out and any(line.startswith("  ok") for line in out.splitlines())


def test_a_trial_ray_killed_for_memory_gets_the_settings_that_use_less():
    from tune_clothes.tuning.dry_run import with_fix
    error = ("Caught unexpected exception: 1 worker(s) were killed due to the node running low on memory. Memory on "
             "the node (IP: 192.0.2.2, ID: 6bbd) was 22.29GB used / 23.54GB limit (0.946831)\nRefer to the docs")
    line = with_fix(error)
    assert line.startswith("Ray killed it: 1 worker(s) were killed due to the node running low on memory.")
    assert "Lower train.batch_size or train.num_workers" in line and "\n" not in line
    assert with_fix("Traceback ...\n  File x\nValueError: bad") == "ValueError: bad"
