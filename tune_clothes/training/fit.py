"""Training one configuration, epoch by epoch, with callbacks; stoppable and resumable.

`train_folds` is the one way into training: one fold (the `train` command, a grid trial) or several folds in
lock-step (an Optuna trial, which reports the mean over folds each epoch). `fit` is its one-fold form.

Every epoch's randomness (batch order, augmentations, dropout) is derived from (seed, epoch), and a
checkpoint holds the model, optimiser and scheduler states, so resuming after epoch k reproduces the
uninterrupted run exactly on CPU.
"""
from __future__ import annotations

import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from tune_clothes.config import Recipe
from tune_clothes.config import metric_names as M
from tune_clothes.config.trial_record import EPOCH_SECONDS, TRAIN_IMAGES_PER_S, TRAIN_SECONDS
from tune_clothes.training.augment import build_transform, normalize_batch
from tune_clothes.training.loader import LabelledImages, make_loader
from tune_clothes.training.metrics import epoch_metrics, per_class_metrics
from tune_clothes.training.models import build_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoldData:
    train: LabelledImages
    val: LabelledImages
    class_names: tuple[str, ...]


@dataclass
class TrainingState:
    """What callbacks see: the live objects, and `checkpoint()` to save them as plain state dicts."""
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    epoch: int = -1  # the last finished epoch
    history: list[dict[str, float]] = field(default_factory=list)
    class_metrics: dict[str, Any] = field(default_factory=dict)  # per-class F1, confusion matrix: last epoch
    # The last epoch's validation pass, in validation order: the predicted class (what val/acc counted) and the
    # softmax probabilities (images x classes); None until an epoch has run.
    val_predicted: np.ndarray | None = None
    val_probabilities: np.ndarray | None = None

    def checkpoint(self) -> dict[str, Any]:
        """Tensors, numbers and lists only: loadable with torch.load(weights_only=True)."""
        return {"epoch": self.epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler else None,
                "history": self.history}

    def restore(self, checkpoint: dict[str, Any]) -> None:
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if self.scheduler is not None and checkpoint["scheduler"] is not None:
            self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.epoch, self.history = checkpoint["epoch"], list(checkpoint["history"])


class Callback:
    """Hooks of a run; subclasses override what they need."""

    def on_fit_start(self, state: TrainingState) -> None:
        """Called once; `state.epoch` >= 0 when the run resumes from a checkpoint."""

    def on_train_batch_end(self, batch: int, state: TrainingState) -> None:
        """Called after each optimiser step; `state.epoch` is the last finished epoch."""

    def on_epoch_end(self, metrics: dict[str, float], state: TrainingState) -> None:
        """Called after every epoch with that epoch's metrics (also in `state.history[-1]`)."""

    def on_fit_end(self, state: TrainingState) -> None:
        """Called once after the last epoch."""


def train_folds(recipe: Recipe, folds: Mapping[int, FoldData],
                callbacks: Mapping[int, Sequence[Callback]] | None = None, *, device: str = "cpu",
                resume: Mapping[int, dict[str, Any]] | None = None,
                after_epoch: Callable[[dict[int, TrainingState]], None] | None = None) -> dict[int, TrainingState]:
    """Train `recipe` on every fold of `folds` (fold number -> data) in lock-step: epoch e of each fold, then
    `after_epoch(states)`. `callbacks` and `resume` (checkpoints) are per fold. Returns each fold's final state.

    Every fold's callbacks see `on_fit_start` before the first epoch and `on_fit_end` after the last.
    """
    callbacks, resume = callbacks or {}, resume or {}
    trainers = {k: Trainer(recipe, data, callbacks.get(k, ()), device=device, resume=resume.get(k))
                for k, data in folds.items()}
    while not all(trainer.done for trainer in trainers.values()):
        for trainer in trainers.values():
            trainer.run_epoch()
        if after_epoch is not None:
            after_epoch({k: trainer.state for k, trainer in trainers.items()})
    for trainer in trainers.values():
        trainer.finish()
    return {k: trainer.state for k, trainer in trainers.items()}


def fit(recipe: Recipe, data: FoldData, callbacks: Sequence[Callback] = (), *, device: str = "cpu",
        resume: dict[str, Any] | None = None) -> TrainingState:
    """Train `recipe` on one fold's `data`; returns the final state (history, per-class metrics)."""
    return train_folds(recipe, {0: data}, {0: callbacks}, device=device, resume={0: resume} if resume else None)[0]


