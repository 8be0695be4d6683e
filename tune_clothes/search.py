"""`python -m tune_clothes.search --space FILE`: run every configuration on every fold with Ray Tune.

Runs every configuration of the search space (e.g. search_spaces/demo.yaml) on every cross-validation fold,
then writes and prints the leaderboard, and writes report.html.

Exit status: 0 when a best configuration was found, 1 when no configuration finished, 2 for bad input,
130 / 143 when Ctrl-C (SIGINT) / SIGTERM stopped it (it then prints how to resume). With --dry-run: 0 when
every distinct trial rehearsed cleanly (then the estimated cost is printed), 1 when one failed.
"""
from __future__ import annotations

import argparse
import shlex
import time
from typing import Sequence

from tune_clothes.api.experiments import load_experiment
from tune_clothes.api.searching import dry_run, ray_options, run_and_summarize
from tune_clothes.cli import configure_logging, exit_quickly, run_command
from tune_clothes.config import Experiment

NOTHING_FINISHED = 1
DRY_RUN_FAILED = 1


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tune_clothes.search", description=__doc__.splitlines()[0])
    parser.add_argument("--space", required=True, help="the search space YAML, e.g. search_spaces/demo.yaml")
    parser.add_argument("--name", help="experiment name: its folder is <storage>/<name> (default: the file's)")
    parser.add_argument("--storage", help="where results go: a folder, a shared path, or s3://... "
                                          "(default: the file's, else ~/ray_results)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a value, e.g. --set train.epochs=2 (repeatable)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted experiment: finished trials are kept, others continue")
    parser.add_argument("--address", help="a running Ray cluster to attach to (default: RAY_ADDRESS, else a "
                                          "local Ray)")
    parser.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (default: all)")
    parser.add_argument("--wait-for-nodes", "--wait-for-gpus", dest="wait_for_nodes", action="store_true",
                        help="start even if no node has the CPUs or GPUs a trial asks for yet (an autoscaler "
                             "will add such nodes)")
    parser.add_argument("--dry-run", action="store_true",
                        help="rehearse every distinct trial for a few steps on Ray, as the search would run it, then "
                             "estimate what the search costs; exit 0 if every rehearsal ran, 1 if one failed")
    parser.add_argument("-v", "--verbose", action="store_true", help="Ray's own status table and worker logs")
    args = parser.parse_args(argv)
    if args.num_cpus is not None and args.num_cpus < 1:
        parser.error(f"--num-cpus {args.num_cpus}: must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.verbose)
    experiment = load_experiment(args.space, args.overrides, name=args.name, storage=args.storage)
    if args.dry_run:
        return _dry_run(experiment, args)
    from tune_clothes.tuning.stop import SearchInterrupted
    try:
        results, report = run_and_summarize(experiment, args.resume, ray_options(args.address, args.num_cpus,
                                                                                   args.verbose, args.wait_for_nodes))
    except SearchInterrupted as stopped:
        return _interrupted(stopped, args, experiment)
    print(results.table)
    print(f"\ncost: {results.cost}")
    print(f"\nresults: {results.location} (leaderboard.csv, cv_results.csv, best_config.yaml, trials.csv)")
    print(f"tensorboard --logdir {results.location}  (a run per trial; cv_mean/<configuration>: the fold mean and "
          f"spread)")
    if report is not None:
        print(f"report: {report}")
    return 0 if results.best_config is not None else NOTHING_FINISHED


def _dry_run(experiment: Experiment, args: argparse.Namespace) -> int:
    from tune_clothes.tuning.estimate import duration
    from tune_clothes.tuning.stop import SearchInterrupted
    started = time.monotonic()
    try:
        result = dry_run(experiment, address=args.address, num_cpus=args.num_cpus, verbose=args.verbose)
    except SearchInterrupted as stopped:
        print("stopped; a dry run keeps nothing")
        return stopped.exit_status
    resources = experiment.resources
    print(f"dry run: {len(result.rehearsed)} distinct trial(s) of the {experiment.planned_trials} in the search, "
          f"each for two short epochs of its fold's own batches, on {resources.cpus_per_trial:g} CPU(s) and "
          f"{resources.gpus_per_trial:g} GPU(s) per trial; distinct by model, image size, batch size, "
          f"augmentation, split and last batch size (the other settings cannot change what runs)")
    for trial in result.rehearsed:
        outcome = trial.outcome
        if isinstance(outcome, str):
            print(f"  FAILED  {trial.describe(experiment)}: {outcome}")
        else:
            print(f"  ok      {trial.describe(experiment)}: {1000 * outcome.train_s_per_image:.2f} ms per training "
                  f"image, {outcome.epoch_fixed_s:.2f} s per epoch besides, {outcome.setup_s:.1f} s to set up")
    print(f"dry run took {duration(time.monotonic() - started)}")
    if not result.ok:
        print("fix what failed before the search: each line says why")
        return DRY_RUN_FAILED
    print(result.estimate.line())
    return 0


def _interrupted(stopped, args: argparse.Namespace, experiment: Experiment) -> int:
    """The leaderboard of what finished (every configuration listed), and the command that continues."""
    if stopped.results is not None:
        print(stopped.results.table)
        print(f"\nstopped; what finished is kept in {stopped.location}. Continue with:")
        print(f"  {resume_command(args, experiment)}")
    else:
        print("stopped before the search started; nothing was saved")
    return stopped.exit_status


def resume_command(args: argparse.Namespace, experiment: Experiment) -> str:
    """This search's command with --resume, naming the experiment as it resolved (space, overrides, name,
    storage), quoted for a POSIX shell."""
    words = ["python", "-m", "tune_clothes.search", "--space", args.space, "--name", experiment.name,
             "--storage", experiment.storage]
    words += [word for override in args.overrides for word in ("--set", override)]
    words += ["--address", args.address] if args.address else []
    words += ["--num-cpus", str(args.num_cpus)] if args.num_cpus else []
    return shlex.join([*words, "--resume"])


if __name__ == "__main__":
    exit_quickly(run_command(main))
