"""From (experiment, dataset index, folds, fold number) to the `FoldData` that `fit` trains on."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tune_clothes.config import Experiment
from tune_clothes.data.folds import FoldPlan
from tune_clothes.data.image_cache import ensure_image_cache
from tune_clothes.data.index import DatasetIndex
from tune_clothes.errors import ConfigError
from tune_clothes.training.fit import FoldData
from tune_clothes.training.loader import LabelledImages

log = logging.getLogger(__name__)


def fold_data(experiment: Experiment, index: DatasetIndex, plan: FoldPlan, fold: int,
              cache_workers: int | None = None) -> FoldData:
    """The fold's train and validation images, read from the decode-once cache (built on first use).

    Images that could not be decoded when the cache was built are left out of both parts and reported.
    """
    if not 0 <= fold < plan.folds:
        raise ConfigError(f"fold={fold}: this experiment has folds 0..{plan.folds - 1}")
    cache = ensure_image_cache(index, experiment.train.image_size, Path(experiment.dataset.cache_dir),
                               cache_workers)
    train, val = plan.fold(experiment.cv.split, fold)
    if cache.failed:
        broken = np.fromiter(cache.failed, dtype=np.int64)
        train, val = np.setdiff1d(train, broken), np.setdiff1d(val, broken)
        log.warning("fold %d: left out %d undecodable image(s)", fold, len(cache.failed))
    return FoldData(train=LabelledImages(cache.path, train, index.labels[train]),
                    val=LabelledImages(cache.path, val, index.labels[val]),
                    class_names=index.class_names)
