"""What the files on disk cannot tell by themselves: that the search ended a trial before its last epoch on
purpose (a scheduler stopped it), not because the search was interrupted. The driver writes it into the trial's
folder (`trial_record.ENDED_FILE`) when Tune completes a trial early, so that the analysis reads our own record
instead of Tune's internal experiment state."""
from __future__ import annotations

import logging

from ray import tune

from tune_clothes.config import trial_record as record
from tune_clothes.data import storage

log = logging.getLogger(__name__)


class RecordEarlyEndings(tune.Callback):
    def __init__(self, location: str):
        self.location = location  # the experiment folder, local or s3://

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        """Tune calls this for a trial that ended without an error: its last epoch, or a scheduler's stop (a
        search interrupted by a signal does not complete its running trials)."""
        result = trial.last_result or {}
        if record.EPOCHS_DONE not in result or record.is_final_report(result):  # not ended early, or no epochs
            return
        path = storage.join(self.location, trial.relative_logdir, record.ENDED_FILE)
        if storage.exists(path):  # the scheduler said why itself (a race's elimination)
            return
        storage.write_text(path, record.ended_early(record.TrialStatus.STOPPED, int(result[record.EPOCHS_DONE])))
