"""Reading and writing files where results live: a local or shared folder, or `s3://...`; and `atomic_path`,
the one way this project writes a local file (a reader sees the old file or the new one, never half of one).

pyarrow's filesystems (which Ray itself uses for storage) give one API for local paths and URIs.
"""
from __future__ import annotations

import os
import posixpath
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pyarrow import fs as pafs


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary name beside `path` to write to, renamed to `path` when the block ends without error.

    The name is unique per process and thread, so concurrent writers never share a half-written file; a
    failed write leaves the previous file as it was and no temporary file behind.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
    return read_bytes(location).decode("utf-8")


def read_bytes(location: str) -> bytes:
    filesystem, path = _resolve(location)
    with filesystem.open_input_stream(path) as stream:
        return stream.read()


def write_text(location: str, text: str) -> None:
    """Write the whole file: locally with `atomic_path`; an object store writes an object whole anyway."""
    write_bytes(location, text.encode("utf-8"))


def write_bytes(location: str, data: bytes) -> None:
    """Write the whole file, as `write_text` does."""
    filesystem, path = _resolve(location)
    filesystem.create_dir(posixpath.dirname(path), recursive=True)
    if is_uri(location):
        with filesystem.open_output_stream(path) as stream:
            stream.write(data)
        return
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


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
