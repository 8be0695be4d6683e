"""A user's own photos searched with the network as a search axis (two small torchvision networks): an image
folder split into train/ and test/, and a CSV of paths and labels grouped by a column; then each search's final
model, exported and measured, `evaluate` and `predict` on the photos, and the cost columns against `complexity`;
and a network torch.onnx cannot export, which keeps its model.pt and says why instead of failing `final`."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REAL_CLOTHING, tiny_space, write_jpeg

import tune_clothes as tc
from tune_clothes.complexity import networks_table
from tune_clothes.packaging import final_model

pytestmark = pytest.mark.slow
NETWORKS = ["squeezenet1_1", "squeezenet1_0"]  # the quickest to export of the small ones (2.5 s each here)
CLASSES = {"Shoes": "shoes", "Dress": "dresses", "Pants": "trousers"}  # the Clothing Dataset's -> the shop's


def shop_photos(root: Path, train: int = 10, test: int = 4) -> Path:
    """root/train/<class>/ and root/test/<class>/: real photos from the Clothing Dataset when it is here (copied,
    under the shop's own class names), generated images otherwise."""
    rows = pd.read_csv(REAL_CLOTHING / "images.csv") if (REAL_CLOTHING / "images.csv").is_file() else None
    for c, (label, name) in enumerate(CLASSES.items()):
        ids = [] if rows is None else rows.loc[rows["label"] == label, "image"].head(train + test).tolist()
        for i in range(train + test):
            dest = root / ("train" if i < train else "test") / name / f"{name}-{i}.jpg"
            dest.parent.mkdir(parents=True, exist_ok=True)
            if ids:
                shutil.copy(REAL_CLOTHING / "images" / f"{ids[i]}.jpg", dest)
            else:
                write_jpeg(dest, seed=100 * c + i, size=(40, 48))
    return root


def searched(root: Path, name: str, dataset: dict, cv: dict) -> tc.SearchResults:
    space = tiny_space(root, name, lrs=(0.01,), train={"epochs": 2, "image_size": 32}, cv=cv,
                       dataset={**dataset, "cache_dir": str(root / "cache")})
    space["search"]["grid"]["model"] = NETWORKS  # model.name, a search axis like any other field
    return tc.search(space)


@pytest.fixture(scope="module")
def network_search(ray_local, tmp_path_factory):
    root = tmp_path_factory.mktemp("networks")
    photos = shop_photos(root / "photos")
    return searched(root, "networks", {"kind": "image_folder", "root": str(photos)}, {"folds": 2}), photos


def test_each_network_is_searched_and_the_best_becomes_the_final_model(network_search, tmp_path):
    search, photos = network_search
    board = search.leaderboard
    assert sorted(board["name"]) == sorted(NETWORKS) and set(board["status"]) == {"complete"}
    page = open(search.report_path, encoding="utf-8").read()  # the network is an axis, not a fixed setting
    assert "<td>name</td><td>squeezenet1_1, squeezenet1_0</td>" in page and "<dt>model</dt>" not in page
    assert 'id="compute"' in page and 'data-table="compute"' in page
    model = tc.final(search, strategy="ensemble", out=tmp_path / "model")
    assert model.info["model"]["model"] == search.best_config["name"] in NETWORKS
    assert (tmp_path / "model" / "model.onnx").is_file() and model.test_metrics["images"] == 12  # test/
    images = [np.random.default_rng(i).integers(0, 256, (40, 30, 3), dtype=np.uint8) for i in range(3)]
    torch_rows, onnx_rows = model.predict(images), model.predict(images, backend="onnx")
    assert torch_rows["label_1"].tolist() == onnx_rows["label_1"].tolist()
    np.testing.assert_allclose(torch_rows["prob_1"], onnx_rows["prob_1"], atol=1e-4)
    measured = model.evaluate(photos, cache_dir=tmp_path / "cache")  # test/: the locked holdout, measured again
    assert measured["images"] == 12 and "note" not in measured
    assert measured["metrics"]["acc"]["value"] == pytest.approx(model.test_metrics["metrics"]["acc"]["value"])
    rows = model.predict([photos / "test"])
    assert len(rows) == 12 and set(rows["label_1"]) <= set(CLASSES.values()) and not rows["error"].any()


def test_the_cost_columns_are_what_complexity_counts(network_search):
    search, _ = network_search
    counted = networks_table(NETWORKS, 32, classes=3)
    for table in (search.leaderboard, pd.DataFrame(search.cv_results)):
        column = "name" if "name" in table else "param_name"
        for _, row in table.iterrows():
            cost = counted[str(row[column])]
            assert (row["params_m"], row["gmacs"]) == pytest.approx((cost.params_m, cost.gmacs), rel=1e-5)
    assert "GMACs" in search.table.splitlines()[0]


def test_a_csv_of_paths_and_labels_is_searched_grouped_and_measured(network_search, tmp_path):
    _, photos = network_search
    files = sorted(p.relative_to(photos).as_posix() for p in photos.rglob("*.jpg"))
    table = pd.DataFrame({"file": files, "category": [f.split("/")[1] for f in files],
                          "shoot": [f"shoot{i % 5}" for i in range(len(files))]})
    table.to_csv(photos / "catalogue.csv", index=False)
    search = searched(tmp_path, "catalogue", {"kind": "csv", "root": str(photos / "catalogue.csv"),
                                              "path_column": "file", "label_column": "category"},
                      {"folds": 2, "test_fraction": 0.2, "group_by": "shoot"})
    assert set(search.leaderboard["status"]) == {"complete"} and len(search.leaderboard) == 2
    model = tc.final(search, strategy="ensemble", out=tmp_path / "model")
    measured = model.evaluate(photos / "catalogue.csv", cache_dir=tmp_path / "cache")  # its columns, from model.json
    assert measured["images"] == len(files) and "note" in measured  # it trained on most of them: said so
    rows = model.predict([photos / files[0], photos / files[-1]], topk=2)
    assert rows["label_1"].isin(CLASSES.values()).all() and (rows["prob_1"] >= rows["prob_2"]).all()


def test_a_network_the_exporter_cannot_take_keeps_its_model_pt(network_search, tmp_path, monkeypatch):
    def cannot(*args, **kwargs):
        raise RuntimeError("Unsupported: aten::made_up_operator\nmore of the exporter's trace")
    monkeypatch.setattr(final_model, "export_onnx", cannot)
    model = tc.final(network_search[0], strategy="ensemble", out=tmp_path / "model")
    assert not (tmp_path / "model" / "model.onnx").exists()
    export = json.loads((tmp_path / "model" / "model.json").read_text())["export"]
    assert export == {"file": None, "error": f"torch.onnx cannot export {model.info['model']['model']}: "
                                             f"Unsupported: aten::made_up_operator"}
    assert "model.onnx: not written (torch.onnx cannot export" in model.summary
    assert "model.onnx" not in model.summary.splitlines()[-1]  # the folder's files: model.pt, the card, the json
    assert "No `model.onnx`" in (tmp_path / "model" / "model_card.md").read_text()
    assert len(model.predict(np.zeros((32, 32, 3), np.uint8))) == 1 and model.test_metrics is not None
    with pytest.raises(tc.UserError, match="no ONNX model: use --backend torch"):
        model.predict(np.zeros((32, 32, 3), np.uint8), backend="onnx")
