"""The model folder without a search: model.pt (safe to load, tamper-evident), model.onnx (dynamic batch, tied to
model.pt by its metadata, checked on export), the one preprocessing path, and `predict` on awkward files."""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import MODEL_CLASSES as CLASSES
from conftest import MODEL_SIDE as SIDE
from conftest import random_bundle, sample_input, write_clothing_dataset, write_jpeg
from PIL import Image

from tune_clothes import predict
from tune_clothes.cli import run_command
from tune_clothes.config.errors import UserError
from tune_clothes.data.datasets import read_pixels
from tune_clothes.packaging import onnx_export
from tune_clothes.packaging.bundle import MODEL_PT, load_bundle
from tune_clothes.packaging.inference import file_pixels, model_input
from tune_clothes.packaging.model_folder import read_model_folder
from tune_clothes.packaging.onnx_export import ONNX_FILE, ExportCheckFailed, export_onnx
from tune_clothes.packaging.prediction import find_images
from tune_clothes.training.augment import normalize_batch


def test_model_pt_loads_with_weights_only_and_rebuilds_the_same_network(random_model_dir):
    content = torch.load(random_model_dir / MODEL_PT, weights_only=True)
    assert content["class_names"] == list(CLASSES) and content["image_size"] == SIDE and content["channels"] == 3
    bundle = load_bundle(random_model_dir / MODEL_PT)
    images = sample_input()
    with torch.inference_mode():
        assert torch.equal(bundle.network()(images), random_bundle(0).network()(images))


class RunsCode:
    def __reduce__(self):
        return (Path.touch, (Path(os.environ["MARKER"]),))


def test_a_model_pt_holding_a_pickled_object_is_refused_and_not_run(tmp_path, monkeypatch, capsys):
    marker = tmp_path / "it ran"
    monkeypatch.setenv("MARKER", str(marker))
    folder = tmp_path / "model"
    folder.mkdir()
    torch.save({"format": 1, "payload": RunsCode()}, folder / MODEL_PT)
    with pytest.raises(UserError, match="refused: it holds pickled Python objects"):
        load_bundle(folder / MODEL_PT)
    assert run_command(predict.main, [str(folder), str(tmp_path)]) == 2
    assert "refused" in capsys.readouterr().err
    assert not marker.exists()


def test_altered_weights_are_refused(tmp_path):
    content = random_bundle(0).description()
    content["members"] = [{k: v.clone() for k, v in random_bundle(0).members[0].items()}]
    first = next(k for k, v in content["members"][0].items() if v.is_floating_point())
    content["members"][0][first] += 0.01
    torch.save(content, tmp_path / MODEL_PT)
    with pytest.raises(UserError, match="do not match the checksum"):
        load_bundle(tmp_path / MODEL_PT)


def test_an_ensemble_scores_the_log_of_its_members_mean_probability():
    bundle = random_bundle(1, members=3)
    images = sample_input()
    network = bundle.network()
    with torch.inference_mode():
        members = torch.stack([torch.softmax(member(images), dim=1) for member in network.members])
        torch.testing.assert_close(torch.softmax(network(images), dim=1), members.mean(dim=0))


def test_onnx_has_a_dynamic_batch_the_class_names_and_the_preprocessing(random_model_dir):
    import onnxruntime
    session = onnxruntime.InferenceSession(str(random_model_dir / ONNX_FILE), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[1:] == [3, SIDE, SIDE]
    assert isinstance(session.get_inputs()[0].shape[0], str)  # a named, dynamic axis
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["class_names"] == '["Pants", "a|b <i>x</i>", "T-Shirt, \\"v\\""]'
    assert meta["image_size"] == str(SIDE) and "mean" in meta and "std" in meta and "resize" in meta["preprocessing"]
    scorer = read_model_folder(random_model_dir).scorer("onnx")
    torch_scorer = read_model_folder(random_model_dir).scorer("torch")
    for count in (1, 5):  # batch sizes the export never saw
        images = sample_input(count)
        np.testing.assert_allclose(scorer.scores(images), torch_scorer.scores(images), atol=1e-4)


def test_an_onnx_file_of_another_model_is_refused(random_model_dir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / MODEL_PT).write_bytes((random_model_dir / MODEL_PT).read_bytes())
    export_onnx(random_bundle(7), other / ONNX_FILE, sample_input())
    with pytest.raises(UserError, match="refused: its metadata do not match the model.pt beside it"):
        read_model_folder(other).scorer("onnx")


def test_an_export_that_disagrees_with_pytorch_fails_loudly_and_keeps_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_export, "MAX_SCORE_DIFF", -1.0)  # no difference can pass
    with pytest.raises(ExportCheckFailed, match="disagrees with PyTorch"):
        export_onnx(random_bundle(0), tmp_path / ONNX_FILE, sample_input())
    assert list(tmp_path.iterdir()) == []


