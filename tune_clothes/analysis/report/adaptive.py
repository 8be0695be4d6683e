"""Section 7, adaptive searches: the best-so-far curve over trials, and for ASHA or the race which configurations
ended at which rung (with the fold-mean curve of every configuration, and for the race the best's band)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from tune_clothes.analysis.leaderboard import lost_to_text
from tune_clothes.analysis.report.blocks import Cell, Figure, Section, Table, Text
from tune_clothes.analysis.report.figures import BAD_COLOUR, BEST_COLOUR, OTHER_COLOUR, data_uri, new_figure, styled
from tune_clothes.analysis.report.inputs import ReportInputs
from tune_clothes.config import Choice, Experiment
from tune_clothes.config.trial_record import SearchMode, TrialStatus
from tune_clothes.data.folds import scheme_name
from tune_clothes.statistics.fold_tests import corrected_estimate
from tune_clothes.statistics.race import rungs

TITLE = "Adaptive search"


def adaptive_section(inputs: ReportInputs) -> Section:
    if inputs.mode is not SearchMode.LOCKSTEP:
        return Section("adaptive", TITLE, missing="A grid search runs every configuration to the end: there is no "
                       "adaptive search to show (search.scheduler: race or asha, or search.algorithm: optuna).")
    runs = trial_runs(inputs)
    if runs.empty:
        return Section("adaptive", TITLE, missing="No trial has reported an epoch yet.")
    blocks = [Figure(best_so_far_plot(runs, inputs.metric, inputs.experiment.search.mode),
                     "the best configuration so far after each trial",
                     f"Each trial's fold-mean {inputs.metric} at its last epoch, in the order the trials started "
                     f"(filled: trained every epoch; hollow: stopped early or not finished); the line is the best "
                     f"of the configurations that trained every epoch so far.")]
    search = inputs.experiment.search
    rung_epochs = rungs(search.grace_period, search.reduction_factor, max_epochs(inputs.experiment))
    if search.scheduler == "asha":
        blocks += [_rung_table(runs, rung_epochs),
                   Figure(curves_plot(inputs, runs, rung_epochs), "every configuration's fold-mean curve with "
                          "ASHA's rungs", f"Fold-mean {inputs.metric} per epoch of every configuration; a cross marks "
                          f"where one ended before the last epoch; dashed lines are ASHA's rungs, where it compares "
                          f"configurations and stops the weaker ones.")]
    elif search.scheduler == "race":
        blocks += race_blocks(inputs, runs, rung_epochs)
    else:
        blocks.append(Text("No scheduler stopped configurations early (search.scheduler: none)."))
    return Section("adaptive", TITLE, blocks)


def trial_runs(inputs: ReportInputs) -> pd.DataFrame:
    """One row per trial, in the order they started: `trial`, `config`, `status`, `epochs_done`, `value` (the
    fold-mean metric at its last epoch)."""
    history = inputs.history.dropna(subset=["epoch"])
    if history.empty:
        return pd.DataFrame(columns=["trial", "config", "status", "epochs_done", "value", "start"])
    means = history.groupby(["trial", "epoch"])[inputs.metric].mean().reset_index()
    last = means.sort_values("epoch").groupby("trial").tail(1).set_index("trial")[inputs.metric]
    trials = inputs.trials.drop_duplicates("trial").set_index("trial")
    start = history.groupby("trial")["start"].min()
    runs = pd.DataFrame({"config": trials["config"], "status": trials["status"],
                         "epochs_done": trials["epochs_done"], "value": last, "start": start}).dropna(subset=["value"])
    return runs.sort_values(["start"], kind="stable").reset_index(names="trial")


def max_epochs(experiment: Experiment) -> int:
    epochs = experiment.search.axes.get("epochs")
    if epochs is None:
        return experiment.train.epochs
    return int(max(epochs.values) if isinstance(epochs, Choice) else epochs.high)


def rung_row(rung: int, reached: int, ended: int, how: str, configurations: str) -> tuple:
    """A row of a rung table (ASHA's, the race's): the rung, how many reached it, how many ended there (`how`:
    stopped, eliminated) and which."""
    return (Cell(str(rung), rung, "rung", "num"), Cell(str(reached), reached, "reached", "num"),
            Cell(str(ended), ended, how, "num"), Cell(configurations or "-"))


def _rung_table(runs: pd.DataFrame, rungs: list[int]) -> Table:
    ended = runs[runs["status"] != TrialStatus.FINISHED]
    rows = []
    for rung in rungs:
        reached = int((runs["epochs_done"] >= rung).sum())
        stopped = ended[ended["epochs_done"] == rung]
        rows.append(rung_row(rung, reached, len(stopped), "stopped", "; ".join(stopped["config"])))
    elsewhere = ended[~ended["epochs_done"].isin(rungs)]
    if len(elsewhere):
        rows.append((Cell("other"), Cell("-"), Cell(str(len(elsewhere)), len(elsewhere), "stopped", "num"),
                     Cell("; ".join(f"{c} (after {e} epochs)" for c, e in zip(elsewhere["config"],
                                                                               elsewhere["epochs_done"])))))
    caption = ("Configurations that reached each rung and ended there; 'other': ended between rungs (still "
               "running, interrupted, or failed)")
    return Table(("rung (epoch)", "reached", "ended there", "configurations"), tuple(rows), name="asha_rungs",
                 caption=caption)


@styled
def best_so_far_plot(runs: pd.DataFrame, metric: str, mode: str) -> str:
    figure = new_figure(3.0)
    axes = figure.add_subplot()
    x = np.arange(1, len(runs) + 1)
    done = (runs["status"] == TrialStatus.FINISHED).to_numpy()
    values = runs["value"].to_numpy(float)
    axes.scatter(x[done], values[done], color=BEST_COLOUR, s=22, label="trained every epoch")
    axes.scatter(x[~done], values[~done], facecolors="none", edgecolors=OTHER_COLOUR, s=22,
                 label="stopped early / not finished")
    best = np.where(done, values, -np.inf if mode == "max" else np.inf)
    running = np.maximum.accumulate(best) if mode == "max" else np.minimum.accumulate(best)
    shown = np.isfinite(running)
    axes.step(x[shown], running[shown], where="post", color=BAD_COLOUR, label="best so far")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("trial (in the order they started)")
    axes.set_ylabel(f"fold-mean {metric}")
    axes.grid(alpha=0.3)
    axes.legend(loc="best")
    return data_uri(figure)


@styled
def curves_plot(inputs: ReportInputs, runs: pd.DataFrame, rung_epochs: list[int], band=None) -> str:
    """Every trial's fold-mean curve, a cross where one ended early, the rungs; `band`: (epochs, low, high) of the
    best's interval, shaded."""
    figure = new_figure(3.4)
    axes = figure.add_subplot()
    curves = inputs.history.groupby(["trial", "epoch"])[inputs.metric].mean()
    for run in runs.itertuples():
        curve = curves.loc[run.trial]
        finished = run.status == TrialStatus.FINISHED
        axes.plot(curve.index, curve.to_numpy(), color=BEST_COLOUR if finished else OTHER_COLOUR, lw=1.2,
                  alpha=0.9 if finished else 0.6)
        if not finished:
            axes.plot(curve.index[-1], curve.iloc[-1], "x", color=BAD_COLOUR, ms=6)
    for rung in rung_epochs:
        axes.axvline(rung, color="black", ls="--", lw=0.7)
    if band is not None:
        axes.fill_between(*band, color=BEST_COLOUR, alpha=0.12, lw=0, label="the best's 95% interval at the rungs")
        axes.legend(loc="best")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel(f"fold-mean {inputs.metric}")
    axes.grid(alpha=0.3)
    return data_uri(figure)


