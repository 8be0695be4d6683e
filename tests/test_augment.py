import dataclasses
import random

import numpy as np
import pytest
import torch

from tune_clothes.config import AugmentConfig
from tune_clothes.config.errors import DataError
from tune_clothes.training.augment import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    augment_pixels,
    build_eval_transform,
    build_train_transform,
    build_transform,
    normalize_batch,
)

SIZE = 32  # output side, pixels
P_FIELDS = [f.name for f in dataclasses.fields(AugmentConfig) if f.name.startswith("p_")]
NO_AUGMENTATION = AugmentConfig(**{name: 0.0 for name in P_FIELDS})
EVERYTHING = AugmentConfig(**{name: 1.0 for name in P_FIELDS})
SEEDS = range(20)


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(40, 36, 3), dtype=np.uint8)


def only(field: str) -> AugmentConfig:
    return dataclasses.replace(NO_AUGMENTATION, **{field: 1.0})


def test_output_is_uint8_pixels_of_the_requested_size(image):
    for transform in (build_train_transform(EVERYTHING, SIZE), build_eval_transform(SIZE)):
        out = augment_pixels(transform, image, seed=3)
        assert out.dtype == np.uint8 and out.shape == (SIZE, SIZE, 3) and out.flags.c_contiguous


@pytest.mark.parametrize("shape", [(40, 36), (40, 36, 1)])
def test_grey_images_become_three_equal_channels(shape):
    grey = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
    out = augment_pixels(build_eval_transform(SIZE), grey, seed=0)
    assert out.shape == (SIZE, SIZE, 3)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])
    augmented = augment_pixels(build_train_transform(EVERYTHING, SIZE), grey, seed=0)
    assert augmented.shape == (SIZE, SIZE, 3)


@pytest.mark.parametrize("bad", [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.uint8),
                                 np.zeros((2, 8, 8, 3), np.uint8)])
def test_images_of_the_wrong_kind_are_refused(bad):
    with pytest.raises(DataError, match="uint8"):
        augment_pixels(build_eval_transform(SIZE), bad, seed=0)


def test_flip_mirrors_the_image(image):
    flipped = augment_pixels(build_train_transform(only("p_flip"), SIZE), image, seed=0)
    expected = augment_pixels(build_eval_transform(SIZE), np.ascontiguousarray(image[:, ::-1]), seed=0)
    assert np.array_equal(flipped, expected)
    assert not np.array_equal(flipped, augment_pixels(build_eval_transform(SIZE), image, seed=0))


def test_geometric_transform_changes_the_image(image):
    plain = augment_pixels(build_eval_transform(SIZE), image, seed=0)
    moved = augment_pixels(build_train_transform(only("p_geometric"), SIZE), image, seed=0)
    assert moved.shape == plain.shape and not np.array_equal(moved, plain)


def test_same_seed_same_output_whatever_came_before(image):
    transform = build_train_transform(AugmentConfig(), SIZE)
    first = augment_pixels(transform, image, seed=7)
    for other in range(5):
        augment_pixels(transform, image, seed=other)
    random.seed(123)  # global generators have no say
    np.random.seed(123)
    assert np.array_equal(augment_pixels(transform, image, seed=7), first)
    assert np.array_equal(augment_pixels(build_train_transform(AugmentConfig(), SIZE), image, seed=7), first)


def test_different_seeds_give_different_outputs(image):
    transform = build_train_transform(EVERYTHING, SIZE)
    outputs = [augment_pixels(transform, image, seed) for seed in range(5)]
    assert all(not np.array_equal(outputs[i], outputs[j]) for i in range(5) for j in range(i + 1, 5))


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_transforms_draw_independently_of_one_another(image):
    """Each transform fires with its own probability: flip (p=0.5) is not tied to noise (p=0.5)."""
    cfg = dataclasses.replace(NO_AUGMENTATION, p_flip=0.5, p_noise=0.5)
    transform = build_train_transform(cfg, SIZE)
    eval_out = augment_pixels(build_eval_transform(SIZE), image, seed=0)
    mirrored = augment_pixels(build_eval_transform(SIZE), np.ascontiguousarray(image[:, ::-1]), seed=0)
    outcomes = set()
    for seed in range(40):
        out = augment_pixels(transform, image, seed)
        flip = _distance(out, mirrored) < _distance(out, eval_out)
        noise = not (np.array_equal(out, eval_out) or np.array_equal(out, mirrored))
        outcomes.add((bool(flip), noise))
    assert outcomes == {(False, False), (False, True), (True, False), (True, True)}


def test_eval_pipeline_is_deterministic(image):
    transform = build_eval_transform(SIZE)
    assert np.array_equal(augment_pixels(transform, image, seed=1), augment_pixels(transform, image, seed=2))


def test_build_transform_uses_eval_pipeline_unless_training_with_augmentation(image):
    eval_out = augment_pixels(build_eval_transform(SIZE), image, seed=0)
    for train, augment in ((False, True), (True, False), (False, False)):
        out = augment_pixels(build_transform(EVERYTHING, SIZE, train=train, augment=augment), image, seed=0)
        assert np.array_equal(out, eval_out)
    augmented = augment_pixels(build_transform(EVERYTHING, SIZE, train=True, augment=True), image, seed=0)
    assert not np.array_equal(augmented, eval_out)


def test_all_probabilities_zero_is_the_eval_pipeline(image):
    transform = build_train_transform(NO_AUGMENTATION, SIZE)
    eval_out = augment_pixels(build_eval_transform(SIZE), image, seed=0)
    assert all(np.array_equal(augment_pixels(transform, image, seed), eval_out) for seed in SEEDS)


@pytest.mark.parametrize("field", P_FIELDS)
def test_every_probability_switches_its_transform_on(image, field):
    transform = build_train_transform(only(field), SIZE)
    eval_out = augment_pixels(build_eval_transform(SIZE), image, seed=0)
    assert any(not np.array_equal(augment_pixels(transform, image, seed), eval_out) for seed in SEEDS)


CHANGED_RANGES = {"shift_limit": 0.2, "scale_limit": 0.3, "rotate_limit": 40, "noise_std": (0.3, 0.5),
                  "blur_limit": 7, "brightness_limit": 0.5, "contrast_limit": 0.5, "downscale_range": (0.25, 0.3)}


def test_every_field_is_a_probability_or_a_tested_range():
    assert set(P_FIELDS) | set(CHANGED_RANGES) == {f.name for f in dataclasses.fields(AugmentConfig)}


@pytest.mark.parametrize("field", sorted(CHANGED_RANGES))
def test_every_range_changes_the_output(image, field):
    before = build_train_transform(EVERYTHING, SIZE)
    after = build_train_transform(dataclasses.replace(EVERYTHING, **{field: CHANGED_RANGES[field]}), SIZE)
    assert any(not np.array_equal(augment_pixels(before, image, s), augment_pixels(after, image, s)) for s in SEEDS)


def test_normalize_batch_gives_imagenet_normalised_channels_first_floats():
    pixels = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8))
    out = normalize_batch(pixels)
    assert out.dtype == torch.float32 and out.shape == (4, 3, 8, 8)
    expected = (pixels[1, 2, 3, 0] / 255.0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0]
    assert out[1, 0, 2, 3].item() == pytest.approx(expected.item(), abs=1e-5)
    assert out.is_contiguous()
    assert normalize_batch(pixels, torch.channels_last).is_contiguous(memory_format=torch.channels_last)
