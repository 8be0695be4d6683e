"""Albumentations pipelines from an `AugmentConfig`: the original project's train-time augmentation and its eval pipeline.

Both take a uint8 H x W x C numpy image (C = 3, or 1 / no channel axis for grey images such as Fashion-MNIST,
which are repeated to 3 channels first) and give uint8 image_size x image_size x 3 pixels. The ImageNet
normalisation and the conversion to a float tensor happen per batch, on the device (`normalize_batch`): a
quarter of the bytes cross to the GPU, and the CPU does no per-image float work. The eval pipeline is the
train pipeline without its random parts.

Randomness: `augment_pixels(transform, image, seed)` gives an output that depends only on (image, seed), so a
data loader that derives the seed from (run seed, epoch, sample index) replays the same augmentations in any
process or worker, in any order, and after a resume.
"""
from __future__ import annotations

import os
import random

# albumentations asks PyPI for a newer version on every import (up to 2 s, in every trial process; a warning on
# a machine without a network) unless this is set. Set before the import, so Ray's processes inherit it too.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import albumentations as A  # noqa: E402
import cv2
import numpy as np
import torch

from tune_clothes.config import AugmentConfig
from tune_clothes.config.errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # per RGB channel, fraction of 255
IMAGENET_STD = (0.229, 0.224, 0.225)
# ColorJitter's saturation and hue have no config fields (the original project did not tune them): mild fixed ranges.
JITTER_SATURATION = 0.2  # +- fraction
JITTER_HUE = 0.05  # +- fraction of the hue circle
# Geometric transforms fill the uncovered border by reflection (albumentations 1.x's ShiftScaleRotate default)
# rather than with black, which would be a cue unrelated to the garment.
BORDER = cv2.BORDER_REFLECT_101


def geometric(cfg: AugmentConfig) -> A.OneOf:
    """One of shift-scale-rotate / rotate / scale, each keeping the image size.

    albumentations 2.x deprecates ShiftScaleRotate in favour of Affine; "scale" is an Affine zoom rather than
    RandomScale, which changes the image size and would be undone by the final Resize.
    """
    scale = (1.0 - cfg.scale_limit, 1.0 + cfg.scale_limit)
    rotate = (-cfg.rotate_limit, cfg.rotate_limit)  # degrees
    shift = (-cfg.shift_limit, cfg.shift_limit)  # fraction of the side
    return A.OneOf([
        A.Affine(translate_percent=shift, scale=scale, rotate=rotate, border_mode=BORDER, p=1.0),
        A.Rotate(limit=rotate, border_mode=BORDER, p=1.0),
        A.Affine(scale=scale, border_mode=BORDER, p=1.0),
    ], p=cfg.p_geometric)


def blur(cfg: AugmentConfig) -> A.OneOf:
    kernel = (3, cfg.blur_limit)  # odd kernel sides, pixels
    return A.OneOf([A.Blur(blur_limit=kernel, p=1.0), A.GaussianBlur(blur_limit=kernel, p=1.0),
                    A.MedianBlur(blur_limit=kernel, p=1.0)], p=cfg.p_blur)


def colour(cfg: AugmentConfig) -> A.OneOf:
    b, c = cfg.brightness_limit, cfg.contrast_limit
    return A.OneOf([
        A.RandomBrightnessContrast(brightness_limit=(-b, b), contrast_limit=(-c, c), p=1.0),
        A.ColorJitter(brightness=(1 - b, 1 + b), contrast=(1 - c, 1 + c),
                      saturation=(1 - JITTER_SATURATION, 1 + JITTER_SATURATION),
                      hue=(-JITTER_HUE, JITTER_HUE), p=1.0),
    ], p=cfg.p_color)


def finishing(image_size: int) -> list:
    """What both pipelines end with: Resize to the model's input side (normalisation follows per batch)."""
    return [A.Resize(image_size, image_size)]


def build_train_transform(cfg: AugmentConfig, image_size: int) -> A.Compose:
    """The original project's training augmentation followed by `finishing`."""
    random_parts = [
        geometric(cfg),
        A.HorizontalFlip(p=cfg.p_flip),
        A.GaussNoise(std_range=cfg.noise_std, p=cfg.p_noise),  # std as a fraction of 255
        blur(cfg),
        colour(cfg),
        A.Downscale(scale_range=cfg.downscale_range, p=cfg.p_downscale),  # shrink, then upscale back
    ]
    return A.Compose(random_parts + finishing(image_size))


def build_eval_transform(image_size: int) -> A.Compose:
    return A.Compose(finishing(image_size))


def build_transform(cfg: AugmentConfig, image_size: int, train: bool, augment: bool = True) -> A.Compose:
    """The train pipeline when `train and augment`, otherwise the eval pipeline (`augment=False` trains on it)."""
    return build_train_transform(cfg, image_size) if train and augment else build_eval_transform(image_size)


def as_rgb(image: np.ndarray) -> np.ndarray:
    """`image` as uint8 H x W x 3; a grey image (H x W or H x W x 1) has its channel repeated."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise DataError(f"an image must be uint8 H x W x 3 or grey H x W (x 1), got {image.dtype} {image.shape}; "
                        "decode it to RGB or grey first")
    if image.ndim == 2:
        image = image[:, :, None]
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


def augment_pixels(transform: A.Compose, image: np.ndarray, seed: int | None) -> np.ndarray:
    """Apply `transform` to `image` (uint8 out); the result depends only on (image, seed), seed >= 0.

    One numpy and one Python generator, seeded here, are shared by all the transforms in turn. Not
    `Compose(seed=...)` / `set_random_seed`: those give every transform its own generator with the same seed,
    so their draws coincide (in 2.0.8 a 0.5 flip and a 0.2 noise would fire together whenever noise fires).
    Rebinds `transform`'s generators: do not share one transform between threads. `seed=None` skips the
    seeding (about 50 us an image): only for pipelines without random parts.
    """
    if seed is not None:
        transform.set_random_state(np.random.default_rng(seed), random.Random(seed))
    return np.ascontiguousarray(transform(image=as_rgb(image))["image"])


def normalize_batch(pixels: torch.Tensor,
                    memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """uint8 N x H x W x 3 -> float32 N x 3 x H x W, ImageNet-normalised, on the batch's device.

    `torch.channels_last` (what convolutions on GPUs prefer) costs nothing: the pixels are laid out that way.
    The CPU convolutions of these models run several times faster on the default layout.
    """
    mean = torch.tensor(IMAGENET_MEAN, device=pixels.device) * 255.0
    std = torch.tensor(IMAGENET_STD, device=pixels.device) * 255.0
    return ((pixels.float() - mean) / std).permute(0, 3, 1, 2).contiguous(memory_format=memory_format)
