"""Small thumbnails of dataset images for the report, as data URIs: read from the experiment's image cache on
this machine (rows are dataset-index positions), else decoded from the dataset folder, else none."""
from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from tune_clothes.config.errors import DataError
from tune_clothes.data.datasets import read_pixels
from tune_clothes.data.image_cache import find_image_cache

THUMBNAIL_SIDE = 96  # pixels: larger images are shrunk to this; the page shows every thumbnail at this width
JPEG_FROM = 48  # pixels: thumbnails at least this big are JPEG (photos), smaller ones PNG (exact, tiny)


def thumbnails(dataset: dict, cache_dir: str, image_size: int, positions: Sequence[int],
               ids: Sequence[str]) -> tuple[list[str], str]:
    """Data URIs of the images at dataset-index `positions` (with these `ids`), and where they came from;
    no URIs (and why) when neither the image cache nor the dataset is on this machine."""
    if not len(positions):
        return [], ""
    pixels, source = _pixels(dataset, cache_dir, image_size, positions, ids)
    if pixels is None:
        return [], source
    return [encode_thumbnail(image) for image in pixels], source


def _pixels(dataset: dict, cache_dir: str, image_size: int, positions: Sequence[int],
            ids: Sequence[str]) -> tuple[np.ndarray | None, str]:
    kind, fingerprint, root = dataset.get("kind"), dataset.get("fingerprint"), dataset.get("root")
    if not kind or not fingerprint:
        return None, "the experiment has no dataset.json to find its images by"
    cache = find_image_cache(Path(cache_dir), kind, fingerprint, image_size)
    if cache is not None:
        images = np.load(cache, mmap_mode="r")
        return np.array(images[np.asarray(positions, dtype=np.int64)]), f"the image cache {cache}"
    if root and Path(root).exists():
        try:
            pixels, _ = read_pixels(kind, root, list(ids), image_size)
        except (OSError, DataError, ValueError) as err:
            return None, f"the dataset at {root} could not be read ({err})"
        return pixels, f"the dataset at {root}"
    return None, (f"neither the image cache ({cache_dir}) nor the dataset ({root}) is on this machine: make the "
                  f"report where the search ran to see the images")


def encode_thumbnail(pixels: np.ndarray) -> str:
    """A uint8 (H, W, channels) image as a data URI, at most THUMBNAIL_SIDE pixels a side."""
    image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    if max(image.size) > THUMBNAIL_SIDE:
        image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    kind = "jpeg" if min(image.size) >= JPEG_FROM else "png"
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **({"quality": 85} if kind == "jpeg" else {}))
    return f"data:image/{kind};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"
