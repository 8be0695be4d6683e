"""An Optuna + ASHA search really uses its searcher and its scheduler (the search of the `messy_search`
fixture): its configurations are exactly those TPE proposes with the experiment's seed, ASHA stopped
configurations before their last epoch exactly where its rule says, and both saw the mean over folds."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from tune_clothes.config import metric_names as M
from tune_clothes.config import trial_record as record

pytestmark = pytest.mark.slow
#: The search space of `messy_search` as Optuna's distributions, in its order (the order Optuna draws in).
DISTRIBUTIONS = {"lr": FloatDistribution(1e-4, 0.05, log=True), "weight_decay": FloatDistribution(0.0, 1e-3),
                 "step_size": IntDistribution(1, 3), "batch_size": CategoricalDistribution([4, 8])}


def trials_in_order(report) -> list[tuple[dict, list[dict]]]:
    """(parameters, reported epochs) of each trial, in the order they started (one ran at a time), as Tune's
    saved experiment state records it."""
    location = Path(report.location)
    (state_file,) = location.glob("experiment_state-*.json")
    started = {}
    for trial_json, runtime_json in json.loads(state_file.read_text())["trial_data"]:
        started[json.loads(trial_json)["relative_logdir"]] = json.loads(runtime_json)["start_time"]
    return [(json.loads((location / name / "params.json").read_text()),
             [json.loads(line) for line in (location / name / "result.json").read_text().splitlines()])
            for name in sorted(started, key=started.get)]


def tpe_proposals(seed: int, count: int) -> list[dict]:
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed), direction="minimize")
    return [study.ask(fixed_distributions=DISTRIBUTIONS).params for _ in range(count)]


def test_the_configurations_are_those_tpe_proposes_with_the_experiments_seed(messy_search):
    _, experiment, report = messy_search
    params = [p for p, _ in trials_in_order(report)]
    assert len(params) == experiment.search.num_samples == 3
    assert params == [pytest.approx(p, rel=1e-12) for p in tpe_proposals(experiment.cv.seed, 3)]
    assert params != [pytest.approx(p) for p in tpe_proposals(experiment.cv.seed + 1, 3)]  # the check can fail


def asha_stops(curves: list[list[float]], max_t: int, grace: int, factor: int) -> list[int | None]:
    """Where asynchronous successive halving (Li et al. 2020) stops each of these trials, run one after
    another with these val/loss curves: at each rung (grace x factor^k epochs, below max_t) a trial stops
    when it is worse than the 1 - 1/factor quantile of the trials that reached the rung before it. The epoch
    it stops after, or None if it trains to the end. An independent statement of the rule."""
    recorded: dict[int, list[float]] = {grace * factor ** k: [] for k in range(16) if grace * factor ** k < max_t}
    stops: list[int | None] = []
    for curve in curves:
        stop = None
        for epoch, loss in enumerate(curve, start=1):
            if epoch in recorded:
                earlier = recorded[epoch]
                worse = bool(earlier) and loss > np.percentile(earlier, 100 / factor)  # val/loss: lower is better
                earlier.append(loss)
                if worse:
                    stop = epoch
                    break
        stops.append(stop)
    return stops


def test_asha_stopped_configurations_before_their_last_epoch_where_its_rule_says(messy_search):
    _, experiment, report = messy_search
    trials = trials_in_order(report)
    epochs, search = experiment.train.epochs, experiment.search
    assert all(rows[-1][record.EPOCHS_DONE] == len(rows) for _, rows in trials)  # no epoch lost or repeated
    stopped = [len(rows) if len(rows) < epochs else None for _, rows in trials]
    assert any(stopped), "ASHA stopped no configuration"
    curves = [[row[M.VAL_LOSS] for row in rows] for _, rows in trials]
    assert stopped == asha_stops(curves, epochs, search.grace_period, search.reduction_factor)
    board = report.leaderboard.set_index("lr")
    last_complete = board.loc[board["status"] == "complete", "rank"].max()
    trials_csv = pd.read_csv(Path(report.location) / "trials.csv")
    for (params, rows), stop in zip(trials, stopped):
        row = board.loc[params["lr"]]
        if stop is None:
            assert row["status"] == "complete"
            continue
        # stopped, at the epoch ASHA stopped it, with the fold mean it had there, ranked after the complete ones
        assert row["status"] == "stopped" and row["stopped_epoch"] == stop and row["rank"] > last_complete
        assert row["stopped_mean"] == pytest.approx(rows[-1][search.metric])
        folds = trials_csv[np.isclose(trials_csv["lr"], params["lr"], rtol=1e-12)]
        assert len(folds) == experiment.cv.folds
        assert (folds["status"] == "stopped").all() and (folds["epochs_done"] == stop).all()
    assert "stopped = ASHA stopped it early" in report.table


def test_optuna_and_asha_see_the_mean_over_all_folds(messy_search):
    _, experiment, report = messy_search
    for params, rows in trials_in_order(report):
        assert record.FOLD_PARAM not in params
        for row in rows:
            for name in (M.VAL_LOSS, M.VAL_ACC):  # the metric they optimise, and another
                folds = [row[f"folds/{k}/{name}"] for k in range(experiment.cv.folds)]
                assert row[name] == pytest.approx(sum(folds) / len(folds))
    assert report.best is not None
