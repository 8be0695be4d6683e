"""The leaderboard of a cross-validated search: one row per configuration, with honest fold statistics.

Each metric gets its mean over the finished folds, the sample std, and the corrected resampled t standard
error and interval (`statistics`); each configuration is compared with the best (`comparison`). Input is one
row per trial (configuration x repeat x fold); see `summarize`. The text table is `table.format_leaderboard`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from tune_clothes.analysis.comparison import FoldScheme, FoldScores, compare_with_best
from tune_clothes.config.errors import UserError
from tune_clothes.config.labels import Labeller
from tune_clothes.config.labels import plain as plain_value
from tune_clothes.config.metric_names import OPTIMISABLE
from tune_clothes.config.trial_record import ENDED_EARLY, FOLD_INDEX, ConfigurationStatus, TrialStatus
from tune_clothes.statistics.fold_tests import corrected_estimate

NO_ERROR_MESSAGE = "(no error message recorded)"
STATISTICS = ("mean", "std", "se", "ci_low", "ci_high")  # per metric: <metric>/<statistic>
COMPARISON_COLUMNS = ("comparison", "p_value", "p_holm", "tied_with_best", "prob_equivalent", "prob_best_better")
_SCORES = "_scores"  # working column: FoldScores of the ranking metric; dropped before returning
_OUTPUT_COLUMNS = ("config", "rank", "status", "folds_finished", "folds_failed", "folds_expected",
                   "stopped_epoch", "stopped_mean", "eliminated_at", "eliminated_p", "lost_to", *COMPARISON_COLUMNS,
                   "is_best", "error", "note")
NOT_RANKED_AMONG_FINISHED = (ConfigurationStatus.FAILED.value, ConfigurationStatus.STOPPED.value,
                             ConfigurationStatus.ELIMINATED.value)


@dataclass(frozen=True)
class BoardSettings:
    """What the leaderboard needs besides the trials: the search's axes, metric and folds."""
    axes: tuple[str, ...]
    metric: str  # the ranking metric
    mode: str  # "max" or "min"
    folds: int  # K, per repeat
    schemes: Mapping[str, FoldScheme]  # scheme name (the trials' `scheme` column) -> validation sets, sizes
    repeats: int = 1
    metrics: tuple[str, ...] | None = None  # None: every optimisable metric in the trials
    confidence: float = 0.95  # of the intervals; alpha = 1 - confidence for the tests
    rope: float = 0.01  # region of practical equivalence, metric units

    @property
    def folds_expected(self) -> int:
        return self.repeats * self.folds


def summarize(trials: pd.DataFrame, settings: BoardSettings) -> pd.DataFrame:
    """One row per configuration, best first: fold counts, `<metric>/mean|std|se|ci_low|ci_high` for every
    metric, rank, and the comparison with the best (see `comparison.compare_with_best`).

    `trials` has one row per trial and fold: a column per axis, `fold_index` (j), `scheme`, `status` ("finished",
    "failed", "stopped", or anything else for not finished), optionally `error`, and a column per metric (NaN
    where missing). `rank` is None for failed or empty configurations; `status` is complete / incomplete / failed;
    `error` is the first failure, `note` says what a number cannot say (too few folds, an incomplete best).
    """
    metric_list = _check_inputs(trials, settings)
    labeller = Labeller(settings.axes, _configurations(trials, settings.axes))
    rows = [_summarize_config(group, settings, metric_list, labeller)
            for group in config_groups(trials, settings.axes)]
    board = pd.DataFrame(rows, columns=_columns(settings.axes, metric_list))
    board = _rank(board, settings.metric, settings.mode)
    board = _compare(board, settings)
    board = board.drop(columns=_SCORES)
    board.attrs.update(confidence=settings.confidence, rope=settings.rope, folds=settings.folds,
                       repeats=settings.repeats)  # for the legend of format_leaderboard
    return board


