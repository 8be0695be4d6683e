"""Retries that can help, and none that cannot: a trial whose training code raises the same exception at the same
epoch twice is not retried again, and says so; a killed trial process is retried up to `search.max_failures`
times, as before, and so is running out of memory. One configuration, its fold 0 crashing, its fold 1 killed."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import search_and_summarize, tiny_space, trial_dirs
from ray import cloudpickle
from ray.exceptions import ActorDiedError, RayTaskError

from tune_clothes.config import trial_record as record
from tune_clothes.config.loader import experiment_from_dict
from tune_clothes.tuning.faults import ENV_VAR
from tune_clothes.tuning.retries import last_failure
from tune_clothes.tuning.trainable import TrialOutOfMemory

pytestmark = pytest.mark.slow
MAX_FAILURES = 2
FAULTS = [{"kind": "crash", "epoch": 1, "fold": 0},  # on every attempt: deterministic
          {"kind": "kill", "epoch": 1, "fold": 1}]


@pytest.fixture(scope="module")
def faulty(ray_local, tmp_path_factory):
    space = tiny_space(tmp_path_factory.mktemp("retries"), "retries", lrs=(0.01,),
                       train={"epochs": 2}, cv={"folds": 2}, search={"max_failures": MAX_FAILURES})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_VAR, json.dumps(FAULTS))
        return search_and_summarize(experiment_from_dict(space))


def failures(trial: Path) -> int:
    """Attempts that failed, as Tune's error.txt counts them."""
    path = trial / "error.txt"
    return path.read_text().count("Failure #") if path.is_file() else 0


def test_the_same_exception_at_the_same_epoch_twice_is_not_retried_again(faulty):
    trials = {t.name: t for t in trial_dirs(Path(faulty.location))}
    assert failures(trials["lr=0.01_fold0"]) == 2  # the first failure, and its one retry: not 1 + MAX_FAILURES
    (row,) = faulty.leaderboard.itertuples()
    assert row.status == "failed" and row.folds_failed == 2
    assert "InjectedCrash" in row.error and "failed twice in the same way in epoch 2: not retried" in row.error
    ended = record.read_ended_early((trials["lr=0.01_fold0"] / record.ENDED_FILE).read_text())
    assert ended["status"] is record.TrialStatus.FAILED and ended[record.EPOCHS_DONE] == 1


def test_a_killed_process_is_retried_to_the_limit(faulty):
    trial = Path(faulty.location) / "lr=0.01_fold1"
    assert failures(trial) == 1 + MAX_FAILURES
    assert "worker process has died" in trial.joinpath("error.txt").read_text()
    assert not (trial / record.ENDED_FILE).exists()


def trial_failed_with(tmp_path: Path, error: BaseException, epochs_done: int = 3) -> SimpleNamespace:
    """A trial as the driver sees it after a failure: Tune has pickled the error next to it."""
    path = tmp_path / "error.pkl"
    path.write_bytes(cloudpickle.dumps(error))
    return SimpleNamespace(local_path=str(tmp_path), pickled_error_file=str(path),
                           last_result={record.EPOCHS_DONE: epochs_done})


def task_error(cause: BaseException) -> RayTaskError:
    return RayTaskError("train", "Traceback ...", cause)


@pytest.mark.parametrize("cause, deterministic", [
    (ValueError("Expected more than 1 value per channel when training"), True),
    (RuntimeError("a bug"), True),
    (torch.OutOfMemoryError("CUDA out of memory"), False),
    (TrialOutOfMemory("out of GPU memory with train.batch_size=64"), False)])
def test_an_exception_of_the_training_code_is_deterministic_running_out_of_memory_is_not(tmp_path, cause,
                                                                                          deterministic):
    failure = last_failure(trial_failed_with(tmp_path, task_error(cause)))
    assert failure.deterministic is deterministic and failure.epochs_done == 3
    assert failure.text.startswith(type(cause).__name__ + ": ")


def test_a_dead_actor_is_not_deterministic(tmp_path):
    assert not last_failure(trial_failed_with(tmp_path, ActorDiedError())).deterministic
