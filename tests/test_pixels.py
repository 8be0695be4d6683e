"""Decoded pixels against references computed without the decoder: images whose every region has a known
colour, so a swapped channel, a mirrored or unrotated image, or a crop where a resize belongs shows up as a
wrong colour in a known place. From the file, through the image cache, to the tensor the model gets."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import write_clothing_dataset
from PIL import Image

from tune_clothes.config import DatasetConfig
from tune_clothes.data.datasets import load_index
from tune_clothes.data.decode import decode_image
from tune_clothes.data.image_cache import ensure_image_cache
from tune_clothes.training.augment import IMAGENET_MEAN, IMAGENET_STD, build_eval_transform, normalize_batch
from tune_clothes.training.loader import LabelledImages, make_loader

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
WHITE, BLACK, ORANGE = (255, 255, 255), (0, 0, 0), (255, 128, 0)
GRID = ((RED, GREEN, BLUE), (WHITE, BLACK, ORANGE))  # 2 rows x 3 columns of cells, as the image shows them


def grid_image(cell_w: int = 30, cell_h: int = 20, grid=GRID, mode: str = "RGB") -> Image.Image:
    """An image made of `grid`'s cells, each cell_w x cell_h pixels of one colour (90 x 40 by default: not
    square, so a centre crop would lose the outer columns)."""
    pixels = np.kron(np.array(grid, dtype=np.uint8).transpose(2, 0, 1), np.ones((cell_h, cell_w), np.uint8))
    return Image.fromarray(np.ascontiguousarray(pixels.transpose(1, 2, 0)), "RGB").convert(mode)


def cell_interiors(pixels: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The mean colour of each cell of a rows x cols grid, away from its borders (which resizing blends)."""
    cell_h, cell_w = pixels.shape[0] // rows, pixels.shape[1] // cols
    return np.array([[pixels[r * cell_h + 1:(r + 1) * cell_h - 1, c * cell_w + 1:(c + 1) * cell_w - 1]
                      .reshape(-1, pixels.shape[2]).mean(axis=0) for c in range(cols)] for r in range(rows)])


def test_a_resize_keeps_every_region_in_its_place_and_its_colour(tmp_path):
    image = grid_image()
    assert image.size == (90, 40) and image.getpixel((0, 0)) == RED and image.getpixel((89, 39)) == ORANGE
    image.save(tmp_path / "grid.png")
    pixels = decode_image(tmp_path / "grid.png", 12)  # 90 x 40 -> 12 x 12: cells of 4 x 6 pixels
    assert pixels.shape == (12, 12, 3)
    np.testing.assert_array_equal(cell_interiors(pixels, 2, 3), np.array(GRID))  # a crop or a flip would not


def test_a_large_jpeg_decoded_at_a_reduced_scale_keeps_its_colours(tmp_path):
    grid_image(cell_w=300, cell_h=200).save(tmp_path / "large.jpg", quality=95, subsampling=0)
    pixels = decode_image(tmp_path / "large.jpg", 24)  # draft mode decodes at 1/8 scale first
    np.testing.assert_allclose(cell_interiors(pixels, 2, 3), np.array(GRID), atol=8)


