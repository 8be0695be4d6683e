"""Replay a recorded full grid through the schedulers' own decision code, to see what each would have saved and
what it would have cost, over many trial orders and concurrencies:

    python -m tune_clothes.benchmarks.replay EXPERIMENT_DIR_OR_CSV [--orders 100] [--set search.rope=0] [--export CSV]

The input is a finished grid of fold trials (every configuration, every fold, every epoch): an experiment
folder, or the CSV `--export` writes from one (tune_clothes/benchmarks/recorded/ holds one recorded on the real
Clothing Dataset). Each replay runs the configurations in a random order, `concurrency` at a time, every epoch
taking the same time, as lock-step trials (every fold of a configuration in one trial); at every epoch each
running trial reports its fold scores to the scheduler, the live scheduler class itself (Ray's ASHAScheduler,
tuning.race.RaceScheduler, which call the same functions as in a search), and stops when it says so. `race
folds` replays the other kind of race: fold trials in the grid's order, fold by fold, a configuration's
remaining folds skipped once its finished folds separate it from the best (`statistics.race.look` at the last
epoch).

Printed per scheduler and concurrency: the share of the full grid's epochs trained; how often the chosen
configuration (the best of those that trained to the end) is the full grid's best, and how often it is in the
full grid's tied set (the leaderboard's `tied_with_best`); the mean regret (the full grid's mean of its best minus
its mean of the chosen one); and for a race, how often a configuration of the tied set was eliminated.

Then the evidence floor of each race rule: what a race with that rule trains on this grid when every configuration
is present at every look (no order, no waiting) and the full alpha is spent at each look (nothing held back for
looking again): each configuration stops at the first look that separates it from that look's best. Looks at the
rungs, and at every epoch. It is about the least such a race trains: a live look sees fewer configurations and
eliminates more only by chance (Holm over fewer comparisons, another best). A goal below the floor needs another
grid (more epochs past the last rung, a wider gap) or more evidence (folds, repeats), not another schedule.
"""
from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Sequence

import numpy as np
import pandas as pd

from tune_clothes.analysis.comparison import FoldScheme, FoldScores, compare_with_best
from tune_clothes.analysis.results import load_trials
from tune_clothes.config import Experiment
from tune_clothes.config import trial_record as record
from tune_clothes.config.errors import ConfigError
from tune_clothes.config.loader import experiment_with_overrides
from tune_clothes.data.experiment_folder import FOLDS_JSON, read_experiment, read_reports
from tune_clothes.data.folds import read_fold_plan, scheme_name
from tune_clothes.statistics.race import RaceRule, look, look_alpha, rungs

CONCURRENCIES = (1, 2, 8, 64)
RATIO = "val_train_ratio"  # the recorded CSV's column: n_val / n_train of the fold


@dataclass(frozen=True)
class Grid:
    """A recorded full grid: `scores[configuration][epoch][j]` of the search metric."""
    scores: dict[str, dict[int, dict[int, float]]]
    ratios: dict[int, float]  # fold j -> n_val / n_train
    epochs: int
    mode: str
    experiment: Experiment  # the search settings the schedulers take (metric, grace period, ...)

    @property
    def folds(self) -> list[int]:
        return sorted(self.ratios)

    def final_means(self) -> dict[str, float]:
        return {c: float(np.mean(list(s[self.epochs].values()))) for c, s in self.scores.items()}


def read_grid(source: str, overrides: Sequence[str] = ()) -> Grid:
    """A recorded grid from an experiment folder, or from a CSV that `to_table` wrote; `overrides` (`--set`) change
    the schedulers' settings (search.race_alpha, search.rope, search.grace_period, ...)."""
    table = pd.read_csv(source) if source.endswith(".csv") else to_table(source)
    metric = table.attrs.get("metric") or table["metric"].iloc[0]
    experiment = experiment_with_overrides({"search": {"metric": metric, "algorithm": "grid", "scheduler": "race"},
                                            "train": {"epochs": int(table["epoch"].max())}}, overrides, source)
    scores: dict[str, dict[int, dict[int, float]]] = {}
    for row in table.itertuples(index=False):
        scores.setdefault(row.config, {}).setdefault(int(row.epoch), {})[int(row.fold_index)] = float(row.value)
    ratios = dict(zip(table["fold_index"].astype(int), table[RATIO].astype(float)))
    return Grid(scores, ratios, int(table["epoch"].max()), experiment.search.mode, experiment)


