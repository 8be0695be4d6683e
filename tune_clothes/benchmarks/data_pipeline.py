"""Data-layer benchmark on a Clothing Dataset folder: building the decode-once cache, reading batches from it
against decoding the JPEGs each time, augmentation throughput per worker, and the memory two concurrent
readers of one cache use.

    python -m tune_clothes.benchmarks.data_pipeline ../shared/data/clothing-dataset --size 224
"""
from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from tune_clothes.config import AugmentConfig, DatasetConfig
from tune_clothes.data.clothing import image_path
from tune_clothes.data.datasets import load_index
from tune_clothes.data.decode import decode_image
from tune_clothes.data.image_cache import ensure_image_cache
from tune_clothes.training.augment import build_transform
from tune_clothes.training.loader import CachedImages, LabelledImages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache_dir:
        index = load_index(DatasetConfig(kind="clothing", root=str(args.root), cache_dir=cache_dir))
        started = time.perf_counter()
        cache = ensure_image_cache(index, args.size, Path(cache_dir))
        print(f"cache build: {len(index)} images at {args.size} px in {time.perf_counter() - started:.1f} s, "
              f"{cache.path.stat().st_size / 1e6:.0f} MB")
        rng = np.random.default_rng(0)
        batches = [np.sort(rng.choice(len(index), args.batch_size, replace=False)) for _ in range(args.batches)]
        images = cache.open()
        print(f"batches from the cache (warm): {_rate(lambda b: images[b].copy(), batches, args.batch_size):,.0f} "
              f"images/s")
        decode = lambda b: [decode_image(image_path(args.root, index.ids[i]), args.size) for i in b]  # noqa: E731
        print(f"batches decoded from JPEG with PIL: {_rate(decode, batches, args.batch_size):,.0f} images/s")
        for size in (args.size, 28):
            print(f"augmented training samples from the cache, one worker, {size} px: "
                  f"{_augmentation_rate(index, size, cache_dir):,.0f} images/s")
        _two_readers(cache.path)


def _rate(read, batches, batch_size: int) -> float:
    read(batches[0])  # warm up
    started = time.perf_counter()
    for batch in batches:
        read(batch)
    return len(batches) * batch_size / (time.perf_counter() - started)


def _augmentation_rate(index, size: int, cache_dir: str, samples: int = 500) -> float:
    cache = ensure_image_cache(index, size, Path(cache_dir))
    positions = np.arange(len(index))
    dataset = CachedImages(LabelledImages(cache.path, positions, index.labels),
                           build_transform(AugmentConfig(), size, train=True, augment=True), random=True)
    dataset[(0, 0)]
    started = time.perf_counter()
    for i in range(samples):
        dataset[(i % len(positions), i)]
    return samples / (time.perf_counter() - started)


def _read_everything(path: str, result, barrier) -> None:
    images = np.load(path, mmap_mode="r")
    for start in range(0, len(images), 256):  # what a trial's epochs do: touch every image
        images[start:start + 256].max()
    barrier.wait()  # both have read everything and still hold the map: measure now
    info = psutil.Process().memory_full_info()
    result.put((info.rss / 1e6, info.pss / 1e6, info.uss / 1e6))


def _two_readers(path: Path) -> None:
    """Two processes read the whole cache at once; shared pages show in RSS but not in USS (own memory)."""
    context = multiprocessing.get_context("spawn")
    queue, barrier = context.Queue(), context.Barrier(2)
    readers = [context.Process(target=_read_everything, args=(str(path), queue, barrier)) for _ in range(2)]
    for reader in readers:
        reader.start()
    results = [queue.get() for _ in readers]
    for reader in readers:
        reader.join()
    size = path.stat().st_size / 1e6
    for i, (rss, pss, uss) in enumerate(results):
        print(f"reader {i}: RSS {rss:.0f} MB, PSS {pss:.0f} MB, USS (its own) {uss:.0f} MB; cache file {size:.0f} MB")


if __name__ == "__main__":
    main()
