"""The trial record: what a trial of a search is and what it reports, defined once, below both the tuning layer
(which writes it) and the analysis layer (which reads it back from disk).

- `FoldId`: fold k (0..K-1) of repeat r, numbered j = r * K + k across repeats. j is the number in Tune's `fold`
  parameter, in checkpoint files (`fold<j>.pt`), in `folds/<j>/<metric>` result keys and in folds.json's order;
  (repeat, k) is what a person reads. Tables carry all three, named so that none has to be guessed:
  `repeat`, `fold_in_repeat` (k) and `fold_index` (j).
- `SearchMode`: how a search lays its trials out: a trial per (configuration, fold), or a trial per
  configuration holding all its folds in lock-step.
- `TrialStatus` and `ConfigurationStatus`: every status a trial or a configuration can have, in one list each;
  `ENDED_FILE`: what the search wrote into a trial's folder when it ended the trial early (a scheduler's stop, a
  race's elimination, retries given up), which the files alone could not tell.
- The keys of a trial's per-epoch report, with the one function that writes a report (`epoch_report`) and the
  ones that read it (`fold_metrics`, `reported_folds`, `is_final_report`).
"""
from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping

from tune_clothes.config.metric_names import EPOCH_SCALARS

# --- Report keys: besides the metrics (metric_names), what every epoch's report holds --------------------------
FOLD_PARAM = "fold"  # a fold trial's parameter and report key: its fold's j
EPOCHS_DONE = "epochs_done"
EPOCHS_TOTAL = "epochs_total"  # a trial is finished when it reports EPOCHS_DONE == EPOCHS_TOTAL
NODE_ID = "node_id"  # the Ray node that ran the epoch (nodes on one machine share an IP address)
REPORTED_AT = "time/reported_at"  # when the epoch was reported, Unix seconds: a search's timeline
TRAIN_SECONDS = "time/train_s"  # the epoch's training pass, seconds
EPOCH_SECONDS = "time/epoch_s"  # the whole epoch (training and validation), seconds
TRAIN_IMAGES_PER_S = "time/train_images_per_s"
# Tune's own keys, which it adds to every report
TUNE_TIME_TOTAL = "time_total_s"  # seconds the trial has trained so far (over retries and resumes)
TUNE_TIME_THIS_ITER = "time_this_iter_s"
TUNE_TIMESTAMP = "timestamp"  # Unix seconds of the report
FOLDS_PREFIX = "folds/"  # a lock-step trial's per-fold values: folds/<j>/<metric>

# --- Table columns naming a fold ---------------------------------------------------------------------------------
REPEAT = "repeat"
FOLD_IN_REPEAT = "fold_in_repeat"  # k
FOLD_INDEX = "fold_index"  # j = repeat * K + k


@dataclass(frozen=True, order=True)
class FoldId:
    """Fold `k` of repeat `repeat`; `j` = repeat * K + k numbers the folds of every repeat together."""
    j: int
    repeat: int
    k: int

    @classmethod
    def from_j(cls, j: int, folds_per_repeat: int) -> "FoldId":
        repeat, k = divmod(int(j), folds_per_repeat)
        return cls(int(j), repeat, k)

    def columns(self) -> dict[str, int]:
        """The fold as a table row's columns."""
        return {REPEAT: self.repeat, FOLD_IN_REPEAT: self.k, FOLD_INDEX: self.j}

    def label(self, repeats: int) -> str:
        """As a person reads it: `fold 2`, or `repeat 1 fold 2` when the plan has repeats."""
        return f"repeat {self.repeat} fold {self.k}" if repeats > 1 else f"fold {self.k}"


