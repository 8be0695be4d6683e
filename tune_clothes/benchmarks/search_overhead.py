"""Orchestration overhead of a search: its wall time against the sum of its trials' training time divided
by the concurrency, and where the difference goes. Also the disk the experiment folder takes.

    python -m tune_clothes.benchmarks.search_overhead --space search_spaces/demo.yaml
"""
from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from tune_clothes.config.loader import load_experiment
from tune_clothes.data.experiment_folder import experiment_location
from tune_clothes.tuning.runner import SearchOptions, prepare_experiment, run_search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="search_spaces/demo.yaml")
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as storage:
        experiment = load_experiment(args.space, [f"storage={storage}", *args.overrides])
        started = time.perf_counter()
        prepare_experiment(experiment, experiment_location(experiment), resume=False)  # data + caches, warm
        prepared = time.perf_counter() - started
        started = time.perf_counter()
        location = run_search(experiment, SearchOptions(num_cpus=args.num_cpus))
        wall = time.perf_counter() - started
        _print(Path(location), wall, prepared, args.num_cpus / experiment.resources.cpus_per_trial)


def _print(location: Path, wall: float, prepared: float, concurrency: float) -> None:
    trials = [p for p in location.iterdir() if (p / "result.json").is_file()]
    rows = [[json.loads(line) for line in (t / "result.json").read_text().splitlines()] for t in trials]
    training = sum(r["time/epoch_s"] for trial in rows for r in trial)  # train + validation epochs
    in_trials = sum(trial[-1]["time_total_s"] for trial in rows)  # as Tune measured each trial
    ideal = training / concurrency
    size = sum(f.stat().st_size for f in location.rglob("*") if f.is_file())
    checkpoints = [len(list(t.glob("checkpoint_*"))) for t in trials]
    print(f"{len(trials)} trials, concurrency {concurrency:g}; data and caches prepared (warm) in {prepared:.1f} s")
    print(f"wall {wall:.1f} s; training {training:.1f} s / {concurrency:g} = {ideal:.1f} s ideal; overhead "
          f"{wall / ideal - 1:+.1%}")
    print(f"  of which inside trials but outside epochs (fold data, model, checkpoints, reports): "
          f"{(in_trials - training) / concurrency:.1f} s; the rest (Ray start, scheduling, trial start, "
          f"results): {wall - in_trials / concurrency:.1f} s")
    print(f"experiment folder: {size / 1e6:.1f} MB; checkpoints kept per trial: min {min(checkpoints)}, "
          f"max {max(checkpoints)}")


if __name__ == "__main__":
    main()
