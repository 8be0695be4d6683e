"""A user's own photos: the image-folder layout's rules (recursion, hidden files, files that are not images,
train/val/test folders, links), a CSV of paths and labels (columns, paths, group_by), and `verify` on both."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import write_jpeg

from tune_clothes.config import CVConfig, DatasetConfig
from tune_clothes.config.errors import DataError
from tune_clothes.data.datasets import load_index, read_pixels
from tune_clothes.data.folds import plan_folds
from tune_clothes.verify import main as verify


def tree(root: Path, files: list[str]) -> Path:
    """Files under `root`: image names become small JPEGs, the others text."""
    for i, relative in enumerate(files):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if relative.endswith(".jpg"):
            write_jpeg(path, seed=i)
        else:
            path.write_text("not an image\n")
    return root


def folder_index(root: Path, tmp_path: Path, **settings) -> object:
    return load_index(DatasetConfig(kind="image_folder", root=str(root), cache_dir=str(tmp_path / "cache"), **settings))


def test_an_image_folder_finds_images_below_each_class_and_leaves_out_the_rest(tmp_path):
    root = tree(tmp_path / "photos", ["shirts/a.jpg", "shirts/studio/b.jpg", "shirts/studio/old/c.JPG".lower(),
                                      "shoes/d.jpg", "shoes/e.jpg", "shoes/notes.txt", "shoes/.f.jpg",
                                      ".thumbnails/g.jpg", "__MACOSX/shoes/._d.jpg", "loose.jpg"])
    index = folder_index(root, tmp_path)
    assert index.class_names == ("shirts", "shoes")
    assert sorted(index.ids) == ["shirts/a.jpg", "shirts/studio/b.jpg", "shirts/studio/old/c.jpg", "shoes/d.jpg",
                                 "shoes/e.jpg"]
    assert index.class_counts() == {"shirts": 3, "shoes": 2} and index.test_positions is None
    assert index.excluded == {"files that are not images": ["shoes/notes.txt"]}
    pixels, failed = read_pixels("image_folder", str(root), index.ids, 8)
    assert pixels.shape == (5, 8, 8, 3) and not failed and pixels.any()


def test_train_val_and_test_folders_make_test_the_locked_holdout(tmp_path):
    files = [f"{split}/{name}/{i}.jpg" for split, n in (("train", 6), ("val", 2), ("test", 3))
             for name in ("shirts", "shoes") for i in range(n)]
    root = tree(tmp_path / "photos", files)
    index = folder_index(root, tmp_path)
    test = {index.ids[p] for p in index.test_positions}
    assert test == {f for f in files if f.startswith("test/")} and len(index) == 22
    plan = plan_folds(index, CVConfig(folds=2, test_fraction=0.2), [None])  # test/, not the fraction
    assert {index.ids[p] for p in plan.holdout} == test
    pool = {index.ids[p] for p in plan.pool}
    assert pool == {f for f in files if not f.startswith("test/")}  # val/ joins the pool
    for j in range(2):
        train, val = plan.fold(None, j)
        assert not {index.ids[p] for p in np.concatenate([train, val])} & test
    moved = tmp_path / "moved"
    tree(moved, [f.replace("test/shoes/0", "train/shoes/9") for f in files])
    assert folder_index(moved, tmp_path).fingerprint() != index.fingerprint()


@pytest.mark.parametrize("files, message", [
    (["test/a/1.jpg", "b/1.jpg"], "has test/ but no train/"),
    (["train/a/1.jpg", "test/a/2.jpg", "extra/a/3.jpg"], "it also holds ['extra']"),
    (["train/a/1.jpg", "train/b/1.jpg", "test/a/2.jpg", "test/c/2.jpg"], r"class(es) ['c'] have images in test/ only"),
    (["a/1.jpg", "b/notes.txt"], "1 class folder(s) hold no image (b/ (1 files that are not images))"),
    (["notes.txt"], "no class folders here"),
])
def test_a_layout_that_cannot_be_read_is_refused_by_name(tmp_path, files, message):
    root = tree(tmp_path / "photos", files)
    with pytest.raises(DataError, match=str(root) + ".*" + message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        folder_index(root, tmp_path)


def test_an_empty_class_the_user_drops_is_no_error(tmp_path):
    root = tree(tmp_path / "photos", ["a/1.jpg", "a/2.jpg", "b/1.jpg", "b/2.jpg", "c/readme.txt"])
    assert folder_index(root, tmp_path, drop_classes=("c",)).class_names == ("a", "b")


def test_links_inside_the_root_are_read_and_links_leading_out_refused(tmp_path):
    root = tree(tmp_path / "photos", ["a/1.jpg", "a/2.jpg", "b/1.jpg", "b/2.jpg"])
    os.symlink(root / "a" / "1.jpg", root / "b" / "same-as-a1.jpg")
    assert "b/same-as-a1.jpg" in folder_index(root, tmp_path).ids
    outside = tree(tmp_path / "elsewhere", ["x/1.jpg"])
    os.symlink(outside / "x", root / "b" / "more")  # a folder link: its files would come from outside
    with pytest.raises(DataError, match=r"'b/more' \(a link leading outside the folder\).*copy the files"):
        folder_index(root, tmp_path)


def csv_dataset(tmp_path: Path, rows: list[str], header: str = "file,category,shop") -> Path:
    tree(tmp_path / "shop", [f"images/{c}/{i}.jpg" for c in ("bags", "hats") for i in range(6)]
         + ["images/hats/stray.jpg", "holidays/beach.jpg"])  # beside the listed images, and elsewhere
    csv = tmp_path / "shop" / "labels.csv"
    csv.write_text("\n".join([header, *rows]) + "\n")
    return csv


def csv_index(csv: Path, tmp_path: Path) -> object:
    return load_index(DatasetConfig(kind="csv", root=str(csv), path_column="file", label_column="category",
                                    cache_dir=str(tmp_path / "cache")))


def test_a_csv_dataset_reads_paths_relative_to_its_folder_and_groups_by_any_column(tmp_path):
    rows = [f"./images/{c}/{i}.jpg,{c},shop{i % 3}" for c in ("bags", "hats") for i in range(6)]
    rows += ["images/bags/0.jpg,bags,shop0", "images/gone.jpg,hats,shop1"]  # a repeat, a missing file
    csv = csv_dataset(tmp_path, rows)
    index = csv_index(csv, tmp_path)
    assert len(index) == 12 and index.ids[0] == "images/bags/0.jpg" and index.class_names == ("bags", "hats")
    assert index.excluded == {"missing files": ["images/gone.jpg"], "repeated rows of an id": ["images/bags/0.jpg"]}
    plan = plan_folds(index, CVConfig(folds=3, group_by="shop"), [None])
    shops = {image_id: f"shop{int(image_id[-5]) % 3}" for image_id in index.ids}
    for j in range(3):
        train, val = plan.fold(None, j)
        assert not {shops[index.ids[p]] for p in train} & {shops[index.ids[p]] for p in val}
    with pytest.raises(DataError, match="cv.group_by='sender' is not a column here.*'shop'"):
        plan_folds(index, CVConfig(folds=3, group_by="sender"), [None])


def test_verify_reports_a_csv_dataset_and_an_image_folder(tmp_path, capsys):
    rows = [f"images/{c}/{i}.jpg,{c}" for c in ("bags", "hats") for i in range(6)]
    csv = csv_dataset(tmp_path, rows + ["images/gone.jpg,hats", "images/bags/1.jpg,bags"], header="path,label")
    (tmp_path / "shop" / "images" / "hats" / "0.jpg").write_bytes(b"\xff\xd8 cut short")
    assert verify([str(csv), "--json", "--cache-dir", str(tmp_path / "cache")]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "csv" and report["rows"] == 14
    assert report["missing_files"] == ["images/gone.jpg"] and report["duplicate_ids"] == ["images/bags/1.jpg"]
    assert report["unlisted_files"] == ["images/hats/stray.jpg"]  # not the holiday photos elsewhere
    assert list(report["corrupt_files"]) == ["images/hats/0.jpg"]
    images = tmp_path / "shop" / "images"
    assert verify([str(images), "--cache-dir", str(tmp_path / "cache")]) == 1  # the same files, as a folder
    out = capsys.readouterr().out
    assert out.startswith(f"image_folder dataset {images}: 13 images listed, 2 classes")
    assert "corrupt files: 1: hats/0.jpg" in out and "classes: bags 6, hats 7" in out


def test_verify_names_the_columns_a_csv_has_and_the_flags_that_pick_them(tmp_path):
    csv = csv_dataset(tmp_path, ["images/bags/0.jpg,bags,shop0"])
    with pytest.raises(DataError, match=r"missing column\(s\) \['path', 'label'\]; found \['file', 'category', "
                                        r"'shop'\].*--path-column, --label-column"):
        verify([str(csv), "--cache-dir", str(tmp_path / "cache")])
