"""From (decoded images, dataset index, folds, fold number) to the `FoldData` that `fit` trains on."""
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