def to_table(location: str) -> pd.DataFrame:
    """One row per (configuration, fold, epoch) of a finished grid of fold trials: `config`, `fold_index`,
    `epoch`, `value` (the search metric), `metric`, `val_train_ratio`."""
    experiment = read_experiment(location)
    plan = read_fold_plan(f"{location}/{FOLDS_JSON}")
    ratios = plan.val_train_ratios(scheme_name(experiment.cv.split))
    trials = load_trials(location, experiment)
    if (trials["status"] != record.TrialStatus.FINISHED).any():
        raise SystemExit(f"{location}: not a finished full grid (every trial must have trained every epoch)")
    axes = list(experiment.search.axes)
    rows = []
    for trial in trials.itertuples(index=False):
        label = ", ".join(f"{axis}={getattr(trial, axis)}" for axis in axes)
        for report in read_reports(f"{location}/{trial.trial}"):
            rows.append({"config": label, "fold_index": trial.fold_index, "epoch": report[record.EPOCHS_DONE],
                         "value": record.fold_metric(report, trial.fold_index, experiment.search.metric),
                         "metric": experiment.search.metric, RATIO: ratios[trial.fold_index]})
    return pd.DataFrame(rows)


def tied_set(grid: Grid) -> tuple[str, set[str]]:
    """The full grid's best configuration and those tied with it, as the leaderboard decides it."""
    configurations = list(grid.scores)
    scheme = FoldScheme("recorded", grid.ratios)
    scores = {i: FoldScores(pd.Series(grid.scores[c][grid.epochs]), scheme) for i, c in enumerate(configurations)}
    sign = 1 if grid.mode == "max" else -1
    means = grid.final_means()
    best = max(range(len(configurations)), key=lambda i: sign * means[configurations[i]])
    table = compare_with_best(scores, best, sign, grid.experiment.search.rope, alpha=0.05)
    return configurations[best], {configurations[i] for i in table.index[table["tied_with_best"].astype(bool)]}


def lockstep_replay(grid: Grid, order: list[str], concurrency: int, scheduler) -> tuple[int, set[str], set[str]]:
    """Configurations in `order`, `concurrency` at a time, one epoch per step: (fold-epochs trained, finished,
    ended early)."""
    pending, running, finished, ended, trained = list(order), [], set(), set(), 0
    trials = {c: SimpleNamespace(trial_id=c, config={"configuration": c}, relative_logdir=c) for c in order}
    while pending or running:
        while pending and len(running) < concurrency:
            running.append([pending.pop(0), 0])
            if hasattr(scheduler, "on_trial_add"):
                scheduler.on_trial_add(None, trials[running[-1][0]])
        for slot in list(running):
            slot[1] += 1
            configuration, epoch = slot
            trained += len(grid.folds)
            folds = grid.scores[configuration][epoch]
            result = {record.EPOCHS_DONE: epoch, record.EPOCHS_TOTAL: grid.epochs, "training_iteration": epoch,
                      grid.experiment.search.metric: float(np.mean(list(folds.values()))),
                      **{record.fold_key(j, grid.experiment.search.metric): v for j, v in folds.items()}}
            decision = scheduler.on_trial_result(None, trials[configuration], result)
            if epoch == grid.epochs:
                finished.add(configuration)
                scheduler.on_trial_complete(None, trials[configuration], result)
            elif decision == "STOP":
                ended.add(configuration)
            else:
                continue
            running.remove(slot)
    return trained, finished, ended


def fold_race_replay(grid: Grid, order: list[str], concurrency: int, rule: RaceRule) -> tuple[int, set[str], set[str]]:
    """Fold trials in the grid's order (every configuration on fold 0, then on fold 1, ...; `order` within a
    fold), `concurrency` at a time, each its full epochs; when one finishes, a look at the last epoch over the
    finished folds, and an eliminated configuration's other fold trials are stopped or skipped."""
    sign = 1 if grid.mode == "max" else -1
    pending = [(c, j) for j in grid.folds for c in order]
    running: list[list] = []
    done: dict[str, dict[int, float]] = {c: {} for c in order}
    eliminated, trained = set(), 0
    while pending or running:
        while pending and len(running) < concurrency:
            configuration, j = pending.pop(0)
            if configuration not in eliminated:
                running.append([configuration, j, 0])
        for slot in list(running):
            configuration, j, _ = slot
            if configuration in eliminated:
                running.remove(slot)
                continue
            slot[2] += 1
            trained += 1
            if slot[2] < grid.epochs:
                continue
            running.remove(slot)
            done[configuration][j] = grid.scores[configuration][grid.epochs][j]
            recorded = {c: s for c, s in done.items() if s and c not in eliminated}
            eliminated |= {v.configuration for v in look(recorded, grid.ratios, sign, rule, grid.epochs)}
    finished = {c for c in order if c not in eliminated and len(done[c]) == len(grid.folds)}
    return trained, finished, eliminated


