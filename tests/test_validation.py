"""Validation of a Clothing Dataset folder: every kind of problem is found and named, nothing crashes."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from conftest import write_clothing_dataset, write_jpeg

from tune_clothes.config.errors import DataError
from tune_clothes.data import validation
from tune_clothes.data.validation import validate_clothing
from tune_clothes.verify import main as verify_main


def test_a_clean_dataset_has_no_problems(clothing_root, tmp_path):
    report = validate_clothing(clothing_root, tmp_path / "cache")
    assert report.ok
    assert report.rows == 27
    assert report.class_counts == {"Hat": 6, "Pants": 12, "Shirt": 9}


def test_every_problem_is_found_by_name(tmp_path):
    rows = [("good1", "Hat"), ("good2", "Hat"), ("gone", "Hat"), ("trunc", "Hat"), ("text", "Hat"),
            ("empty", "Hat"), ("good1", "Hat"), ("nolabel", ""), ("../escape", "Hat"), ("/etc/passwd", "Hat")]
    root = write_clothing_dataset(tmp_path / "d", rows, files=["good1", "good2", "trunc", "extra", "nolabel"])
    images = root / "images"
    data = write_jpeg(images / "trunc.jpg", seed=9, size=(200, 160)).read_bytes()
    (images / "trunc.jpg").write_bytes(data[: len(data) // 2])
    (images / "text.jpg").write_text("this is not a picture")
    (images / "empty.jpg").write_bytes(b"")
    report = validate_clothing(root, tmp_path / "cache")
    assert not report.ok
    assert report.rows == 10
    assert report.missing_files == ["gone"]
    assert report.unlisted_files == ["extra.jpg"]
    assert set(report.corrupt_files) == {"trunc.jpg", "text.jpg", "empty.jpg"}
    assert "truncated" in report.corrupt_files["trunc.jpg"]
    assert "not an image" in report.corrupt_files["text.jpg"]
    assert "0 bytes" in report.corrupt_files["empty.jpg"]
    assert report.duplicate_ids == ["good1"]
    assert report.empty_labels == ["nolabel"]
    assert set(report.unsafe_ids) == {"../escape", "/etc/passwd"}
    assert report.class_counts == {"Hat": 9}


def test_ids_that_escape_the_images_folder_are_never_opened(tmp_path, monkeypatch):
    outside = write_jpeg(tmp_path / "secret.jpg", seed=1)
    root = write_clothing_dataset(tmp_path / "d", [("ok", "Hat"), ("../../secret", "Hat"), ("link", "Hat")],
                                  files=["ok"])
    os.symlink(outside, root / "images" / "link.jpg")
    opened = []
    real_verdict = validation._verdict
    monkeypatch.setattr(validation, "_verdict", lambda path: opened.append(path) or real_verdict(path))
    report = validate_clothing(root, None)
    assert set(report.unsafe_ids) == {"../../secret", "link"}
    assert opened == [str(root / "images" / "ok.jpg")]


def test_decode_verdicts_are_cached_and_redone_for_changed_files(clothing_root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    validate_clothing(clothing_root, cache)
    decoded = []
    real_verdict = validation._verdict
    monkeypatch.setattr(validation, "_verdict", lambda path: decoded.append(Path(path).name) or real_verdict(path))
    assert validate_clothing(clothing_root, cache).ok
    assert decoded == []  # everything came from the cache
    changed = clothing_root / "images" / "img000.jpg"
    changed.write_bytes(changed.read_bytes()[:100])  # now truncated: size and mtime change
    report = validate_clothing(clothing_root, cache)
    assert decoded == ["img000.jpg"]
    assert list(report.corrupt_files) == ["img000.jpg"]


def test_a_folder_that_is_not_a_dataset_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        validate_clothing(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images.csv"):
        validate_clothing(tmp_path / "empty")
    (tmp_path / "empty" / "images.csv").write_text("file,class\na,b\n")
    with pytest.raises(DataError, match="missing column"):
        validate_clothing(tmp_path / "empty")


def test_verify_command_exit_status_and_json(clothing_root, tmp_path, capsys):
    assert verify_main([str(clothing_root), "--json", "--cache-dir", str(tmp_path / "c")]) == 0
    clean = json.loads(capsys.readouterr().out)
    assert {"rows", "missing_files", "unlisted_files", "corrupt_files", "duplicate_ids", "class_counts"} <= set(clean)
    (clothing_root / "images" / "img000.jpg").unlink()
    assert verify_main([str(clothing_root), "--json", "--cache-dir", str(tmp_path / "c")]) == 1
    assert json.loads(capsys.readouterr().out)["missing_files"] == ["img000"]
    assert verify_main([str(clothing_root), "--cache-dir", str(tmp_path / "c")]) == 1
    assert "missing files: 1: img000" in capsys.readouterr().out


def test_verify_command_usage_errors_exit_2(tmp_path):
    from tune_clothes.cli import run_command
    assert run_command(verify_main, [str(tmp_path / "missing")]) == 2
    assert run_command(verify_main, [str(tmp_path)]) == 2


def test_real_dataset_problems_match_an_independent_count(real_clothing, tmp_path):
    with open(real_clothing / "images.csv", newline="") as handle:
        ids = [row["image"] for row in csv.DictReader(handle)]
    files = set(os.listdir(real_clothing / "images"))
    report = validate_clothing(real_clothing, tmp_path / "cache")
    assert report.rows == len(ids)
    assert report.missing_files == [i for i in ids if f"{i}.jpg" not in files]
    assert set(report.unlisted_files) == files - {f"{i}.jpg" for i in ids}
    assert sum(report.class_counts.values()) == len(ids)
