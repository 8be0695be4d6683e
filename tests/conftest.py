"""Shared fixtures: tiny datasets written by the tests themselves, never downloaded."""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pytest
from PIL import Image

REAL_CLOTHING = Path(__file__).resolve().parents[2] / "shared" / "data" / "clothing-dataset"


def write_jpeg(path: Path, seed: int, size: tuple[int, int] = (24, 20), mode: str = "RGB") -> Path:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1, "CMYK": 4, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(pixels.squeeze() if channels == 1 else pixels, mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG" if mode == "RGBA" else "JPEG")
    return path


def write_clothing_dataset(root: Path, rows: Iterable[tuple[str, str]], files: Iterable[str] | None = None) -> Path:
    """images.csv with (image, label) rows, and a small JPEG for every id in `files` (default: every row)."""
    rows = list(rows)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "images.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "sender_id", "label", "kids"])
        for i, (image_id, label) in enumerate(rows):
            writer.writerow([image_id, i % 7, label, "False"])
    for i, image_id in enumerate(files if files is not None else [r[0] for r in rows]):
        write_jpeg(root / "images" / f"{image_id}.jpg", seed=i)
    return root


@pytest.fixture
def clothing_root(tmp_path: Path) -> Path:
    """A valid dataset: 3 classes of 12, 9 and 6 images."""
    rows = [(f"img{c}{i:02d}", name) for c, (name, n) in enumerate([("Pants", 12), ("Shirt", 9), ("Hat", 6)])
            for i in range(n)]
    return write_clothing_dataset(tmp_path / "clothing", rows)


@pytest.fixture
def real_clothing() -> Path:
    if not (REAL_CLOTHING / "images.csv").is_file():
        pytest.skip(f"the real Clothing Dataset is not at {REAL_CLOTHING}")
    return REAL_CLOTHING


# Ray: no usage reporting, and no token written to ~/.ray by the tests' local clusters.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")


@pytest.fixture(scope="session")
def ray_local():
    """One real local Ray for the tests that run searches in this process."""
    import ray
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def tiny_space(root: Path, name: str, lrs=(0.01, 0.001), **sections) -> dict:
    """A search space small enough for a test: synthetic data at 16 px, 3 epochs, lrs x 3 folds."""
    space = {
        "name": name, "storage": str(root / "results"),
        "dataset": {"kind": "synthetic", "root": str(root / "synthetic"), "cache_dir": str(root / "cache"),
                    "synthetic_images_per_class": 15},
        "model": {"name": "fashion_cnn"},
        "train": {"epochs": 3, "image_size": 16, "batch_size": 8, "augment": False},
        "cv": {"folds": 3},
        "resources": {"cpus_per_trial": 1},
        "search": {"grid": {"lr": list(lrs)}, "max_failures": 1},
    }
    for section, values in sections.items():
        space[section] = {**space.get(section, {}), **values} if isinstance(values, dict) else values
    return space


@pytest.fixture(scope="session")
def clean_search(ray_local, tmp_path_factory):
    """The tiny search, run once without faults: the reference the fault-tolerance tests compare with."""
    from tune_clothes.config.loader import experiment_from_dict
    root = tmp_path_factory.mktemp("search")
    experiment = experiment_from_dict(tiny_space(root, "clean"))
    return experiment, search_and_summarize(experiment)


@pytest.fixture(scope="session")
def adaptive_search(ray_local, tmp_path_factory):
    """Optuna proposing 4 configurations of the tiny search, ASHA stopping the weak ones (grace period 1)."""
    from tune_clothes.config.loader import experiment_from_dict
    space = tiny_space(tmp_path_factory.mktemp("adaptive"), "adaptive", search={
        "algorithm": "optuna", "grid": {}, "num_samples": 4, "scheduler": "asha", "grace_period": 1,
        "space": {"lr": {"low": 1e-4, "high": 3e-2, "log": True}, "batch_size": {"choices": [8, 16]}}})
    return search_and_summarize(experiment_from_dict(space))


@pytest.fixture(scope="session")
def failing_search(ray_local, tmp_path_factory):
    """The tiny search on three learning rates where lr=0.01 crashes on fold 0 and lr=0.003 runs out of GPU
    memory on fold 2, at every attempt: both configurations fail, lr=0.001 completes."""
    import json

    from tune_clothes.config.loader import experiment_from_dict
    from tune_clothes.tuning.faults import ENV_VAR
    faults = [{"kind": "crash", "epoch": 1, "fold": 0, "axes": {"lr": 0.01}},
              {"kind": "oom", "epoch": 0, "fold": 2, "axes": {"lr": 0.003}}]
    space = tiny_space(tmp_path_factory.mktemp("failing"), "failing", lrs=(0.01, 0.003, 0.001))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_VAR, json.dumps(faults))
        return search_and_summarize(experiment_from_dict(space))


def search_and_summarize(experiment, options=None):
    """What the search command does: run the search, then summarize it from the files on disk."""
    from tune_clothes.analysis.summary import write_summary
    from tune_clothes.tuning.runner import SearchOptions, run_search
    return write_summary(run_search(experiment, options or SearchOptions()))


def trial_dirs(location: Path) -> list[Path]:
    return sorted(p for p in Path(location).iterdir() if (p / "params.json").is_file())


#: A model made without any training (random weights): class names that a CSV or Markdown file must survive.
MODEL_CLASSES = ("Pants", "a|b <i>x</i>", 'T-Shirt, "v"')
MODEL_SIDE = 16


def random_bundle(seed: int, members: int = 1, channels: int = 3):
    """A fashion_cnn ModelBundle with random weights (an ensemble when `members` > 1)."""
    import torch

    from tune_clothes.config import ModelConfig
    from tune_clothes.packaging.bundle import ModelBundle
    from tune_clothes.training.models import build_model
    torch.manual_seed(seed)
    states = tuple(build_model(ModelConfig(name="fashion_cnn"), len(MODEL_CLASSES)).state_dict()
                   for _ in range(members))
    return ModelBundle("ensemble" if members > 1 else "refit", "fashion_cnn", MODEL_CLASSES, MODEL_SIDE, channels,
                       states)


def sample_input(count: int = 6):
    """Random pixels as model input."""
    from tune_clothes.packaging.inference import model_input
    pixels = np.random.default_rng(0).integers(0, 256, (count, MODEL_SIDE, MODEL_SIDE, 3), dtype=np.uint8)
    return model_input(pixels, 3)


@pytest.fixture(scope="session")
def random_model_dir(tmp_path_factory) -> Path:
    """A model folder (model.pt, model.onnx) of `random_bundle(0)`."""
    from tune_clothes.packaging.bundle import MODEL_PT, save_bundle
    from tune_clothes.packaging.onnx_export import ONNX_FILE, export_onnx
    folder = tmp_path_factory.mktemp("model")
    bundle = random_bundle(0)
    save_bundle(bundle, folder / MODEL_PT)
    export_onnx(bundle, folder / ONNX_FILE, sample_input())
    return folder
