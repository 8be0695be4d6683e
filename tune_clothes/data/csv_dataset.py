"""`dataset.kind: csv`: one CSV file with a path column and a label column, paths relative to the CSV's folder.

`dataset.root` is the CSV file. Any other column can be `cv.group_by`. The Clothing Dataset's `images.csv` is
read by the same table reader (`read_table`, `read_column`); only its path rule differs.
"""
from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from tune_clothes.config.errors import DataError
from tune_clothes.data.listing import CsvRow, Listing, escapes, is_hidden, is_image_name, refuse_escapes


def read_table(path: Path, required: Sequence[str], fix: str) -> pd.DataFrame:
    """The CSV as strings (no NaN: an empty cell is ''), refused with `fix` when a required column is missing."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; {fix}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, IsADirectoryError) as err:
        raise DataError(f"{path}: not a readable CSV file ({err}); it needs the columns "
                        f"{', '.join(required)}") from None
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(table.columns)}; {fix}")
    return table


def rows_of(table: pd.DataFrame, id_column: str, label_column: str,
            normalise: Callable[[str], str] = str) -> list[CsvRow]:
    """One row per line (line numbers as in the file: the header is line 1), ids and labels stripped."""
    ids = [normalise(value) for value in table[id_column].str.strip()]
    labels = table[label_column].str.strip().tolist()
    return [CsvRow(image, label, line) for line, (image, label) in enumerate(zip(ids, labels), start=2)]


def read_column(path: Path, id_column: str, column: str, normalise: Callable[[str], str] = str) -> dict[str, str]:
    """Image id -> its value in `column` (the first row of a repeated id counts, as in the index).

    For `cv.group_by`: a missing column or an empty value is an error, since an image without a group could
    share one with any other."""
    table = read_table(path, (id_column,), f"it names each image in {id_column!r}")
    if column not in table.columns:
        raise DataError(f"{path}: cv.group_by={column!r} is not a column here; the columns are "
                        f"{list(table.columns)}: set cv.group_by to one of them, or to null")
    ids = [normalise(value) for value in table[id_column].str.strip()]
    table = table.assign(image=ids, value=table[column].str.strip()).drop_duplicates("image", keep="first")
    empty = table.loc[table["value"] == "", "image"].tolist()
    if empty:
        raise DataError(f"{path}: {len(empty)} image(s) have no {column} (e.g. {empty[:3]}), so cv.group_by="
                        f"{column!r} cannot tell which group they belong to: fill the column in, or set "
                        f"cv.group_by to null")
    return dict(zip(table["image"], table["value"]))


def normalise_path(value: str) -> str:
    """A path as the CSV wrote it, in one spelling ('./a/b.jpg' and 'a//b.jpg' are 'a/b.jpg')."""
    return posixpath.normpath(value) if value else ""


def image_file(root: str | Path, image_id: str) -> Path:
    return Path(root).parent / image_id


def listing(csv_path: Path, path_column: str = "path", label_column: str = "label") -> Listing:
    """The CSV's rows; a path leading outside the CSV's folder refuses the whole file."""
    if csv_path.is_dir():
        raise DataError(f"{csv_path}: a folder; dataset.kind csv reads one CSV file: set dataset.root to the CSV "
                        f"(or dataset.kind to image_folder for a folder of class folders)")
    fix = (f"set dataset.path_column and dataset.label_column (verify: --path-column, --label-column) to the "
           f"columns that hold each image's path (relative to {csv_path.parent}) and its class")
    table = read_table(csv_path, (path_column, label_column), fix)
    rows = rows_of(table, path_column, label_column, normalise_path)
    base = csv_path.parent
    escaping = {row.image: why for row in rows if row.image and (why := escapes(row.image, base))}
    refuse_escapes(escaping, str(csv_path), base, "paths are relative to the CSV's folder: move the CSV to a "
                                                  "folder that holds the images, or the images under it")
    return Listing(str(csv_path), base, rows, file_of=str, present=images_beside(base, rows),
                   unsafe={row.image: "an empty path" for row in rows if not row.image})


def images_beside(base: Path, rows: list[CsvRow]) -> list[str]:
    """Image files in the folders the CSV's images are in (not below them, not elsewhere under the CSV's folder,
    which may be a home folder): the ones a row could have been meant to list."""
    folders = sorted({posixpath.dirname(row.image) for row in rows if row.image})
    found = []
    for folder in folders:
        if (base / folder).is_dir():
            found += [posixpath.join(folder, entry.name) if folder else entry.name
                      for entry in sorted(os.scandir(base / folder), key=lambda e: e.name)
                      if entry.is_file() and not is_hidden(entry.name) and is_image_name(entry.name)]
    return found