def schedulers(grid: Grid, folder: str) -> dict[str, object]:
    """Name -> a function making a fresh scheduler for one replay (None: the fold race)."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from tune_clothes.tuning.race import RaceScheduler
    search = grid.experiment.search

    def race(kind: str):
        experiment = replace(grid.experiment, search=replace(search, race_rule=kind))
        return lambda: RaceScheduler(experiment, grid.ratios, grid.epochs, tempfile.mkdtemp(dir=folder))
    return {"none": FIFOScheduler,
            "asha": lambda: ASHAScheduler(time_attr="training_iteration", metric=search.metric, mode=search.mode,
                                          max_t=grid.epochs, grace_period=search.grace_period,
                                          reduction_factor=search.reduction_factor),
            "race ttest": race("ttest"), "race bayes": race("bayes"), "race folds (ttest)": None}


def replay(grid: Grid, orders: int, concurrencies=CONCURRENCIES, seed: int = 0) -> pd.DataFrame:
    """One row per (scheduler, concurrency): the measures of the module's docstring, over `orders` orders."""
    best, tied = tied_set(grid)
    means = grid.final_means()
    full = len(grid.scores) * len(grid.folds) * grid.epochs
    sign = 1 if grid.mode == "max" else -1
    fold_rule = RaceRule("ttest", grid.experiment.search.race_alpha)
    rng = np.random.default_rng(seed)
    shuffles = [list(rng.permutation(list(grid.scores))) for _ in range(orders)]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, make in schedulers(grid, folder).items():
            for concurrency in concurrencies:
                outcomes = [fold_race_replay(grid, order, concurrency, fold_rule) if make is None
                            else lockstep_replay(grid, order, concurrency, make()) for order in shuffles]
                rows.append(_measures(name, concurrency, outcomes, full, best, tied, means, sign))
    return pd.DataFrame(rows)


def evidence_floor(grid: Grid, rule: RaceRule, looks: list[int]) -> tuple[float, set[str]]:
    """(share of the full grid's epochs, configurations eliminated) when every look sees every configuration still
    racing and applies `rule` once: see the module's docstring."""
    sign = 1 if grid.mode == "max" else -1
    stopped: dict[str, int] = {}
    for epoch in sorted(looks):
        racing = {c: scores[epoch] for c, scores in grid.scores.items() if c not in stopped}
        stopped.update({e.configuration: epoch for e in look(racing, grid.ratios, sign, rule, epoch)})
    trained = sum(stopped.get(c, grid.epochs) for c in grid.scores)
    return trained / (len(grid.scores) * grid.epochs), set(stopped)


def floors(grid: Grid) -> pd.DataFrame:
    """The evidence floor of each rule, at the rungs and at every epoch, with how many tied configurations it
    eliminates."""
    search = grid.experiment.search
    _, tied = tied_set(grid)
    at_rungs = rungs(search.grace_period, search.reduction_factor, grid.epochs)
    rows = []
    for kind in ("ttest", "bayes"):
        for name, looks in ((f"rungs {at_rungs}", at_rungs), ("every epoch", list(range(1, grid.epochs)))):
            share, eliminated = evidence_floor(grid, RaceRule(kind, search.race_alpha, search.rope), looks)
            rows.append({"floor of": f"race {kind}", "looks": name, "epochs trained": share,
                         "eliminated tied ones": len(eliminated & tied)})
    return pd.DataFrame(rows)


def _measures(name, concurrency, outcomes, full, best, tied, means, sign) -> dict:
    chosen = [max(finished, key=lambda c: sign * means[c]) if finished else None for _, finished, _ in outcomes]
    return {"scheduler": name, "concurrency": concurrency,
            "epochs trained": np.mean([trained / full for trained, _, _ in outcomes]),
            "chose the best": np.mean([c == best for c in chosen]),
            "chose a tied one": np.mean([c in tied for c in chosen]),
            "regret": np.mean([sign * (means[best] - means[c]) if c else np.nan for c in chosen]),
            "eliminated a tied one": np.mean([bool(ended & tied) for _, _, ended in outcomes])
            if name.startswith("race") else np.nan}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="a finished grid's experiment folder, or a CSV written by --export")
    parser.add_argument("--orders", type=int, default=100, help="random trial orders per concurrency")
    parser.add_argument("--export", type=Path, help="write the grid's per-fold, per-epoch metric to this CSV")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a scheduler setting, as the search takes it: search.race_alpha=0.1, search.rope=0, ...")
    args = parser.parse_args()
    if args.export:
        to_table(args.source).to_csv(args.export, index=False)
        print(f"wrote {args.export}")
        return
    try:
        grid = read_grid(args.source, args.set)
    except ConfigError as err:
        raise SystemExit(str(err)) from None
    best, tied = tied_set(grid)
    search = grid.experiment.search
    looks = rungs(search.grace_period, search.reduction_factor, grid.epochs)
    print(f"{len(grid.scores)} configurations x {len(grid.folds)} folds x {grid.epochs} epochs; {search.metric}: "
          f"best {best} ({grid.final_means()[best]:.4f}), {len(tied) - 1} other(s) tied with it; "
          f"{args.orders} orders; rungs {looks}, race alpha {search.race_alpha} "
          f"({look_alpha(search.race_alpha, len(looks)):.3g} a look)")
    print(replay(grid, args.orders).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\nevidence floor: every configuration at every look, alpha {search.race_alpha} at each look")
    print(floors(grid).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