def test_cmyk_becomes_the_rgb_of_its_inks(tmp_path):
    inks = np.zeros((20, 40, 4), dtype=np.uint8)
    inks[:, :20, 0] = 255  # left: cyan ink only
    inks[:, 20:, 2] = 255  # right: yellow ink only
    Image.fromarray(inks, "CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    pixels = decode_image(tmp_path / "cmyk.jpg", 8)
    np.testing.assert_allclose(cell_interiors(pixels, 1, 2), [[(0, 255, 255), (255, 255, 0)]], atol=6)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_grey_becomes_three_equal_channels_of_the_same_level(tmp_path, suffix):
    levels = np.zeros((20, 40), dtype=np.uint8)
    levels[:, :20], levels[:, 20:] = 30, 220
    Image.fromarray(levels, "L").save(tmp_path / f"grey{suffix}")
    pixels = decode_image(tmp_path / f"grey{suffix}", 8)
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
    np.testing.assert_allclose(cell_interiors(pixels, 1, 2)[..., 0], [[30, 220]], atol=3)


# EXIF orientation -> where the stored image's left half (red) is once the photo is upright, and the shape
# of the upright photo (the stored one is 40 wide and 20 high)
ORIENTATIONS = {1: ("left", (20, 40)), 3: ("right", (20, 40)), 6: ("top", (40, 20)), 8: ("bottom", (40, 20))}


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_exif_orientation_is_applied(tmp_path, orientation):
    stored = grid_image(cell_w=20, cell_h=20, grid=((RED, BLUE),))
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(tmp_path / "photo.jpg", exif=exif, quality=95, subsampling=0)
    where, shape = ORIENTATIONS[orientation]
    pixels = decode_image(tmp_path / "photo.jpg")
    assert pixels.shape[:2] == shape
    halves = {"left": pixels[:, :20], "right": pixels[:, 20:], "top": pixels[:20], "bottom": pixels[20:]}
    red, blue = halves[where], halves[{"left": "right", "right": "left", "top": "bottom", "bottom": "top"}[where]]
    np.testing.assert_allclose(red[2:-2, 2:-2].reshape(-1, 3).mean(axis=0), RED, atol=6)
    np.testing.assert_allclose(blue[2:-2, 2:-2].reshape(-1, 3).mean(axis=0), BLUE, atol=6)


def test_the_cache_and_the_loader_give_the_model_the_known_colours_in_rgb_order(tmp_path):
    """Each image is the grid with its cells rotated by the image's number: row i of the cache must show the
    rotation of the image listed i-th, and channel 0 of the model's input must be red."""
    grids = [tuple(tuple(row[k:] + row[:k]) for row in GRID) for k in range(3)]
    root = write_clothing_dataset(tmp_path / "data", [(f"img{k}", "Shirt" if k % 2 else "Pants") for k in range(3)])
    for k, grid in enumerate(grids):  # PNG bytes under the .jpg name: exact colours (the decoder reads any format)
        grid_image(grid=grid).save(root / "images" / f"img{k}.jpg", format="PNG")
    index = load_index(DatasetConfig(kind="clothing", root=str(root), cache_dir=str(tmp_path / "cache")))
    cache = ensure_image_cache(index, 12, tmp_path / "cache")
    rows = cache.open()
    for position, image_id in enumerate(index.ids):
        np.testing.assert_array_equal(cell_interiors(rows[position], 2, 3), np.array(grids[int(image_id[3:])]))
    loader = make_loader(LabelledImages(cache.path, np.arange(len(index)), index.labels), build_eval_transform(12),
                         random=False, batch_size=3, seed=0, shuffle=False, workers=0, pin_memory=False)
    pixels, _ = next(iter(loader))
    batch = normalize_batch(pixels)  # N x 3 x H x W, what the model is given
    first = grids[int(index.ids[0][3:])]
    expected = (np.array(first, dtype=np.float64) / 255 - IMAGENET_MEAN) / IMAGENET_STD  # 2 x 3 cells x RGB
    got = cell_interiors(batch[0].permute(1, 2, 0).double().numpy(), 2, 3)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert batch.dtype == torch.float32 and batch.shape == (3, 3, 12, 12)


def test_fashion_mnist_pixels_are_cached_as_they_are_or_resized_whole(tmp_path):
    """The one-channel path: 28 px images are cached unchanged; at 14 px every cell of a 2 x 4 grid of grey
    levels is still there, in its place (a centre crop would lose the outer columns)."""
    from tune_clothes.data.fashion_mnist import write_fashion_csv
    levels = np.array([[10, 80, 160, 240], [40, 120, 200, 250]], dtype=np.uint8)
    image = np.kron(levels, np.ones((14, 7), np.uint8))  # 28 x 28: cells 14 high, 7 wide
    images = np.stack([image, 255 - image] * 10)
    write_fashion_csv(tmp_path / "train.csv", images, np.repeat(np.arange(10), 2))
    index = load_index(DatasetConfig(kind="fashion_mnist", root=str(tmp_path / "train.csv"),
                                     cache_dir=str(tmp_path / "cache")))
    same = ensure_image_cache(index, 28, tmp_path / "cache").open()
    np.testing.assert_array_equal(same[..., 0], images)
    smaller = ensure_image_cache(index, 14, tmp_path / "cache").open()
    assert smaller.shape == (20, 14, 14, 1)
    inside = np.ix_([2, 3, 4, 9, 10, 11], [1, 5, 8, 12])  # output pixels whose inputs lie in one cell each
    expected = np.repeat(levels, 3, axis=0)
    np.testing.assert_allclose(smaller[0, ..., 0][inside], expected, atol=1)
    np.testing.assert_allclose(smaller[1, ..., 0][inside], 255 - expected, atol=1)
