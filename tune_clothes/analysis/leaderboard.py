"""The leaderboard of a cross-validated search: one row per configuration, with honest fold statistics.

Every configuration runs on the same folds, so two configurations are compared with a paired test over the
folds both finished. Input is one row per trial (configuration x fold); see `summarize`.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from tune_clothes.config.errors import UserError
from tune_clothes.config.metric_names import OPTIMISABLE

FINISHED, FAILED = "finished", "failed"  # trial statuses in the input
COMPLETE, INCOMPLETE = "complete", "incomplete"  # configuration statuses (plus FAILED)
SINGLE_CONFIG = "(single configuration)"  # the config label of an experiment with no search axes
NO_ERROR_MESSAGE = "(no error message recorded)"
# Fold-metric differences below this (metric units) are float rounding, not a difference.
_FLOAT_NOISE = 1e-12
_FOLDS = "_folds"  # working column: the ranking metric per finished fold; dropped before returning
_OUTPUT_COLUMNS = ("config", "rank", "status", "folds_finished", "folds_failed", "folds_expected",
                   "tied_with_best", "is_best", "error", "note")


def summarize(trials: pd.DataFrame, axes: Sequence[str], metric: str, mode: str, folds_expected: int,
              metrics: Sequence[str] | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """One row per configuration, best first: fold counts, mean/std/CI per metric, rank, ties with the best.

    `trials` has one row per trial: a column per search axis, `fold`, `status` ("finished", "failed", or
    anything else for not finished), optionally `error`, and a column per metric (NaN where missing).
    `metrics` defaults to every optimisable metric present; `metric` is always included. Columns:
    the axes first, then `config`, `rank` (nullable; None for failed or empty configurations), `status`
    (complete / incomplete / failed), fold counts, `<metric>/mean|std|ci_low|ci_high`, `tied_with_best`
    (paired t-test, alpha = 1 - confidence), `is_best`, `error` (first failure) and `note`.
    """
    axes = list(axes)
    metric_list = _check_inputs(trials, axes, metric, mode, folds_expected, metrics, confidence)
    rows = [_summarize_config(group, axes, metric, metric_list, folds_expected, confidence)
            for group in _config_groups(trials, axes)]
    board = pd.DataFrame(rows, columns=_columns(axes, metric_list))
    board = _rank(board, metric, mode)
    board = _mark_ties(board, folds_expected, alpha=1 - confidence)
    board = board.drop(columns=_FOLDS)
    board.attrs["confidence"] = confidence  # for format_leaderboard's legend
    return board


def best_configuration(leaderboard: pd.DataFrame) -> dict[str, Any]:
    """Axis -> value (plain Python types) of the best row; the axes are the columns before `config`."""
    best = leaderboard[leaderboard["is_best"].astype(bool)]
    if best.empty:
        errors = leaderboard["error"].dropna()
        first = f"; first error: {errors.iloc[0]}" if len(errors) else ""
        raise UserError(f"no configuration finished a fold, so there is no best configuration{first}")
    axes = list(leaderboard.columns[:leaderboard.columns.get_loc("config")])
    return {axis: _plain(best.iloc[0][axis]) for axis in axes}


def format_leaderboard(leaderboard: pd.DataFrame, metric: str, axes: Sequence[str],
                       max_rows: int = 20) -> str:
    """A text table for a terminal: the top `max_rows` rows, a legend, failures and notes.

    `axes` are the axis columns shown in the config label (pass only the ones that vary to shorten it).
    """
    shown = leaderboard.head(max_rows)
    confidence = leaderboard.attrs.get("confidence")
    level = f"{confidence * 100:g}%" if confidence is not None else "confidence"
    columns = {
        "rank": [_format_rank(rank) for rank in shown["rank"]],
        "tied": ["*" if tied else "" for tied in shown["tied_with_best"]],
        "config": [_config_label([row[a] for a in axes], axes) for _, row in shown.iterrows()],
        f"{metric} mean ± std": [_format_mean_std(row, metric) for _, row in shown.iterrows()],
        f"{level} CI": [_format_interval(row, metric) for _, row in shown.iterrows()],
        "folds": [f"{row.folds_finished}/{row.folds_expected}" for row in shown.itertuples()],
        "status": list(shown["status"]),
    }
    lines = _text_table(columns, left_aligned={"config", "status", "tied"})
    if len(leaderboard) > len(shown):
        lines.append(f"... {len(leaderboard) - len(shown)} more configurations not shown")
    alpha = f"alpha={1 - confidence:.2g}" if confidence is not None else "alpha=1-confidence"
    lines.append(f"* = not distinguishable from the best: paired t-test over shared folds, two-sided, {alpha}")
    lines.append(f"CI = {level} Student-t interval of the mean over finished folds; folds = finished/expected")
    lines += _footnotes(leaderboard, axes)
    return "\n".join(lines)


# --- summarize, step by step -------------------------------------------------------------------------------

def _check_inputs(trials: pd.DataFrame, axes: list[str], metric: str, mode: str, folds_expected: int,
                  metrics: Sequence[str] | None, confidence: float) -> list[str]:
    """Validate the arguments; return the metrics to summarize, `metric` first."""
    if mode not in ("max", "min"):
        raise UserError(f"mode={mode!r}: must be 'max' or 'min'")
    if folds_expected < 1:
        raise UserError(f"folds_expected={folds_expected!r}: must be at least 1")
    if not 0 < confidence < 1:
        raise UserError(f"confidence={confidence!r}: must be between 0 and 1, e.g. 0.95")
    clashes = sorted(set(axes) & {*_OUTPUT_COLUMNS, "fold"})
    if clashes:
        raise ValueError(f"search axes {clashes} clash with leaderboard column names: rename the axes")
    missing = [c for c in [*axes, "fold", "status"] if c not in trials.columns]
    if missing:
        raise ValueError(f"trials lack columns {missing}: need one column per axis plus 'fold' and 'status'")
    wanted = [m for m in OPTIMISABLE if m in trials.columns] if metrics is None else list(metrics)
    metric_list = [metric] + [m for m in wanted if m != metric]
    absent = [m for m in metric_list if m not in trials.columns]
    if absent:
        present = [c for c in trials.columns if "/" in str(c)]
        raise UserError(f"metric(s) {absent} are not in the results; the results have {present}")
    _check_one_row_per_trial(trials, axes)
    return metric_list


def _check_one_row_per_trial(trials: pd.DataFrame, axes: list[str]) -> None:
    repeated = trials[trials.duplicated([*axes, "fold"], keep=False)]
    if not repeated.empty:
        first = repeated.iloc[0]
        label = _config_label([first[a] for a in axes], axes)
        raise ValueError(f"{label} has {len(repeated)} rows for fold {first['fold']}: "
                         "expected one row per trial (configuration x fold)")


def _config_groups(trials: pd.DataFrame, axes: list[str]) -> list[pd.DataFrame]:
    if not axes:  # an experiment without search axes is one configuration
        return [trials] if len(trials) else []
    # sort=False: axis values may mix types (None and str), which cannot be ordered.
    return [group for _, group in trials.groupby(axes, dropna=False, sort=False)]


def _columns(axes: list[str], metrics: list[str]) -> list[str]:
    stat_columns = [f"{m}/{s}" for m in metrics for s in ("mean", "std", "ci_low", "ci_high")]
    return [*axes, "config", "status", "folds_finished", "folds_failed", "folds_expected",
            *stat_columns, "error", _FOLDS]


def _summarize_config(group: pd.DataFrame, axes: list[str], metric: str, metrics: list[str],
                      folds_expected: int, confidence: float) -> dict[str, Any]:
    finished = group[group["status"] == FINISHED]
    failed = group[group["status"] == FAILED].sort_values("fold")
    values = [group[axis].iloc[0] for axis in axes]
    row: dict[str, Any] = dict(zip(axes, values))
    row.update(config=_config_label(values, axes), folds_finished=finished["fold"].nunique(),
               folds_failed=failed["fold"].nunique(), folds_expected=folds_expected)
    complete = row["folds_finished"] >= folds_expected
    row["status"] = FAILED if len(failed) else COMPLETE if complete else INCOMPLETE
    row["error"] = _first_error(failed) if len(failed) else None
    for name in metrics:
        row.update(_fold_statistics(finished[name], name, confidence))
    row[_FOLDS] = pd.to_numeric(finished.set_index("fold")[metric], errors="coerce").dropna()
    return row


def _first_error(failed: pd.DataFrame) -> str:
    if "error" not in failed.columns:
        return NO_ERROR_MESSAGE
    messages = [e for e in failed["error"] if isinstance(e, str) and e.strip()]
    return messages[0] if messages else NO_ERROR_MESSAGE


def _fold_statistics(values: pd.Series, name: str, confidence: float) -> dict[str, float]:
    """Mean, sample std and the two-sided Student-t interval (n-1 degrees of freedom) of one metric."""
    x = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    mean = float(x.mean()) if len(x) else math.nan
    std = half_width = math.nan
    if len(x) >= 2:
        std = float(x.std(ddof=1))
        half_width = float(stats.t.ppf((1 + confidence) / 2, len(x) - 1)) * std / math.sqrt(len(x))
    return {f"{name}/mean": mean, f"{name}/std": std,
            f"{name}/ci_low": mean - half_width, f"{name}/ci_high": mean + half_width}


def _rank(board: pd.DataFrame, metric: str, mode: str) -> pd.DataFrame:
    """Rank configurations with a finished fold and no failure; the rest go, unranked, to the bottom."""
    mean = board[f"{metric}/mean"]
    rankable = (board["status"] != FAILED) & (board["folds_finished"] > 0) & mean.notna()
    ranks = mean.where(rankable).rank(method="min", ascending=(mode == "min"))
    board.insert(board.columns.get_loc("config") + 1, "rank", ranks.astype("Int64"))
    # The config label breaks ties so the order is stable from run to run.
    board = board.sort_values(["rank", "config"], na_position="last", kind="stable")
    return board.reset_index(drop=True)


def _mark_ties(board: pd.DataFrame, folds_expected: int, alpha: float) -> pd.DataFrame:
    """Set `is_best`, `tied_with_best` and `note`: best = top complete configuration, else top ranked."""
    board["tied_with_best"] = False
    board["is_best"] = False
    board.insert(len(board.columns), "note", "")
    ranked = board.index[board["rank"].notna()]
    if ranked.empty:
        return board
    complete = [i for i in ranked if board.at[i, "status"] == COMPLETE]
    best = complete[0] if complete else ranked[0]
    if not complete:
        board.at[best, "note"] = f"best is incomplete: no configuration finished all {folds_expected} folds"
    board.at[best, "is_best"] = True
    for i in ranked:
        best_folds, folds = board.at[best, _FOLDS], board.at[i, _FOLDS]
        tied, note = (True, "") if i == best else _paired_tie(best_folds, folds, alpha)
        board.at[i, "tied_with_best"] = tied
        board.at[i, "note"] = board.at[i, "note"] or note
    return board


def _paired_tie(best: pd.Series, other: pd.Series, alpha: float) -> tuple[bool, str]:
    """Whether `other` is indistinguishable from `best` by a paired t-test over their shared folds."""
    shared = pd.concat([best, other], axis=1, join="inner").dropna()
    if len(shared) < 2:
        return True, f"only {len(shared)} fold(s) shared with the best: too few to tell them apart"
    differences = shared.iloc[:, 0] - shared.iloc[:, 1]
    if np.ptp(differences) <= _FLOAT_NOISE:  # zero variance: t is undefined (0/0) or infinite (d/0)
        return bool(abs(differences.mean()) <= _FLOAT_NOISE), ""
    p_value = stats.ttest_rel(shared.iloc[:, 0], shared.iloc[:, 1]).pvalue
    return bool(not p_value < alpha), ""  # a NaN p-value is no evidence of a difference


# --- values and labels --------------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """A plain Python value: numpy scalars unwrapped, NaN / pd.NA (a missing axis value) as None."""
    if value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _config_label(values: Sequence[Any], axes: Sequence[str]) -> str:
    """`lr=0.01, batch_size=32`: floats in their shortest exact form, so distinct values read differently."""
    if not axes:
        return SINGLE_CONFIG
    plain = [_plain(value) for value in values]
    return ", ".join(f"{axis}={value!r}" if isinstance(value, float) else f"{axis}={value}"
                     for axis, value in zip(axes, plain))


# --- text table ---------------------------------------------------------------------------------------------

def _format_rank(rank: Any) -> str:
    return "-" if pd.isna(rank) else str(int(rank))


def _format_mean_std(row: pd.Series, metric: str) -> str:
    mean, std = row[f"{metric}/mean"], row[f"{metric}/std"]
    if pd.isna(mean):
        return "-"
    return f"{mean:.4f}" if pd.isna(std) else f"{mean:.4f} ± {std:.4f}"


def _format_interval(row: pd.Series, metric: str) -> str:
    low, high = row[f"{metric}/ci_low"], row[f"{metric}/ci_high"]
    return "-" if pd.isna(low) else f"[{low:.4f}, {high:.4f}]"


def _text_table(columns: dict[str, list[str]], left_aligned: set[str]) -> list[str]:
    widths = {name: max([len(name), *map(len, cells)]) for name, cells in columns.items()}

    def line(cells: dict[str, str]) -> str:
        aligned = (cells[n].ljust(widths[n]) if n in left_aligned else cells[n].rjust(widths[n])
                   for n in columns)
        return "  ".join(aligned).rstrip()

    rows = [dict(zip(columns, cells)) for cells in zip(*columns.values())]
    return [line({n: n for n in columns})] + [line(row) for row in rows]


def _footnotes(leaderboard: pd.DataFrame, axes: Sequence[str], max_errors: int = 5) -> list[str]:
    """The first line of each failure's error (up to `max_errors`) and every note."""
    lines = []
    failed = leaderboard[leaderboard["status"] == FAILED]
    for _, row in failed.head(max_errors).iterrows():
        first_line = str(row["error"]).strip().splitlines()[0][:160] if str(row["error"]).strip() else ""
        lines.append(f"failed: {_config_label([row[a] for a in axes], axes)}: {first_line}")
    if len(failed) > max_errors:
        lines.append(f"... {len(failed) - max_errors} more failed configurations (see the error column)")
    for _, row in leaderboard[leaderboard["note"] != ""].iterrows():
        lines.append(f"note: {_config_label([row[a] for a in axes], axes)}: {row['note']}")
    return lines
