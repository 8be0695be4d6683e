"""A trial's status from the files on disk: one the search ended early on purpose (ASHA stopped it: the driver
recorded it in the trial's folder) is `stopped`, one the search was interrupted in stays `incomplete`; no Ray
needed."""
from __future__ import annotations

import json
from pathlib import Path

from conftest import tiny_space

from tune_clothes.analysis.results import load_trials
from tune_clothes.config import metric_names as M
from tune_clothes.config import trial_record as record
from tune_clothes.config.loader import experiment_from_dict
from tune_clothes.config.trial_record import FoldId, SearchMode, TrialStatus


def write_trial(location: Path, name: str, lr: float, epochs_done: int, epochs: int = 3) -> None:
    """A fold trial's folder as the search writes it: params.json, and result.json from `epoch_report`."""
    (location / name).mkdir(parents=True)
    (location / name / "params.json").write_text(json.dumps({"lr": lr, record.FOLD_PARAM: 0}))
    lines = [record.epoch_report({0: {M.VAL_ACC: 0.1 * e}}, e, epochs, {}) for e in range(1, epochs_done + 1)]
    (location / name / "result.json").write_text("\n".join(map(json.dumps, lines)))


def test_stopped_is_what_the_search_ended_early_and_interrupted_stays_incomplete(tmp_path):
    experiment = experiment_from_dict(tiny_space(tmp_path, "status", lrs=(0.1, 0.2, 0.3)))
    for name, lr, done in (("a", 0.1, 1), ("b", 0.2, 1), ("c", 0.3, 3)):
        write_trial(tmp_path, name, lr, done)
    (tmp_path / "a" / record.ENDED_FILE).write_text(record.ended_early(TrialStatus.STOPPED, 1))
    trials = load_trials(str(tmp_path), experiment)
    trials = trials[trials["status"] != "not started"].set_index("trial")  # folds 1 and 2 never ran
    assert trials["status"].to_dict() == {"a": "stopped", "b": "incomplete", "c": "finished"}
    assert trials.loc["a", "epochs_done"] == 1 and trials.loc["a", M.VAL_ACC] == 0.1
    (tmp_path / "a" / record.ENDED_FILE).write_text("{cut short")  # unreadable: no guess
    assert set(load_trials(str(tmp_path), experiment)["status"]) == {"incomplete", "finished", "not started"}


def test_a_crashed_trial_with_retries_left_was_being_retried_not_failed(tmp_path):
    """An interrupted search leaves a trial that crashed and was being retried: incomplete (--resume continues it),
    its error shown; one whose every attempt crashed, or that a rule would not retry, failed."""
    experiment = experiment_from_dict(tiny_space(tmp_path, "retries", lrs=(0.1, 0.2, 0.3), search={"max_failures": 1}))
    failure = "Failure # {n} (occurred at 2026-12-04_17-20-16)\nTraceback...\nRuntimeError: worker died\n"
    for name, lr, failures in (("a", 0.1, 1), ("b", 0.2, 2), ("c", 0.3, 1)):
        write_trial(tmp_path, name, lr, 1)
        (tmp_path / name / "error.txt").write_text("".join(failure.format(n=n) for n in range(1, failures + 1)))
    (tmp_path / "c" / record.ENDED_FILE).write_text(
        record.ended_early(TrialStatus.FAILED, 1, reason="failed twice in the same way in epoch 2: not retried"))
    trials = load_trials(str(tmp_path), experiment).set_index("trial")
    assert trials.loc[["a", "b", "c"], "status"].tolist() == ["incomplete", "failed", "failed"]
    assert trials.loc["a", "error"] == "RuntimeError: worker died"


def test_a_fold_is_named_by_its_repeat_and_fold_and_numbered_across_repeats():
    fold = FoldId.from_j(7, folds_per_repeat=5)
    assert (fold.repeat, fold.k, fold.j) == (1, 2, 7)
    assert fold.columns() == {"repeat": 1, "fold_in_repeat": 2, "fold_index": 7}
    assert fold.label(repeats=2) == "repeat 1 fold 2" and fold.label(repeats=1) == "fold 2"
    assert [f.j for f in record.all_folds(3, 2)] == [0, 1, 2, 3, 4, 5]


def test_one_report_writer_and_one_reader_for_both_kinds_of_trial():
    rows = {j: {M.VAL_ACC: 0.5 + 0.1 * j, M.TRAIN_LOSS: 1.0 - 0.1 * j, "lr": 0.01} for j in range(4)}
    lockstep = record.epoch_report(rows, 2, 5, {record.NODE_ID: "n"})
    assert lockstep[M.VAL_ACC] == 0.65 and lockstep[record.EPOCHS_DONE] == 2 and lockstep[record.NODE_ID] == "n"
    assert record.reported_folds(lockstep) == [0, 1, 2, 3]
    assert [record.fold_metric(lockstep, j, M.VAL_ACC) for j in range(4)] == [0.5, 0.6, 0.7, 0.8]
    one = record.epoch_report({3: rows[3]}, 5, 5, {})
    assert record.reported_folds(one) == [3] and record.fold_metric(one, 3, M.VAL_ACC) == 0.8
    assert record.fold_metric(one, 0, M.VAL_ACC) != record.fold_metric(one, 0, M.VAL_ACC)  # NaN: not its fold
    assert record.is_final_report(one) and not record.is_final_report(lockstep)


def test_the_search_mode_is_decided_once_from_the_algorithm_and_the_scheduler():
    assert record.search_mode("grid", "none") is SearchMode.FOLD_TRIALS
    assert record.search_mode("optuna", "none") is SearchMode.LOCKSTEP
    assert record.search_mode("optuna", "asha") is SearchMode.LOCKSTEP
    assert SearchMode.FOLD_TRIALS.trials_per_configuration(10) == 10
    assert SearchMode.LOCKSTEP.trials_per_configuration(10) == 1
    assert str(TrialStatus.ELIMINATED) == "eliminated" and TrialStatus("stopped") is TrialStatus.STOPPED
