"""Section 5, what each hyperparameter does: for every search axis the metric per value averaged over the
other axes, with intervals; the share of the variance of the configuration means that each axis explains
(main effects of the full factorial for a grid, Optuna's fANOVA importance for an Optuna search); and a
parallel-coordinates plot of every configuration, coloured by its mean.

Only configurations that finished every fold take part: their means are comparable (the same folds, the
same number of epochs), and a grid's complete configurations form a balanced design.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tune_clothes.analysis.comparison import fold_schemes
from tune_clothes.analysis.leaderboard import plain_value
from tune_clothes.analysis.report.blocks import Cell, Figure, Section, Table, Text
from tune_clothes.analysis.report.effects_plots import axis_effects_plot, ordered_values, parallel_coordinates
from tune_clothes.analysis.report.inputs import ReportInputs
from tune_clothes.config import Choice, Range
from tune_clothes.config.trial_record import FOLD_INDEX, ConfigurationStatus, TrialStatus
from tune_clothes.statistics.fold_tests import corrected_estimate


@dataclass(frozen=True)
class LevelEffect:
    """One value of an axis: the mean of the metric over the complete configurations that have it."""
    value: object
    mean: float
    ci_low: float  # corrected interval over the folds of the averaged recipe (NaN with fewer than 2 folds)
    ci_high: float
    configurations: int


def effects_section(inputs: ReportInputs) -> Section:
    axes = inputs.experiment.search.axes
    if not axes:
        return Section("effects", "What each hyperparameter does", missing="Nothing was searched: one "
                       "configuration has no axes to compare.")
    complete = inputs.board[inputs.board["status"] == ConfigurationStatus.COMPLETE]
    if len(complete) < 2:
        return Section("effects", "What each hyperparameter does", missing=f"{len(complete)} configuration(s) "
                       "finished every fold; comparing hyperparameters needs at least 2.")
    effects = {axis: level_effects(inputs, complete, axis) for axis in axes if isinstance(axes[axis], Choice)}
    blocks = [Figure(axis_effects_plot(inputs, complete, effects), "the metric per value of each search axis",
                     _effects_caption(inputs)), *_share_blocks(inputs, complete),
              Figure(parallel_coordinates(inputs), "parallel coordinates of every configuration",
                     f"Every configuration that finished a fold, one line each, coloured by its mean "
                     f"{inputs.metric}; dashed: not every fold finished. The best is drawn thickest.")]
    return Section("effects", "What each hyperparameter does", blocks)


def level_effects(inputs: ReportInputs, complete: pd.DataFrame, axis: str) -> list[LevelEffect]:
    """Per value of a listed axis: the mean over the complete configurations with it, and a corrected
    interval from the averaged recipe's fold scores (each fold j: the mean over those configurations)."""
    scores = _fold_scores(inputs, complete)
    # n_val/n_train of the correction: the mean over the experiment's fold schemes (one, unless split is an axis)
    ratio = float(np.mean([scheme.ratio(scheme.val_train_ratios) for scheme in fold_schemes(inputs.plan).values()]))
    effects = []
    for value in ordered_values(inputs.experiment.search.axes[axis]):
        chosen = [config for config, v in zip(complete["config"], complete[axis]) if _same(v, value)]
        if not chosen:
            continue
        per_fold = scores.loc[chosen].mean(axis=0).dropna()
        estimate = corrected_estimate(per_fold.to_numpy(), ratio)
        low, high = estimate.interval(inputs.board.attrs.get("confidence", 0.95)) if estimate else (math.nan,) * 2
        effects.append(LevelEffect(value, float(per_fold.mean()), low, high, len(chosen)))
    return effects


def _fold_scores(inputs: ReportInputs, complete: pd.DataFrame) -> pd.DataFrame:
    """Configuration x fold j: the metric of each finished fold of the complete configurations."""
    trials = inputs.trials
    finished = trials[(trials["status"] == TrialStatus.FINISHED) & trials["config"].isin(complete["config"])]
    return finished.pivot_table(index="config", columns=FOLD_INDEX, values=inputs.metric, aggfunc="mean")


