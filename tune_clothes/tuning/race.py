"""`search.scheduler: race`: a Tune scheduler over lock-step trials (one configuration, every fold), a thin adapter
of `statistics.race`: at each rung it records the reporting trial's fold scores, looks, and stops every running
configuration the look eliminates (the reporting one at once, the others at their next report). What it decided
is written into each eliminated trial's folder (`trial_record.ENDED_FILE`: the epoch, the p-value and the
configuration it lost to), which is also what a resumed search starts from: the rung scores come back from the
trials' result.json, the eliminations from their ENDED_FILE, and Tune never runs a trial it ended again.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from tune_clothes.config import Experiment
from tune_clothes.config import trial_record as record
from tune_clothes.config.trial_record import TrialStatus
from tune_clothes.data import storage
from tune_clothes.data.experiment_folder import read_reports
from tune_clothes.statistics.race import Elimination, RaceRule, look, look_alpha, rungs

log = logging.getLogger(__name__)


class RaceScheduler(FIFOScheduler):
    def __init__(self, experiment: Experiment, val_train_ratio: dict[int, float], max_epochs: int, location: str):
        super().__init__()
        search = experiment.search
        self.ranked_by, self.better = search.metric, 1 if search.mode == "max" else -1
        self.rungs = rungs(search.grace_period, search.reduction_factor, max_epochs)
        self.rule = RaceRule(search.race_rule, look_alpha(search.race_alpha, len(self.rungs)), search.rope)
        self.ratio, self.location = val_train_ratio, location
        self.recorded: dict[int, dict[str, dict[int, float]]] = {rung: {} for rung in self.rungs}
        self.configurations: dict[str, dict[str, Any]] = {}  # trial id -> its configuration
        self.eliminated: dict[str, Elimination] = {}
        self.ended: set[str] = set()  # trials that trained every epoch: nothing to stop
        self.loaded = False

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        self._remember(trial)
        epoch = int(result.get(record.EPOCHS_DONE, 0))
        if epoch in self.recorded and trial.trial_id not in self.eliminated:
            self.recorded[epoch][trial.trial_id] = {j: record.fold_metric(result, j, self.ranked_by)
                                                    for j in record.reported_folds(result)}
            for elimination in look(self.recorded[epoch], self.ratio, self.better, self.rule, epoch):
                key = elimination.configuration
                if key not in self.eliminated and key not in self.ended:
                    self.eliminated[key] = elimination
        if trial.trial_id in self.eliminated and not record.is_final_report(result):
            self._write(trial, int(result.get(record.EPOCHS_DONE, 0)))
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        self.ended.add(trial.trial_id)
        super().on_trial_complete(tune_controller, trial, result)

    def _remember(self, trial) -> None:
        if not self.loaded:  # a resumed search: what the race knew is in the trials' folders
            self.loaded = True
            self._load()
        self.configurations[trial.trial_id] = record.configuration_of(trial.config)

    def _write(self, trial, epochs_done: int) -> None:
        elimination = self.eliminated[trial.trial_id]
        log.info("race: eliminated %s at epoch %d: worse than %s (evidence %.3g)", self.configurations[trial.trial_id],
                 elimination.epoch, self.configurations.get(elimination.lost_to), elimination.p_holm)
        text = record.ended_early(TrialStatus.ELIMINATED, epochs_done, eliminated_at=elimination.epoch,
                                  evidence=elimination.p_holm, lost_to=self.configurations.get(elimination.lost_to))
        storage.write_text(storage.join(self.location, trial.relative_logdir, record.ENDED_FILE), text)

    def _load(self) -> None:
        """The rung scores and eliminations of the trials already in the experiment folder."""
        if not storage.exists(self.location):
            return
        for name in storage.list_dirs(self.location):
            folder = storage.join(self.location, name)
            reports = read_reports(folder)
            if not reports:
                continue
            trial_id = str(reports[-1].get("trial_id"))
            # what a configuration that reported before the resume is called when it eliminates one after it
            self.configurations[trial_id] = record.configuration_of(reports[-1].get("config", {}))
            for report in reports:
                epoch = int(report.get(record.EPOCHS_DONE, 0))
                if epoch in self.recorded:
                    self.recorded[epoch][trial_id] = {j: record.fold_metric(report, j, self.ranked_by)
                                                      for j in record.reported_folds(report)}
            if record.is_final_report(reports[-1]):
                self.ended.add(trial_id)
            ended = storage.join(folder, record.ENDED_FILE)
            if storage.exists(ended):
                content = json.loads(storage.read_text(ended))
                if content.get("status") == TrialStatus.ELIMINATED.value:
                    self.eliminated[trial_id] = Elimination(trial_id, content["eliminated_at"], None,
                                                            content["evidence"])