def best_configuration(leaderboard: pd.DataFrame) -> dict[str, Any]:
    """Axis -> value (plain Python types) of the best row; the axes are the columns before `config`."""
    best = leaderboard[leaderboard["is_best"].astype(bool)]
    if best.empty:
        errors = leaderboard["error"].dropna()
        first = f"; first error: {errors.iloc[0]}" if len(errors) else ""
        raise UserError(f"no configuration finished a fold, so there is no best configuration{first}")
    axes = list(leaderboard.columns[:leaderboard.columns.get_loc("config")])
    return {axis: plain_value(best.iloc[0][axis]) for axis in axes}


# --- summarize, step by step -------------------------------------------------------------------------------

def _check_inputs(trials: pd.DataFrame, settings: BoardSettings) -> list[str]:
    """Validate the arguments; return the metrics to summarize, the ranking metric first."""
    if settings.mode not in ("max", "min"):
        raise UserError(f"mode={settings.mode!r}: must be 'max' or 'min'")
    if settings.folds < 1 or settings.repeats < 1:
        raise UserError(f"folds={settings.folds!r}, repeats={settings.repeats!r}: both must be at least 1")
    if not 0 < settings.confidence < 1:
        raise UserError(f"confidence={settings.confidence!r}: must be between 0 and 1, e.g. 0.95")
    clashes = sorted(set(settings.axes) & {*_OUTPUT_COLUMNS, FOLD_INDEX, "scheme"})
    if clashes:
        raise ValueError(f"search axes {clashes} clash with leaderboard column names: rename the axes")
    missing = [c for c in [*settings.axes, FOLD_INDEX, "scheme", "status"] if c not in trials.columns]
    if missing:
        raise ValueError(f"trials lack columns {missing}: need one column per axis plus {FOLD_INDEX}, scheme, "
                         f"status")
    unknown = sorted(set(trials["scheme"]) - set(settings.schemes))
    if unknown:
        raise ValueError(f"trials name fold schemes {unknown} that the fold plan lacks ({sorted(settings.schemes)})")
    wanted = [m for m in OPTIMISABLE if m in trials.columns] if settings.metrics is None else list(settings.metrics)
    metric_list = [settings.metric] + [m for m in wanted if m != settings.metric]
    absent = [m for m in metric_list if m not in trials.columns]
    if absent:
        present = [c for c in trials.columns if "/" in str(c)]
        raise UserError(f"metric(s) {absent} are not in the results; the results have {present}")
    _check_one_row_per_trial(trials, list(settings.axes))
    return metric_list


def _check_one_row_per_trial(trials: pd.DataFrame, axes: list[str]) -> None:
    repeated = trials[trials.duplicated([*axes, FOLD_INDEX], keep=False)]
    if not repeated.empty:
        first = repeated.iloc[0]
        label = config_label([first[a] for a in axes], axes)
        raise ValueError(f"{label} has {len(repeated)} rows for fold j={first[FOLD_INDEX]}: expected one row per "
                         "configuration and fold")


def config_groups(trials: pd.DataFrame, axes: Sequence[str]) -> list[pd.DataFrame]:
    """The trials of each configuration (rows with the same value on every axis), in order of appearance."""
    if not axes:  # an experiment without search axes is one configuration
        return [trials] if len(trials) else []
    # sort=False: axis values may mix types (None and str), which cannot be ordered.
    return [group for _, group in trials.groupby(list(axes), dropna=False, sort=False)]


def _columns(axes: Sequence[str], metrics: list[str]) -> list[str]:
    stat_columns = [f"{m}/{s}" for m in metrics for s in STATISTICS]
    return [*axes, "config", "status", "folds_finished", "folds_failed", "folds_expected", "stopped_epoch",
            "stopped_mean", "eliminated_at", "eliminated_p", "lost_to", *stat_columns, "error", _SCORES]


