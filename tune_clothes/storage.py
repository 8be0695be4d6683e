"""Reading and writing experiment files where Ray keeps results: a local or shared folder, or `s3://...`.

pyarrow's filesystems (which Ray itself uses for storage) give one API for both.
"""
from __future__ import annotations

import os
import posixpath

from pyarrow import fs as pafs


def is_uri(location: str) -> bool:
    return "://" in location


def _resolve(location: str) -> tuple[pafs.FileSystem, str]:
    if is_uri(location):
        return pafs.FileSystem.from_uri(location)
    return pafs.LocalFileSystem(), location


def join(location: str, *parts: str) -> str:
    return posixpath.join(location, *parts) if is_uri(location) else "/".join([location.rstrip("/"), *parts])


def exists(location: str) -> bool:
    filesystem, path = _resolve(location)
    return filesystem.get_file_info(path).type != pafs.FileType.NotFound


def read_text(location: str) -> str:
    filesystem, path = _resolve(location)
    with filesystem.open_input_stream(path) as stream:
        return stream.read().decode("utf-8")


def write_text(location: str, text: str) -> None:
    """Write the whole file; locally through a temporary name, so a reader never sees half of it."""
    filesystem, path = _resolve(location)
    filesystem.create_dir(posixpath.dirname(path), recursive=True)
    tmp = path if is_uri(location) else f"{path}.{os.getpid()}.tmp"  # per process: writers may race
    with filesystem.open_output_stream(tmp) as stream:
        stream.write(text.encode("utf-8"))
    if tmp != path:
        filesystem.move(tmp, path)


def list_dirs(location: str) -> list[str]:
    """The names of the folders directly inside `location`, sorted."""
    filesystem, path = _resolve(location)
    infos = filesystem.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return sorted(posixpath.basename(i.path) for i in infos if i.type == pafs.FileType.Directory)


def list_files(location: str) -> list[str]:
    filesystem, path = _resolve(location)
    infos = filesystem.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return sorted(posixpath.basename(i.path) for i in infos if i.type == pafs.FileType.File)


def delete(location: str) -> None:
    filesystem, path = _resolve(location)
    filesystem.delete_file(path)