def _same(a: object, b: object) -> bool:
    a, b = plain_value(a), plain_value(b)
    return (a is None and b is None) or a == b


def _effects_caption(inputs: ReportInputs) -> str:
    return (f"Listed axes: the mean {inputs.metric} of the configurations with each value, averaged over the other "
            f"axes' values, with the corrected interval of the averaged recipe's fold scores. Ranges (Optuna): "
            f"one point per configuration at its value, with its own interval. Only configurations that "
            f"finished every fold.")


def _share_blocks(inputs: ReportInputs, complete: pd.DataFrame) -> list:
    if inputs.experiment.search.algorithm == "optuna":  # sampled configurations: no factorial to decompose
        shares, note = optuna_importances(inputs, complete)
    else:
        shares, note = main_effect_shares(complete, inputs.axes, f"{inputs.metric}/mean", inputs.experiment)
    if not shares:
        return [Text(note)]
    rows = tuple((Cell(name), Cell(f"{100 * share:.1f}%", share, "share", "num", bar=max(0.0, min(1.0, share))))
                 for name, share in shares.items())
    return [Table(("axis", "share"), rows, name="variance_share", caption=note)]


def main_effect_shares(complete: pd.DataFrame, axes: list[str], column: str,
                       experiment) -> tuple[dict[str, float], str]:
    """Each axis's main-effect sum of squares over the total sum of squares of the configuration means; the
    rest is the interactions'. Exact for a complete full factorial; otherwise said so."""
    means = pd.to_numeric(complete[column], errors="coerce")
    total = float(((means - means.mean()) ** 2).sum())
    if total <= 0:
        return {}, "Every complete configuration has the same mean: there is no variance to share."
    shares = {}
    for axis in axes:
        levels = means.groupby(complete[axis].map(plain_value), dropna=False).agg(["mean", "count"])
        shares[axis] = float((levels["count"] * (levels["mean"] - means.mean()) ** 2).sum() / total)
    expected = math.prod(len(experiment.search.axes[a].values) for a in axes)
    shares["interactions"] = max(0.0, 1.0 - sum(shares.values()))
    note = (f"Share of the variance of the {len(complete)} configuration means explained by each axis alone "
            f"(main effects of the full factorial); 'interactions' is the rest.")
    if len(complete) < expected:
        note += (f" Only {len(complete)} of the {expected} configurations finished every fold, so the design is "
                 f"not balanced and the shares are approximate.")
    return shares, note


def optuna_importances(inputs: ReportInputs, complete: pd.DataFrame) -> tuple[dict[str, float], str]:
    """Optuna's fANOVA importances (its default evaluator, seeded) over the complete configurations."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances
    axes = inputs.experiment.search.axes
    direction = "maximize" if inputs.experiment.search.mode == "max" else "minimize"
    distributions = {axis: _distribution(values) for axis, values in axes.items()}
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created in memory" line
    try:
        study = optuna.create_study(direction=direction)
        for _, row in complete.iterrows():
            study.add_trial(optuna.trial.create_trial(
                params={axis: plain_value(row[axis]) for axis in axes}, distributions=distributions,
                value=float(row[f"{inputs.metric}/mean"])))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optuna's experimental-feature warnings
            importances = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
    except (ValueError, RuntimeError) as err:
        return {}, f"Optuna could not estimate importances from {len(complete)} configurations: {err}"
    finally:
        optuna.logging.set_verbosity(verbosity)
    return dict(importances), (f"Optuna's fANOVA importance (random forests over the {len(complete)} configurations "
                               f"that finished every fold, seed 0): each axis's share of the variance of the "
                               f"mean {inputs.metric}, normalised to sum to 1. An estimate, not a factorial "
                               f"decomposition.")


def _distribution(values):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    if isinstance(values, Range):
        if values.integer:
            return IntDistribution(int(values.low), int(values.high), log=values.log)
        return FloatDistribution(values.low, values.high, log=values.log)
    return CategoricalDistribution(list(values.values))
