"""Orchestration overhead of a search: its wall time against the sum of its trials' epoch times divided by the
concurrency, and where the difference goes (a timeline from the trials' own reports). Also the disk the
experiment folder takes. Run it more than once (--runs) on a busy machine: the spread says how far to trust it.

    python -m tune_clothes.benchmarks.search_overhead --space search_spaces/demo.yaml --runs 2
"""
from __future__ import annotations

import argparse
import heapq
import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tune_clothes.config import trial_record as record
from tune_clothes.config.loader import load_experiment
from tune_clothes.data.experiment_folder import experiment_location
from tune_clothes.tuning.runner import SearchOptions, prepare_experiment, run_search
from tune_clothes.tuning.tuner import RayOptions

RAY_STARTING, RAY_STARTED = "starting a local Ray", "started a local Ray"  # the session's log lines


@dataclass(frozen=True)
class Trial:
    start: float  # Unix seconds: its trainable started
    first_epoch: float  # its first epoch started
    end: float  # its last epoch was reported
    epochs: float  # seconds in its epochs (train + validation)


class Clock(logging.Handler):
    """When the session logged that Ray is starting and that it started."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.times: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        for text in (RAY_STARTING, RAY_STARTED):
            if str(record.msg).startswith(text):
                self.times[text] = record.created


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="search_spaces/demo.yaml")
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1, help="run the search this many times")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    clock = Clock()
    session = logging.getLogger("tune_clothes.tuning.session")
    session.setLevel(logging.DEBUG)
    session.propagate = False  # recorded, not printed
    session.addHandler(clock)
    overheads = [_run(args, clock, run) for run in range(1, args.runs + 1)]
    if len(overheads) > 1:
        print(f"overhead over {len(overheads)} runs: " + ", ".join(f"{o:+.1%}" for o in overheads) +
              f"; spread {max(overheads) - min(overheads):.1%}")


def _run(args: argparse.Namespace, clock: Clock, run: int) -> float:
    with tempfile.TemporaryDirectory() as storage:
        experiment = load_experiment(args.space, [f"storage={storage}", *args.overrides])
        started = time.perf_counter()
        prepare_experiment(experiment, experiment_location(experiment), resume=False)  # data + caches, warm
        prepared = time.perf_counter() - started
        started = time.time()
        location = Path(run_search(experiment, SearchOptions(ray=RayOptions(num_cpus=args.num_cpus))))
        ended = time.time()
        concurrency = args.num_cpus / experiment.resources.cpus_per_trial
        trials = _trials(location)
        print(f"run {run}: {len(trials)} trials, concurrency {concurrency:g}; data and caches prepared (warm) in "
              f"{prepared:.1f} s")
        overhead = _print_timeline(trials, started, ended, concurrency, clock.times)
        _print_disk(location)
        return overhead


def _trials(location: Path) -> list[Trial]:
    trials = []
    for result in sorted(location.glob("*/result.json")):
        rows = [json.loads(line) for line in result.read_text().splitlines()]
        first = rows[0][record.REPORTED_AT]
        trials.append(Trial(first - rows[0][record.TUNE_TIME_THIS_ITER], first - rows[0][record.EPOCH_SECONDS],
                            rows[-1][record.REPORTED_AT], sum(row[record.EPOCH_SECONDS] for row in rows)))
    return trials


def _print_timeline(trials: list[Trial], started: float, ended: float, concurrency: float,
                    times: dict[str, float]) -> float:
    wall, training = ended - started, sum(t.epochs for t in trials)
    ideal = training / concurrency
    first, last = min(t.start for t in trials), max(t.end for t in trials)
    in_trials = sum(t.end - t.start for t in trials)
    idle = concurrency * (last - first) - in_trials  # CPU-seconds no trial used, between first start and last end
    tail = _idle_after(trials, max(t.start for t in trials), last, concurrency)
    ray_start, ray_up = times.get(RAY_STARTING, started), times.get(RAY_STARTED, started)
    print(f"wall {wall:.1f} s; training {training:.1f} s / {concurrency:g} = {ideal:.1f} s ideal; overhead "
          f"{wall / ideal - 1:+.1%}")
    first_epoch = min(t.first_epoch for t in trials)
    print(f"  before the first trial trained: {first - started:.1f} s (checks and data {ray_start - started:.1f} s, "
          f"Ray start {ray_up - ray_start:.1f} s, Tune start and the first trial process {first - ray_up:.1f} s); "
          f"the first epoch started {first_epoch - ray_up:.1f} s after Ray was up")
    print(f"  inside trials, outside epochs (fold data, model, checkpoints, reports): "
          f"{(in_trials - training) / concurrency:.1f} s")
    best = _best_schedule([t.end - t.start for t in trials], int(concurrency))
    print(f"  CPUs idle while trials ran: {idle / concurrency:.1f} s, of which {tail / concurrency:.1f} s after the "
          f"last trial started (these trials take at least {best:.1f} s on {concurrency:g} CPUs, "
          f"{best / (in_trials / concurrency) - 1:+.1%} over their sum / concurrency)")
    print(f"  after the last trial: {ended - last:.1f} s (Tune ends, Ray shuts down)")
    return wall / ideal - 1


def _idle_after(trials: list[Trial], since: float, until: float, concurrency: float) -> float:
    """CPU-seconds no trial used between `since` and `until`."""
    busy = sum(max(0.0, min(t.end, until) - max(t.start, since)) for t in trials)
    return concurrency * (until - since) - busy


def _best_schedule(durations: list[float], slots: int) -> float:
    """The makespan of the longest-first schedule of these trials on `slots` CPUs: near the best possible,
    and over the ideal when the trials do not divide evenly among the CPUs."""
    ends = [0.0] * max(slots, 1)
    for duration in sorted(durations, reverse=True):
        heapq.heapreplace(ends, ends[0] + duration)
    return max(ends)


def _print_disk(location: Path) -> None:
    size = sum(f.stat().st_size for f in location.rglob("*") if f.is_file())
    checkpoints = [len(list(t.glob("checkpoint_*"))) for t in location.iterdir() if (t / "result.json").is_file()]
    print(f"experiment folder: {size / 1e6:.1f} MB; checkpoints kept per trial: min {min(checkpoints)}, "
          f"max {max(checkpoints)}")


if __name__ == "__main__":
    main()
