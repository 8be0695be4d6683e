"""The training core: it learns, it resumes exactly, its checkpoints are plain, and it needs no Ray."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tune_clothes.config import metric_names as M
from tune_clothes.config.loader import experiment_from_dict
from tune_clothes.training.callbacks import BEST, LAST, CheckpointCallback, TensorBoardCallback, load_checkpoint
from tune_clothes.training.fit import Callback, FoldData, TrainingState, fit
from tune_clothes.training.loader import EpochBatches, EpochSampler, LabelledImages
from tune_clothes.training.predictions import TOP_K, load_predictions, save_predictions, validation_predictions
from tune_clothes.training.standalone import prepare_fold


def experiment(tmp_path, images_per_class=24, model="fashion_cnn", **train):
    settings = {"epochs": 3, "image_size": 16, "batch_size": 16, "lr": 0.01, "augment": True, "step_lr": True,
                "step_size": 1, "gamma": 0.5, "class_weights": True, **train}
    return experiment_from_dict({
        "dataset": {"kind": "synthetic", "root": str(tmp_path / "synthetic"), "cache_dir": str(tmp_path / "cache"),
                    "synthetic_images_per_class": images_per_class},
        "model": {"name": model}, "train": settings, "cv": {"folds": 3}})


@pytest.fixture
def torch_threads():
    """Sets torch's (process-wide) thread count for one test, and gives the old one back after it."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


@pytest.fixture
def small(tmp_path):
    exp = experiment(tmp_path)
    return exp.recipe, prepare_fold(exp, 0)


class StopAfter(Callback):
    """Simulates a killed run: raises after `epochs` epochs."""

    def __init__(self, epochs):
        self.epochs = epochs

    def on_epoch_end(self, metrics, state):
        if state.epoch + 1 == self.epochs:
            raise KeyboardInterrupt


def test_resumed_run_equals_uninterrupted_run(small, tmp_path, torch_threads):
    exp, data = small
    torch_threads(1)
    full = fit(exp, data)
    with pytest.raises(KeyboardInterrupt):
        fit(exp, data, [CheckpointCallback(tmp_path / "ck"), StopAfter(1)])
    resumed = fit(exp, data, resume=load_checkpoint(tmp_path / "ck" / LAST))
    assert resumed.epoch == full.epoch == 2
    assert resumed.history == _without_times(full.history, resumed.history)
    for name, tensor in full.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    assert resumed.optimizer.param_groups[0]["lr"] == full.optimizer.param_groups[0]["lr"] == 0.01 * 0.5 ** 3


def _without_times(expected, actual):
    """The expected history, with the timing columns of `actual` (wall times differ between runs)."""
    return [{**e, **{k: v for k, v in a.items() if k.startswith("time/")}} for e, a in zip(expected, actual)]


def test_checkpoints_are_plain_and_best_follows_the_metric(small, tmp_path):
    exp, data = small
    callback = CheckpointCallback(tmp_path / "ck", metric=M.VAL_LOSS, mode="min")
    state = fit(exp, data, [callback])
    last = load_checkpoint(tmp_path / "ck" / LAST)  # weights_only=True inside
    best = load_checkpoint(tmp_path / "ck" / BEST)
    assert last["epoch"] == 2
    losses = [row[M.VAL_LOSS] for row in state.history]
    assert best["epoch"] == losses.index(min(losses))
    assert callback.best == min(losses)
    torch.load(tmp_path / "ck" / LAST, weights_only=True)


