"""Shared fixtures: tiny datasets written by the tests themselves, never downloaded."""
from __future__ import annotations

import csv
import functools
import os
import threading
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
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
def failing_search(ray_local, tmp_path_factory):
    """The tiny search on 2 folds and 2 epochs where lr=0.01 crashes in its second epoch on fold 0 at every
    attempt, so it exhausts its retry (max_failures=1) and fails; lr=0.001 completes."""
    import json

    from tune_clothes.config.loader import experiment_from_dict
    from tune_clothes.tuning.faults import ENV_VAR
    faults = [{"kind": "crash", "epoch": 1, "fold": 0, "axes": {"lr": 0.01}}]
    space = tiny_space(tmp_path_factory.mktemp("failing"), "failing", cv={"folds": 2}, train={"epochs": 2})
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


# ---- Fashion-MNIST files, written by the tests ---------------------------------------------------------------

@dataclass(frozen=True)
class FashionMnistFiles:
    idx_dir: Path  # the four IDX files as published (.gz), train and t10k splits
    csv_file: Path  # the train split in the original project's CSV format (label,pixel1..pixel784)
    images: np.ndarray  # the train split: uint8 (N, 28, 28)
    labels: np.ndarray  # int64 (N,), 0..9


def write_fashion_mnist(folder: Path, per_class: int = 6, seed: int = 0) -> FashionMnistFiles:
    """A tiny Fashion-MNIST (`per_class` train images of each of the 10 classes, 2 test images each) in both
    formats. Class k's images have a bright band at rows 2k..2k+3 over noise, so a CNN can learn them."""
    from tune_clothes.data.fashion_mnist import idx_file_names, write_fashion_csv, write_idx_images, write_idx_labels
    rng = np.random.default_rng(seed)
    (folder / "idx").mkdir(parents=True, exist_ok=True)
    splits = {}
    for split, count in (("train", per_class), ("test", 2)):
        labels = np.tile(np.arange(10), count)
        images = rng.integers(0, 90, size=(len(labels), 28, 28), dtype=np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 * label:2 * label + 4] = 230
        images_name, labels_name = idx_file_names(split)
        write_idx_images(folder / "idx" / f"{images_name}.gz", images)
        write_idx_labels(folder / "idx" / f"{labels_name}.gz", labels)
        splits[split] = images, labels
    write_fashion_csv(folder / "fashion-mnist_train.csv", *splits["train"])
    return FashionMnistFiles(folder / "idx", folder / "fashion-mnist_train.csv", *splits["train"])


@pytest.fixture(scope="session")
def fashion_mnist_files(tmp_path_factory) -> FashionMnistFiles:
    """A tiny Fashion-MNIST written once per session in both formats (see `write_fashion_mnist`); read-only."""
    return write_fashion_mnist(tmp_path_factory.mktemp("fashion-mnist"))


# ---- a messy Clothing Dataset, and one Optuna + ASHA search on it --------------------------------------------

@dataclass(frozen=True)
class MessyDataset:
    root: Path
    usable: dict[str, tuple[str, tuple[int, int, int]]]  # id -> (label, its solid colour): what a search uses
    unused: dict[str, tuple[int, int, int]]  # id -> colour of every other decodable image written
    left_out: dict[str, list[str]]  # problem (as DatasetIndex.excluded names it) -> ids
    dropped_classes: dict[str, int]  # class -> rows dropped by the class policy


MESSY_POLICY = {"min_images_per_class": 3, "drop_classes": ["Undefined"]}


def write_messy_clothing(root: Path) -> MessyDataset:
    """A Clothing Dataset with every kind of problem: corrupt, missing and unsafe rows, an empty label, a
    repeated id, a class too small for `MESSY_POLICY` and one it drops by name. Every decodable image is a
    solid colour of its own (the class sets the dominant channel), so an image found anywhere (a cache row)
    can be told by its colour."""
    # 64 colours, each at least 22 levels from any other in a channel: far more than JPEG and resizing move them
    colours = iter((200 + 5 * (n % 8), 15 + 22 * (n // 8 % 8), 15 + 22 * (n % 8)) for n in range(64))

    def solid(image_id: str, dominant: int) -> tuple[int, int, int]:
        rgb = next(colours)
        colour = tuple(rgb[(i - dominant) % 3] for i in range(3))  # the 200+ value in the class's channel
        path = root / "images" / f"{image_id}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (20, 24), colour).save(path, quality=95)
        return colour

    usable = {f"{name.lower()}{i}": (name, solid(f"{name.lower()}{i}", c))
              for c, (name, n) in enumerate([("Pants", 8), ("Shirt", 8), ("Hat", 7)]) for i in range(n)}
    unused = {image_id: solid(image_id, 0) for image_id in ("skirt0", "skirt1", "undefined0", "undefined1", "blank0")}
    unused["../outside"] = solid("../outside", 1)  # a valid image where the unsafe id points: never opened
    for name in ("corrupt0", "corrupt1"):
        (root / "images" / f"{name}.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    rows = [(image_id, label) for image_id, (label, _) in usable.items()]
    rows += [("skirt0", "Skirt"), ("skirt1", "Skirt"), ("undefined0", "Undefined"), ("undefined1", "Undefined"),
             ("corrupt0", "Shirt"), ("corrupt1", "Pants"), ("gone0", "Hat"), ("gone1", "Shirt"),
             ("../outside", "Pants"), ("sub/dir", "Hat"), ("blank0", ""), ("shirt0", "Hat")]
    write_clothing_dataset(root, rows, files=[])
    return MessyDataset(root, usable, unused, {
        "missing files": ["gone0", "gone1"], "empty labels": ["blank0"], "unsafe ids": ["../outside", "sub/dir"],
        "corrupt files": ["corrupt0", "corrupt1"], "repeated rows of an id": ["shirt0"]},
        {"Skirt": 2, "Undefined": 2})


@pytest.fixture(scope="session")
def messy_search(ray_local, tmp_path_factory):
    """(MessyDataset, experiment, summary) of one real Optuna + ASHA search on `write_messy_clothing`'s data:
    3 configurations sampled by TPE, all folds of one in each trial, ASHA free to stop one after any epoch.
    One trial at a time, so ASHA's decisions do not depend on which trial reports first."""
    from tune_clothes.config.loader import experiment_from_dict
    root = tmp_path_factory.mktemp("messy")
    data = write_messy_clothing(root / "data")
    experiment = experiment_from_dict({
        "name": "messy", "storage": str(root / "results"),
        "dataset": {"kind": "clothing", "root": str(data.root), "cache_dir": str(root / "cache"), **MESSY_POLICY},
        "model": {"name": "fashion_cnn"},
        "train": {"epochs": 3, "image_size": 16, "batch_size": 8, "augment": False},
        "cv": {"folds": 2, "seed": 5},
        "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 1},
        "search": {"algorithm": "optuna", "metric": "val/loss", "num_samples": 3, "scheduler": "asha",
                   "grace_period": 1, "max_failures": 0,
                   "space": {"lr": {"low": 1e-4, "high": 0.05, "log": True}, "weight_decay": {"low": 0, "high": 1e-3},
                             "step_size": {"low": 1, "high": 3}, "batch_size": {"choices": [4, 8]}}}})
    return data, experiment, search_and_summarize(experiment)


# ---- a web server for the download tests ---------------------------------------------------------------------

class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture
def serve(monkeypatch):
    """serve(folder) -> the base URL of a real HTTP server on 127.0.0.1 for that folder, stopped after the test."""
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # a proxy set in the environment must not see these requests
    servers = []

    def start(folder: Path) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


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
