"""A rehearsal of one trial: what a dry run tries before a search's hours begin, and what it measures.

Short epochs of the real training code on a few images of the fold: FULL_BATCHES full batches and the fold's
own last (smallest) batch, so the shapes are the search's own, then one validation batch. After the first epoch
a checkpoint is written, read back and resumed from, as after a retry; the epochs after it run warm (as many as
fit in WARM_S seconds, at least one) and give the costs an epoch of the search is made of:

- seconds per training image: the time between the ends of consecutive full batches, over the batch size (the
  steady pace, without the loader's start);
- seconds per validation image: a third of that (a forward pass, without the backward pass and the update: a
  model, not a measurement, as one validation batch is too short to time apart from the epoch's fixed costs);
- the epoch's fixed seconds: the rest of the warm epoch (loader start, metrics, the validation pass's own
  overhead) plus writing a checkpoint, as every epoch of a search writes one.
"""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from tune_clothes.config import Recipe
from tune_clothes.config.trial_record import EPOCH_SECONDS
from tune_clothes.training.callbacks import load_checkpoint, save_checkpoint
from tune_clothes.training.fit import Callback, FoldData, Trainer, TrainingState
from tune_clothes.training.loader import EpochBatches, EpochSampler, LabelledImages

FULL_BATCHES = 3  # besides the fold's last batch: two of them are timed (after the first one)
WARM_S, WARM_EPOCHS = 2.0, 10  # warm epochs are repeated while they take less than WARM_S, up to WARM_EPOCHS
FORWARD_SHARE = 1 / 3  # of a training step's time per image, for a validation (forward-only) pass


@dataclass(frozen=True)
class Rehearsal:
    batches: tuple[int, ...]  # the training batches of an epoch, in images
    train_s_per_image: float
    val_s_per_image: float
    epoch_fixed_s: float  # per epoch, whatever its size
    setup_s: float  # building the model and loaders: each trial pays it once

    def epoch_s(self, train_images: int, val_images: int) -> float:
        return self.epoch_fixed_s + train_images * self.train_s_per_image + val_images * self.val_s_per_image


class _BatchEnds(Callback):
    def __init__(self) -> None:
        self.ends: list[float] = []

    def on_train_batch_end(self, batch: int, state: TrainingState) -> None:
        self.ends.append(time.perf_counter())


def rehearsal_data(data: FoldData, batch_size: int) -> FoldData:
    """The fold's first FULL_BATCHES batches of training images plus as many as its last batch holds, and one
    batch of its validation images."""
    rest = len(data.train) % batch_size
    keep = min(len(data.train), FULL_BATCHES * batch_size + rest)
    return FoldData(_first(data.train, keep), _first(data.val, min(len(data.val), batch_size)), data.class_names)


def rehearse(recipe: Recipe, data: FoldData, device: str, checkpoint: Path,
             callbacks: Sequence[Callback] = ()) -> Rehearsal:
    """Rehearse `recipe` on `rehearsal_data(data)` (see the module's docstring); the checkpoint it resumed from
    is left in the file `checkpoint`. `callbacks` see both runs, as a trial's would."""
    small = rehearsal_data(data, recipe.train.batch_size)
    started = time.perf_counter()
    trainer = Trainer(recipe, small, callbacks, device=device)
    setup_s = time.perf_counter() - started
    trainer.run_epoch()  # cold: memory allocation, kernel choice
    started = time.perf_counter()
    save_checkpoint(trainer.state.checkpoint(), checkpoint)
    checkpoint_s = time.perf_counter() - started
    del trainer  # and its loaders' worker processes, before the resumed run starts its own
    gc.collect()
    ends = _BatchEnds()
    resumed = Trainer(recipe, small, [*callbacks, ends], device=device, resume=load_checkpoint(checkpoint))
    batch = recipe.train.batch_size
    batches = EpochBatches(EpochSampler(len(small.train), 0, True), batch, train=True).sizes()
    timed = max(1, sum(size == batch for size in batches) - 1)  # full batches after an epoch's first
    steps, epochs = [], []
    while not epochs or (sum(epochs) < WARM_S and len(epochs) < WARM_EPOCHS):
        ends.ends.clear()
        epochs.append(resumed.run_epoch()[EPOCH_SECONDS])
        steps += list(np.diff(ends.ends)[:timed])
    per_image = float(np.mean(steps)) / batch if steps else float(np.mean(epochs)) / max(sum(batches), 1)
    val_per_image = FORWARD_SHARE * per_image
    variable = sum(batches) * per_image + len(small.val) * val_per_image
    return Rehearsal(tuple(batches), per_image, val_per_image,
                     max(0.0, float(np.mean(epochs)) - variable) + checkpoint_s, setup_s)


def _first(images: LabelledImages, count: int) -> LabelledImages:
    return LabelledImages(images.cache_file, images.positions[:count], images.labels[:count])