def race_blocks(inputs: ReportInputs, runs: pd.DataFrame, rung_epochs: list[int]) -> list:
    """The race: at each rung, who reached it and who was eliminated there (with what it lost to and the
    evidence); every configuration's curve, crossed where it was dropped, over the best's band."""
    trials = inputs.trials.drop_duplicates("trial").set_index("trial")
    rows = []
    for rung in rung_epochs:
        reached = int((runs["epochs_done"] >= rung).sum())
        dropped = trials[trials["eliminated_at"] == rung]
        rows.append(rung_row(rung, reached, len(dropped), "eliminated", "; ".join(
            f"{t.config} (lost to {lost_to_text(t.lost_to)}, {t.eliminated_p:.3g})" for t in dropped.itertuples())))
    search = inputs.experiment.search
    evidence = "p_holm" if search.race_rule == "ttest" else "1 - P(best better by more than the rope)"
    table = Table(("rung (epoch)", "reached", "eliminated there", "configurations (lost to, evidence)"),
                  tuple(rows), name="race_rungs",
                  caption=f"Eliminated when the evidence ({evidence}) fell below {search.race_alpha:g} / "
                          f"{len(rung_epochs)} rungs; {inputs.cost}")
    figure = Figure(curves_plot(inputs, runs, rung_epochs, band=_best_band(inputs, rung_epochs)),
                    "every configuration's fold-mean curve with the race's rungs and the best's band",
                    f"Fold-mean {inputs.metric} per epoch of every configuration; a cross marks where one ended "
                    f"early; dashed lines are the rungs; the band is the corrected 95% interval of the best "
                    f"configuration's fold scores at each rung.")
    return [table, figure]


def _best_band(inputs: ReportInputs, rung_epochs: list[int]):
    """(rungs, low, high): the best configuration's corrected interval at each rung, or None."""
    best = inputs.best()
    if best is None or not rung_epochs:
        return None
    folds = inputs.history[(inputs.history["config"] == best["config"]) & inputs.history["epoch"].isin(rung_epochs)]
    ratio = float(np.mean(list(inputs.plan.val_train_ratios(scheme_name(inputs.experiment.cv.split)).values())))
    bands = []
    for rung in rung_epochs:
        estimate = corrected_estimate(folds[folds["epoch"] == rung][inputs.metric].dropna().to_numpy(), ratio)
        if estimate is not None:
            bands.append((rung, *estimate.interval(0.95)))
    return tuple(np.array(column) for column in zip(*bands)) if bands else None