def test_model_input_is_training_normalisation_with_grey_handled():
    rgb = np.random.default_rng(1).integers(0, 256, (2, SIDE, SIDE, 3), dtype=np.uint8)
    torch.testing.assert_close(model_input(rgb, 3), normalize_batch(torch.from_numpy(rgb)))
    grey = np.asarray(Image.fromarray(rgb[0]).convert("L"))
    as_grey = model_input(rgb[:1], 1)
    torch.testing.assert_close(as_grey, normalize_batch(torch.from_numpy(np.repeat(grey[None, :, :, None], 3, 3))))
    assert torch.equal(model_input(grey[None, :, :, None], 1), as_grey)  # a grey file reads the same


def awkward_images(folder: Path) -> dict[str, Path]:
    """Files a user's folder may hold, named by what is awkward about them."""
    folder.mkdir(parents=True)
    rotated = Image.fromarray(np.random.default_rng(2).integers(0, 256, (20, 30, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees
    rotated.save(folder / "exif.jpg", exif=exif)
    sixteen = (np.random.default_rng(3).integers(0, 65535, (25, 25))).astype(np.uint16)
    Image.fromarray(sixteen).save(folder / "sixteen.png")
    files = {"rgb": write_jpeg(folder / "rgb.jpg", 0), "cmyk": write_jpeg(folder / "cmyk.jpg", 1, mode="CMYK"),
             "grey": write_jpeg(folder / "deeper" / "grey.jpg", 2, size=(40, 31), mode="L"),
             "alpha": write_jpeg(folder / "alpha.png", 3, mode="RGBA"), "exif": folder / "exif.jpg",
             "sixteen": folder / "sixteen.png", "comma": write_jpeg(folder / 'a, "quoted"\nname.jpg', 4),
             "empty": folder / "empty.jpg", "text": folder / "text.jpg"}
    files["empty"].write_bytes(b"")
    files["text"].write_text("not an image")
    (folder / "notes.txt").write_text("not listed: not an image suffix")
    return files


def test_predict_classifies_awkward_files_and_reports_the_broken_ones(random_model_dir, tmp_path, capsys):
    files = awkward_images(tmp_path / "photos")
    (tmp_path / "no images").mkdir()
    out = {backend: tmp_path / f"{backend}.csv" for backend in ("torch", "onnx")}
    args = [str(tmp_path / "photos"), str(tmp_path / "no images"), str(tmp_path / "missing.jpg"), "--topk", "2"]
    for backend, path in out.items():
        assert run_command(predict.main, [str(random_model_dir), *args, "--backend", backend, "--out", str(path)]) == 1
    assert "4 of 11 path(s) could not be predicted" in capsys.readouterr().err
    tables = {backend: list(csv.DictReader(io.StringIO(path.read_text()))) for backend, path in out.items()}
    rows = {row["path"]: row for row in tables["torch"]}
    assert list(tables["torch"][0]) == ["path", "label_1", "prob_1", "label_2", "prob_2", "error"]
    assert "empty file" in rows[str(files["empty"])]["error"] and "not an image" in rows[str(files["text"])]["error"]
    assert rows[str(tmp_path / "missing.jpg")]["error"] == "no such file or folder"
    assert "no image files" in rows[str(tmp_path / "no images")]["error"]
    for name in ("rgb", "cmyk", "grey", "alpha", "exif", "sixteen", "comma"):
        row = rows[str(files[name])]
        assert row["error"] == "" and row["label_1"] in CLASSES, name
        assert float(row["prob_1"]) >= float(row["prob_2"])
    assert len(tables["torch"]) == len(tables["onnx"]) == 11
    for torch_row, onnx_row in zip(tables["torch"], tables["onnx"]):
        assert (torch_row["label_1"], torch_row["error"]) == (onnx_row["label_1"], onnx_row["error"])
        if not torch_row["error"]:
            assert float(torch_row["prob_1"]) == pytest.approx(float(onnx_row["prob_1"]), abs=1e-5)


def test_predict_reads_files_exactly_as_the_training_cache_does(tmp_path):
    root = write_clothing_dataset(tmp_path / "data", [("plain", "Pants")])
    awkward = awkward_images(tmp_path / "photos")
    for name in ("cmyk", "exif", "sixteen", "alpha", "grey"):  # the cache reads <id>.jpg whatever the format
        (root / "images" / f"{name}.jpg").write_bytes(awkward[name].read_bytes())
    names = ["plain", "cmyk", "exif", "sixteen", "alpha", "grey"]
    cached, failed = read_pixels("clothing", str(root), names, SIDE)
    assert failed == {}
    for i, name in enumerate(names):
        np.testing.assert_array_equal(file_pixels(root / "images" / f"{name}.jpg", SIDE), cached[i])


def test_find_images_walks_folders_in_order(tmp_path):
    files = awkward_images(tmp_path / "photos")
    found = find_images([str(files["rgb"]), str(tmp_path / "photos")])
    assert found[0] == (str(files["rgb"]), "")  # in the order given, a folder's files sorted
    assert [path for path, _ in found[1:]] == sorted(str(files[name]) for name in files)
    assert all(error == "" for _, error in found)  # finding reads no file: decoding finds the broken ones


def test_predict_refuses_a_bad_topk_and_a_folder_that_is_no_model(random_model_dir, tmp_path, capsys):
    assert run_command(predict.main, [str(random_model_dir), str(tmp_path), "--topk", "4"]) == 2
    assert "--topk 4: must be between 1 and the model's 3 classes" in capsys.readouterr().err
    assert run_command(predict.main, [str(tmp_path), str(tmp_path)]) == 2
    assert "no model.pt here" in capsys.readouterr().err


def test_the_refit_trains_on_the_whole_pool_and_never_on_the_locked_holdout(clothing_root, tmp_path):
    from tune_clothes.config import CVConfig, DatasetConfig
    from tune_clothes.data.datasets import load_index
    from tune_clothes.data.folds import plan_folds
    from tune_clothes.data.image_cache import ensure_image_cache
    from tune_clothes.training.fold_data import pool_data
    index = load_index(DatasetConfig(kind="clothing", root=str(clothing_root), cache_dir=str(tmp_path)))
    plan = plan_folds(index, CVConfig(folds=2, test_fraction=0.25), [None])
    cache = ensure_image_cache(index, SIDE, tmp_path)
    monitor = plan.fold(None, 0)[1]
    data = pool_data(cache, index, plan, monitor)
    np.testing.assert_array_equal(data.train.positions, plan.pool)
    assert len(plan.holdout) >= 3 and not set(data.train.positions) & set(plan.holdout)
    np.testing.assert_array_equal(data.val.positions, monitor)
    with pytest.raises(ValueError, match="never from the locked holdout"):
        pool_data(cache, index, plan, plan.holdout)


def test_a_resnet18_exports_to_onnx_that_scores_as_pytorch(tmp_path):
    """The Clothing Dataset's network (resnet18 and its BatchNorm head), random weights, at 64 px: onnxruntime
    gives PyTorch's scores on a batch and on a single image."""
    import onnxruntime

    from tune_clothes.config import ModelConfig
    from tune_clothes.packaging.bundle import ModelBundle
    from tune_clothes.training.models import build_model
    torch.manual_seed(0)
    network = build_model(ModelConfig(name="resnet18"), len(CLASSES))
    network.train()(torch.randn(8, 3, 64, 64))  # BatchNorm statistics that are not the identity
    bundle = ModelBundle("refit", "resnet18", CLASSES, 64, 3, (network.state_dict(),))
    pixels = np.random.default_rng(1).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    check = export_onnx(bundle, tmp_path / ONNX_FILE, model_input(pixels, 3))
    assert check.images == 5 and check.top1_agreement == 1.0 and check.max_abs_diff <= 1e-3
    session = onnxruntime.InferenceSession(str(tmp_path / ONNX_FILE), providers=["CPUExecutionProvider"])
    expected = bundle.network()(model_input(pixels, 3)).detach().numpy()
    for batch in (model_input(pixels, 3).numpy(), model_input(pixels[:1], 3).numpy()):
        (scores,) = session.run(None, {session.get_inputs()[0].name: batch})
        assert np.abs(scores - expected[:len(batch)]).max() <= 1e-3
