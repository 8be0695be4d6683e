"""Sections 2 and 3: the leaderboard (the rows of leaderboard.csv, ties marked, intervals, failures with their
errors) and the fold spread of the top configurations (a forest plot on one shared axis, and the fold scores
of cv_results.csv)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from tune_clothes.analysis.leaderboard import config_labels
from tune_clothes.analysis.report.blocks import Cell, Figure, Section, Table, Text, number
from tune_clothes.analysis.report.figures import (
    BEST_COLOUR,
    OTHER_COLOUR,
    TIED_COLOUR,
    data_uri,
    new_figure,
    short_labels,
    styled,
)
from tune_clothes.analysis.report.inputs import ReportInputs, partial_note
from tune_clothes.config.trial_record import ENDED_EARLY, ConfigurationStatus, TrialStatus

TOP_ROWS = 30  # leaderboard rows on the page; leaderboard.csv has them all
SPREAD_ROWS = 15  # configurations in the forest plot
FOLD_COLUMNS = 10  # fold scores shown per configuration; cv_results.csv has them all


def leaderboard_section(inputs: ReportInputs) -> Section:
    board, metric = inputs.board, inputs.metric
    if board.empty:
        return Section("leaderboard", "The leaderboard", missing="No trial has reported yet.")
    confidence = board.attrs.get("confidence", 0.95)
    headers = ("rank", "tied", "configuration", f"{metric} mean", "std", f"{confidence:.0%} CI from", "to",
               "vs best", "p_holm", "P(equiv)", "P(best>)", "folds", "status", "note")
    rows = tuple(_board_row(row, metric) for _, row in board.head(TOP_ROWS).iterrows())
    blocks = [Table(headers, rows, name="leaderboard"), Text(_legend(board))]
    if len(board) > TOP_ROWS:
        blocks.append(Text(f"{len(board) - TOP_ROWS} more configurations are not shown here: leaderboard.csv "
                           f"has every row, with every metric."))
    unfinished = board[board["status"] != ConfigurationStatus.COMPLETE]
    if len(unfinished):
        blocks.append(Table(("configuration", "status", "finished", "failed", "expected", "error", "note"),
                            tuple(_unfinished_row(row) for _, row in unfinished.iterrows()), name="unfinished",
                            caption="Configurations that did not finish every fold"))
    return Section("leaderboard", "The leaderboard", blocks)


def _board_row(row: pd.Series, metric: str) -> tuple[Cell, ...]:
    tied = bool(row["tied_with_best"])
    return (number(row["rank"], 0, "rank"), Cell("*" if tied else "", tied, "tied_with_best", "tied" if tied else ""),
            Cell(str(row["config"]), column="config", css="best" if bool(row["is_best"]) else ""),
            _mean_cell(row, metric),
            *(number(row[f"{metric}/{s}"], 4, f"{metric}/{s}") for s in ("std", "ci_low", "ci_high")),
            Cell(str(row["comparison"] or ""), column="comparison"),
            *(number(row[c], 3, c) for c in ("p_holm", "prob_equivalent", "prob_best_better")),
            Cell(f"{row['folds_finished']}/{row['folds_expected']}", css="num"),
            Cell(str(row["status"]), column="status",
                 css="" if row["status"] == ConfigurationStatus.COMPLETE else "bad"),
            Cell(str(row["note"] or "")))


def _mean_cell(row: pd.Series, metric: str) -> Cell:
    """The mean over the finished folds; for a configuration ASHA stopped, the fold mean where it stopped."""
    if row["status"] in ENDED_EARLY and pd.notna(row["stopped_mean"]):
        return Cell(f"{row['stopped_mean']:.4f} at epoch {int(row['stopped_epoch'])}", row["stopped_mean"],
                    "stopped_mean", "num")
    return number(row[f"{metric}/mean"], 4, f"{metric}/mean")


def _unfinished_row(row: pd.Series) -> tuple[Cell, ...]:
    error = row["error"] if isinstance(row["error"], str) else ""
    return (Cell(str(row["config"]), column="config"), Cell(str(row["status"]), column="status", css="bad"),
            *(Cell(str(row[c]), css="num") for c in ("folds_finished", "folds_failed", "folds_expected")),
            Cell(error, column="error"), Cell(str(row["note"] or "")))


def _legend(board: pd.DataFrame) -> str:
    confidence, rope = board.attrs.get("confidence", 0.95), board.attrs.get("rope", 0.01)
    return (f"mean and std: over the finished folds. CI: {confidence:.0%} corrected resampled t-interval "
            f"(Nadeau & Bengio 2003), variance (1/J + n_val/n_train) s², J-1 degrees of freedom. p_holm: "
            f"two-sided corrected t-test against the best, paired on identical validation folds (else "
            f"Welch-style unpaired), Holm-adjusted; tied (*): p_holm >= {1 - confidence:.2g}, or too few folds "
            f"to test. P(equiv), P(best>): Bayesian correlated t-test, the probability that the difference from "
            f"the best is within ±{rope:g} (the rope), or that the best is better by more. stopped: ASHA stopped "
            f"the configuration early, at a rung; its value is the fold mean at the epoch it reached ('at epoch "
            f"N'), not comparable with a full run's, so it ranks after every other configuration.")


def spread_section(inputs: ReportInputs) -> Section:
    top = inputs.shown(SPREAD_ROWS)
    if top.empty:
        return Section("spread", "Fold spread", missing="No configuration has finished a fold yet.")
    scores = _fold_scores(inputs, top)
    partial = "" if (top["status"] == ConfigurationStatus.COMPLETE).all() else (
        " A configuration marked with its status did not finish every fold: only its finished folds are drawn.")
    blocks = [Figure(forest_plot(top, scores, inputs.metric),
                     f"forest plot of {inputs.metric} per fold for the top {len(top)} configurations",
                     f"Each fold's {inputs.metric} (dots), the mean (square) and its corrected interval (line) "
                     f"of the top {len(top)} configurations on one axis; the band is the best's interval. "
                     f"Configurations tied with the best are light blue.{partial}"),
              _fold_table(inputs, top)]
    return Section("spread", "Fold spread of the top configurations", blocks)


def _fold_scores(inputs: ReportInputs, top: pd.DataFrame) -> dict[str, np.ndarray]:
    finished = inputs.trials[inputs.trials["status"] == TrialStatus.FINISHED]
    grouped = finished.groupby("config")[inputs.metric]
    return {config: pd.to_numeric(grouped.get_group(config), errors="coerce").dropna().to_numpy()
            if config in grouped.groups else np.array([]) for config in top["config"]}


@styled
def forest_plot(top: pd.DataFrame, scores: dict[str, np.ndarray], metric: str) -> str:
    figure = new_figure(0.9 + 0.38 * len(top))
    axes = figure.add_subplot()
    best = top[top["is_best"].astype(bool)]
    if len(best) and pd.notna(best.iloc[0][f"{metric}/ci_low"]):
        axes.axvspan(best.iloc[0][f"{metric}/ci_low"], best.iloc[0][f"{metric}/ci_high"], color=BEST_COLOUR,
                     alpha=0.08, lw=0)
    rng = np.random.default_rng(0)  # jitter of the fold dots, the same in every report
    for y, (_, row) in enumerate(top.iterrows()):
        colour = BEST_COLOUR if row["is_best"] else TIED_COLOUR if row["tied_with_best"] else OTHER_COLOUR
        values = scores[row["config"]]
        axes.scatter(values, y + rng.uniform(-0.18, 0.18, len(values)), s=12, color=colour, alpha=0.6, lw=0)
        if pd.notna(row[f"{metric}/ci_low"]):
            axes.hlines(y, row[f"{metric}/ci_low"], row[f"{metric}/ci_high"], color=colour, lw=2)
        axes.plot(row[f"{metric}/mean"], y, "s", color=colour, ms=6)
    labels = [row["config"] + partial_note(row) for _, row in top.iterrows()]
    axes.set_yticks(range(len(top)), short_labels(labels, 90))
    axes.invert_yaxis()
    axes.set_xlabel(f"{metric} (one dot per fold)")
    axes.grid(axis="x", alpha=0.3)
    return data_uri(figure)


def _fold_table(inputs: ReportInputs, top: pd.DataFrame) -> Table:
    short = inputs.metric.split("/", 1)[1]
    params = inputs.cv.rename(columns={f"param_{a}": a for a in inputs.axes})
    cv = inputs.cv.assign(config=config_labels(params, inputs.axes)).set_index("config")
    splits = [c for c in cv.columns if c.startswith("split") and c.endswith(f"_{short}")
              and c[len("split"):-len(short) - 1].isdigit()][:FOLD_COLUMNS]
    headers = ("configuration", *(s.removesuffix(f"_{short}") for s in splits), f"mean_{short}", f"std_{short}")
    rows = tuple((Cell(config, column="config"), *(number(cv.at[config, c], 4, c) for c in [*splits, f"mean_{short}",
                                                                           f"std_{short}"]))
                 for config in top["config"])
    more = inputs.plan.total_folds - len(splits)
    caption = (f"{inputs.metric} of each fold j = repeat x {inputs.plan.folds} + fold, as cv_results.csv has them "
               f"(std: population std, as scikit-learn's)" + (f"; {more} more folds in cv_results.csv" if more > 0
                                                              else ""))
    return Table(headers, rows, name="fold_scores", caption=caption)
