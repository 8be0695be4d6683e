"""Synthetic clothing-like demo data in the Clothing Dataset layout, so the demo and the tests need no download.

`generate_synthetic_dataset` writes `ROOT/images.csv` (columns `image,sender_id,label,kids`, as in the real
file) and `ROOT/images/<image>.jpg`. Each image is a drawn garment silhouette (one drawing per class) with a
random colour, background, position, scale, rotation, outline wobble and pixel noise: a small CNN learns it
in a few epochs, but not trivially, so hyperparameters visibly matter.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from tune_clothes.config.errors import DataError

log = logging.getLogger(__name__)

DEFAULT_CLASSES: tuple[str, ...] = ("T-Shirt", "Pants", "Dress", "Shoes", "Hat")
MARKER_NAME = ".synthetic.json"  # records the arguments of the generation; written last
FORMAT_VERSION = 1  # bump when the drawing changes, so an old dataset is not taken for a new one
_SUPERSAMPLE = 2  # draw the silhouette at 2x the side and downscale it, for anti-aliased edges
_KIDS_FRACTION = 0.1  # share of rows with kids=True, about as in the real file
_MAX_SENDER_ID = 300
_MIN_SIDE = 16  # pixels; smaller images cannot show the garment shapes

# A garment is a list of polygons, each an (n, 2) array: x to the right, y down, the garment within about
# [-1, 1]. A drawing function varies the garment's proportions a little, as real garments vary.
Polygon = np.ndarray


def _ellipse(cx: float, cy: float, rx: float, ry: float, start: float = 0.0, end: float = 2 * np.pi,
             points: int = 24) -> Polygon:
    """An ellipse (or, with start/end in radians, an arc closed by its chord) as a polygon."""
    angles = np.linspace(start, end, points)
    return np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], axis=1)


def _tshirt(rng: np.random.Generator) -> list[Polygon]:
    sleeve = rng.uniform(0.25, 0.45)  # how far a sleeve reaches beyond the shoulder
    half_body = rng.uniform(0.35, 0.45)
    body = [(-0.35, -0.7), (-0.12, -0.7), (0.0, -0.58), (0.12, -0.7), (0.35, -0.7),
            (0.35 + sleeve, -0.35), (half_body + 0.1, -0.1), (half_body, -0.3), (half_body, 0.75),
            (-half_body, 0.75), (-half_body, -0.3), (-half_body - 0.1, -0.1), (-0.35 - sleeve, -0.35)]
    return [np.array(body)]


def _pants(rng: np.random.Generator) -> list[Polygon]:
    crotch = rng.uniform(-0.35, -0.1)  # height where the legs part
    hem = rng.uniform(0.4, 0.55)  # half-width at the hems
    legs = [(-0.4, -0.85), (0.4, -0.85), (hem, 0.85), (0.15, 0.85), (0.0, crotch), (-0.15, 0.85), (-hem, 0.85)]
    return [np.array(legs)]


def _dress(rng: np.random.Generator) -> list[Polygon]:
    waist = rng.uniform(-0.3, 0.0)
    flare = rng.uniform(0.5, 0.75)  # half-width at the hem
    body = [(-0.22, -0.85), (-0.12, -0.85), (0.0, -0.72), (0.12, -0.85), (0.22, -0.85), (0.25, -0.55),
            (0.18, waist), (flare, 0.85), (-flare, 0.85), (-0.18, waist), (-0.25, -0.55)]
    return [np.array(body)]


def _shoes(rng: np.random.Generator) -> list[Polygon]:
    heel_height = rng.uniform(0.0, 0.2)
    upper = rng.uniform(-0.55, -0.3)  # height of the ankle opening
    shoe = [(-0.8, 0.25 - heel_height), (-0.75, -0.15), (-0.6, upper), (-0.25, upper), (-0.15, -0.15),
            (0.45, 0.0), (0.8, 0.15), (0.85, 0.3), (-0.65, 0.3), (-0.65, 0.25)]
    return [np.array(shoe), _ellipse(0.55, 0.15, 0.3, 0.16)]


def _hat(rng: np.random.Generator) -> list[Polygon]:
    crown_height = rng.uniform(0.35, 0.6)
    brim = rng.uniform(0.65, 0.9)  # half-width of the brim
    return [_ellipse(0.0, 0.15, 0.45, crown_height, start=np.pi, end=2 * np.pi),
            _ellipse(0.0, 0.15, brim, 0.14)]


GARMENT_DRAWINGS: dict[str, Callable[[np.random.Generator], list[Polygon]]] = {
    "T-Shirt": _tshirt, "Pants": _pants, "Dress": _dress, "Shoes": _shoes, "Hat": _hat}


def _place(polygons: list[Polygon], rng: np.random.Generator, side: int) -> list[list[tuple[float, float]]]:
    """Stretch, wobble, rotate, scale and shift the garment into a `side`-pixel canvas."""
    aspect = rng.uniform(0.85, 1.15)
    angle = rng.uniform(-np.pi / 9, np.pi / 9)  # radians: up to 20 degrees either way
    half_extent = rng.uniform(0.32, 0.45) * side  # pixels from the centre to the garment's edge
    centre = side * (0.5 + rng.uniform(-0.12, 0.12, size=2))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    placed = []
    for polygon in polygons:
        wobbly = polygon * [aspect, 1 / aspect] + rng.normal(0.0, 0.03, polygon.shape)
        pixels = wobbly @ rotation.T * half_extent + centre
        placed.append([(float(x), float(y)) for x, y in pixels])
    return placed


def _silhouette(polygons: list[Polygon], rng: np.random.Generator, side: int) -> np.ndarray:
    """Coverage of each pixel by the garment, in [0, 1], shape (side, side, 1)."""
    big = side * _SUPERSAMPLE
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    for polygon in _place(polygons, rng, big):
        draw.polygon(polygon, fill=255)
    small = mask.resize((side, side), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32)[..., None] / 255.0


def _background(colour: np.ndarray, rng: np.random.Generator, side: int) -> np.ndarray:
    """`colour` with a blotchy low-frequency texture, shape (side, side, 3), 0-255 floats."""
    cells = int(rng.integers(2, 6))  # texture blotches per side
    coarse = np.clip(colour + rng.uniform(-30, 30, size=(cells, cells, 3)), 0, 255).astype(np.uint8)
    smooth = Image.fromarray(coarse).resize((side, side), Image.Resampling.BILINEAR)
    return np.asarray(smooth, dtype=np.float32)


def _fabric(colour: np.ndarray, rng: np.random.Generator, side: int) -> np.ndarray:
    """`colour` under a lighting gradient, striped one time in three, shape (side, side, 3), 0-255 floats."""
    ys, xs = np.mgrid[0:side, 0:side] / side - 0.5
    direction = rng.uniform(0, 2 * np.pi)
    along = xs * np.cos(direction) + ys * np.sin(direction)  # in [-0.71, 0.71]
    fabric = colour + rng.uniform(20, 60) * along[..., None]  # lighting: up to about +-42 levels
    if rng.random() < 1 / 3:
        stripes = np.sin(along * rng.uniform(20, 50)) > 0
        fabric = np.where(stripes[..., None], rng.uniform(0, 255, size=3), fabric)
    return fabric


def draw_garment(class_name: str, rng: np.random.Generator, side: int) -> Image.Image:
    """One random RGB image of a `class_name` garment, `side` pixels square."""
    alpha = _silhouette(GARMENT_DRAWINGS[class_name](rng), rng, side)
    background_colour = rng.uniform(0, 255, size=3)
    # Every channel of the garment differs from the background's by 70 levels or more, so the outline shows.
    garment_colour = (background_colour + rng.uniform(70, 186, size=3)) % 256
    pixels = _background(background_colour, rng, side) * (1 - alpha) + _fabric(garment_colour, rng, side) * alpha
    pixels += rng.normal(0.0, rng.uniform(3, 15), size=pixels.shape)  # sensor noise, 0-255 levels
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _check_arguments(images_per_class: int, seed: int, image_side: int, class_names: Sequence[str]) -> dict:
    """The generation's arguments as recorded in the marker file, after checking them."""
    if images_per_class < 1:
        raise DataError(f"images_per_class={images_per_class} must be at least 1")
    if seed < 0:
        raise DataError(f"seed={seed} must be a non-negative integer")
    if image_side < _MIN_SIDE:
        raise DataError(f"image_side={image_side} is too small to draw a garment: use at least {_MIN_SIDE}")
    unknown = [name for name in class_names if name not in GARMENT_DRAWINGS]
    if unknown or not class_names or len(set(class_names)) != len(class_names):
        raise DataError(f"class_names={list(class_names)} must be distinct names from "
                        f"{list(GARMENT_DRAWINGS)}, at least one")
    return {"format_version": FORMAT_VERSION, "images_per_class": int(images_per_class), "seed": int(seed),
            "image_side": int(image_side), "class_names": list(class_names)}