def _summarize_config(group: pd.DataFrame, settings: BoardSettings, metrics: list[str],
                      labeller: Labeller) -> dict[str, Any]:
    finished = group[group["status"] == TrialStatus.FINISHED].set_index(FOLD_INDEX).sort_index()
    failed = group[group["status"] == TrialStatus.FAILED].sort_values(FOLD_INDEX)
    values = [group[axis].iloc[0] for axis in settings.axes]
    row: dict[str, Any] = dict(zip(settings.axes, values))
    row.update(config=labeller.label(row), folds_finished=finished.index.nunique(),
               folds_failed=failed[FOLD_INDEX].nunique(),
               folds_expected=settings.folds_expected)
    complete = row["folds_finished"] >= settings.folds_expected
    ended = group[group["status"].isin(ENDED_EARLY)]
    eliminated = group[group["status"] == TrialStatus.ELIMINATED]
    status = (ConfigurationStatus.FAILED if len(failed) else ConfigurationStatus.COMPLETE if complete else
              ConfigurationStatus.ELIMINATED if len(eliminated) else
              ConfigurationStatus.STOPPED if len(ended) else ConfigurationStatus.INCOMPLETE)
    row["status"] = status.value
    row.update(_stopped_at(ended, settings.metric))
    first = eliminated.iloc[0] if len(eliminated) else {}  # a lock-step trial: every fold the same
    row.update(eliminated_at=first.get("eliminated_at", math.nan), eliminated_p=first.get("eliminated_p", math.nan),
               lost_to=first.get("lost_to"))
    row["error"] = _first_error(failed) if len(failed) else None
    scheme = settings.schemes[group["scheme"].iloc[0]]
    for name in metrics:
        row.update(_fold_statistics(finished[name], name, scheme, settings.confidence))
    row[_SCORES] = FoldScores(pd.to_numeric(finished[settings.metric], errors="coerce").dropna(), scheme)
    return row


def _stopped_at(stopped: pd.DataFrame, metric: str) -> dict[str, float]:
    """The epoch the folds ended early reached and their mean of `metric` there (NaN when none ended early)."""
    if stopped.empty:
        return {"stopped_epoch": math.nan, "stopped_mean": math.nan}
    epochs = pd.to_numeric(stopped.get("epochs_done", pd.Series(dtype=float)), errors="coerce")
    value = pd.to_numeric(stopped[metric], errors="coerce").mean()
    return {"stopped_epoch": float(epochs.max()) if len(epochs) else math.nan, "stopped_mean": float(value)}


def _first_error(failed: pd.DataFrame) -> str:
    if "error" not in failed.columns:
        return NO_ERROR_MESSAGE
    messages = [e for e in failed["error"] if isinstance(e, str) and e.strip()]
    return messages[0] if messages else NO_ERROR_MESSAGE


def _fold_statistics(values: pd.Series, name: str, scheme: FoldScheme, confidence: float) -> dict[str, float]:
    """Mean, sample std, corrected standard error and interval (Nadeau & Bengio) of one metric over the folds.

    With one fold there is a mean only: the others stay NaN (empty in the CSV, '-' in the text table)."""
    x = pd.to_numeric(values, errors="coerce").dropna()
    stats = dict.fromkeys((f"{name}/{s}" for s in STATISTICS), math.nan)
    if len(x):
        stats[f"{name}/mean"] = float(x.mean())
    estimate = corrected_estimate(x.to_numpy(), scheme.ratio(x.index)) if len(x) >= 2 else None
    if estimate is not None:
        low, high = estimate.interval(confidence)
        std = 0.0 if estimate.se == 0 else float(x.std(ddof=1))  # identical folds: exactly 0, not rounding
        stats.update({f"{name}/std": std, f"{name}/se": estimate.se, f"{name}/ci_low": low, f"{name}/ci_high": high})
    return stats


