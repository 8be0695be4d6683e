"""Epoch-end callbacks of `fit`: checkpoints (best by a metric, and last) and TensorBoard curves."""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Mapping

import torch

from tune_clothes.config import metric_names as M
from tune_clothes.data.storage import atomic_path
from tune_clothes.training.fit import Callback, TrainingState

log = logging.getLogger(__name__)
LAST = "last.pt"
BEST = "best.pt"


def save_checkpoint(checkpoint: Mapping[str, Any], path: Path) -> None:
    """Write atomically: a crash mid-write leaves the previous checkpoint intact."""
    with atomic_path(path) as tmp:
        torch.save(dict(checkpoint), tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Only tensors, numbers, strings and containers: nothing in the file can run code."""
    return torch.load(path, map_location="cpu", weights_only=True)


def is_better(value: float, best: float | None, mode: str) -> bool:
    if not math.isfinite(value):
        return False
    return best is None or (value > best if mode == "max" else value < best)


class CheckpointCallback(Callback):
    """The original project's CheckpointCallback: `last.pt` after every epoch, `best.pt` when `metric` improves."""

    def __init__(self, directory: Path, metric: str = M.VAL_ACC, mode: str = "max"):
        self.directory, self.metric, self.mode = Path(directory), metric, mode
        self.best: float | None = None

    def on_fit_start(self, state: TrainingState) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for row in state.history:  # a resumed run remembers the best so far
            if is_better(row[self.metric], self.best, self.mode):
                self.best = row[self.metric]

    def on_epoch_end(self, metrics: dict[str, float], state: TrainingState) -> None:
        checkpoint = state.checkpoint()
        save_checkpoint(checkpoint, self.directory / LAST)
        if is_better(metrics[self.metric], self.best, self.mode):
            self.best = metrics[self.metric]
            save_checkpoint(checkpoint, self.directory / BEST)
            log.debug("epoch %d: new best %s=%.4f", state.epoch, self.metric, self.best)


class TensorBoardCallback(Callback):
    """The original project's four plots (loss, accuracy, precision, recall) plus F1, train and validation, per epoch."""

    def __init__(self, log_dir: Path, hparams: Mapping[str, Any] | None = None, metric: str = M.VAL_ACC):
        self.log_dir, self.hparams, self.metric = Path(log_dir), dict(hparams or {}), metric
        self.writer = None

    def on_fit_start(self, state: TrainingState) -> None:
        from torch.utils.tensorboard import SummaryWriter  # imported here: tensorboard is slow to import
        self.writer = SummaryWriter(str(self.log_dir))

    def on_epoch_end(self, metrics: dict[str, float], state: TrainingState) -> None:
        for name in (M.LR, *M.EPOCH_SCALARS):
            self.writer.add_scalar(name, metrics[name], global_step=state.epoch)
        self.writer.flush()

    def on_fit_end(self, state: TrainingState) -> None:
        if self.hparams and state.history:
            final = {f"hparam/{k}": v for k, v in state.history[-1].items() if k in M.EPOCH_SCALARS}
            self.writer.add_hparams(_tensorboard_values(self.hparams), final, run_name=".")
        self.writer.close()


def _tensorboard_values(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """TensorBoard's hparams take numbers, strings and bools only."""
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in hparams.items()}
