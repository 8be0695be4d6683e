"""`dataset.kind: image_folder`: the layout every tool reads, `root/<class>/...` (images found recursively).

Split by folder when `root/train/` exists: `train/<class>/...` and `val/<class>/...` form the pool the folds
are cut from, and `test/<class>/...` is the locked holdout that `final` measures. An image's id is its path
relative to the root ('shirt/a.jpg', 'test/shirt/b.jpg'); its class is the name of its class folder.

Hidden files and folders (and `__MACOSX/`) are ignored; files whose names are not images are counted and left
out; a link leading outside the root refuses the dataset; so does an empty class folder, unless its class is
dropped (`dataset.drop_classes`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from tune_clothes.config.errors import DataError
from tune_clothes.data.listing import IMAGE_SUFFIXES, CsvRow, Listing, escapes, is_hidden, is_image_name, refuse_escapes

SPLITS = ("train", "val", "test")
HELD_OUT = "test"


def image_file(root: str | Path, image_id: str) -> Path:
    return Path(root) / image_id


def held_out(relative: str) -> bool:
    """Whether a file (its path from the root) is in test/, the locked holdout of a folder split by folder."""
    return relative.startswith(f"{HELD_OUT}/")


def listing(root: Path, drop_classes: Sequence[str] = ()) -> Listing:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; dataset.kind image_folder reads a folder of class folders "
                        f"(root/<class>/<image>), or root/train/<class>/... with root/test/<class>/...")
    rows, not_images, escaping, empty, dropped_empty = [], [], {}, [], set()
    for part in parts(root):
        classes = visible_folders(root / part)
        if not classes:
            raise DataError(f"{root / part}: no class folders here; an image folder holds one folder per class "
                            f"(root/<class>/<image>)")
        for name in classes:
            images, others, outside = walk_class(root, Path(part, name))
            rows += [CsvRow(image, name, 0) for image in images]
            not_images += others
            escaping.update(outside)
            if not images:
                if name in drop_classes:
                    dropped_empty.add(name)
                else:
                    empty.append((Path(part, name).as_posix(), len(others)))
    refuse_escapes(escaping, str(root), root, "copy the files into the folder instead of linking to them")
    refuse_empty(root, empty)
    listed = {row.image for row in rows}
    present, stray = loose_files(root, listed)
    return Listing(str(root), root, rows, file_of=str, present=present, not_images=sorted(not_images + stray),
                   test_ids=frozenset(row.image for row in rows if held_out(row.image)),
                   empty_classes=tuple(sorted(dropped_empty - {row.label for row in rows})))


def parts(root: Path) -> list[str]:
    """'' for a plain image folder; the split folders present when it is split by folder."""
    top = visible_folders(root)
    if "train" not in top:
        if HELD_OUT in top:
            raise DataError(f"{root}: has {HELD_OUT}/ but no train/; a folder split by folder holds train/<class>/ "
                            f"and {HELD_OUT}/<class>/ (and optionally val/<class>/): add train/, or rename "
                            f"{HELD_OUT}/ if it is a class")
        return [""]
    others = [name for name in top if name not in SPLITS]
    if others:
        raise DataError(f"{root}: has train/, so its folders must be train/, val/ and test/, but it also holds "
                        f"{others}: move them into one of those, or out of the dataset")
    return [name for name in SPLITS if name in top]


def visible_folders(folder: Path) -> list[str]:
    return sorted(entry.name for entry in os.scandir(folder)
                  if entry.is_dir(follow_symlinks=False) and not is_hidden(entry.name))


def walk_class(root: Path, class_dir: Path) -> tuple[list[str], list[str], dict[str, str]]:
    """Image ids below `class_dir`, the files there that are not images, and links that lead out of the root."""
    images, others, outside = [], [], {}
    for folder, dirs, files in os.walk(root / class_dir):
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        relative = Path(folder).relative_to(root)
        for name in sorted(files) + [d for d in dirs if (Path(folder) / d).is_symlink()]:
            image_id = (relative / name).as_posix()
            if is_hidden(name):
                continue
            if why := escapes(image_id, root):
                outside[image_id] = why
            elif (Path(folder) / name).is_dir():
                continue  # a link to a folder inside the root: its images are found where they are
            elif is_image_name(name):
                images.append(image_id)
            else:
                others.append(image_id)
    return images, others, outside


def loose_files(root: Path, listed: set[str]) -> tuple[list[str], list[str]]:
    """Image files under the root that no class folder holds (listed as present, so verify reports them as
    unlisted), and the other files beside them."""
    images, others = [], []
    for folder in [root] + [root / part for part in SPLITS if (root / part).is_dir()]:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.is_file() and not is_hidden(entry.name):
                name = Path(entry.path).relative_to(root).as_posix()
                (images if is_image_name(name) else others).append(name)
    return sorted(listed) + images, others


def refuse_empty(root: Path, empty: list[tuple[str, int]]) -> None:
    if empty:
        shown = ", ".join(f"{name}/" + (f" ({n} files that are not images)" if n else "") for name, n in empty[:5])
        named = ", ".join(f"*{suffix}" for suffix in IMAGE_SUFFIXES)
        raise DataError(f"{root}: {len(empty)} class folder(s) hold no image ({shown}); images are files named "
                        f"{named}: add images, remove the folder, or list its class in dataset.drop_classes")
