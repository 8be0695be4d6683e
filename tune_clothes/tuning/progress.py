"""The compact progress line that replaces Ray's status table (`-v` keeps Ray's):

    epochs 37/108, trials 3/9 done, 2 running, 4 pending, 0 failed, 1 retried | best val/acc 0.4100 provisional
    (lr=0.001, 2/3 folds) | 0m45s elapsed, ~1m20s left

Epochs count over all trials, planned and done, so the time left exists from the first finished epoch. The best
fold mean counts the latest epoch of running trials, and says "provisional" while it does. On a cluster it
also says how many nodes and GPUs are busy. The same line opens and closes the search; after an interruption
it tells trials that were stopped mid-way from those that never started.
"""
from __future__ import annotations

import logging
import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from ray import tune

from tune_clothes.config.labels import Labeller
from tune_clothes.config.trial_record import (
    EPOCHS_DONE,
    EPOCHS_TOTAL,
    NODE_ID,
    TrialStatus,
    configuration_of,
    is_final_report,
)
from tune_clothes.tuning.estimate import duration

log = logging.getLogger(__name__)
FINISHED, STOPPED, FAILED = TrialStatus.FINISHED, TrialStatus.STOPPED, TrialStatus.FAILED
RUNNING, PENDING, INTERRUPTED = TrialStatus.RUNNING, TrialStatus.PENDING, TrialStatus.INTERRUPTED
DONE = (FINISHED, STOPPED)  # trials that ended as planned: trained every epoch, or stopped by the scheduler


@dataclass(frozen=True)
class PlannedSearch:
    """What the line compares progress with."""
    metric: str
    mode: str  # "max" or "min"
    trials: int  # all the search runs
    epochs_per_trial: int  # a trial's epochs when its configuration does not say
    folds_per_configuration: int  # trials of one configuration (1 when a trial trains every fold)
    estimated_s: float | None = None  # the dry run's estimate of the whole search: the time left until an epoch ends


@dataclass(frozen=True)
class TrialView:
    """What the line needs of a trial."""
    configuration: tuple  # (axis, value) pairs, without the fold
    status: TrialStatus  # FINISHED, STOPPED, FAILED, RUNNING, PENDING or INTERRUPTED
    done: int  # epochs
    planned: int  # epochs
    value: float | None  # the metric at its latest epoch


@dataclass(frozen=True)
class ClusterUsage:
    nodes_busy: int
    nodes: int
    gpus_busy: float
    gpus: float


class CompactProgress(tune.Callback):
    """A Tune callback that logs the line every `interval_s` seconds, and once at the start and the end."""

    def __init__(self, plan: PlannedSearch, interval_s: float = 15.0,
                 cluster_usage: Callable[[Sequence[Any]], ClusterUsage | None] = lambda trials: None,
                 clock: Callable[[], float] = time.monotonic):
        self.plan, self.interval_s, self.cluster_usage, self.clock = plan, interval_s, cluster_usage, clock
        self.started = clock()
        self.first_trial_started: float | None = None
        self.epochs_this_run = 0  # reported since the search (re)started: the pace of the time left
        self.retries = 0
        self.started_here: set[str] = set()  # trials started since the search (re)started
        self.ended: set[str] = set()  # trials Tune completed or gave up on (not those an interruption stopped)
        self.last_line: float | None = None

    def __setstate__(self, state: dict) -> None:
        """A resumed search gets this callback back from Tune's tuner.pkl, pickled when the search was first
        set up: its clock restarts, so that 'elapsed' is this run's (and is not measured against another
        process's, or another machine's, monotonic clock)."""
        self.__dict__.update(state)
        self.started = self.clock()

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.started_here.add(trial.trial_id)
        if self.first_trial_started is None:
            self.first_trial_started = self.clock()

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self.epochs_this_run += 1

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.ended.add(trial.trial_id)

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        self.retries += 1
        log.warning("trial %s failed; it continues from its last checkpoint (%s)", trial.trial_id, _error(trial))

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.ended.add(trial.trial_id)
        log.warning("trial %s failed and has no retries left (%s)", trial.trial_id, _error(trial))

    def on_step_end(self, iteration, trials, **info) -> None:
        now = self.clock()
        if self.last_line is None or now - self.last_line >= self.interval_s:
            self.last_line = now
            log.info("%s", self.line(trials, now))

    def on_experiment_end(self, trials, **info) -> None:
        log.info("%s", self.line(trials, self.clock()))

    def line(self, trials: Sequence[Any], now: float) -> str:
        views = [self._view(trial) for trial in trials]
        parts = [_counts(views, self.plan, self.retries), _best(views, self.plan)]
        usage = self.cluster_usage(trials)
        if usage is not None:
            gpus = f", {usage.gpus_busy:g}/{usage.gpus:g} GPUs" if usage.gpus else ""
            parts.append(f"{usage.nodes_busy}/{usage.nodes} nodes{gpus} busy")
        parts.append(f"{duration(now - self.started)} elapsed, {self._time_left(views, now)}")
        return " | ".join(parts)

    def _view(self, trial) -> TrialView:
        result = trial.last_result or {}
        done = int(result.get(EPOCHS_DONE, 0))
        planned = int(result.get(EPOCHS_TOTAL, trial.config.get("epochs", self.plan.epochs_per_trial)))
        status = _status(trial.status, is_final_report(result), done,
                         ended=trial.trial_id in self.ended, started_here=trial.trial_id in self.started_here)
        if status in (*DONE, FAILED):
            planned = done  # a trial stopped early (ASHA) or failed trains no more epochs
        configuration = tuple(sorted(configuration_of(trial.config).items()))
        return TrialView(configuration, status, done, planned, result.get(self.plan.metric) if done else None)

    def _time_left(self, views: list[TrialView], now: float) -> str:
        done, planned = _epochs(views, self.plan)
        stopped = any(view.status == INTERRUPTED for view in views)
        if not stopped and not self.epochs_this_run and self.plan.estimated_s is not None:
            return f"~{duration(max(0.0, self.plan.estimated_s - (now - self.started)))} left (dry-run estimate)"
        if stopped or planned <= done or not self.epochs_this_run or self.first_trial_started is None:
            return "-"
        pace = self.epochs_this_run / max(now - self.first_trial_started, 1e-9)  # epochs per second, all trials
        return f"~{duration((planned - done) / pace)} left"


