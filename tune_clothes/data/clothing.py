"""The Clothing Dataset layout: `images.csv` (image,sender_id,label,kids) and `images/<image>.jpg`."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tune_clothes.config.errors import DataError

CSV_NAME = "images.csv"
IMAGES_DIR = "images"
IMAGE_SUFFIX = ".jpg"
REQUIRED_COLUMNS = ("image", "label")
FORBIDDEN_IN_IDS = ("/", "\\", ":", "\x00")


@dataclass(frozen=True)
class CsvRow:
    image: str  # the id: the file stem under images/
    label: str
    line: int  # line number in images.csv, for messages


def require_layout(root: Path) -> None:
    """Refuse a folder that is not a Clothing Dataset at all (a usage error, not a data problem)."""
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; pass the dataset folder that holds {CSV_NAME} and {IMAGES_DIR}/ "
                        f"(get it with: python -m tune_clothes.download clothing {root})")
    if not (root / CSV_NAME).is_file():
        raise DataError(f"{root}: no {CSV_NAME} here; a Clothing Dataset folder holds {CSV_NAME} and {IMAGES_DIR}/")


def read_images_csv(root: Path) -> list[CsvRow]:
    """The rows of images.csv as written (ids and labels stripped of surrounding blanks), in file order."""
    require_layout(root)
    path = root / CSV_NAME
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable CSV file ({err}); it needs the columns "
                        f"{', '.join(REQUIRED_COLUMNS)}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(table.columns)}; the header must "
                        f"include {', '.join(REQUIRED_COLUMNS)}")
    images = table["image"].str.strip().tolist()
    labels = table["label"].str.strip().tolist()
    return [CsvRow(image, label, line) for line, (image, label) in enumerate(zip(images, labels), start=2)]


def read_column(root: Path, column: str) -> dict[str, str]:
    """Image id -> its value in `column` of images.csv (the first row of a repeated id counts, as in the index).

    For `cv.group_by`: a missing column or an empty value is an error, since an image without a group could
    share one with any other."""
    path = root / CSV_NAME
    table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    if column not in table.columns:
        raise DataError(f"{path}: cv.group_by={column!r} is not a column here; the columns are "
                        f"{list(table.columns)}: set cv.group_by to one of them, or to null")
    table = table.assign(image=table["image"].str.strip(), value=table[column].str.strip())
    table = table.drop_duplicates("image", keep="first")
    empty = table.loc[table["value"] == "", "image"].tolist()
    if empty:
        raise DataError(f"{path}: {len(empty)} image(s) have no {column} (e.g. {empty[:3]}), so cv.group_by="
                        f"{column!r} cannot tell which group they belong to: fill the column in, or set "
                        f"cv.group_by to null")
    return dict(zip(table["image"], table["value"]))


def unsafe_id_reason(image_id: str, images_dir: Path) -> str | None:
    """Why an id must not be opened (it could name a file outside images/), or None when it is safe."""
    if not image_id:
        return "empty id"
    if image_id in (".", "..") or any(c in image_id for c in FORBIDDEN_IN_IDS) or os.path.isabs(image_id):
        return "a path, not a file name"
    path = image_path(images_dir.parent, image_id)
    if path.is_symlink() and not path.resolve().is_relative_to(images_dir.resolve()):
        return "a link to a file outside the images folder"
    return None


def image_path(root: Path, image_id: str) -> Path:
    return root / IMAGES_DIR / f"{image_id}{IMAGE_SUFFIX}"


def list_image_files(root: Path) -> list[str]:
    """File names in images/ (every regular file, whatever its suffix), sorted."""
    folder = root / IMAGES_DIR
    if not folder.is_dir():
        return []
    return sorted(entry.name for entry in os.scandir(folder) if entry.is_file())
