"""What a report section is made of: text, facts, tables, figures and thumbnails, as plain data.

Section builders return these and never write HTML; the page template renders them with Jinja2's
autoescaping, so text that comes from the data (class names, ids, paths, error messages, axis values) is
escaped wherever it lands.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Cell:
    text: str
    value: Any = None  # the full-precision value behind `text` (the page's data-value), for programs
    column: str = ""  # the CSV column the value comes from (data-column), e.g. `val/acc/mean`
    css: str = ""  # num, tied, bad, ...
    bar: float | None = None  # 0..1: a horizontal bar drawn behind the text (shares, proportions)


@dataclass(frozen=True)
class Text:
    text: str
    kind: str = "text"


@dataclass(frozen=True)
class Facts:
    """Label: value pairs."""
    items: tuple[tuple[str, str], ...]
    kind: str = "facts"


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    name: str = ""  # data-table attribute: which table this is, for programs that read the page
    caption: str = ""
    kind: str = "table"


@dataclass(frozen=True)
class Figure:
    uri: str  # data:image/png;base64,...
    alt: str
    caption: str = ""
    kind: str = "figure"


@dataclass(frozen=True)
class Thumbnail:
    uri: str
    lines: tuple[str, ...]  # what to print under the image


@dataclass(frozen=True)
class Gallery:
    items: tuple[Thumbnail, ...]
    kind: str = "gallery"


@dataclass
class Section:
    anchor: str
    title: str
    blocks: list = field(default_factory=list)
    missing: str = ""  # why the section does not apply (then it has no blocks)


def number(value: Any, digits: int = 4, column: str = "", css: str = "num") -> Cell:
    """A numeric cell: `-` for a missing value, else `digits` decimals; the exact value kept beside it."""
    if value is None or pd.isna(value):
        return Cell("-", None, column, css)
    return Cell(f"{float(value):.{digits}f}", float(value), column, css)
