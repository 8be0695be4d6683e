"""The figures of section 5: the metric per axis value, and parallel coordinates of every configuration."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.ticker import LogFormatter, NullFormatter

from tune_clothes.analysis.leaderboard import plain_value
from tune_clothes.analysis.report.figures import BEST_COLOUR, OTHER_COLOUR, data_uri, new_figure, styled
from tune_clothes.config import Choice
from tune_clothes.config.labels import digits_to_tell_apart, readable
from tune_clothes.config.trial_record import ConfigurationStatus

if TYPE_CHECKING:
    from tune_clothes.analysis.report.effects import LevelEffect
    from tune_clothes.analysis.report.inputs import ReportInputs

PANELS_PER_ROW = 3


@styled
def axis_effects_plot(inputs: ReportInputs, complete: pd.DataFrame, effects: dict[str, list[LevelEffect]]) -> str:
    axes_names = list(inputs.experiment.search.axes)
    rows = math.ceil(len(axes_names) / PANELS_PER_ROW)
    columns = min(PANELS_PER_ROW, len(axes_names))
    figure = new_figure(2.4 * rows + 0.3, width=1.0 + 3.0 * columns)
    grid = figure.subplots(rows, columns, squeeze=False, sharey=True)
    metric = inputs.metric
    for i, axis in enumerate(axes_names):
        panel = grid[i // columns][i % columns]
        if axis in effects:
            levels = effects[axis]
            x = np.arange(len(levels))
            means = np.array([level.mean for level in levels])
            errors = np.array([[level.mean - level.ci_low, level.ci_high - level.mean] for level in levels]).T
            panel.errorbar(x, means, yerr=np.nan_to_num(errors), fmt="o", color=BEST_COLOUR, capsize=4)
            digits = digits_to_tell_apart(level.value for level in levels)
            panel.set_xticks(x, [f"{readable(level.value, digits)}\n({level.configurations})" for level in levels])
            panel.set_xlim(-0.5, len(levels) - 0.5)
        else:  # a Range: each configuration at its value
            values = inputs.experiment.search.axes[axis]
            x = pd.to_numeric(complete[axis], errors="coerce")
            mean = complete[f"{metric}/mean"]
            errors = np.vstack([mean - complete[f"{metric}/ci_low"], complete[f"{metric}/ci_high"] - mean])
            panel.errorbar(x, mean, yerr=np.nan_to_num(errors.astype(float)), fmt="o", color=BEST_COLOUR,
                           ecolor=OTHER_COLOUR, capsize=2, ms=4)
            if values.log:  # tick labels as plain numbers: the report's figures draw no TeX
                panel.set_xscale("log")
                panel.xaxis.set_major_formatter(LogFormatter())
                panel.xaxis.set_minor_formatter(NullFormatter())
        panel.set_title(axis)
        panel.grid(axis="y", alpha=0.3)
    for i in range(len(axes_names), rows * columns):
        grid[i // columns][i % columns].set_visible(False)
    for row in grid:
        row[0].set_ylabel(f"mean {metric}")
    return data_uri(figure)


@styled
def parallel_coordinates(inputs: ReportInputs) -> str:
    """One vertical axis per search axis and one for the metric; a line per configuration with a mean."""
    metric, search_axes = inputs.metric, inputs.experiment.search.axes
    board = inputs.board[inputs.board[f"{metric}/mean"].notna()]
    columns = list(search_axes)
    positions = np.column_stack([_positions(board[axis], search_axes[axis]) for axis in columns] +
                                [_scaled(board[f"{metric}/mean"].to_numpy(float))])
    figure = new_figure(3.0, width=min(10.0, 3.0 + 1.8 * len(columns)))
    axes = figure.add_subplot()
    norm = Normalize(board[f"{metric}/mean"].min(), board[f"{metric}/mean"].max())
    colours = colormaps["viridis"](norm(board[f"{metric}/mean"].to_numpy(float)))
    order = np.argsort(board[f"{metric}/mean"].to_numpy(float) * (1 if inputs.experiment.search.mode == "max" else -1))
    x = np.arange(len(columns) + 1)
    complete = (board["status"] == ConfigurationStatus.COMPLETE).to_numpy()
    lines = LineCollection([np.column_stack([x, positions[i]]) for i in order], colors=colours[order],
                           linestyles=["solid" if complete[i] else "dashed" for i in order],
                           linewidths=[2.8 if board["is_best"].iloc[i] else 1.0 for i in order], alpha=0.8)
    axes.add_collection(lines)
    for i, axis in enumerate(columns):
        axes.axvline(i, color="black", lw=0.6)
        for y, label in _ticks(board[axis], search_axes[axis]):
            axes.text(i + 0.02, y, label, fontsize=7, va="center")
    axes.axvline(len(columns), color="black", lw=0.6)
    axes.set_xlim(-0.1, len(columns) + 0.1)
    axes.set_ylim(-0.05, 1.05)
    axes.set_xticks(x, [*columns, metric])
    axes.set_yticks([])
    axes.spines[["left", "bottom"]].set_visible(False)
    figure.colorbar(ScalarMappable(norm, colormaps["viridis"]), ax=axes, label=f"mean {metric}")
    return data_uri(figure)


def ordered_values(axis: Choice) -> list:
    """A listed axis's values in the order to draw them: numbers from small to large, anything else as listed."""
    values = list(axis.values)
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    return sorted(values) if numbers else values


def _positions(values: pd.Series, axis) -> np.ndarray:
    """Each configuration's place on the axis, 0..1: listed values evenly spaced (see `ordered_values`);
    a range linearly (or on a log scale) from low to high."""
    if isinstance(axis, Choice):
        index = {_key(v): i for i, v in enumerate(ordered_values(axis))}
        return np.array([index.get(_key(v), 0) for v in values], dtype=float) / max(1, len(axis.values) - 1)
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(float)
    low, high = (math.log(axis.low), math.log(axis.high)) if axis.log else (axis.low, axis.high)
    return ((np.log(numbers) if axis.log else numbers) - low) / (high - low)


def _ticks(values: pd.Series, axis) -> list[tuple[float, str]]:
    if isinstance(axis, Choice):
        n = max(1, len(axis.values) - 1)
        return [(i / n, str(value)) for i, value in enumerate(ordered_values(axis))]
    return [(0.0, f"{axis.low:g}"), (1.0, f"{axis.high:g}")]


def _scaled(values: np.ndarray) -> np.ndarray:
    span = np.nanmax(values) - np.nanmin(values)
    return (values - np.nanmin(values)) / span if span > 0 else np.full_like(values, 0.5)


def _key(value: object) -> object:
    value = plain_value(value)
    return ("none",) if value is None else (type(value).__name__ == "bool", value)