def test_tensorboard_gets_every_epoch_scalar_and_the_hparams(small, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    exp, data = small
    fit(exp, data, [TensorBoardCallback(tmp_path / "tb", {"train.lr": 0.01, "model.name": "fashion_cnn"})])
    events = EventAccumulator(str(tmp_path / "tb")).Reload()
    for name in M.EPOCH_SCALARS:
        assert [e.step for e in events.Scalars(name)] == [0, 1, 2], name
    assert "_hparams_/session_start_info" in events.PluginTagToContent("hparams")


def test_training_learns_the_synthetic_data(tmp_path, torch_threads):
    exp = experiment(tmp_path, images_per_class=100, epochs=10, augment=False, step_lr=False, lr=0.001,
                     image_size=28, batch_size=16)
    data = prepare_fold(exp, 0)
    torch_threads(2)
    history = fit(exp.recipe, data).history
    chance = 1 / len(data.class_names)
    assert history[-1][M.TRAIN_LOSS] < history[0][M.TRAIN_LOSS]
    assert history[-1][M.VAL_ACC] > 1.5 * chance


def test_validation_predictions_are_the_ones_behind_val_acc(small, tmp_path):
    recipe, data = small
    state = fit(recipe, data)
    ids = [f"image-{i}" for i in range(max(data.val.positions) + 1)]
    predictions = validation_predictions(state, data.val, ids)
    assert predictions.accuracy() == state.history[-1][M.VAL_ACC] and predictions.epochs_done == 3
    assert list(predictions.ids) == [ids[i] for i in data.val.positions]
    save_predictions(predictions, tmp_path / "p.npz")
    loaded = load_predictions((tmp_path / "p.npz").read_bytes())
    for name in ("positions", "ids", "labels", "predicted", "top_classes", "top_probabilities"):
        assert np.array_equal(getattr(loaded, name), getattr(predictions, name)), name


def test_validation_predictions_keep_the_likeliest_classes_only():
    rng = np.random.default_rng(0)
    scores = rng.dirichlet(np.ones(25), 40).astype(np.float32)  # 25 classes, 40 images
    state = TrainingState(None, None, None, epoch=4, val_predicted=scores.argmax(axis=1), val_probabilities=scores)
    images = LabelledImages(Path("unused.npy"), np.arange(40), rng.integers(0, 25, 40))
    predictions = validation_predictions(state, images, [str(i) for i in range(40)])
    assert predictions.top_classes.shape == predictions.top_probabilities.shape == (40, TOP_K)
    assert np.array_equal(predictions.top_classes[:, 0], predictions.predicted)
    assert (np.diff(predictions.top_probabilities.astype(float), axis=1) <= 0).all()  # likeliest first
    expected = np.sort(scores, axis=1)[:, ::-1][:, :TOP_K].astype(np.float16)
    assert np.array_equal(predictions.top_probabilities, expected)


class TrainingBatchSizes(Callback):
    """Records the size of every batch the model sees in training mode, per epoch."""

    def __init__(self):
        self.sizes: list[list[int]] = []

    def on_fit_start(self, state):
        def record(module, inputs):
            if module.training:
                if len(self.sizes) <= state.epoch + 1:
                    self.sizes.append([])
                self.sizes[-1].append(len(inputs[0]))
        state.model.register_forward_pre_hook(record)


@pytest.mark.parametrize("model", ["fashion_cnn", "resnet18"])
def test_a_training_part_one_image_past_whole_batches_trains_on_every_model(tmp_path, model):
    """k * batch_size + 1 training images: the last batch would hold one image, on which BatchNorm cannot train
    (resnet18's head raises). It is left out of each epoch, a different image every epoch."""
    exp = experiment(tmp_path, model=model, epochs=2, batch_size=8, image_size=32, augment=False)
    data = prepare_fold(exp, 0)
    train, val = (LabelledImages(part.cache_file, part.positions[:17], part.labels[:17])
                  for part in (data.train, data.val))
    batches = TrainingBatchSizes()
    state = fit(exp.recipe, FoldData(train, val, data.class_names), [batches])
    assert batches.sizes == [[8, 8], [8, 8]]
    assert all(np.isfinite(row[M.TRAIN_LOSS]) for row in state.history)
    assert len(state.val_predicted) == 17  # validation, in eval mode, ends on its batch of one image


def test_only_a_training_epoch_leaves_out_a_last_batch_of_one_image():
    def epochs(size, batch, train, count=4):
        batches = EpochBatches(EpochSampler(size, seed=3, shuffle=True), batch, train)
        out = []
        for epoch in range(count):
            batches.set_epoch(epoch)
            out.append([i for i, _ in sum(list(batches), [])])
        return out
    trained = epochs(17, 8, train=True)
    assert all(len(images) == 16 for images in trained)
    left_out = [set(range(17)) - set(images) for images in trained]
    assert len(set(map(frozenset, left_out))) > 1  # not the same image every epoch
    assert all(sorted(images) == list(range(17)) for images in epochs(17, 8, train=False))  # validation: all
    assert [len(images) for images in epochs(18, 8, train=True)] == [18] * 4  # a last batch of 2 trains
    assert epochs(1, 8, train=False, count=1) == [[0]]  # predicting one image


def test_class_weights_are_the_inverse_class_frequency_of_the_training_part(tmp_path):
    """Counts 6, 2, 0 and 4: weights 4/6, 4/2, 0 and 4/4 (inverse frequency, averaging 1 over the classes
    present; an absent class weighs nothing), in the loss the training uses."""
    from tune_clothes.training.fit import Trainer
    exp = experiment(tmp_path)
    labels = np.array([0] * 6 + [1] * 2 + [3] * 4)
    images = LabelledImages(tmp_path / "unused.npy", np.arange(12), labels)
    data = FoldData(images, images, ("a", "b", "c", "d"))
    weights = Trainer(exp.recipe, data).loss_fn.weight
    assert weights.tolist() == pytest.approx([4 / 6, 2.0, 0.0, 1.0])
    unweighted = experiment(tmp_path, class_weights=False)
    assert Trainer(unweighted.recipe, data).loss_fn.weight is None
