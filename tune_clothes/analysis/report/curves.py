"""Section 4, learning curves of the top configurations: per epoch, the fold mean of the training and
validation loss, accuracy, macro precision and recall (the original project's four plots) and the search
metric, with a band from the lowest to the highest fold."""
from __future__ import annotations

import pandas as pd
from matplotlib.ticker import MaxNLocator

from tune_clothes.analysis.report.blocks import Figure, Section
from tune_clothes.analysis.report.figures import BAD_COLOUR, BEST_COLOUR, data_uri, new_figure, styled
from tune_clothes.analysis.report.inputs import ReportInputs, partial_note

CURVE_CONFIGS = 3  # configurations shown
PANELS = ("loss", "acc", "precision_macro", "recall_macro")  # the seed's four plots, train and val each


def curves_section(inputs: ReportInputs) -> Section:
    top = inputs.shown(CURVE_CONFIGS)
    history = inputs.history[inputs.history["config"].isin(top["config"])]
    if top.empty or history.empty:
        return Section("curves", "Learning curves", missing="No configuration has finished a fold yet.")
    panels = list(PANELS)
    short = inputs.metric.split("/", 1)[1]
    if short not in panels:
        panels.append(short)
    titles = {row["config"]: row["config"] + partial_note(row) for _, row in top.iterrows()}
    uri = learning_curves(history, titles, panels)
    caption = ("Per epoch, the mean over folds (line) and the range from the lowest to the highest fold (band); "
               "training dashed (red), validation solid (blue). Rows: the top configurations, best first. A fold "
               "that has not reached an epoch yet is not in that epoch's mean.")
    return Section("curves", "Learning curves of the top configurations",
                   [Figure(uri, f"learning curves of the top {len(top)} configurations", caption)])


@styled
def learning_curves(history: pd.DataFrame, configs: dict[str, str], panels: list[str]) -> str:
    """`configs`: configuration -> the title of its row."""
    figure = new_figure(1.9 * len(configs) + 0.4)
    grid = figure.subplots(len(configs), len(panels), squeeze=False, sharex="row")
    for row, config in enumerate(configs):
        epochs = history[history["config"] == config].groupby("epoch")
        for column, panel in enumerate(panels):
            axes = grid[row][column]
            for part, colour, style in (("train", BAD_COLOUR, "--"), ("val", BEST_COLOUR, "-")):
                name = f"{part}/{panel}"
                stats = epochs[name].agg(["mean", "min", "max"]).dropna()
                axes.plot(stats.index, stats["mean"], style, color=colour, lw=1.4, label=part)
                axes.fill_between(stats.index, stats["min"], stats["max"], color=colour, alpha=0.15, lw=0)
            axes.set_title(panel if row == 0 else "")
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.grid(alpha=0.3)
            if row == len(configs) - 1:
                axes.set_xlabel("epoch")
        grid[row][0].set_ylabel(_wrap(configs[config]), fontsize=7)
    grid[0][0].legend(loc="best")
    return data_uri(figure)


def _wrap(label: str, width: int = 28) -> str:
    """A configuration label on several lines, at its commas, to fit beside a plot."""
    lines, line = [], ""
    for part in label.split(", "):
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = part
        else:
            line = f"{line}, {part}" if line else part
    return "\n".join([*lines, line])
