"""`fit` against a bare PyTorch loop with the same model, batches and data, on the CPU: training images/s.

The bare loop trains on tensors prepared once in memory; `fit` adds its data pipeline (cache -> transform ->
DataLoader), metrics and callbacks. Epoch 0 of each run is a warm-up and not counted; the runs alternate.

    python -m tune_clothes.benchmarks.fit_overhead --model fashion_cnn --size 28
    python -m tune_clothes.benchmarks.fit_overhead --model resnet18 --size 64 --batch-size 32
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from torch import nn

from tune_clothes.config import metric_names as M
from tune_clothes.config import trial_record as record
from tune_clothes.config.loader import experiment_from_dict
from tune_clothes.training.augment import build_transform, normalize_batch
from tune_clothes.training.fit import fit
from tune_clothes.training.loader import CachedImages
from tune_clothes.training.models import build_model
from tune_clothes.training.standalone import prepare_fold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fashion_cnn")
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers of fit")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as cache_dir:
        experiment = experiment_from_dict({
            "dataset": {"kind": "synthetic", "cache_dir": cache_dir, "synthetic_images_per_class": 200},
            "model": {"name": args.model}, "cv": {"folds": 3},
            "train": {"epochs": args.epochs, "image_size": args.size, "batch_size": args.batch_size,
                      "augment": False, "num_workers": args.workers}})
        data = prepare_fold(experiment, 0)
        bare_rates, fit_rates = [], []
        for _ in range(args.repeats):  # interleaved, so a busy moment of the machine hits both
            bare_rates += _bare_loop(experiment, data, args.epochs)
            history = fit(experiment.recipe, data).history
            fit_rates += [len(data.train) / row[record.TRAIN_SECONDS] for row in history[1:]]
        bare_rate, fit_rate = float(np.median(bare_rates)), float(np.median(fit_rates))
    print(f"{args.model} at {args.size} px, batch {args.batch_size}, {args.threads} threads, "
          f"{len(data.train)} training images, fit workers {args.workers}")
    print(f"median of {len(fit_rates)} epochs each: bare loop {bare_rate:,.0f} images/s; fit {fit_rate:,.0f} images/s; "
          f"fit overhead {bare_rate / fit_rate - 1:+.1%}; final {M.VAL_ACC} {history[-1][M.VAL_ACC]:.3f}")


def _bare_loop(experiment, data, epochs: int) -> list[float]:
    """The same model, batches and data, with the images prepared once as tensors in memory."""
    transform = build_transform(experiment.augment, experiment.train.image_size, train=False)
    dataset = CachedImages(data.train, transform, random=False)
    images = normalize_batch(torch.stack([dataset[(i, 0)][0] for i in range(len(dataset))])).contiguous()
    labels = torch.as_tensor(data.train.labels)
    torch.manual_seed(0)
    model = build_model(experiment.model, len(data.class_names))
    optimizer = torch.optim.Adam(model.parameters(), lr=experiment.train.lr)
    loss_fn, batch = nn.CrossEntropyLoss(), experiment.train.batch_size
    rates = []
    for epoch in range(epochs):
        started = time.perf_counter()
        order = torch.randperm(len(images))
        for start in range(0, len(images), batch):
            chosen = order[start:start + batch]
            loss = loss_fn(model(images[chosen]), labels[chosen])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch > 0:
            rates.append(len(images) / (time.perf_counter() - started))
    return rates


if __name__ == "__main__":
    main()
