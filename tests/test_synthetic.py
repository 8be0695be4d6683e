"""The synthetic demo dataset: Clothing Dataset layout, deterministic, idempotent, and learnable."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.model_selection import train_test_split
from torch import nn

from tune_clothes.config.errors import DataError
from tune_clothes.data import synthetic
from tune_clothes.data.synthetic import DEFAULT_CLASSES, MARKER_NAME, generate_synthetic_dataset


def read_rows(root: Path) -> list[dict[str, str]]:
    with open(root / "images.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def folder_bytes(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_layout_and_columns_match_the_clothing_dataset(tmp_path):
    root = generate_synthetic_dataset(tmp_path / "data", images_per_class=4, image_side=32)

    assert root == (tmp_path / "data").resolve()
    with open(root / "images.csv", encoding="utf-8") as handle:
        assert handle.readline() == "image,sender_id,label,kids\n"
    rows = read_rows(root)
    assert len(rows) == 4 * len(DEFAULT_CLASSES)
    assert {row["label"] for row in rows} == set(DEFAULT_CLASSES)
    assert {row["kids"] for row in rows} <= {"True", "False"}
    assert all(int(row["sender_id"]) > 0 for row in rows)
    assert len({row["image"] for row in rows}) == len(rows)
    for row in rows:
        assert len(row["image"]) == 36 and row["image"].count("-") == 4  # UUID-like
        with Image.open(root / "images" / f"{row['image']}.jpg") as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (32, 32))
    assert sorted(path.name for path in root.iterdir()) == sorted([MARKER_NAME, "images", "images.csv"])
    assert [path.name for path in tmp_path.iterdir()] == ["data"]  # no partial folder left behind


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    first = generate_synthetic_dataset(tmp_path / "a", images_per_class=3, seed=7, image_side=24)
    second = generate_synthetic_dataset(tmp_path / "b", images_per_class=3, seed=7, image_side=24)
    other = generate_synthetic_dataset(tmp_path / "c", images_per_class=3, seed=8, image_side=24)

    assert folder_bytes(first) == folder_bytes(second)
    other_rows = read_rows(other)
    assert {row["image"] for row in read_rows(first)}.isdisjoint(row["image"] for row in other_rows)
    assert (first / "images.csv").read_bytes() != (other / "images.csv").read_bytes()


def test_generating_again_with_the_same_arguments_leaves_the_files_alone(tmp_path):
    root = generate_synthetic_dataset(tmp_path / "data", images_per_class=2, image_side=16)
    csv_path = root / "images.csv"
    before = csv_path.stat().st_mtime_ns

    assert generate_synthetic_dataset(tmp_path / "data", images_per_class=2, image_side=16) == root
    assert csv_path.stat().st_mtime_ns == before


def test_an_empty_existing_folder_is_filled(tmp_path):
    (tmp_path / "data").mkdir()
    root = generate_synthetic_dataset(tmp_path / "data", images_per_class=1, image_side=16)
    assert len(read_rows(root)) == len(DEFAULT_CLASSES)


def test_an_interrupted_generation_leaves_nothing_that_looks_like_a_dataset(tmp_path, monkeypatch):
    drawn = []

    def draw_then_fail(class_name, rng, side):
        if len(drawn) == 3:
            raise KeyboardInterrupt
        drawn.append(class_name)
        return synthetic.draw_garment(class_name, rng, side)

    monkeypatch.setattr(synthetic, "draw_garment", draw_then_fail)
    with pytest.raises(KeyboardInterrupt):
        generate_synthetic_dataset(tmp_path / "data", images_per_class=2, image_side=16)
    assert not any(tmp_path.iterdir())

    monkeypatch.undo()
    root = generate_synthetic_dataset(tmp_path / "data", images_per_class=2, image_side=16)
    assert len(read_rows(root)) == 2 * len(DEFAULT_CLASSES)


def test_a_dataset_made_with_other_arguments_is_refused(tmp_path):
    generate_synthetic_dataset(tmp_path / "data", images_per_class=2, image_side=16)
    with pytest.raises(DataError, match=r"data holds a synthetic dataset generated with .*delete"):
        generate_synthetic_dataset(tmp_path / "data", images_per_class=3, image_side=16)


def test_a_folder_of_other_files_is_refused_and_kept(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mine.txt").write_text("keep me")
    with pytest.raises(DataError, match=r"data exists and is not a synthetic dataset"):
        generate_synthetic_dataset(tmp_path / "data", images_per_class=1, image_side=16)
    assert (tmp_path / "data" / "mine.txt").read_text() == "keep me"
    assert [path.name for path in tmp_path.iterdir()] == ["data"]


def test_a_damaged_dataset_is_reported(tmp_path):
    root = generate_synthetic_dataset(tmp_path / "data", images_per_class=2, image_side=16)
    next((root / "images").iterdir()).unlink()
    with pytest.raises(DataError, match=r"incomplete synthetic dataset \(9 of 10 images"):
        generate_synthetic_dataset(root, images_per_class=2, image_side=16)


@pytest.mark.parametrize("arguments, message", [
    ({"images_per_class": 0}, "images_per_class=0 must be at least 1"),
    ({"image_side": 8}, "image_side=8 is too small"),
    ({"seed": -1}, "seed=-1 must be a non-negative"),
    ({"class_names": ("T-Shirt", "Sock")}, r"class_names=\['T-Shirt', 'Sock'\] must be distinct names"),
    ({"class_names": ("Hat", "Hat")}, "must be distinct"),
])
def test_bad_arguments_are_refused_before_anything_is_written(tmp_path, arguments, message):
    with pytest.raises(DataError, match=message):
        generate_synthetic_dataset(tmp_path / "data", **arguments)
    assert not any(tmp_path.iterdir())


def test_the_marker_records_the_arguments(tmp_path):
    root = generate_synthetic_dataset(tmp_path / "data", images_per_class=1, seed=3, image_side=16,
                                      class_names=("Hat", "Shoes"))
    recorded = json.loads((root / MARKER_NAME).read_text())
    assert recorded["seed"] == 3 and recorded["class_names"] == ["Hat", "Shoes"]
    assert sorted(row["label"] for row in read_rows(root)) == ["Hat", "Shoes"]


def tiny_cnn(num_classes: int) -> nn.Module:
    def block(channels_in: int, channels_out: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(channels_in, channels_out, 3, padding=1), nn.BatchNorm2d(channels_out),
                             nn.ReLU(), nn.MaxPool2d(2))
    # Flattening the 4x4 map, not averaging it, keeps where the parts of a garment are: the shape is the class.
    return nn.Sequential(block(3, 16), block(16, 32), block(32, 32), nn.Flatten(),
                         nn.Linear(32 * 4 * 4, num_classes))  # 4x4 after three halvings of 32 pixels


def load_images(root: Path, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    rows = read_rows(root)
    pixels = np.stack([np.asarray(Image.open(root / "images" / f"{row['image']}.jpg").convert("RGB")
                                  .resize((side, side), Image.Resampling.BILINEAR)) for row in rows])
    labels = [DEFAULT_CLASSES.index(row["label"]) for row in rows]
    scaled = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255.0
    images = (scaled - 0.5) / 0.25  # about zero mean and unit spread, which Adam's default steps suit
    return images, torch.tensor(labels)


def train_and_score(images: torch.Tensor, labels: torch.Tensor, seed: int, epochs: int = 10) -> float:
    """Validation accuracy of a tiny CNN trained on a stratified 70% of the images."""
    train, val = train_test_split(np.arange(len(labels)), train_size=0.7, stratify=labels.numpy(),
                                  random_state=seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = tiny_cnn(len(DEFAULT_CLASSES))
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        for _ in range(epochs):
            model.train()
            for batch in torch.randperm(len(train)).split(32):
                chosen = train[batch.numpy()]
                loss = nn.functional.cross_entropy(model(images[chosen]), labels[chosen])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        model.eval()
        with torch.no_grad():
            predicted = model(images[val]).argmax(dim=1)
    return float((predicted == labels[val]).float().mean())


def test_a_tiny_cnn_learns_the_classes_well_above_chance(tmp_path):
    root = generate_synthetic_dataset(tmp_path / "data", images_per_class=60, seed=0)
    images, labels = load_images(root, side=32)  # 32x32 pixels, as the demo trains

    accuracy = train_and_score(images, labels, seed=0)

    chance = 1 / len(DEFAULT_CLASSES)
    assert accuracy > 2 * chance, f"validation accuracy {accuracy:.2f} is not clearly above chance {chance:.2f}"
