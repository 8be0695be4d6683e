"""One fold's validation predictions at one epoch: what a trial saves beside each checkpoint, and what the
out-of-fold analysis of the report reads back.

Bounded in size: per image, its position in the dataset index, its id, the true class, the predicted class
(the argmax that the epoch's `val/acc` counted, kept exactly rather than re-derived from rounded
probabilities) and its TOP_K most probable classes with their softmax probabilities as float16 (all of them
when there are at most TOP_K classes); a compressed `.npz`, read back with `allow_pickle=False`. For the
Clothing Dataset's ~1000 validation images per fold (20 classes, UUID ids) that is about 60 kB.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Sequence

import numpy as np

if TYPE_CHECKING:  # annotations only: reading predictions (the report) needs no torch
    from tune_clothes.training.fit import TrainingState
    from tune_clothes.training.loader import LabelledImages

TOP_K = 10  # classes kept per image: all of Fashion-MNIST's 10, the 10 likeliest of the Clothing Dataset's 20
_FIELDS = ("epochs_done", "positions", "ids", "labels", "predicted", "top_classes", "top_probabilities")


def predictions_file(fold: int) -> str:
    """The file name of fold j's predictions (j = repeat * K + fold) in a trial's checkpoint folder."""
    return f"fold{fold}_val_predictions.npz"


@dataclass(frozen=True, eq=False)
class ValidationPredictions:
    epochs_done: int  # the epoch (1 = the first) whose validation pass made these predictions
    positions: np.ndarray  # int64 positions in the DatasetIndex, in validation order
    ids: np.ndarray  # str: the images' ids
    labels: np.ndarray  # int64 true class
    predicted: np.ndarray  # int64 predicted class
    top_classes: np.ndarray  # (images, k) int32, the likeliest class first
    top_probabilities: np.ndarray  # (images, k) float16, softmax probability of each of top_classes

    def __len__(self) -> int:
        return len(self.positions)

    def accuracy(self) -> float:
        """The share of right predictions: the `val/acc` of the epoch, computed from the same arrays."""
        return float(np.mean(self.labels == self.predicted)) if len(self) else float("nan")


def validation_predictions(state: TrainingState, val: LabelledImages, ids: Sequence[str]) -> ValidationPredictions:
    """The predictions of `state`'s last validation pass over `val`; `ids`: every image id of the index."""
    if state.val_probabilities is None or state.val_predicted is None:
        raise ValueError("the state has no validation pass yet: train an epoch first")
    probabilities = state.val_probabilities
    k = min(TOP_K, probabilities.shape[1])
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return ValidationPredictions(
        epochs_done=state.epoch + 1, positions=np.asarray(val.positions, dtype=np.int64),
        ids=np.array([ids[i] for i in val.positions.tolist()], dtype=str),
        labels=np.asarray(val.labels, dtype=np.int64),
        predicted=np.asarray(state.val_predicted, dtype=np.int64), top_classes=top.astype(np.int32),
        top_probabilities=np.take_along_axis(probabilities, top, axis=1).astype(np.float16))


def save_predictions(predictions: ValidationPredictions, path: str | os.PathLike) -> None:
    np.savez_compressed(path, **{name: getattr(predictions, name) for name in _FIELDS})


def load_predictions(source: str | os.PathLike | bytes | BinaryIO) -> ValidationPredictions:
    """From a file, or from its bytes (read from s3:// or another storage)."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    with np.load(source, allow_pickle=False) as data:
        return ValidationPredictions(int(data["epochs_done"]), *(data[name] for name in _FIELDS[1:]))
