"""What a search will cost, from a dry run's measurements: each trial's seconds (its setup, and per epoch the
fixed seconds plus its fold's training and validation images at the measured seconds per image; see
`training.rehearsal`), and the wall time when the trials run as many at a time as the resources allow, longest
first (as a grid orders them), plus what starting Ray took.

Saved beside the image cache under the experiment's content, so that the search of the same experiment finds it
and its progress line has a time left before the first epoch ends.
"""
from __future__ import annotations

import hashlib
import heapq
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from tune_clothes.config import Experiment
from tune_clothes.config.loader import experiment_to_dict
from tune_clothes.training.rehearsal import Rehearsal


@dataclass(frozen=True)
class TrialCost:
    epochs: int
    folds: tuple[tuple[int, int], ...]  # (training, validation) images of each fold it trains
    speed: Rehearsal  # measured on a trial of the same shape

    @property
    def seconds(self) -> float:
        epoch = sum(self.speed.epoch_s(train, val) for train, val in self.folds)
        return self.speed.setup_s + self.epochs * epoch


@dataclass(frozen=True)
class Estimate:
    wall_s: float  # the trials, as many at a time as fit, longest first; plus starting Ray
    trial_hours: float  # the trials' time, added up
    trials: int
    at_a_time: int
    upper_bound: bool  # a scheduler may stop trials early: then it costs less

    def line(self) -> str:
        bound = "at most " if self.upper_bound else ""
        return (f"estimated cost: {bound}{duration(self.wall_s)} of wall time for {self.trials} trials, "
                f"{self.at_a_time} at a time ({self.trial_hours:.2f} trial-hours)")


def estimate(costs: list[TrialCost], at_a_time: int, startup_s: float, upper_bound: bool) -> Estimate:
    seconds = sorted((cost.seconds for cost in costs), reverse=True)
    slots = [0.0] * max(1, min(at_a_time, len(seconds) or 1))
    for trial in seconds:  # each to the slot that frees first: what Tune does with a queue of trials
        heapq.heappush(slots, heapq.heappop(slots) + trial)
    return Estimate(startup_s + max(slots), sum(seconds) / 3600, len(seconds), len(slots), upper_bound)


def estimate_file(experiment: Experiment) -> Path:
    """Where the estimate of this experiment (its settings, not its name) is kept."""
    content = {k: v for k, v in experiment_to_dict(experiment).items() if k not in ("name", "storage")}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return Path(experiment.dataset.cache_dir).expanduser() / "estimates" / f"{digest}.json"


def save_estimate(experiment: Experiment, result: Estimate) -> Path:
    path = estimate_file(experiment)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(result)))
    return path


def load_estimate(experiment: Experiment) -> Estimate | None:
    path = estimate_file(experiment)
    try:
        return Estimate(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def duration(seconds: float) -> str:
    """`1h05m` or `3m07s`."""
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"