def _rank(board: pd.DataFrame, metric: str, mode: str) -> pd.DataFrame:
    """Rank configurations with a finished fold and no failure, then the ones stopped or eliminated early after
    them; the rest go, unranked, to the bottom."""
    mean = board[f"{metric}/mean"]
    status = board["status"]
    rankable = ~status.isin(NOT_RANKED_AMONG_FINISHED) & (board["folds_finished"] > 0) & mean.notna()
    ranks = mean.where(rankable).rank(method="min", ascending=(mode == "min"))
    stopped = board[status.isin(ENDED_EARLY) & board["stopped_mean"].notna()]
    # a later rung first (it got further than the ones ended earlier), then the value there
    order = stopped.sort_values(["stopped_epoch", "stopped_mean"], ascending=[False, mode == "min"], kind="stable")
    ranks[order.index] = (ranks.max() if rankable.any() else 0) + np.arange(1, len(order) + 1)
    board.insert(board.columns.get_loc("config") + 1, "rank", ranks.astype("Int64"))
    # The config label breaks ties so the order is stable from run to run.
    board = board.sort_values(["rank", "config"], na_position="last", kind="stable")
    return board.reset_index(drop=True)


def lost_to_text(lost_to: Any) -> str:
    """What an eliminated configuration lost to, in words: its label, or the rung's best where the race did not
    record which configuration that was (a race resumed by an earlier version)."""
    return lost_to if isinstance(lost_to, str) and lost_to else "the rung's best (not recorded)"


def _compare(board: pd.DataFrame, settings: BoardSettings) -> pd.DataFrame:
    """Pick the best (the top complete configuration, else the top ranked) and compare the ranked ones with it."""
    position = board.columns.get_loc("error")
    defaults = {"comparison": "", "p_value": math.nan, "p_holm": math.nan, "tied_with_best": False,
                "prob_equivalent": math.nan, "prob_best_better": math.nan, "is_best": False}
    for offset, (column, value) in enumerate(defaults.items()):
        board.insert(position + offset, column, value)
    board["note"] = ""
    ranked = board.index[board["rank"].notna() & ~board["status"].isin(ENDED_EARLY)]
    for i in board.index[board["status"] == ConfigurationStatus.ELIMINATED]:
        board.at[i, "note"] = (f"eliminated at epoch {int(board.at[i, 'eliminated_at'])}: worse than "
                               f"{lost_to_text(board.at[i, 'lost_to'])} "
                               f"(race evidence {board.at[i, 'eliminated_p']:.3g})")
    if ranked.empty:
        return board
    complete = [i for i in ranked if board.at[i, "status"] == ConfigurationStatus.COMPLETE]
    best = complete[0] if complete else ranked[0]
    board.at[best, "is_best"] = True
    better_sign = 1 if settings.mode == "max" else -1
    table = compare_with_best({i: board.at[i, _SCORES] for i in ranked}, best, better_sign, settings.rope,
                              alpha=1 - settings.confidence)
    board.loc[ranked, list(table.columns)] = table
    if not complete:
        board.at[best, "note"] = f"best is incomplete: no configuration finished all {settings.folds_expected} folds"
    return board


# --- labels ------------------------------------------------------------------------------------------------

def config_labels(frame: pd.DataFrame, axes: Sequence[str]) -> list[str]:
    """The label of each row's configuration (`config.labels`), each axis with the digits that tell the values
    in `frame` apart."""
    configurations = _configurations(frame, axes)
    labeller = Labeller(axes, configurations)
    return [labeller.label(configuration) for configuration in configurations]


def config_label(values: Sequence[Any], axes: Sequence[str]) -> str:
    """One configuration's label, for a message about it alone (`config_labels` keeps a table's values apart)."""
    return Labeller(axes).label(dict(zip(axes, values)))


def _configurations(frame: pd.DataFrame, axes: Sequence[str]) -> list[dict[str, Any]]:
    return [dict(zip(axes, values)) for values in frame[list(axes)].itertuples(index=False, name=None)]
