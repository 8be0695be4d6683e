"""One configuration on one fold, outside any search: what `python -m tune_clothes.train` runs."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import torch

from tune_clothes.config import Experiment
from tune_clothes.config_loader import experiment_to_dict
from tune_clothes.data.datasets import load_index
from tune_clothes.data.folds import plan_folds
from tune_clothes.errors import UserError
from tune_clothes.training.callbacks import LAST, CheckpointCallback, TensorBoardCallback, load_checkpoint
from tune_clothes.training.fit import Callback, TrainingState, fit
from tune_clothes.training.fold_data import fold_data

log = logging.getLogger(__name__)


def resolve_device(requested: str) -> str:
    """'auto' is CUDA when a GPU is visible, else the CPU; asking for CUDA without one is an error."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {requested}: no CUDA GPU is visible here; use --device cpu")
    return requested


def train_fold(experiment: Experiment, fold: int, out_dir: Path, device: str = "cpu",
               callbacks: Sequence[Callback] = (), resume: bool = False) -> TrainingState:
    """Train the experiment's base configuration on `fold`; checkpoints and TensorBoard go to `out_dir`.

    With `resume`, continue from `out_dir`'s last checkpoint if there is one.
    """
    index = load_index(experiment.dataset)
    plan = plan_folds(index, experiment.cv, [experiment.cv.split])
    data = fold_data(experiment, index, plan, fold)
    log.info("fold %d: %d training and %d validation images, %d classes", fold, len(data.train),
             len(data.val), len(data.class_names))
    checkpoints = out_dir / "checkpoints"
    start = load_checkpoint(checkpoints / LAST) if resume and (checkpoints / LAST).is_file() else None
    metric = experiment.search.metric
    hparams = {f"{section}.{k}": v for section in ("train", "model")
               for k, v in experiment_to_dict(experiment)[section].items()}
    return fit(experiment, data, [CheckpointCallback(checkpoints, metric, experiment.search.mode),
                                  TensorBoardCallback(out_dir / "tensorboard", hparams), *callbacks],
               device=device, resume=start)