def configuration_of(params: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's parameters without its fold: the configuration (search axis -> value)."""
    return {k: v for k, v in params.items() if k != FOLD_PARAM}


def all_folds(folds_per_repeat: int, repeats: int) -> list[FoldId]:
    return [FoldId.from_j(j, folds_per_repeat) for j in range(folds_per_repeat * repeats)]


CHECKPOINT_GLOB = "fold*.pt"  # every fold's `checkpoint_file` in a checkpoint folder


def checkpoint_file(j: int) -> str:
    """The file of fold j's training state in a trial's checkpoint folder."""
    return f"fold{j}.pt"


def checkpoint_fold(name: str) -> int:
    """The fold j of a `checkpoint_file` name."""
    return int(name.removeprefix("fold").removesuffix(".pt"))


class SearchMode(enum.Enum):
    """FOLD_TRIALS: a trial per (configuration, fold), every trial run to its end: a grid. LOCKSTEP: a trial per
    configuration, training all its folds together and reporting their mean each epoch: what a search that
    compares configurations part-way (Optuna, ASHA) must see, never a single fold."""
    FOLD_TRIALS = "fold trials"
    LOCKSTEP = "lock-step"

    def trials_per_configuration(self, folds: int) -> int:
        return folds if self is SearchMode.FOLD_TRIALS else 1


def search_mode(algorithm: str, scheduler: str) -> SearchMode:
    """The mode of a search with these `search.algorithm` and `search.scheduler` settings."""
    return SearchMode.FOLD_TRIALS if algorithm == "grid" and scheduler == "none" else SearchMode.LOCKSTEP


class TrialStatus(str, enum.Enum):
    """A trial's status, as the files on disk (and, live, Tune) tell it."""
    FINISHED = "finished"  # trained every epoch
    STOPPED = "stopped"  # ASHA ended it at a rung
    ELIMINATED = "eliminated"  # a race ended it: the evidence says it is worse than the best
    FAILED = "failed"  # crashed, with no retries left
    RUNNING = "running"  # live only
    PENDING = "pending"  # live only: proposed, not started
    INTERRUPTED = "interrupted"  # live only: a stopped search ended it part-way
    INCOMPLETE = "incomplete"  # on disk: started, and none of the above (running, or interrupted)
    NOT_STARTED = "not started"  # a grid's trial that has no folder yet

    def __str__(self) -> str:
        return self.value


class ConfigurationStatus(str, enum.Enum):
    """A configuration's status in the leaderboard, from its trials'."""
    COMPLETE = "complete"  # every fold finished
    INCOMPLETE = "incomplete"
    FAILED = "failed"  # a fold failed
    STOPPED = "stopped"
    ELIMINATED = "eliminated"
    NOT_STARTED = "not started"

    def __str__(self) -> str:
        return self.value


#: What a scheduler ended before its last epoch, as a trial's or a configuration's status (the same words).
ENDED_EARLY = (TrialStatus.STOPPED.value, TrialStatus.ELIMINATED.value)


# --- A trial ended early ---------------------------------------------------------------------------------------
ENDED_FILE = "ended.json"  # in a trial's folder: why the search ended it before its last epoch


def ended_early(status: TrialStatus, epochs_done: int, **details: Any) -> str:
    """The ENDED_FILE of a trial that the search's scheduler ended before its last epoch (ASHA stopped it, a
    race eliminated it), with what explains it (JSON values)."""
    return json.dumps({"status": status.value, EPOCHS_DONE: epochs_done, **details})


def read_ended_early(text: str) -> dict[str, Any]:
    """An ENDED_FILE's content; `status` as a TrialStatus. Raises ValueError when it cannot be read."""
    content = json.loads(text)
    return {**content, "status": TrialStatus(content["status"])}


# --- Writing and reading a report -------------------------------------------------------------------------------

def epoch_report(rows: Mapping[int, Mapping[str, Any]], epochs_done: int, epochs_total: int,
                 extra: Mapping[str, Any]) -> dict[str, Any]:
    """The report of one epoch of a trial: `rows` is fold j -> that fold's metrics of the epoch. One fold: its
    metrics under their own names and `fold: j`. Several: the mean over folds of every metric, and for each
    per-epoch scalar its sample std (`<metric>_std`) and each fold's own value (`folds/<j>/<metric>`)."""
    if len(rows) == 1:
        (j, row), = rows.items()
        report = {**row, FOLD_PARAM: j}
    else:
        report = {}
        for name in next(iter(rows.values())):
            values = [float(row[name]) for row in rows.values()]
            report[name] = sum(values) / len(values)
            if name in EPOCH_SCALARS:
                report[f"{name}_std"] = _sample_std(values)
                report.update({fold_key(j, name): row[name] for j, row in rows.items()})
    return {**report, EPOCHS_DONE: epochs_done, EPOCHS_TOTAL: epochs_total, **extra}


def fold_key(j: int, metric: str) -> str:
    return f"{FOLDS_PREFIX}{j}/{metric}"


def reported_folds(report: Mapping[str, Any]) -> list[int]:
    """The folds (j) a report has values of."""
    if FOLD_PARAM in report:
        return [int(report[FOLD_PARAM])]
    found = {int(key[len(FOLDS_PREFIX):].split("/", 1)[0]) for key in report if key.startswith(FOLDS_PREFIX)}
    return sorted(found)


def fold_metric(report: Mapping[str, Any], j: int, metric: str) -> float:
    """Fold j's value of `metric` in a report (of a fold trial or a lock-step trial); NaN when absent."""
    if FOLD_PARAM in report:
        value = report.get(metric) if int(report[FOLD_PARAM]) == j else None
    else:
        value = report.get(fold_key(j, metric))
    return _number(value)


def fold_metrics(report: Mapping[str, Any], j: int, metrics: tuple[str, ...]) -> dict[str, float]:
    return {metric: fold_metric(report, j, metric) for metric in metrics}


def is_final_report(result: Mapping[str, Any]) -> bool:
    """Whether a trial's report is its last: every epoch ran (a trial that stopped early never says so)."""
    return result.get(EPOCHS_DONE) is not None and result.get(EPOCHS_DONE) == result.get(EPOCHS_TOTAL)


def _sample_std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
