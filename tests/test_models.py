import dataclasses
import json
import urllib.error

import pytest
import torch
from torch import nn
from torchvision.models import resnet18

from tune_clothes import complexity
from tune_clothes.complexity import model_complexity
from tune_clothes.config import ModelConfig
from tune_clothes.config.errors import UserError
from tune_clothes.training.models import ClothClassifier, FashionMnistClassifier, build_model

# The original project's benchmark table: (params in millions, GFLOPs, GMACs) at its input sizes.
SEED_TABLE = {"resnet18": (11.7, 3.6, 1.8), "fashion_cnn": (0.14, 0.044, 0.022)}


def offline(*args, **kwargs):
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


@pytest.fixture(scope="module")
def resnet_weights(tmp_path_factory):
    """A resnet18 state dict on disk, with its ImageNet `fc` layer, as torchvision saves one."""
    torch.manual_seed(1)
    net = resnet18(weights=None)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(net.state_dict(), path)
    return path, net.state_dict()


def test_cloth_classifier_scores_each_class():
    model = ClothClassifier(num_classes=7)
    assert model(torch.rand(2, 3, 64, 64)).shape == (2, 7)


def test_cloth_head_is_two_hidden_layers_then_the_classes():
    head = ClothClassifier(num_classes=5).head
    kinds = [type(layer) for layer in head]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout] * 2 + [nn.Linear]
    assert [layer.p for layer in head if isinstance(layer, nn.Dropout)] == [0.4, 0.5]
    linears = [(layer.in_features, layer.out_features) for layer in head if isinstance(layer, nn.Linear)]
    assert linears == [(512, 512), (512, 512), (512, 5)]


def test_pretrained_offline_is_a_one_line_error_with_the_fix(monkeypatch):
    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", offline)
    with pytest.raises(UserError) as err:
        ClothClassifier(num_classes=3, pretrained=True)
    message = str(err.value)
    assert "\n" not in message
    assert "name resolution" in message and "model.pretrained: /path/to/" in message


def test_pretrained_from_a_local_file_loads_the_backbone(resnet_weights):
    path, state = resnet_weights
    model = ClothClassifier(num_classes=3, pretrained=str(path))
    loaded = model.backbone.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items() if not k.startswith("fc."))
    assert model.head[-1].out_features == 3


def test_missing_weights_file_is_named(tmp_path):
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(UserError, match="nowhere.pth.*no such file"):
        ClothClassifier(num_classes=3, pretrained=str(missing))


def test_weights_of_another_model_are_refused_naming_the_file(tmp_path):
    path = tmp_path / "fashion.pth"
    torch.save(FashionMnistClassifier(10).state_dict(), path)
    with pytest.raises(UserError, match="fashion.pth.*not resnet18 weights.*missing"):
        ClothClassifier(num_classes=3, pretrained=str(path))


def test_a_file_that_is_not_weights_is_refused(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("not a checkpoint")
    with pytest.raises(UserError, match="notes.pth.*cannot read"):
        ClothClassifier(num_classes=3, pretrained=str(path))


def test_frozen_backbone_trains_only_the_head(resnet_weights):
    model = ClothClassifier(num_classes=3, pretrained=str(resnet_weights[0]), freeze_backbone=True).train()
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    assert not model.backbone.training and model.head.training
    bn_before = model.backbone.bn1.running_mean.clone()
    head_before = model.head[0].weight.clone()
    optimiser = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(torch.rand(4, 3, 32, 32)).sum().backward()
    optimiser.step()
    assert torch.equal(model.backbone.bn1.running_mean, bn_before)
    assert not torch.equal(model.head[0].weight, head_before)


def test_fashion_classifier_layers():
    model = FashionMnistClassifier(num_classes=10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 64, 64, 64, 64]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 2
    linears = [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)]
    assert linears == [(64, 32), (32, 10)]


@pytest.mark.parametrize("size", [8, 28, 45])
def test_fashion_classifier_takes_any_size_from_8(size):
    assert FashionMnistClassifier(num_classes=4)(torch.rand(2, 3, size, size)).shape == (2, 4)
    assert FashionMnistClassifier(num_classes=4, in_channels=1)(torch.rand(2, 1, size, size)).shape == (2, 4)


def test_build_model_follows_the_config():
    assert isinstance(build_model(ModelConfig(name="fashion_cnn"), 10), FashionMnistClassifier)
    cloth = build_model(ModelConfig(name="resnet18", freeze_backbone=True), 20)
    assert isinstance(cloth, ClothClassifier) and not cloth.backbone.conv1.weight.requires_grad
    with pytest.raises(UserError, match="num_classes=1"):
        build_model(ModelConfig(), 1)


def within_5_percent(value: float, reference: float) -> bool:
    return abs(value - reference) <= 0.05 * reference


@pytest.fixture(scope="module")
def table() -> dict:
    return complexity.reference_table()


def test_complexity_reproduces_the_seed_table(table):
    for name, (params_m, gflops, gmacs) in SEED_TABLE.items():
        got = table[name]
        assert within_5_percent(got.params_m, params_m), (name, got)
        assert within_5_percent(got.gflops, gflops), (name, got)
        assert within_5_percent(got.gmacs, gmacs), (name, got)
        assert got.gflops == pytest.approx(2 * got.gmacs)
    assert table["resnet18"].input_size == (3, 224, 224) and table["fashion_cnn"].input_size == (3, 28, 28)


def test_complexity_leaves_the_model_as_it_was():
    model = ClothClassifier(num_classes=3, freeze_backbone=True).train()
    counted = model_complexity(model, 32)
    assert model.training and not model.backbone.conv1.weight.requires_grad
    assert counted.params_m == pytest.approx(sum(p.numel() for p in model.parameters()) / 1e6)


def test_complexity_cli_json_at_another_size(capsys, table):
    assert complexity.main(["--json", "--image-size", "448"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["resnet18"]["input_size"] == [3, 448, 448]
    assert printed["fashion_cnn"]["input_size"] == [3, 28, 28]
    # the convolutions' cost grows with the pixel count (4x those of 224); the head's is fixed and small
    assert printed["resnet18"]["gmacs"] == pytest.approx(4 * table["resnet18"].gmacs, rel=0.01)
    assert printed["fashion_cnn"] == {**dataclasses.asdict(table["fashion_cnn"]), "input_size": [3, 28, 28],
                                      "counter": complexity.COUNTER}


def test_complexity_cli_table_and_bad_size(capsys):
    assert complexity.main(["--image-size", "64", "--fashion-image-size", "8"]) == 0
    out = capsys.readouterr().out
    assert "3x64x64" in out and "3x8x8" in out and "ptflops" in out
    assert complexity.run_command(complexity.main, ["--image-size", "16"]) == 2
    assert "error:" in capsys.readouterr().err
