"""Which module reads each dataset kind that keeps one image per file, and which layout a path on disk is."""
from __future__ import annotations

import csv
from pathlib import Path

from tune_clothes.config import DatasetConfig
from tune_clothes.data import clothing, csv_dataset, image_folder
from tune_clothes.data.listing import Listing

#: Kinds whose images are files listed by a `Listing` (Fashion-MNIST keeps its images in one array file).
FILE_KINDS = ("clothing", "synthetic", "csv", "image_folder")


def listing(kind: str, root: Path, dataset: DatasetConfig | None = None) -> Listing:
    """The images `root` lists as a dataset of `kind`; `dataset` gives the CSV's columns and dropped classes."""
    dataset = dataset or DatasetConfig(kind=kind, root=str(root))
    if kind == "csv":
        return csv_dataset.listing(root, dataset.path_column, dataset.label_column)
    if kind == "image_folder":
        return image_folder.listing(root, dataset.drop_classes)
    return clothing.listing(root)


def image_file(kind: str, root: str, image_id: str) -> Path:
    """The file of image `image_id` in a dataset of `kind` at `root`."""
    if kind == "csv":
        return csv_dataset.image_file(root, image_id)
    if kind == "image_folder":
        return image_folder.image_file(root, image_id)
    return clothing.image_path(Path(root), image_id)


def detect_kind(path: Path, path_column: str = "path") -> str | None:
    """The file kind a path on disk looks like: a folder with images.csv is the Clothing Dataset, a CSV file
    with a `path_column` a csv dataset, any other folder an image folder; None for anything else."""
    if path.is_dir():
        return "clothing" if (path / clothing.CSV_NAME).is_file() else "image_folder"
    if path.suffix.lower() == ".csv" and path.is_file():
        with open(path, encoding="utf-8", errors="replace") as file:
            header = [name.strip() for name in next(csv.reader(file), [])]
        return "csv" if path_column in header else None
    return None
