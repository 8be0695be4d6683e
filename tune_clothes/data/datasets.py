"""One entry point per dataset kind: `load_index(config)` gives the `DatasetIndex` a run uses, and
`read_pixels` decodes any slice of it for the image cache, whatever the kind."""
from __future__ import annotations

import functools
import hashlib
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from tune_clothes.config import DatasetConfig
from tune_clothes.config.errors import DataError
from tune_clothes.data import clothing, csv_dataset, layouts
from tune_clothes.data.class_policy import apply_class_policy
from tune_clothes.data.decode import ImageDecodeError, decode_image
from tune_clothes.data.index import DatasetIndex
from tune_clothes.data.listing import CsvRow, Listing
from tune_clothes.data.validation import scan

log = logging.getLogger(__name__)
CHANNELS = {"clothing": 3, "synthetic": 3, "csv": 3, "image_folder": 3, "fashion_mnist": 1}


def load_index(config: DatasetConfig) -> DatasetIndex:
    """Validate the dataset, leave out what is broken, apply the class policy; report all of it."""
    if config.kind == "fashion_mnist":
        index = index_fashion_mnist(config)
    else:
        index = index_files(dataset_root(config), config)
    for problem, ids in index.excluded.items():
        log.warning("%s: left out %d file(s): %s, e.g. %s", index.root, len(ids), problem, ids[:3])
    if index.dropped_classes:
        log.warning("%s: dropped classes by the class policy (class: images): %s", index.root,
                    index.dropped_classes)
    return index


def dataset_root(config: DatasetConfig) -> Path:
    """The dataset folder; synthetic data is generated there (or under the cache folder) on first use."""
    if config.kind != "synthetic":
        return Path(config.root)
    from tune_clothes.data.synthetic import generate_synthetic_dataset
    root = Path(config.root) if config.root else (
        Path(config.cache_dir) / "synthetic" / f"seed{config.synthetic_seed}-n{config.synthetic_images_per_class}")
    return generate_synthetic_dataset(root, images_per_class=config.synthetic_images_per_class,
                                      seed=config.synthetic_seed)


def index_files(root: Path, config: DatasetConfig) -> DatasetIndex:
    """The index of a layout that keeps one image per file (the Clothing Dataset, csv, image_folder)."""
    listing = layouts.listing(config.kind, root, config)
    usable, excluded = usable_rows(listing, Path(config.cache_dir))
    to_drop = [name for name in config.drop_classes if name not in listing.empty_classes]  # nothing to drop there
    keep, dropped = apply_class_policy([row.label for row in usable], config.min_images_per_class, to_drop,
                                       listing.source)
    usable = [row for row, k in zip(usable, keep) if k]
    class_names = tuple(sorted({row.label for row in usable}))
    class_id = {name: i for i, name in enumerate(class_names)}
    test = [i for i, row in enumerate(usable) if row.image in listing.test_ids]
    if listing.test_ids:
        require_training_images(listing.source, usable, test, class_names)
    return DatasetIndex(kind=config.kind, root=str(root), ids=tuple(row.image for row in usable),
                        labels=np.array([class_id[row.label] for row in usable], dtype=np.int64),
                        class_names=class_names, dropped_classes=dropped, excluded=excluded,
                        test_positions=tuple(test) if listing.test_ids else None,
                        id_column=config.path_column if config.kind == "csv" else None)


def require_training_images(source: str, rows: list[CsvRow], test: list[int], class_names: tuple[str, ...]) -> None:
    """A class seen only in test/ could never be learnt: refuse it by name instead of failing in the folds."""
    held_out = set(test)
    trained = {row.label for i, row in enumerate(rows) if i not in held_out}
    untrained = [name for name in class_names if name not in trained]
    if untrained:
        raise DataError(f"{source}: class(es) {untrained} have images in test/ only, none in train/ or val/: add "
                        f"training images, or list them in dataset.drop_classes")


def usable_rows(listing: Listing, cache_dir: Path | None) -> tuple[list[CsvRow], dict[str, list[str]]]:
    """The listed images that can be used (valid, present, decodable, first row of their id), and problem ->
    ids left out; no class policy applied."""
    report = scan(listing, cache_dir)
    id_of = {listing.file_of(row.image): row.image for row in listing.rows}
    excluded = {"missing files": report.missing_files, "empty labels": report.empty_labels,
                "unsafe ids": list(report.unsafe_ids),
                "corrupt files": [id_of[name] for name in report.corrupt_files],
                "files that are not images": report.not_images}
    bad = {image_id for ids in excluded.values() for image_id in ids}
    usable, seen, repeats = [], set(), []
    for row in listing.rows:
        if row.image in bad:
            continue
        if row.image in seen:  # a repeated id: the first row counts
            repeats.append(row.image)
            continue
        seen.add(row.image)
        usable.append(row)
    excluded["repeated rows of an id"] = repeats
    return usable, {k: v for k, v in excluded.items() if v}


