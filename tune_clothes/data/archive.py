"""Unpacking a downloaded zip archive that nobody vouches for: nothing is written outside the target folder,
and an archive that would fill the disk (a zip bomb) is refused before anything is written.

Python's zipfile never writes more than a member's declared size (it stops there, then fails the CRC check),
so checking the declared sizes up front bounds what unpacking can write.
"""
from __future__ import annotations

import errno
import logging
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tune_clothes.config.errors import DataError

log = logging.getLogger(__name__)
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    """What an archive may unpack to. The Clothing Dataset's archive unpacks to about 0.16 GB of JPEGs,
    which barely compress (about 1:1); a zip bomb's members reach 1000:1."""
    max_total_bytes: int = 8 * 2**30  # bytes unpacked, all members together
    max_ratio: float = 100.0  # unpacked size / compressed size of one member ...
    ratio_from_bytes: int = 2**20  # ... checked for members that unpack to more than this (tiny files vary)


def extract_zip_safely(archive: Path, dest: Path, limits: ArchiveLimits = ArchiveLimits(),
                       source: str | None = None) -> list[str]:
    """Unpack `archive` into `dest`, dropping the archive's single top folder if it has one; errors call the
    archive `source` (e.g. the URL it came from; default: its path).

    Members that could write outside `dest` (absolute paths, `..`, drive letters, backslashes, symlinks) are
    skipped and returned; nothing is ever written outside `dest`. An archive over `limits` is refused
    (DataError), and one larger than the free space under `dest` raises OSError(ENOSPC), before anything is
    written.
    """
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = zipped.infolist()
            safe = {info.filename: path for info in members if (path := _member_path(info)) is not None}
            _check_sizes(source or str(archive), [info for info in members if info.filename in safe], limits,
                         dest)
            top = _single_top_folder(list(safe.values()))
            skipped = [info.filename for info in members if info.filename not in safe]
            for info in members:
                if info.filename in safe and not _extract_member(zipped, info, safe[info.filename], top, root):
                    skipped.append(info.filename)
    except (zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"{source or archive}: not a complete zip archive ({err}): download it again") from None
    if skipped:
        log.warning("skipped %d unsafe archive member(s) that could write outside %s: %s", len(skipped), dest,
                    ", ".join(map(repr, skipped[:10])))
    return skipped


def _check_sizes(archive: str, members: list[zipfile.ZipInfo], limits: ArchiveLimits, dest: Path) -> None:
    check = "it looks like a zip bomb: check where it came from"
    for info in members:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.ratio_from_bytes and ratio > limits.max_ratio:
            raise DataError(f"{archive}: refusing to unpack it: {info.filename!r} would unpack "
                            f"{_size(info.compress_size)} into {_size(info.file_size)} (ratio {ratio:.0f}:1, over "
                            f"the {limits.max_ratio:.0f}:1 limit): {check}")
    total = sum(info.file_size for info in members)
    if total > limits.max_total_bytes:
        raise DataError(f"{archive}: refusing to unpack it: it would unpack to {_size(total)}, over the "
                        f"{_size(limits.max_total_bytes)} limit: {check}")
    free = shutil.disk_usage(dest).free
    if total > free:  # what writing would end with, said before anything is written
        raise OSError(errno.ENOSPC, f"the archive unpacks to {_size(total)} but only {_size(free)} are free")


def _size(count: int) -> str:
    return f"{count / 1e9:.2f} GB" if count >= 1e9 else f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count} bytes"


def _member_path(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The member's relative path, or None when it is a link or a path that could leave the folder."""
    name = info.filename
    if stat.S_ISLNK(info.external_attr >> 16) or "\\" in name or "\x00" in name or re.match(r"^[A-Za-z]:", name):
        return None
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return None
    return path


def _single_top_folder(paths: list[PurePosixPath]) -> str | None:
    """The one folder every member is in (as GitHub archives have: `<repo>-<branch>/`), else None."""
    tops = {path.parts[0] for path in paths}
    if len(tops) != 1 or all(len(path.parts) == 1 for path in paths):
        return None
    return tops.pop()


def _extract_member(zipped: zipfile.ZipFile, info: zipfile.ZipInfo, path: PurePosixPath, top: str | None,
                    root: Path) -> bool:
    """Write one member under `root`; False (and nothing written) when it would land outside `root`."""
    parts = path.parts[1:] if top is not None else path.parts
    if not parts:
        return True  # the top folder itself
    target = root.joinpath(*parts)
    if not target.resolve().is_relative_to(root):  # e.g. through a link that is already there
        return False
    if info.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return True
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipped.open(info) as source, open(target, "wb") as out:
        shutil.copyfileobj(source, out, CHUNK_BYTES)
    return True
