"""Retries that can help, and none that cannot.

Tune retries a failed trial from its last checkpoint up to `search.max_failures` times, whatever failed. A lost
node, a killed process or memory that ran out may well not happen again; an exception the training code raised
at an epoch (a bug, a setting the data cannot take) happens again at the same epoch every time. So after a
trial's first failure of that kind, it gets one retry only: if it fails again in the same way (the same
exception and message, at the same epoch) it is not retried any more, and says so; once it trains past that
epoch, its remaining retries are back. The retry happens in Tune; this callback only lowers, then restores, the
trial's retry limit (`Trial.max_failures`, which Tune checks when a trial fails).

Its limit: a failure of another kind (a lost node, say) in the very epoch that one retry is reproducing is not
retried either; the trial ends `failed` and `--resume` retries it, as it retries every failed trial.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ray import cloudpickle, tune
from ray import exceptions as ray_errors

from tune_clothes.config import trial_record as record
from tune_clothes.data import storage

log = logging.getLogger(__name__)
# Failures that need not repeat: the process or node is gone, or memory ran out (TrialOutOfMemory is ours).
NOT_DETERMINISTIC = ("OutOfMemoryError", "TrialOutOfMemory")


@dataclass(frozen=True)
class Failure:
    text: str  # `ExceptionType: message` of the exception the training code raised
    epochs_done: int  # epochs the trial had reported when it failed: it failed in the next one
    deterministic: bool  # raised by the training code, not a lost process, node or memory


def last_failure(trial) -> Failure:
    """The trial's latest failure, from the error Tune saved for it on the driver."""
    error = None
    path = Path(trial.pickled_error_file) if trial.local_path else None
    if path is not None and path.is_file():
        try:
            error = cloudpickle.loads(path.read_bytes())
        except Exception:  # noqa: BLE001 - an error that cannot be unpickled: treated as not deterministic
            error = None
    epochs_done = int((trial.last_result or {}).get(record.EPOCHS_DONE, 0))
    if not isinstance(error, ray_errors.RayTaskError) or isinstance(error, ray_errors.RayActorError):
        return Failure(type(error).__name__, epochs_done, deterministic=False)
    cause = error.cause if error.cause is not None else error
    text = f"{type(cause).__name__}: {str(cause).strip().splitlines()[-1] if str(cause).strip() else ''}"
    return Failure(text, epochs_done, deterministic=type(cause).__name__ not in NOT_DETERMINISTIC)


class NoRetryOfRepeatedFailures(tune.Callback):
    def __init__(self, location: str, max_failures: int):
        self.location, self.max_failures = location, max_failures
        self.watched: dict[str, Failure] = {}  # trial id -> the failure its one retry is reproducing

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        if trial.trial_id not in self.watched:  # a resumed search: Tune restored the limit it had saved
            trial.max_failures = self.max_failures

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        failure = last_failure(trial)
        if failure.deterministic and self.max_failures > trial.run_metadata.num_failures:
            self.watched[trial.trial_id] = failure
            trial.max_failures = trial.run_metadata.num_failures  # the next failure is not retried

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        failure = self.watched.get(trial.trial_id)
        if failure is not None and int(result.get(record.EPOCHS_DONE, 0)) > failure.epochs_done:
            del self.watched[trial.trial_id]  # past the epoch that failed: it did not fail the same way
            trial.max_failures = self.max_failures

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        first = self.watched.pop(trial.trial_id, None)
        if first is None:
            return
        again = last_failure(trial)
        if again.text == first.text and again.epochs_done == first.epochs_done:
            reason = f"failed twice in the same way in epoch {first.epochs_done + 1}: not retried"
        else:
            reason = (f"failed again in epoch {first.epochs_done + 1}, differently ({again.text}); not retried "
                      f"while its one retry reproduced the first failure ({first.text}): --resume retries it")
        log.warning("trial %s %s", trial.trial_id, reason)
        storage.write_text(storage.join(self.location, trial.relative_logdir, record.ENDED_FILE),
                           record.ended_early(record.TrialStatus.FAILED, first.epochs_done, reason=reason))