def _write_dataset(folder: Path, params: dict) -> None:
    """Write the images, then images.csv, then the marker, into `folder`."""
    (folder / "images").mkdir()
    rows = []
    for label_index, class_name in enumerate(params["class_names"]):
        for number in range(params["images_per_class"]):
            # One generator per image, so an image does not depend on how many were drawn before it.
            rng = np.random.default_rng([params["seed"], label_index, number])
            image_id = str(uuid.UUID(bytes=rng.bytes(16), version=4))
            sender_id = int(rng.integers(1, _MAX_SENDER_ID))
            kids = bool(rng.random() < _KIDS_FRACTION)
            image = draw_garment(class_name, rng, params["image_side"])
            image.save(folder / "images" / f"{image_id}.jpg", format="JPEG", quality=92)
            rows.append((image_id, sender_id, class_name, str(kids)))
    rows.sort()  # the ids are random, so sorting by id mixes the classes, as in the real file
    with open(folder / "images.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["image", "sender_id", "label", "kids"])
        writer.writerows(rows)
    (folder / MARKER_NAME).write_text(json.dumps(params, indent=2) + "\n", encoding="utf-8")


def _holds_dataset(root: Path, params: dict) -> bool:
    """True if `root` holds a complete dataset made with `params`; False if it is absent or an empty folder.

    Raises DataError when `root` holds anything else, so that nothing of the user's is overwritten.
    """
    if not root.exists() or (root.is_dir() and not any(root.iterdir())):
        return False
    marker = root / MARKER_NAME
    if not marker.is_file():
        raise DataError(f"{root} exists and is not a synthetic dataset (no {MARKER_NAME}): "
                        f"choose another folder, or delete this one")
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataError(f"{marker} is unreadable ({err}): delete {root} and generate again") from err
    if recorded != params:
        raise DataError(f"{root} holds a synthetic dataset generated with {recorded}, not {params}: "
                        f"choose another folder, or delete this one to generate it again")
    expected = params["images_per_class"] * len(params["class_names"])
    found = sum(1 for _ in (root / "images").glob("*.jpg")) if (root / "images").is_dir() else 0
    if found != expected or not (root / "images.csv").is_file():
        raise DataError(f"{root} is an incomplete synthetic dataset ({found} of {expected} images, "
                        f"images.csv {'present' if (root / 'images.csv').is_file() else 'missing'}): "
                        f"delete it and generate again")
    return True


def generate_synthetic_dataset(root: str | os.PathLike, images_per_class: int = 60, seed: int = 0,
                               image_side: int = 64, class_names: Sequence[str] = DEFAULT_CLASSES) -> Path:
    """Write a synthetic dataset in the Clothing Dataset layout to `root` and return `root`, made absolute.

    Deterministic: the same arguments give byte-identical files. Idempotent: if `root` already holds the
    dataset these arguments make, returns at once. The dataset is written to a temporary sibling folder and
    renamed into place at the end, so an interrupted run never leaves a half dataset that looks complete.
    """
    root = Path(root).expanduser().resolve()
    params = _check_arguments(images_per_class, seed, image_side, class_names)
    if _holds_dataset(root, params):
        log.debug("%s already holds the synthetic dataset", root)
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    partial = scratch / root.name  # made by mkdir, so it gets the usual permissions, not mkdtemp's 0o700
    try:
        partial.mkdir()
        _write_dataset(partial, params)
        try:
            partial.rename(root)  # atomic; replaces `root` only if it is absent or an empty folder
        except OSError:
            if not _holds_dataset(root, params):  # another process may have just written the same dataset
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log.info("wrote %d synthetic images of %d classes to %s",
             images_per_class * len(class_names), len(class_names), root)
    return root
