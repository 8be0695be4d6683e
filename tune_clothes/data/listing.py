"""What a dataset layout lists: its labelled images, the files it could have listed, and what it refused.

Every layout that keeps one photo per file (the Clothing Dataset, a CSV of paths, an image folder) describes
itself as a `Listing`; `validation.scan` then finds the same problems in all of them (missing, unreadable,
duplicate and unlisted files), and `datasets` builds the same `DatasetIndex` from any of them.
"""
from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tune_clothes.config.errors import DataError

#: What a layout treats as an image by its name; other files are counted and left out.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
#: Folders that archivers add beside the data (macOS zip files): never a class.
ARCHIVER_FOLDERS = ("__MACOSX",)


@dataclass(frozen=True)
class CsvRow:
    image: str  # the id: how the index names the image (a Clothing Dataset stem, a path relative to the files)
    label: str
    line: int  # line number in the CSV file (0 where no file lists it), for messages


@dataclass
class Listing:
    source: str  # the file or folder that lists the images, for messages
    files_dir: Path  # file names below are relative to it
    rows: list[CsvRow]  # as listed, in order (repeats and empty labels included: validation reports them)
    file_of: Callable[[str], str]  # id -> its file name relative to files_dir
    present: list[str]  # image file names under files_dir that the layout could have listed
    unsafe: dict[str, str] = field(default_factory=dict)  # id -> why it is never opened
    test_ids: frozenset[str] = frozenset()  # ids the layout itself holds out (an image folder's test/)
    not_images: list[str] = field(default_factory=list)  # files left out because their names are not images
    empty_classes: tuple[str, ...] = ()  # class folders without an image that dataset.drop_classes drops


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def is_hidden(name: str) -> bool:
    return name.startswith(".") or name in ARCHIVER_FOLDERS


def escapes(relative: str, base: Path) -> str | None:
    """Why `relative` (a path read from the data) would open a file outside `base`, or None when it stays in."""
    if not relative:
        return "an empty path"
    if os.path.isabs(relative) or relative.startswith(("/", "\\")):
        return "an absolute path"
    if posixpath.normpath(relative.replace("\\", "/")).split("/")[0] == "..":
        return "a path that climbs out with '..'"
    path = base / relative
    folders_between = [parent for parent in path.parents if parent != base and parent.is_relative_to(base)]
    if path.is_symlink() or any(folder.is_symlink() for folder in folders_between):
        if not path.resolve().is_relative_to(base.resolve()):
            return "a link leading outside the folder"
    return None


def refuse_escapes(escaping: dict[str, str], source: str, base: Path, fix: str) -> None:
    """Raise one DataError for every path that leads outside `base`: such data is refused, not left out."""
    if escaping:
        shown = "; ".join(f"{path!r} ({why})" for path, why in list(escaping.items())[:3])
        more = f" and {len(escaping) - 3} more" if len(escaping) > 3 else ""
        raise DataError(f"{source}: {len(escaping)} path(s) lead outside {base}: {shown}{more}; {fix}")


def image_files_under(base: Path) -> list[str]:
    """Image file names under `base`, recursively, relative to it (hidden files and folders skipped)."""
    found = []
    for folder, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        relative = Path(folder).relative_to(base)
        found += [(relative / name).as_posix() for name in sorted(files) if not is_hidden(name) and is_image_name(name)]
    return found
