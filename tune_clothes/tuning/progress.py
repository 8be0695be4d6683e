"""A compact progress line instead of Ray's full status table: trials done / running / pending / failed,
the best configuration's fold mean so far, elapsed and estimated time left."""
from __future__ import annotations

import logging
import time
from collections import defaultdict

import numpy as np
from ray import tune

from tune_clothes.config.labels import Labeller
from tune_clothes.config.metric_names import FOLD, is_final_report

log = logging.getLogger(__name__)


class CompactProgress(tune.Callback):
    def __init__(self, total_trials: int, metric: str, mode: str, interval_s: float = 15.0):
        self.total, self.metric, self.mode, self.interval_s = total_trials, metric, mode, interval_s
        self.started = time.monotonic()
        self.last_line = 0.0
        self.finals: dict[str, tuple[tuple, float]] = {}  # trial id -> (configuration, final metric)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if is_final_report(result) and self.metric in result:
            config = tuple((k, v) for k, v in trial.config.items() if k != FOLD)
            self.finals[trial.trial_id] = (config, float(result[self.metric]))

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        log.warning("trial %s failed (it is retried from its last checkpoint while retries are left); "
                    "see %s", trial.trial_id, getattr(trial, "path", None) or "its error.txt")

    def on_step_end(self, iteration, trials, **info) -> None:
        now = time.monotonic()
        if now - self.last_line >= self.interval_s:
            self.last_line = now
            log.info("%s", self.line(trials, now))

    def on_experiment_end(self, trials, **info) -> None:
        log.info("%s", self.line(trials, time.monotonic()))

    def line(self, trials, now: float) -> str:
        counts = defaultdict(int)
        for trial in trials:
            counts[trial.status] += 1
        done = counts["TERMINATED"]
        elapsed = now - self.started
        remaining = max(self.total - done - counts["ERROR"], 0)
        eta = f"~{_duration(elapsed / done * remaining)} left" if done and remaining else "-"
        return (f"trials {done}/{self.total} done, {counts['RUNNING']} running, {counts['PENDING']} pending, "
                f"{counts['ERROR']} failed | best {self.metric} fold mean {self._best()} | "
                f"{_duration(elapsed)} elapsed, {eta}")

    def _best(self) -> str:
        by_config: dict[tuple, list[float]] = defaultdict(list)
        for config, value in self.finals.values():
            by_config[config].append(value)
        if not by_config:
            return "-"
        pick = max if self.mode == "max" else min
        config, values = pick(by_config.items(), key=lambda item: float(np.mean(item[1])))
        label = Labeller([k for k, _ in config], map(dict, by_config)).label(dict(config))
        return f"{np.mean(values):.4f} ({label}, {len(values)} trial(s))"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
