"""The Clothing Dataset layout: `images.csv` (image,sender_id,label,kids) and `images/<image>.jpg`.

A case of the CSV layout (`csv_dataset`) whose path column holds file stems under `images/`."""
from __future__ import annotations

import os
from pathlib import Path

from tune_clothes.config.errors import DataError
from tune_clothes.data import csv_dataset
from tune_clothes.data.listing import CsvRow, Listing

CSV_NAME = "images.csv"
IMAGES_DIR = "images"
IMAGE_SUFFIX = ".jpg"
ID_COLUMN = "image"
REQUIRED_COLUMNS = (ID_COLUMN, "label")
FORBIDDEN_IN_IDS = ("/", "\\", ":", "\x00")


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
    table = csv_dataset.read_table(root / CSV_NAME, REQUIRED_COLUMNS, f"the header must include "
                                                                      f"{', '.join(REQUIRED_COLUMNS)}")
    return csv_dataset.rows_of(table, ID_COLUMN, "label")


def listing(root: Path) -> Listing:
    """images.csv's rows; an id that could name a file outside images/ is never opened (and reported)."""
    rows = read_images_csv(root)
    images_dir = root / IMAGES_DIR
    unsafe = {row.image: why for row in rows if (why := unsafe_id_reason(row.image, images_dir))}
    return Listing(str(root / CSV_NAME), images_dir, rows, file_of=lambda image_id: f"{image_id}{IMAGE_SUFFIX}",
                   present=list_image_files(root), unsafe=unsafe)


def read_column(root: Path, column: str) -> dict[str, str]:
    """Image id -> its value in `column` of images.csv: for `cv.group_by`."""
    return csv_dataset.read_column(root / CSV_NAME, ID_COLUMN, column)


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
