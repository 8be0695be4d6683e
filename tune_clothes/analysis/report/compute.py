"""Section: what each configuration's score costs to compute. The search metric against the network's
multiply-accumulates per image (the leaderboard's `gmacs`), with the corrected intervals as error bars, and the
configurations on the accuracy/compute front marked: those that no other configuration matches for less, or
beats for as much."""
from __future__ import annotations

import pandas as pd
from matplotlib.ticker import FuncFormatter, NullFormatter

from tune_clothes.analysis.report.blocks import Cell, Figure, Section, Table, number
from tune_clothes.analysis.report.figures import BEST_COLOUR, OTHER_COLOUR, data_uri, new_figure, styled
from tune_clothes.analysis.report.inputs import ReportInputs

TITLE = "Score and compute"


def compute_section(inputs: ReportInputs) -> Section:
    board, metric = inputs.board, inputs.metric
    if "gmacs" not in board.columns:
        return Section("compute", TITLE, missing="This search recorded no network costs (costs.json is written by "
                                                 "searches from this version on).")
    scored = board[board[f"{metric}/mean"].notna() & board["gmacs"].notna()]
    if scored.empty:
        return Section("compute", TITLE, missing="No configuration has finished a fold yet.")
    if scored["gmacs"].nunique() == 1:
        row = scored.iloc[0]
        return Section("compute", TITLE, missing=f"Every configuration runs the same network at the same size "
                                                 f"({row['gmacs']:.3f} GMACs, {row['params_m']:.2f} M parameters): "
                                                 f"there is no trade-off with compute to show.")
    front = on_front(scored, metric, inputs.experiment.search.mode)
    caption = (f"Each configuration's mean {metric} over its finished folds against the network's "
               f"multiply-accumulates per image at its image size (ptflops, as complexity --model prints them), "
               f"with its corrected {board.attrs.get('confidence', 0.95):.0%} interval. Blue: on the front, where "
               f"no other configuration is as good for less compute, or better for as much.")
    rows = tuple(_row(row, metric, front[index]) for index, row in scored.sort_values("gmacs").iterrows())
    headers = ("configuration", "GMACs", "params (M)", f"{metric} mean", "CI from", "to", "on the front")
    return Section("compute", TITLE, [Figure(compute_plot(scored, front, metric),
                                             f"{metric} against GMACs per image", caption),
                                      Table(headers, rows, name="compute")])


def on_front(scored: pd.DataFrame, metric: str, mode: str) -> pd.Series:
    """True for each configuration that no other dominates: as good a mean at no more GMACs, better in one."""
    sign = 1 if mode == "max" else -1
    means, costs = sign * scored[f"{metric}/mean"], scored["gmacs"]
    return pd.Series({index: not ((costs <= costs[index]) & (means >= means[index])
                                  & ((costs < costs[index]) | (means > means[index]))).any()
                      for index in scored.index})


@styled
def compute_plot(scored: pd.DataFrame, front: pd.Series, metric: str) -> str:
    figure = new_figure(3.6)
    axes = figure.add_subplot()
    for index, row in scored.iterrows():
        colour = BEST_COLOUR if front[index] else OTHER_COLOUR
        mean, low, high = row[f"{metric}/mean"], row[f"{metric}/ci_low"], row[f"{metric}/ci_high"]
        error = [[mean - low], [high - mean]] if pd.notna(low) else None
        axes.errorbar(row["gmacs"], mean, yerr=error, fmt="o", color=colour, ms=5, capsize=3, lw=1)
        axes.annotate(str(row["config"]), (row["gmacs"], mean), textcoords="offset points", xytext=(6, 4),
                      fontsize=7, color=colour)
    ordered = scored[front].sort_values("gmacs")
    axes.step(ordered["gmacs"], ordered[f"{metric}/mean"], where="post", color=BEST_COLOUR, alpha=0.4, lw=1)
    if scored["gmacs"].max() > 10 * scored["gmacs"].min():
        axes.set_xscale("log")  # tick labels as plain numbers: the report's style draws no TeX
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("GMACs per image (log scale)" if axes.get_xscale() == "log" else "GMACs per image")
    axes.set_ylabel(f"{metric} (mean over folds)")
    axes.grid(alpha=0.3)
    return data_uri(figure)


def _row(row: pd.Series, metric: str, front: bool) -> tuple[Cell, ...]:
    return (Cell(str(row["config"]), column="config"), number(row["gmacs"], 3, "gmacs"),
            number(row["params_m"], 2, "params_m"), number(row[f"{metric}/mean"], 4, f"{metric}/mean"),
            number(row[f"{metric}/ci_low"], 4, f"{metric}/ci_low"),
            number(row[f"{metric}/ci_high"], 4, f"{metric}/ci_high"),
            Cell("yes" if front else "", front, "on_front"))
