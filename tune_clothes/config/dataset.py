"""The `dataset` section of an experiment: which dataset kind, where it is, and the class policy."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tune_clothes.config.errors import require

DatasetKind = Literal["clothing", "csv", "image_folder", "fashion_mnist", "synthetic"]


@dataclass(frozen=True)
class DatasetConfig:
    kind: DatasetKind = "synthetic"
    root: str | None = None  # dataset folder (csv: the CSV file; fashion_mnist: a folder of IDX files, or a CSV file)
    min_images_per_class: int = 1  # classes with fewer images are dropped (and reported)
    drop_classes: tuple[str, ...] = ()
    cache_dir: str = "~/.cache/tune_clothes"  # decoded-image cache and verification results
    synthetic_images_per_class: int = 60  # synthetic only
    synthetic_seed: int = 0  # synthetic only
    path_column: str = "path"  # csv only: each image's path, relative to the CSV's folder
    label_column: str = "label"  # csv only: each image's class

    def __post_init__(self) -> None:
        require(self.kind == "synthetic" or bool(self.root), "dataset.root", self.root,
                f"a {self.kind} dataset needs a root folder: set dataset.root")
        for key in ("path_column", "label_column"):
            value = getattr(self, key)
            require(bool(value.strip()), f"dataset.{key}", value, "name a column of the CSV file")
        require(self.path_column != self.label_column, "dataset.label_column", self.label_column,
                "must differ from dataset.path_column")
        require(self.min_images_per_class >= 1, "dataset.min_images_per_class", self.min_images_per_class,
                "must be at least 1")
        require(self.synthetic_images_per_class >= 2, "dataset.synthetic_images_per_class",
                self.synthetic_images_per_class, "must be at least 2")
