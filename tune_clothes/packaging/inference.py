"""Inference with a final model: the one path from pixels to class probabilities that `final` (its test set
and its export check), `evaluate` and `predict` share.

1. Pixels at the model's side, as training saw them: a file is decoded by `file_pixels`, which is the image
   cache's own decoder (upright 8-bit RGB whatever the file: CMYK, 16-bit, grey, palette, alpha, EXIF
   rotation); a dataset's images come through `data.datasets.read_pixels`, the cache's own reader.
2. `model_input`: grey for a model trained on grey images (Fashion-MNIST), every image repeated to 3
   channels, then training's own `normalize_batch`.
3. A scorer (`TorchScorer` here, `onnx_export.OnnxScorer` for model.onnx) gives scores; their softmax is the
   class probabilities.
"""
from __future__ import annotations

import os
from typing import Protocol

import numpy as np
import torch
from PIL import Image
from scipy.special import softmax

from tune_clothes.data.decode import decode_image
from tune_clothes.packaging.bundle import ModelBundle
from tune_clothes.training.augment import normalize_batch

BATCH_SIZE = 64  # images a forward pass takes; memory stays small at any image size


class Scorer(Protocol):
    def scores(self, batch: torch.Tensor) -> np.ndarray:
        """float32 (n, 3, side, side) normalised images -> (n, classes) scores (softmax: probabilities)."""


def file_pixels(path: str | os.PathLike, size: int) -> np.ndarray:
    """The image file as uint8 size x size x 3, decoded exactly as the image cache decodes training images.
    Raises data.decode.ImageDecodeError (or OSError) for a file that is not a usable image."""
    return decode_image(path, size)


def model_input(pixels: np.ndarray, channels: int) -> torch.Tensor:
    """uint8 (n, side, side, 1 or 3) pixels -> the float32 (n, 3, side, side) batch the network takes.

    `channels`: of the images the model was trained on; a model trained on grey images gets colour images
    as grey (PIL's luma), as a grey photo would be stored."""
    if channels == 1 and pixels.shape[-1] == 3:
        pixels = np.stack([np.asarray(Image.fromarray(image).convert("L")) for image in pixels])[..., None]
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    return normalize_batch(torch.from_numpy(np.ascontiguousarray(pixels)))


def probabilities(scores: np.ndarray) -> np.ndarray:
    return softmax(scores.astype(np.float64), axis=1)


class TorchScorer:
    """The model.pt network with PyTorch, on CUDA when there is a GPU (unless `device` says otherwise)."""

    def __init__(self, bundle: ModelBundle, device: str | None = None):
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.network = bundle.network().to(self.device)

    def scores(self, batch: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            return self.network(batch.to(self.device)).float().cpu().numpy()