def _status(tune_status: str, final: bool, done: int, ended: bool, started_here: bool) -> TrialStatus:
    """Ours, from Tune's: an interrupted search leaves its running and pending trials TERMINATED too."""
    if final:
        return FINISHED
    if tune_status in ("RUNNING", "ERROR"):
        return RUNNING if tune_status == "RUNNING" else FAILED
    if tune_status != "TERMINATED":
        return PENDING
    if ended or (done and not started_here):  # stopped early by the scheduler, now or before a resume
        return STOPPED
    return INTERRUPTED if started_here else PENDING


def _epochs(views: list[TrialView], plan: PlannedSearch) -> tuple[int, int]:
    """Epochs done and planned over all trials, including those the search algorithm has not proposed yet."""
    unknown = max(plan.trials - len(views), 0)
    return sum(v.done for v in views), sum(v.planned for v in views) + unknown * plan.epochs_per_trial


def _counts(views: list[TrialView], plan: PlannedSearch, retries: int) -> str:
    count = Counter(view.status for view in views)
    count[PENDING] += max(plan.trials - len(views), 0)
    done, planned = _epochs(views, plan)
    waiting = f"{count[PENDING]} pending" if not count[INTERRUPTED] else \
        f"{count[INTERRUPTED]} interrupted, {count[PENDING]} not started"
    return (f"epochs {done}/{planned}, trials {sum(count[s] for s in DONE)}/{plan.trials} done, "
            f"{count[RUNNING]} running, "
            f"{waiting}, {count[FAILED]} failed, {retries} retried")


def _best(views: list[TrialView], plan: PlannedSearch) -> str:
    """The best mean over folds so far; running and interrupted trials count with their latest epoch."""
    values: dict[tuple, list[tuple[float, bool]]] = defaultdict(list)  # configuration -> (value, final)
    for view in views:
        if view.value is not None and view.status != FAILED and math.isfinite(view.value):
            values[view.configuration].append((float(view.value), view.status in DONE))
    if not values:
        return f"best {plan.metric} -"
    pick = max if plan.mode == "max" else min
    configuration, rows = pick(values.items(), key=lambda item: sum(v for v, _ in item[1]) / len(item[1]))
    mean = sum(v for v, _ in rows) / len(rows)
    label = Labeller([k for k, _ in configuration], map(dict, values)).label(dict(configuration)) \
        if configuration else "the base configuration"
    folds = f", {len(rows)}/{plan.folds_per_configuration} folds" if plan.folds_per_configuration > 1 else ""
    provisional = "" if all(final for _, final in rows) else " provisional"
    return f"best {plan.metric} {mean:.4f}{provisional} ({label}{folds})"


def _error(trial) -> str:
    """The last line of the trial's error, which is what explains it."""
    text = str(getattr(trial, "error_msg", None) or "").strip()
    return text.splitlines()[-1][:200] if text else "see error.txt in its folder"


def cluster_usage_from(nodes: Sequence[Mapping[str, Any]], trials: Sequence[Any]) -> ClusterUsage | None:
    """Nodes running a trial, and GPUs the running trials hold, out of the alive nodes' (Ray's `ray.nodes()`);
    None on a single node, where the line has nothing to add."""
    alive = [node for node in nodes if node.get("Alive")]
    if len(alive) < 2:
        return None
    running = [trial for trial in trials if trial.status == "RUNNING"]
    busy = {(trial.last_result or {}).get(NODE_ID) for trial in running} - {None}
    gpus_busy = sum(trial.placement_group_factory.required_resources.get("GPU", 0) for trial in running)
    gpus = sum(node.get("Resources", {}).get("GPU", 0) for node in alive)
    return ClusterUsage(len(busy), len(alive), gpus_busy, gpus)