class Trainer:
    """One fold's training, one epoch at a time, so that `train_folds` can advance several folds together."""

    def __init__(self, recipe: Recipe, data: FoldData, callbacks: Sequence[Callback] = (), *,
                 device: str = "cpu", resume: dict[str, Any] | None = None):
        self.train_cfg, self.data, self.callbacks, self.device = recipe.train, data, list(callbacks), device
        torch.manual_seed(self.train_cfg.seed)  # the initial weights
        self.state = _initial_state(recipe, data, device)
        if resume is not None:
            self.state.restore(resume)
            log.info("resuming after epoch %d", self.state.epoch)
        augmenting = self.train_cfg.augment  # otherwise training uses the eval pipeline too
        self.loaders = {part: make_loader(getattr(data, part),
                                          build_transform(recipe.augment, self.train_cfg.image_size,
                                                          train=part == "train", augment=augmenting),
                                          random=part == "train" and augmenting,
                                          batch_size=self.train_cfg.batch_size, seed=self.train_cfg.seed,
                                          shuffle=part == "train", workers=self.train_cfg.num_workers,
                                          pin_memory=torch.device(device).type == "cuda", train=part == "train")
                        for part in ("train", "val")}
        weights = _class_weights(data) if self.train_cfg.class_weights else None
        self.loss_fn = nn.CrossEntropyLoss(weight=weights).to(device)
        for callback in self.callbacks:
            callback.on_fit_start(self.state)

    @property
    def done(self) -> bool:
        return self.state.epoch + 1 >= self.train_cfg.epochs

    def run_epoch(self) -> dict[str, float]:
        epoch = self.state.epoch + 1
        torch.manual_seed(self.train_cfg.seed * 1_000_003 + epoch)  # dropout: same draws in a resumed run
        for loader in self.loaders.values():
            loader.batch_sampler.set_epoch(epoch)
        metrics = _run_epoch(self.state, self.loaders, self.loss_fn, self.device, self.data.class_names,
                             self.callbacks)
        self.state.epoch = epoch
        self.state.history.append({M.EPOCH: epoch, **metrics})
        for callback in self.callbacks:
            callback.on_epoch_end(self.state.history[-1], self.state)
        return self.state.history[-1]

    def finish(self) -> None:
        for callback in self.callbacks:
            callback.on_fit_end(self.state)


def _initial_state(recipe: Recipe, data: FoldData, device: str) -> TrainingState:
    model = build_model(recipe.model, len(data.class_names)).to(device)
    if torch.device(device).type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    train = recipe.train
    optimizer = torch.optim.Adam(params, lr=train.lr, weight_decay=train.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, train.step_size, train.gamma) if train.step_lr else None
    return TrainingState(model, optimizer, scheduler)


def _class_weights(data: FoldData) -> torch.Tensor:
    """Inverse class frequency in this fold's training part, normalised to average 1 over present classes."""
    counts = np.bincount(data.train.labels, minlength=len(data.class_names)).astype(np.float64)
    weights = np.divide(counts.sum() / (counts > 0).sum(), counts, out=np.zeros_like(counts), where=counts > 0)
    return torch.tensor(weights, dtype=torch.float32)


def _run_epoch(state: TrainingState, loaders: dict, loss_fn: nn.Module, device: str,
               class_names: Sequence[str], callbacks: Sequence[Callback]) -> dict[str, float]:
    started = time.perf_counter()
    lr = state.optimizer.param_groups[0]["lr"]
    train_loss, train_true, train_pred, _ = _pass(state, loaders["train"], loss_fn, device, callbacks)
    if state.scheduler is not None:
        state.scheduler.step()
    train_seconds = time.perf_counter() - started
    val_loss, val_true, val_pred, val_probabilities = _pass(state, loaders["val"], loss_fn, device)
    state.val_predicted, state.val_probabilities = val_pred, val_probabilities
    if not math.isfinite(train_loss):
        log.warning("training loss is %s at epoch %d: the run diverged (lower train.lr?)", train_loss,
                    state.epoch + 1)
    state.class_metrics = per_class_metrics(val_true, val_pred, class_names)
    return {M.LR: lr, M.TRAIN_LOSS: train_loss, **epoch_metrics("train", train_true, train_pred, len(class_names)),
            M.VAL_LOSS: val_loss, **epoch_metrics("val", val_true, val_pred, len(class_names)),
            TRAIN_SECONDS: train_seconds, EPOCH_SECONDS: time.perf_counter() - started,
            TRAIN_IMAGES_PER_S: len(train_true) / max(train_seconds, 1e-9)}


def _pass(state: TrainingState, loader, loss_fn: nn.Module, device: str,
          train_callbacks: Sequence[Callback] | None = None) -> tuple[float, np.ndarray, np.ndarray, np.ndarray | None]:
    """One pass over `loader`, training when given `train_callbacks`: mean loss, true labels, predictions, and
    (when not training) the softmax probabilities.

    Syncs with the device once, at the end.
    """
    train = train_callbacks is not None
    model = state.model
    model.train(train)
    cuda = torch.device(device).type == "cuda"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()
    layout = torch.channels_last if cuda else torch.contiguous_format
    loss_sum = torch.zeros((), device=device)
    truths, preds, probabilities = [], [], []
    with torch.set_grad_enabled(train):
        for batch, (images, labels) in enumerate(loader):
            images = normalize_batch(images.to(device, non_blocking=True), layout)
            labels = labels.to(device, non_blocking=True)
            with autocast:
                logits = model(images)
                loss = loss_fn(logits, labels)
            if train:
                state.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                state.optimizer.step()
                for callback in train_callbacks:
                    callback.on_train_batch_end(batch, state)
            loss_sum += loss.detach() * len(labels)
            truths.append(labels)
            preds.append(logits.detach().argmax(dim=1))
            if not train:
                probabilities.append(torch.softmax(logits.float(), dim=1))
    count = sum(len(t) for t in truths)
    scores = torch.cat(probabilities).cpu().numpy() if probabilities else None
    return ((loss_sum / max(count, 1)).item(), torch.cat(truths).cpu().numpy(), torch.cat(preds).cpu().numpy(),
            scores)
