"""One configuration on one fold, outside any search: what `python -m tune_clothes.train` runs."""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Sequence

import torch

from tune_clothes.config import Experiment
from tune_clothes.config.errors import UserError
from tune_clothes.data.datasets import load_index
from tune_clothes.data.folds import plan_folds
from tune_clothes.data.image_cache import ensure_image_cache
from tune_clothes.training.callbacks import LAST, CheckpointCallback, TensorBoardCallback, load_checkpoint
from tune_clothes.training.fit import Callback, FoldData, TrainingState, train_folds
from tune_clothes.training.fold_data import fold_data

log = logging.getLogger(__name__)


def resolve_device(requested: str) -> str:
    """'auto' is CUDA when a GPU is visible, else the CPU; asking for CUDA without one is an error."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {requested}: no CUDA GPU is visible here; use --device cpu")
    return requested


def prepare_fold(experiment: Experiment, fold: int) -> FoldData:
    """Index the data, make the folds and the image cache, and return fold `fold`'s data (no search needed)."""
    index = load_index(experiment.dataset)
    plan = plan_folds(index, experiment.cv, [experiment.cv.split])
    cache = ensure_image_cache(index, experiment.train.image_size, Path(experiment.dataset.cache_dir))
    return fold_data(cache, index, plan, experiment.cv.split, fold)


def train_fold(experiment: Experiment, fold: int, out_dir: Path, device: str = "cpu",
               callbacks: Sequence[Callback] = (), resume: bool = False) -> TrainingState:
    """Train the experiment's base configuration on `fold`; checkpoints and TensorBoard go to `out_dir`.

    With `resume`, continue from `out_dir`'s last checkpoint if there is one.
    """
    data = prepare_fold(experiment, fold)
    log.info("fold %d: %d training and %d validation images, %d classes", fold, len(data.train),
             len(data.val), len(data.class_names))
    checkpoints = out_dir / "checkpoints"
    start = load_checkpoint(checkpoints / LAST) if resume and (checkpoints / LAST).is_file() else None
    metric = experiment.search.metric
    hparams = {f"{section}.{k}": v for section in ("train", "model")
               for k, v in dataclasses.asdict(getattr(experiment, section)).items()}
    callbacks = [CheckpointCallback(checkpoints, metric, experiment.search.mode),
                 TensorBoardCallback(out_dir / "tensorboard", hparams), *callbacks]
    states = train_folds(experiment.recipe, {fold: data}, {fold: callbacks}, device=device,
                         resume={fold: start} if start else None)
    return states[fold]
