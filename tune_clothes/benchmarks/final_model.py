"""The final model's costs: `predict` throughput with PyTorch and onnxruntime on real photos (decode included)
and on decoded tensors (model only), where a prediction's time goes; and, given a finished search, the wall
time of `final --strategy refit` against a fold trial of the same configuration.

    python -m tune_clothes.benchmarks.final_model --photos ../shared/data/clothing-dataset \
        [--image-size 224] [--images 256] [--experiment ~/ray_results/demo]

The predict part uses a resnet18 with random weights (throughput does not depend on the weights) and the
photos' class names; numbers on a shared machine are inflated by whatever else runs there.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tune_clothes.config import ModelConfig
from tune_clothes.config import trial_record as record
from tune_clothes.data.clothing import image_path, read_images_csv
from tune_clothes.packaging.bundle import MODEL_PT, ModelBundle, save_bundle
from tune_clothes.packaging.inference import BATCH_SIZE, file_pixels, model_input
from tune_clothes.packaging.model_folder import read_model_folder
from tune_clothes.packaging.onnx_export import ONNX_FILE, export_onnx
from tune_clothes.packaging.prediction import predict_paths
from tune_clothes.training.models import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, help="a Clothing Dataset folder (predict throughput)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--images", type=int, default=256, help="photos to predict")
    parser.add_argument("--experiment", help="a finished search's folder (refit against a fold trial)")
    parser.add_argument("--measure-epochs", type=int, default=2,
                        help="epochs trained on fold 0 and on the pool to compare their cost (the last is timed)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} (other work on the machine inflates every number)")
    if args.photos:
        predict_throughput(args.photos, args.image_size, args.images)
    if args.experiment:
        refit_against_fold_trial(os.path.abspath(os.path.expanduser(args.experiment)), args.measure_epochs)


def predict_throughput(root: Path, size: int, count: int) -> None:
    rows = read_images_csv(root)
    paths = [str(image_path(root, row.image)) for row in rows[:count]]
    classes = tuple(sorted({row.label for row in rows if row.label}))
    with tempfile.TemporaryDirectory() as folder:
        model = _model_folder(Path(folder), classes, size, paths[:16])
        started = time.perf_counter()
        pixels = np.stack([file_pixels(path, size) for path in paths])
        decode = time.perf_counter() - started
        started = time.perf_counter()
        batches = [model_input(pixels[i:i + BATCH_SIZE], 3) for i in range(0, len(pixels), BATCH_SIZE)]
        prepare = time.perf_counter() - started
        print(f"\npredict, resnet18 at {size} px, {len(paths)} photos, batches of {BATCH_SIZE}:")
        print(f"  decode + resize (PIL, one thread): {len(paths) / decode:7.1f} images/s")
        print(f"  grey/normalise to model input:     {len(paths) / prepare:7.1f} images/s")
        for backend in ("torch", "onnx"):
            scorer = model.scorer(backend)
            scorer.scores(batches[0][:2])  # warm-up: first-call allocations are not throughput
            started = time.perf_counter()
            for batch in batches:
                scorer.scores(batch)
            forward = time.perf_counter() - started
            started = time.perf_counter()
            done = sum(1 for p in predict_paths(scorer, model.bundle, [(path, "") for path in paths], 3)
                       if not p.error)
            end_to_end = time.perf_counter() - started
            print(f"  {backend:5s} model only: {len(paths) / forward:7.1f} images/s; predict with decode (threads): "
                  f"{done / end_to_end:7.1f} images/s")
    print(f"  start-up: `import tune_clothes.predict` {_import_seconds('tune_clothes.predict'):.1f} s "
          f"(torch, torchvision, albumentations, scikit-learn)")


def _model_folder(folder: Path, classes: tuple[str, ...], size: int, sample: list[str]):
    torch.manual_seed(0)
    state = build_model(ModelConfig(name="resnet18"), len(classes)).state_dict()
    bundle = ModelBundle("refit", "resnet18", classes, size, 3, (state,))
    save_bundle(bundle, folder / MODEL_PT)
    started = time.perf_counter()
    check = export_onnx(bundle, folder / ONNX_FILE, model_input(np.stack([file_pixels(p, size) for p in sample]), 3))
    print(f"ONNX export and check: {time.perf_counter() - started:.1f} s (max |score diff| {check.max_abs_diff:.1g})")
    return read_model_folder(folder)


def _import_seconds(module: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
    return time.perf_counter() - started


def refit_against_fold_trial(location: str, epochs: int) -> None:
    """`final`'s wall time and where it goes; then an epoch of the refit against an epoch of a fold trial of the
    same configuration, trained back to back here (no Ray), so that both see the same load."""
    from tune_clothes.packaging.final_model import FinalRequest, build_final_model
    from tune_clothes.tuning.refit import run_refit
    from tune_clothes.tuning.tuner import RayOptions
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        built = build_final_model(FinalRequest(location, Path(out)),
                                  lambda job: run_refit(job, RayOptions(num_cpus=2)))
        wall = time.perf_counter() - started
        refit = _rows(next(Path(out).glob("refit/pool/result.json")))
    in_trial = refit[-1][record.TUNE_TIME_TOTAL]
    print(f"\nfinal --strategy refit on {location}: {wall:.1f} s; the refit trial {in_trial:.1f} s of it for "
          f"{len(refit)} epochs (Tune's time inside the trial), the rest {wall - in_trial:.1f} s (Ray and the "
          f"trial's process starting, data checks, ONNX export and check, the test set)")
    fold, pool = _epoch_seconds(location, built.info["configuration"]["axes"], epochs)
    print(f"  one training epoch, back to back: fold 0's training part {fold[0]:.2f} s for {fold[1]} images, "
          f"the pool {pool[0]:.2f} s for {pool[1]} images: x{pool[0] / fold[0]:.2f} (images: x{pool[1] / fold[1]:.2f})")


def _epoch_seconds(location: str, axes: dict, epochs: int) -> tuple[tuple[float, int], tuple[float, int]]:
    """(seconds, images) of the last of `epochs` training epochs (the first warms up) on fold 0 and the pool."""
    from tune_clothes.data.datasets import load_index
    from tune_clothes.data.experiment_folder import FOLDS_JSON, read_experiment
    from tune_clothes.data.folds import load_fold_plan
    from tune_clothes.data.image_cache import ensure_image_cache
    from tune_clothes.training.fit import fit
    from tune_clothes.training.fold_data import fold_data, pool_data
    experiment = read_experiment(location).with_axes(axes)
    index = load_index(experiment.dataset)
    plan = load_fold_plan(str(Path(location) / FOLDS_JSON), index.fingerprint())
    cache = ensure_image_cache(index, experiment.train.image_size, Path(experiment.dataset.cache_dir))
    fold = fold_data(cache, index, plan, experiment.cv.split, 0)
    recipe = dataclasses.replace(experiment.recipe, train=dataclasses.replace(experiment.train, epochs=epochs))
    torch.set_num_threads(int(experiment.resources.cpus_per_trial))  # as in a trial
    results = []
    for data in (fold, pool_data(cache, index, plan, fold.val.positions)):
        state = fit(recipe, data)
        results.append((state.history[-1][record.TRAIN_SECONDS], len(data.train)))
    return results[0], results[1]


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


if __name__ == "__main__":
    main()
