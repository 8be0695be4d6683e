"""Labelled images to measure a model on, read at the model's side by the image cache's own readers.

`open_labelled_data` reads any layout the project reads (a Clothing Dataset folder with images.csv, an image
folder, a CSV of paths and labels, a folder of Fashion-MNIST IDX files, a Fashion-MNIST CSV file), validated
as for a search (missing, corrupt and unsafe files are left out and reported), with labels matched to the
model's classes by name: rows of a class the model does not know are reported and left out, never mislabelled.
`from_index` gives a part of an experiment's own dataset (the locked holdout, the export check's images).
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from tune_clothes.config import DatasetConfig
from tune_clothes.config.errors import DataError
from tune_clothes.data import image_folder, layouts
from tune_clothes.data.datasets import read_pixels, resize_grey, usable_rows
from tune_clothes.data.index import DatasetIndex

#: (start, stop) -> uint8 (stop - start, side, side, channels) pixels, and row - start -> why it is unreadable
Reader = Callable[[int, int], tuple[np.ndarray, dict[int, str]]]


@dataclass(frozen=True)
class LabelledSet:
    description: str  # what the images are, for messages and the metrics file
    labels: np.ndarray  # the model's class id of each image
    read: Reader
    left_out: dict[str, list[str]] = field(default_factory=dict)  # problem -> ids left out before reading
    unknown_classes: dict[str, int] = field(default_factory=dict)  # class the model lacks -> rows left out

    def __len__(self) -> int:
        return len(self.labels)


def from_index(index: DatasetIndex, positions: np.ndarray, size: int, description: str) -> LabelledSet:
    """Images `positions` of an experiment's dataset (its class ids are the model's)."""
    ids = [index.ids[p] for p in positions]
    return LabelledSet(description, index.labels[positions],
                       lambda start, stop: read_pixels(index.kind, index.root, ids[start:stop], size))


LAYOUTS = ("a Clothing Dataset folder (images.csv and images/), an image folder (root/<class>/<image>), a CSV "
           "file of image paths and labels, a folder of Fashion-MNIST IDX files, or a Fashion-MNIST CSV file")


def open_labelled_data(root: str | Path, class_names: Sequence[str], size: int, cache_dir: Path,
                       split: str = "test", columns: Sequence[str] = ("path", "label")) -> LabelledSet:
    """A labelled dataset in any layout the project reads. `split` picks Fashion-MNIST's IDX files, or an image
    folder's test/ (or train/ and val/) when it is split by folder; `columns`: a CSV's path and label columns."""
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"{root}: no such file or folder; pass {LAYOUTS}")
    kind = layouts.detect_kind(root, columns[0])
    if kind in ("clothing", "csv"):
        return _files(kind, root, class_names, size, cache_dir, split, columns)
    from tune_clothes.data.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist
    try:
        images, raw = load_fashion_mnist(root, split)
    except DataError as err:
        if kind == "image_folder" and image_folder.visible_folders(root):
            return _files(kind, root, class_names, size, cache_dir, split, columns)
        raise DataError(f"{root}: not a dataset layout the project reads ({LAYOUTS}); as Fashion-MNIST: "
                        f"{err}") from None
    names = [FASHION_MNIST_CLASSES[label] for label in raw.tolist()]
    known, labels, unknown = _match(names, class_names)

    def read(start: int, stop: int) -> tuple[np.ndarray, dict[int, str]]:
        return np.stack([resize_grey(images[i], size) for i in known[start:stop]])[..., None], {}

    what = f"{root} ({split} split)" if root.is_dir() else str(root)
    return LabelledSet(what, labels, read, unknown_classes=unknown)


def _files(kind: str, root: Path, class_names: Sequence[str], size: int, cache_dir: Path, split: str,
           columns: Sequence[str]) -> LabelledSet:
    """Images kept one per file, validated as for a search; an image folder split by folder gives `split`."""
    dataset = DatasetConfig(kind=kind, root=str(root), path_column=columns[0], label_column=columns[1])
    listing = layouts.listing(kind, root, dataset)
    rows, left_out = usable_rows(listing, cache_dir)
    what = str(root)
    if listing.test_ids:  # an image folder split by folder: only `split`'s images, and only its problems
        def in_split(image_id: str) -> bool:
            return image_folder.held_out(image_id) == (split == "test")
        rows = [row for row in rows if in_split(row.image)]
        left_out = {problem: kept for problem, ids in left_out.items() if (kept := [i for i in ids if in_split(i)])}
        what = f"{root} ({'test/' if split == 'test' else 'train/ and val/'})"
    if not rows:
        problems = ", ".join(f"{len(ids)} with {problem}" for problem, ids in left_out.items()) or "no images"
        raise DataError(f"{what}: no usable labelled image ({problems}); python -m tune_clothes.verify {root} "
                        f"lists the problems")
    known, labels, unknown = _match([row.label for row in rows], class_names)
    ids = [rows[i].image for i in known]
    return LabelledSet(what, labels, lambda start, stop: read_pixels(kind, str(root), ids[start:stop], size),
                       left_out=left_out, unknown_classes=unknown)


def _match(names: Sequence[str], class_names: Sequence[str]) -> tuple[list[int], np.ndarray, dict[str, int]]:
    """Rows whose class the model knows, their class ids, and unknown class -> rows."""
    class_id = {name: i for i, name in enumerate(class_names)}
    known = [i for i, name in enumerate(names) if name in class_id]
    unknown = dict(sorted(collections.Counter(n for n in names if n not in class_id).items()))
    if not known:
        raise DataError(f"none of the data's classes {sorted(set(names))[:10]} is a class of the model "
                        f"{list(class_names)[:10]}; labels are matched by class name: is this the data the "
                        f"model was made for?")
    return known, np.array([class_id[names[i]] for i in known], dtype=np.int64), unknown
