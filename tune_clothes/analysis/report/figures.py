"""Matplotlib figures for the report, drawn with the Agg canvas and embedded as PNG data URIs.

Figures are made with matplotlib's object-oriented API (`Figure` on a `FigureCanvasAgg`), never with pyplot:
no global backend is chosen, no window can open, and nothing is set at import time.
"""
from __future__ import annotations

import base64
import functools
import io
from typing import Any, Callable, Sequence, TypeVar

from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 96  # pixels per inch of the PNGs: sharp on a laptop screen, small files
WIDTH = 10.0  # inches: the page's text width at DPI
STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
         "axes.spines.top": False, "axes.spines.right": False,
         "text.parse_math": False}  # text from the data (a class named "$x$") is drawn as it is, never as TeX
BEST_COLOUR, OTHER_COLOUR, TIED_COLOUR, BAD_COLOUR = "#1f6fb2", "#7f7f7f", "#4aa3df", "#c0392b"


Draw = TypeVar("Draw", bound=Callable[..., Any])


def styled(draw: Draw) -> Draw:
    """Decorator of the functions that draw: the report's style (fonts, spines) while they run, and matplotlib's
    own settings back afterwards."""
    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with rc_context(STYLE):
            return draw(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def new_figure(height: float, width: float = WIDTH) -> Figure:
    """A figure of `height` x `width` inches, on its own Agg canvas (call it inside a `styled` function)."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def data_uri(figure: Figure) -> str:
    """The figure as a PNG data URI (the figure is closed: its memory is freed)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    figure.clear()
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def short_labels(labels: Sequence[str], width: int = 48) -> list[str]:
    """Labels cut to `width` characters for an axis (the tables beside the figures show them whole)."""
    return [label if len(label) <= width else label[:width - 1] + "…" for label in labels]
