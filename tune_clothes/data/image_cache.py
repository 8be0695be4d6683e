"""The decode-once cache: every image of a dataset decoded and resized once into a uint8 `.npy` file that
trials memory-map, so concurrent trials on a machine share one copy in the page cache and no trial decodes
a JPEG per epoch.

One file per (data content, image size), built once per machine: whoever comes first (the driver, or the
first trial on a node) builds it in parallel under a file lock while the others wait, then all reuse it. It is
written to a temporary name and renamed when complete.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock

from tune_clothes.data.datasets import CHANNELS, content_key, read_pixels
from tune_clothes.data.index import DatasetIndex
from tune_clothes.data.process_pool import spawned_pool
from tune_clothes.data.storage import atomic_path

log = logging.getLogger(__name__)
CHUNK = 256  # images per task: large enough to amortise the task, small enough to balance the workers
PARALLEL_FROM = 2 * CHUNK  # images; smaller datasets are decoded in this process


@dataclass(frozen=True)
class ImageCache:
    path: Path  # the .npy file: uint8 (N, size, size, channels), row i is image i of the index
    failed: dict[int, str]  # positions that could not be decoded (left as zeros) -> why

    def open(self) -> np.ndarray:
        """A read-only memory map: pages are shared with every other process reading the file."""
        return np.load(self.path, mmap_mode="r")


def cache_path(index: DatasetIndex, image_size: int, cache_dir: Path, key: str | None = None) -> Path:
    """`key`: the data's `content_key`, when the caller has it already (it reads every image file's metadata)."""
    return Path(cache_dir) / "images" / f"{index.kind}-{key or content_key(index)}-{image_size}px.npy"


def find_image_cache(cache_dir: Path, kind: str, fingerprint: str, image_size: int) -> Path | None:
    """A complete cache of the data with this fingerprint at this size already built on this machine, if any;
    without reading the dataset (for the report, which may run where the dataset is not). The newest, when
    the image files changed since an older one was built."""
    found = []
    for path in Path(cache_dir).expanduser().glob(f"images/{kind}-*-{image_size}px.npy"):
        try:
            meta = json.loads(_meta_path(path).read_text())
        except (OSError, ValueError):
            continue
        if meta.get("ids_fingerprint") == fingerprint:
            found.append(path)
    return max(found, key=lambda path: path.stat().st_mtime, default=None)


def ensure_image_cache(index: DatasetIndex, image_size: int, cache_dir: Path, workers: int | None = None,
                       key: str | None = None) -> ImageCache:
    """The cache for this data and size, built first (with up to `workers` processes; default: every CPU) if
    no process on this machine has built it yet. `key`: see `cache_path`."""
    path = cache_path(index, image_size, cache_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_suffix(".lock")):  # released when the block ends, also if this process dies
        if not path.is_file():
            _build(index, image_size, path, workers)
    failed = {int(k): v for k, v in json.loads(_meta_path(path).read_text())["failed"].items()}
    if failed:
        log.warning("%d image(s) could not be decoded and are left out of training: %s", len(failed),
                    list(failed.values())[:3])
    return ImageCache(path, failed)


def _build(index: DatasetIndex, image_size: int, path: Path, workers: int | None) -> None:
    started = time.perf_counter()
    shape = (len(index), image_size, image_size, CHANNELS[index.kind])
    failed: dict[int, str] = {}
    with atomic_path(path) as tmp:
        np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape).flush()
        starts = list(range(0, len(index), CHUNK))
        jobs = [(str(tmp), index.kind, index.root, index.ids[s:s + CHUNK], image_size, s) for s in starts]
        if len(index) < PARALLEL_FROM or workers == 1:
            results = [_fill(*job) for job in jobs]
        else:
            with spawned_pool(workers, f"building the image cache {path}") as pool:
                results = list(pool.map(_fill, *zip(*jobs)))
        for chunk_failed in results:
            failed.update(chunk_failed)
        with atomic_path(_meta_path(path)) as meta:  # before the images: a complete cache always has its meta
            meta.write_text(json.dumps({"ids_fingerprint": index.fingerprint(), "shape": shape, "failed": failed}))
    log.info("built the image cache %s (%d images at %d px, %.0f MB) in %.1f s", path, len(index), image_size,
             path.stat().st_size / 1e6, time.perf_counter() - started)


def _fill(tmp: str, kind: str, root: str, ids: tuple[str, ...], size: int, start: int) -> dict[int, str]:
    """Decode one chunk straight into its rows of the (shared) file; positions that failed -> why."""
    pixels, failed = read_pixels(kind, root, ids, size)
    target = np.load(tmp, mmap_mode="r+")
    target[start:start + len(ids)] = pixels
    target.flush()
    return {start + i: reason for i, reason in failed.items()}


def _meta_path(path: Path) -> Path:
    return path.with_suffix(".json")
