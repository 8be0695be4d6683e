"""Decoding one photo into a fixed-size RGB uint8 array, the same way for validation and for the cache.

Real photo collections hold CMYK JPEGs, grey and palette images, PNGs with alpha, 16-bit scans and
EXIF-rotated phone pictures; all of them become upright 8-bit RGB here, so a trial never sees a surprise.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image, ImageOps

WHITE = (255, 255, 255)


class ImageDecodeError(Exception):
    """The file is not a usable image: empty, not an image, truncated, or too large to decode safely."""


def decode_image(path: str | os.PathLike, size: int | None = None) -> np.ndarray:
    """The image at `path` as uint8 RGB (H x W x 3), resized to size x size when `size` is given."""
    if os.path.getsize(path) == 0:
        raise ImageDecodeError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if size is not None:
                    img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, still >= size
                img.load()  # reads all the data: this is what finds a truncated file
                return image_pixels(img, size)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageDecodeError(f"too large to decode safely ({err})") from None
    except Image.UnidentifiedImageError:
        raise ImageDecodeError("not an image file PIL can read") from None
    except (OSError, SyntaxError, ValueError) as err:  # PIL reports bad data with these
        raise ImageDecodeError(f"unreadable image data: {err}") from None


def image_pixels(img: Image.Image, size: int | None = None) -> np.ndarray:
    """A loaded PIL image as uint8 RGB (H x W x 3), upright (EXIF), resized to size x size when `size` is given."""
    rgb = to_rgb(ImageOps.exif_transpose(img))
    if size is not None and rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    return np.asarray(rgb, dtype=np.uint8)


def to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB; transparent pixels become white (a product photo's background), not black."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        pixels = np.asarray(img, dtype=np.float64)
        peak = pixels.max() if pixels.size and pixels.max() > 0 else 1.0
        img = Image.fromarray((pixels * (255.0 / peak)).clip(0, 255).astype(np.uint8))
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        background = Image.new("RGB", img.size, WHITE)
        background.paste(img.convert("RGBA"), mask=img.convert("RGBA").getchannel("A"))
        return background
    return img if img.mode == "RGB" else img.convert("RGB")
