"""Fashion-MNIST file formats: IDX (plain and .gz) and the original project's CSV, read, written, and refused when malformed."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from tune_clothes import prepare_fashion_csv
from tune_clothes.cli import run_command
from tune_clothes.config.errors import DataError
from tune_clothes.data.fashion_mnist import (
    FASHION_MNIST_CLASSES,
    PIXEL_COLUMNS,
    idx_file_names,
    load_fashion_mnist,
    read_fashion_csv,
    read_idx_images,
    read_idx_labels,
    write_fashion_csv,
    write_idx_images,
    write_idx_labels,
)


def make_split(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255  # the extremes are valid pixels
    return images, rng.integers(0, 10, size=n)


def write_idx_split(folder: Path, split: str, images: np.ndarray, labels: np.ndarray, suffix: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    images_name, labels_name = idx_file_names(split)
    write_idx_images(folder / f"{images_name}{suffix}", images)
    write_idx_labels(folder / f"{labels_name}{suffix}", labels)


def test_classes_in_label_order():
    assert FASHION_MNIST_CLASSES[0] == "T-shirt/top" and FASHION_MNIST_CLASSES[9] == "Ankle boot"
    assert len(FASHION_MNIST_CLASSES) == 10


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip_both_splits(tmp_path, suffix):
    train, test = make_split(7, seed=1), make_split(3, seed=2)
    write_idx_split(tmp_path, "train", *train, suffix=suffix)
    write_idx_split(tmp_path, "test", *test, suffix=suffix)
    for split, (images, labels) in (("train", train), ("test", test)):
        got_images, got_labels = load_fashion_mnist(tmp_path, split)
        assert got_images.dtype == np.uint8 and got_images.shape == (len(labels), 28, 28)
        assert got_labels.dtype == np.int64
        np.testing.assert_array_equal(got_images, images)
        np.testing.assert_array_equal(got_labels, labels)


def test_written_idx_reads_with_torchvision(tmp_path):
    """An independent reader agrees with ours, so the files are the published format, not just our own."""
    from torchvision.datasets.mnist import read_image_file, read_label_file
    images, labels = make_split(4)
    write_idx_split(tmp_path, "train", images, labels)
    np.testing.assert_array_equal(read_image_file(str(tmp_path / "train-images-idx3-ubyte")).numpy(), images)
    np.testing.assert_array_equal(read_label_file(str(tmp_path / "train-labels-idx1-ubyte")).numpy(), labels)


def test_torchvision_layout_is_found(tmp_path):
    images, labels = make_split(2)
    write_idx_split(tmp_path / "FashionMNIST" / "raw", "train", images, labels, suffix=".gz")
    np.testing.assert_array_equal(load_fashion_mnist(tmp_path)[1], labels)


def test_csv_round_trip(tmp_path):
    images, labels = make_split(5)
    path = tmp_path / "train.csv"
    write_fashion_csv(path, images, labels)
    header = path.read_text().splitlines()[0].split(",")
    assert header == ["label", *PIXEL_COLUMNS] and header[-1] == "pixel784"
    got_images, got_labels = load_fashion_mnist(path)
    assert got_images.dtype == np.uint8 and got_labels.dtype == np.int64
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert [p.name for p in tmp_path.iterdir()] == ["train.csv"]  # no temporary file left behind


def test_csv_pixels_are_row_major(tmp_path):
    """pixel1 is the top-left pixel and pixel29 the first of the second row, as in Kaggle's file."""
    row = np.zeros(785, dtype=int)
    row[0], row[1], row[29] = 3, 7, 9
    path = tmp_path / "one.csv"
    path.write_text(",".join(["label", *PIXEL_COLUMNS]) + "\n" + ",".join(map(str, row)) + "\n")
    images, labels = read_fashion_csv(path)
    assert labels.tolist() == [3] and images[0, 0, 0] == 7 and images[0, 1, 0] == 9 and images.sum() == 16


def idx_bytes(magic: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    return np.array([magic, *shape], dtype=">i4").tobytes() + payload


IDX_CASES = {  # file contents -> words the error must contain
    "wrong_magic": (idx_bytes(2049, (1, 28, 28), bytes(784)), "magic number 2049"),
    "truncated": (idx_bytes(2051, (2, 28, 28), bytes(784 + 10)), "truncated"),
    "trailing": (idx_bytes(2051, (1, 28, 28), bytes(784 + 3)), "3 bytes of trailing garbage"),
    "wrong_size": (idx_bytes(2051, (1, 32, 32), bytes(1024)), "32x32"),
    "short_header": (b"\x00\x00\x08", "too short for an IDX header"),
}


@pytest.mark.parametrize("case", sorted(IDX_CASES))
def test_malformed_idx_images(tmp_path, case):
    content, words = IDX_CASES[case]
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(DataError, match="train-images-idx3-ubyte") as caught:
        read_idx_images(path)
    assert words in str(caught.value)
    if case != "wrong_size":  # the others are broken downloads: the fix is to fetch the file again
        assert "tune_clothes.download" in str(caught.value)


def test_labels_out_of_range_in_idx(tmp_path):
    path = tmp_path / "labels.gz"
    write_idx_labels(path, np.array([1, 2, 10, 11]))
    with pytest.raises(DataError, match=r"labels.gz: 2 labels outside 0..9, the first 10 at index 2"):
        read_idx_labels(path)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(2049, (3,), bytes(3)))[:-6])
    with pytest.raises(DataError, match="not a complete gzip file"):
        read_idx_labels(path)