def index_fashion_mnist(config: DatasetConfig) -> DatasetIndex:
    """The training split; class ids stay Fashion-MNIST's own (0..9) when no class is dropped."""
    from tune_clothes.data.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist
    _, raw_labels = load_fashion_mnist(config.root)
    names = [FASHION_MNIST_CLASSES[label] for label in raw_labels.tolist()]
    keep, dropped = apply_class_policy(names, config.min_images_per_class, config.drop_classes, config.root)
    kept_names = [n for n in FASHION_MNIST_CLASSES if n not in dropped]
    class_id = {name: i for i, name in enumerate(kept_names)}
    positions = [i for i, k in enumerate(keep) if k]
    return DatasetIndex(kind="fashion_mnist", root=config.root, ids=tuple(str(i) for i in positions),
                        labels=np.array([class_id[names[i]] for i in positions], dtype=np.int64),
                        class_names=tuple(kept_names), dropped_classes=dropped)


def load_groups(index: DatasetIndex, column: str) -> np.ndarray:
    """Each image's group (its value in `column` of the dataset's CSV, as a string), in the index's order."""
    if index.kind in ("fashion_mnist", "image_folder"):
        raise DataError(f"{index.root}: cv.group_by={column!r}, but a {index.kind} dataset has no group column: set "
                        f"cv.group_by to null")
    if index.kind == "csv":
        values = csv_dataset.read_column(Path(index.root), index.id_column, column, csv_dataset.normalise_path)
    else:
        values = clothing.read_column(Path(index.root), column)
    return np.array([values[image_id] for image_id in index.ids], dtype=str)


def content_key(index: DatasetIndex) -> str:
    """Changes when any image's bytes may have changed (size or mtime on this machine), unlike the fingerprint."""
    digest = hashlib.sha256(index.fingerprint().encode())
    if index.kind == "fashion_mnist":
        files = _fashion_files(index.root)
    else:
        files = [layouts.image_file(index.kind, index.root, image_id) for image_id in index.ids]
    for name, size, mtime_ns in _stamps(files):
        digest.update(f"{name}\t{size}\t{mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _fashion_files(root: str) -> list[Path]:
    """The CSV file, or every file of the IDX folder (also under torchvision's FashionMNIST/raw/)."""
    return [Path(root)] if os.path.isfile(root) else sorted(p for p in Path(root).rglob("*") if p.is_file())


def _stamps(files: Sequence[Path]) -> tuple[tuple[str, int, int], ...]:
    """(name, size in bytes, modification time in ns) of each file: what changes when its bytes do."""
    return tuple((file.name, (stat := file.stat()).st_size, stat.st_mtime_ns) for file in files)


def read_pixels(kind: str, root: str, ids: Sequence[str], size: int) -> tuple[np.ndarray, dict[int, str]]:
    """Images `ids` as uint8 (n, size, size, channels), and position -> reason for those that failed (zeros)."""
    out = np.zeros((len(ids), size, size, CHANNELS[kind]), dtype=np.uint8)
    failed: dict[int, str] = {}
    if kind == "fashion_mnist":
        images = _fashion_images(root, _stamps(_fashion_files(root)))
        for i, image_id in enumerate(ids):
            out[i, :, :, 0] = resize_grey(images[int(image_id)], size)
        return out, failed
    for i, image_id in enumerate(ids):
        try:
            out[i] = decode_image(layouts.image_file(kind, root, image_id), size)
        except (ImageDecodeError, OSError) as err:  # it became unreadable after validation
            failed[i] = f"{image_id}: {err}"
    return out, failed


@functools.lru_cache(maxsize=2)
def _fashion_images(root: str, stamps: tuple) -> np.ndarray:
    """All images of `root`, read once per process for all the chunks of a cache build; `stamps` (of its
    files) make a file changed since a read again, not one served from memory."""
    from tune_clothes.data.fashion_mnist import load_fashion_mnist
    return load_fashion_mnist(root)[0]


def resize_grey(image: np.ndarray, size: int) -> np.ndarray:
    """A grey Fashion-MNIST image (H x W uint8) at size x size, as the image cache holds it."""
    if image.shape == (size, size):
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))
