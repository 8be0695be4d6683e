"""From (decoded images, dataset index, folds, fold number) to the `FoldData` that `fit` trains on; and the
whole pool as one training set, for the final refit."""
from __future__ import annotations

import logging

import numpy as np

from tune_clothes.data.folds import FoldPlan
from tune_clothes.data.image_cache import ImageCache
from tune_clothes.data.index import DatasetIndex
from tune_clothes.training.fit import FoldData
from tune_clothes.training.loader import LabelledImages

log = logging.getLogger(__name__)


def fold_data(cache: ImageCache, index: DatasetIndex, plan: FoldPlan, split: float | None, fold: int) -> FoldData:
    """Fold `fold`'s train and validation images (under the scheme of `split`), read from the image cache.

    `fold` is j = repeat * K + fold with `cv.repeats` > 1. Images that could not be decoded when the cache was
    built are left out of both parts and reported.
    """
    train, val = plan.fold(split, fold)  # a fold the plan does not have is a ConfigError
    if cache.failed:
        broken = np.fromiter(cache.failed, dtype=np.int64)
        train, val = np.setdiff1d(train, broken), np.setdiff1d(val, broken)
        log.warning("fold %d: left out %d undecodable image(s)", fold, len(cache.failed))
    return FoldData(train=LabelledImages(cache.path, train, index.labels[train]),
                    val=LabelledImages(cache.path, val, index.labels[val]),
                    class_names=index.class_names)


def pool_data(cache: ImageCache, index: DatasetIndex, plan: FoldPlan, monitor: np.ndarray) -> FoldData:
    """The whole pool (everything but the locked holdout) to train on, and `monitor` (pool positions) as the
    "validation" part: the pool has no held-out images, so its per-epoch metrics are a check that training
    converged, measured on images it also trains on, not an estimate."""
    train, monitor = plan.pool, np.asarray(monitor, dtype=np.int64)
    if np.setdiff1d(monitor, train).size:
        raise ValueError("the monitor images must come from the pool, never from the locked holdout")
    if cache.failed:
        broken = np.fromiter(cache.failed, dtype=np.int64)
        train, monitor = np.setdiff1d(train, broken), np.setdiff1d(monitor, broken)
        log.warning("pool: left out %d undecodable image(s)", len(cache.failed))
    return FoldData(train=LabelledImages(cache.path, train, index.labels[train]),
                    val=LabelledImages(cache.path, monitor, index.labels[monitor]),
                    class_names=index.class_names)