def test_image_and_label_counts_differ(tmp_path):
    images, labels = make_split(4)
    write_idx_split(tmp_path, "train", images, labels[:3])
    with pytest.raises(DataError, match="has 4 images but .*train-labels-idx1-ubyte has 3 labels"):
        load_fashion_mnist(tmp_path, "train")


def test_folder_without_idx_files_says_how_to_get_them(tmp_path):
    write_idx_split(tmp_path, "train", *make_split(2))
    with pytest.raises(DataError) as caught:
        load_fashion_mnist(tmp_path, "test")
    message = str(caught.value)
    assert "t10k-images-idx3-ubyte[.gz]" in message and "t10k-labels-idx1-ubyte[.gz]" in message
    assert f"python -m tune_clothes.download fashion_mnist {tmp_path}" in message


def test_unknown_split_and_missing_root(tmp_path):
    with pytest.raises(DataError, match="split 'validation'"):
        load_fashion_mnist(tmp_path, "validation")
    with pytest.raises(DataError, match="nope.npz: not a folder"):
        load_fashion_mnist(tmp_path / "nope.npz")


def csv_text(header: list[str], rows: list[list[object]]) -> str:
    return "\n".join(",".join(map(str, line)) for line in [header, *rows]) + "\n"


GOOD_HEADER = ["label", *PIXEL_COLUMNS]
CSV_CASES = {  # contents -> a regular expression the error must match
    "no_label": (csv_text(list(PIXEL_COLUMNS), [[0] * 784]), "no `label` column"),
    "too_few_pixels": (csv_text(GOOD_HEADER[:-1], [[0] * 784]), "783 pixel columns .* has exactly 784"),
    "renamed_pixels": (csv_text(["label", *[f"p{i}" for i in range(784)]], [[0] * 785]), "784 pixel columns"),
    "fraction": (csv_text(GOOD_HEADER, [[1] + [0] * 783 + [0.5]]),
                 "not integers in 0..255, the first 0.5 in pixel784 at line 2"),
    "too_bright": (csv_text(GOOD_HEADER, [[1] * 785, [1, 256] + [0] * 783]), "the first 256 in pixel1 at line 3"),
    "negative": (csv_text(GOOD_HEADER, [[1, -1] + [0] * 783]), "the first -1 in pixel1"),
    "missing_value": (csv_text(GOOD_HEADER, [[1, ""] + [0] * 783]), "the first \\(empty\\) in pixel1"),
    "not_a_number": (csv_text(GOOD_HEADER, [[1] * 785, [1, 0, "dark"] + [0] * 782]), "'dark' in pixel2 at line 3"),
    "bad_label": (csv_text(GOOD_HEADER, [[0] * 785, [12] + [0] * 784]),
                  "1 labels outside 0..9, the first 12 at line 3"),
    "text_label": (csv_text(GOOD_HEADER, [[1] * 785, ["Coat"] + [0] * 784]), "label 'Coat' at line 3 is not"),
    "missing_label": (csv_text(GOOD_HEADER, [[""] + [0] * 784]), "label \\(empty\\) at line 2 is not"),
    "header_only": (csv_text(GOOD_HEADER, []), "no images"),
    "empty": ("", "not a readable CSV"),
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_malformed_csv(tmp_path, case):
    content, pattern = CSV_CASES[case]
    path = tmp_path / f"{case}.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=pattern) as caught:
        load_fashion_mnist(path)
    assert str(path) in str(caught.value)


def test_prepare_csv_command(tmp_path, capsys):
    images, labels = make_split(6)
    write_idx_split(tmp_path / "idx", "test", images, labels, suffix=".gz")
    out = tmp_path / "csv" / "test.csv"
    assert prepare_fashion_csv.main(["--idx-dir", str(tmp_path / "idx"), "--out", str(out), "--split", "test"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote 6 rows (test split) to {out}"
    got_images, got_labels = load_fashion_mnist(out)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_prepare_csv_command_without_files(tmp_path, capsys):
    argv = ["--idx-dir", str(tmp_path), "--out", str(tmp_path / "train.csv")]
    assert run_command(prepare_fashion_csv.main, argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "tune_clothes.download fashion_mnist" in err
    assert not (tmp_path / "train.csv").exists()
