"""A search with the network as a search axis (two small torchvision networks), then its final model, exported and
measured, and predictions from it; and a network torch.onnx cannot export, which keeps its model.pt and says why
instead of failing `final`."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import tiny_space

import tune_clothes as tc
from tune_clothes.packaging import final_model

pytestmark = pytest.mark.slow
NETWORKS = ["squeezenet1_1", "squeezenet1_0"]  # the quickest to export of the small ones (2.5 s each here)


@pytest.fixture(scope="module")
def network_search(ray_local, tmp_path_factory):
    root = tmp_path_factory.mktemp("networks")
    space = tiny_space(root, "networks", lrs=(0.01,), train={"epochs": 2, "image_size": 32},
                       cv={"folds": 2, "test_fraction": 0.2})
    space["search"]["grid"]["name"] = NETWORKS  # model.name, a search axis like any other field
    return tc.search(space)


def test_each_network_is_searched_and_the_best_becomes_the_final_model(network_search, tmp_path):
    board = network_search.leaderboard
    assert sorted(board["name"]) == sorted(NETWORKS) and set(board["status"]) == {"complete"}
    page = open(network_search.report_path, encoding="utf-8").read()  # the network is an axis, not a fixed setting
    assert "<td>name</td><td>squeezenet1_1, squeezenet1_0</td>" in page and "<dt>model</dt>" not in page
    model = tc.final(network_search, strategy="ensemble", out=tmp_path / "model")
    assert model.info["model"]["model"] == network_search.best_config["name"] in NETWORKS
    assert (tmp_path / "model" / "model.onnx").is_file() and model.test_metrics["images"] > 0
    images = [np.random.default_rng(i).integers(0, 256, (40, 30, 3), dtype=np.uint8) for i in range(3)]
    torch_rows, onnx_rows = model.predict(images), model.predict(images, backend="onnx")
    assert torch_rows["label_1"].tolist() == onnx_rows["label_1"].tolist()
    np.testing.assert_allclose(torch_rows["prob_1"], onnx_rows["prob_1"], atol=1e-4)


def test_a_network_the_exporter_cannot_take_keeps_its_model_pt(network_search, tmp_path, monkeypatch):
    def cannot(*args, **kwargs):
        raise RuntimeError("Unsupported: aten::made_up_operator\nmore of the exporter's trace")
    monkeypatch.setattr(final_model, "export_onnx", cannot)
    model = tc.final(network_search, strategy="ensemble", out=tmp_path / "model")
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
