"""Batches from the decode-once cache.

The sampler, in the main process, decides each epoch's order and every sample's augmentation seed from
(run seed, epoch) alone, so a run resumed at epoch k sees exactly the batches an uninterrupted run would,
whatever the number of workers. Workers open the cache file themselves (a memory map), so the images are
never pickled or copied per worker.

A training epoch never ends on a batch of one image: BatchNorm cannot compute a batch's statistics from one
value per channel and raises (`Expected more than 1 value per channel when training`), which a training part
of k * batch_size + 1 images would hit in every epoch. That lone image is left out of that epoch's training
(`EpochBatches`). What it costs: one image of n per epoch; the order is shuffled every epoch, so it is another
image each time and none is left out systematically. Dropping every incomplete last batch (DataLoader's
`drop_last`) would leave out up to batch_size - 1 images an epoch for no reason; a batch of two already trains.
Validation, evaluation and prediction run the model in eval mode, where a batch of one is fine.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from tune_clothes.training.augment import augment_pixels


@dataclass(frozen=True, eq=False)
class LabelledImages:
    """Rows `positions` of the cache file, with their class ids."""
    cache_file: Path
    positions: np.ndarray
    labels: np.ndarray  # class id of each position, same length

    def __len__(self) -> int:
        return len(self.positions)


class CachedImages(Dataset):
    """Items are (position in `images`, augmentation seed) pairs, as the EpochSampler yields them; each gives
    (uint8 H x W x 3 pixels, class id). `random`: the transform has random parts that the seed must fix."""

    def __init__(self, images: LabelledImages, transform, random: bool):
        self.images = images
        self.transform = transform
        self.random = random
        self._pixels: np.ndarray | None = None  # opened lazily, in the process that reads

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item: tuple[int, int]) -> tuple[torch.Tensor, int]:
        i, seed = item
        if self._pixels is None:
            self._pixels = np.load(self.images.cache_file, mmap_mode="r")
        pixels = np.array(self._pixels[self.images.positions[i]])  # a writable copy of one image, out of the map
        out = augment_pixels(self.transform, pixels, seed if self.random else None)
        return torch.from_numpy(out), int(self.images.labels[i])

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_pixels": None}  # workers reopen the map instead of receiving a copy


class EpochSampler(Sampler):
    """Yields (index, augmentation seed); the order (if shuffled) and seeds depend on (seed, epoch) only."""

    def __init__(self, size: int, seed: int, shuffle: bool):
        self.size, self.seed, self.shuffle, self.epoch = size, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        rng = np.random.default_rng((self.seed, self.epoch))
        seeds = rng.integers(0, 2**31 - 1, size=self.size)  # sample i's seed this epoch, whatever its turn
        order = rng.permutation(self.size) if self.shuffle else np.arange(self.size)
        for i in order.tolist():
            yield i, int(seeds[i])


class EpochBatches(Sampler):
    """The `EpochSampler`'s items in batches of `batch_size`; with `train`, a last batch of one image is left
    out (see the module's docstring)."""

    def __init__(self, items: EpochSampler, batch_size: int, train: bool):
        self.items, self.batch_size, self.train = items, batch_size, train

    def set_epoch(self, epoch: int) -> None:
        self.items.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.sizes())

    def sizes(self) -> list[int]:
        """The size of each batch of an epoch (the same every epoch)."""
        full, rest = divmod(len(self.items), self.batch_size)
        last = [] if rest == 0 or (self.train and rest == 1 and full > 0) else [rest]
        return [self.batch_size] * full + last

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        items = iter(self.items)
        for size in self.sizes():
            yield [next(items) for _ in range(size)]


def make_loader(images: LabelledImages, transform, random: bool, batch_size: int, seed: int, shuffle: bool,
                workers: int, pin_memory: bool, train: bool = False) -> DataLoader:
    """Batches of (uint8 N x H x W x 3 pixels, class ids); `normalize_batch` finishes them on the device.
    `train`: batches for a training pass (never a batch of one image). The epoch is set on `batch_sampler`."""
    batches = EpochBatches(EpochSampler(len(images), seed, shuffle), batch_size, train)
    return DataLoader(CachedImages(images, transform, random), batch_sampler=batches, num_workers=workers,
                      pin_memory=pin_memory, persistent_workers=workers > 0,
                      prefetch_factor=4 if workers > 0 else None, worker_init_fn=_one_thread_per_worker)


def _one_thread_per_worker(_: int) -> None:
    torch.set_num_threads(1)  # workers run albumentations; torch threads there only oversubscribe the CPU
