"""Any torchvision classification network by name: its ImageNet classifier replaced wherever it keeps it, frozen
except that classifier on request, weights from torchvision or a local file, refused with a reason when the name
or the image size cannot work, counted by `complexity`, and exported to ONNX with the same scores."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tune_clothes import complexity
from tune_clothes.config import ModelConfig
from tune_clothes.config.errors import ConfigError, UserError
from tune_clothes.training.models import build_model
from tune_clothes.training.networks import TorchvisionClassifier, check_network, check_network_name

#: (network, where torchvision keeps its ImageNet classifier, its kind): a Linear in a Sequential, a 1x1
#: convolution (squeezenet), and a network with auxiliary classifiers whose training output is a tuple.
NETWORKS = [("mobilenet_v3_small", "classifier.3", nn.Linear), ("squeezenet1_1", "classifier.1", nn.Conv2d),
            ("googlenet", "fc", nn.Linear)]


@pytest.mark.parametrize("name, path, kind", NETWORKS, ids=[n for n, _, _ in NETWORKS])
def test_the_imagenet_classifier_is_replaced_for_the_datasets_classes(name, path, kind):
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=name), 7)
    assert isinstance(model, TorchvisionClassifier) and model.classifier_path == path
    layer = model.network.get_submodule(path)
    assert isinstance(layer, kind) and (layer.out_features if kind is nn.Linear else layer.out_channels) == 7
    for mode in (True, False):  # googlenet gives (logits, aux2, aux1) while training
        assert model.train(mode)(torch.rand(2, 3, 64, 64)).shape == (2, 7)
    rebuilt = build_model(ModelConfig(name=name), 7)  # as model.pt is read back: the same keys and shapes
    rebuilt.load_state_dict(model.state_dict())


def test_a_frozen_network_trains_only_its_new_classifier():
    model = build_model(ModelConfig(name="mobilenet_v3_small", freeze_backbone=True), 3).train()
    classifier = model.network.get_submodule(model.classifier_path)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f"network.{model.classifier_path}.weight", f"network.{model.classifier_path}.bias"}
    assert not model.network.features.training and classifier.training
    norm = next(m for m in model.network.features.modules() if isinstance(m, nn.BatchNorm2d))
    stats, weights = norm.running_mean.clone(), classifier.weight.clone()
    optimiser = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(torch.rand(4, 3, 32, 32)).sum().backward()
    optimiser.step()
    assert torch.equal(norm.running_mean, stats) and not torch.equal(classifier.weight, weights)


def test_weights_from_a_local_file_and_the_wrong_networks_weights(tmp_path):
    torch.manual_seed(1)
    reference = __import__("torchvision").models.get_model("squeezenet1_1", weights=None)
    torch.save(reference.state_dict(), tmp_path / "squeeze.pth")
    model = TorchvisionClassifier("squeezenet1_1", 4, pretrained=str(tmp_path / "squeeze.pth"))
    assert torch.equal(model.network.features[0].weight, reference.features[0].weight)
    with pytest.raises(ConfigError, match=r"squeeze.pth'.*not mobilenet_v3_small weights"):
        TorchvisionClassifier("mobilenet_v3_small", 4, pretrained=str(tmp_path / "squeeze.pth"))


def test_a_name_or_size_that_cannot_work_is_refused_with_the_reason():
    with pytest.raises(ConfigError, match="did you mean mobilenet_v2"):
        check_network_name("mobilnet_v2")
    with pytest.raises(UserError, match=r"'vit_b_16' cannot take 64 x 64 images \(Wrong image height"):
        check_network("vit_b_16", 64)
    check_network("mobilenet_v3_small", 32)  # takes small images: adaptive pooling
    with pytest.raises(ConfigError, match="fashion_cnn has no pretrained weights"):
        ModelConfig(name="fashion_cnn", pretrained=True)


def test_complexity_counts_any_network(capsys):
    assert complexity.main(["--model", "mobilenet_v3_small", "--model", "resnet18", "--image-size", "224"]) == 0
    out = capsys.readouterr().out
    counted = complexity.model_complexity(build_model(ModelConfig(name="mobilenet_v3_small"), 20), 224)
    row = next(line for line in out.splitlines() if line.startswith("mobilenet_v3_small"))
    assert f"{counted.params_m:.2f} M" in row and f"{counted.gmacs:.3f}" in row
    assert 0.05 < counted.gmacs < 0.07  # torchvision's documented 0.06 GFLOPS (which are MACs) for this network
    assert complexity.run_command(complexity.main, ["--model", "vit_b_16", "--image-size", "64"]) == 2


def test_a_torchvision_network_exports_to_onnx_that_scores_as_pytorch(tmp_path):
    """squeezenet1_1: its classifier is a convolution (mobilenet_v3_small exports as well, in 9 s instead of 2)."""
    from tune_clothes.packaging.bundle import ModelBundle
    from tune_clothes.packaging.inference import model_input
    from tune_clothes.packaging.onnx_export import ONNX_FILE, export_onnx
    torch.manual_seed(0)
    network = build_model(ModelConfig(name="squeezenet1_1"), 3)
    network.train()(torch.randn(8, 3, 48, 48))  # BatchNorm statistics that are not the identity
    bundle = ModelBundle("refit", "squeezenet1_1", ("a", "b", "c"), 48, 3, (network.state_dict(),))
    pixels = np.random.default_rng(1).integers(0, 256, (5, 48, 48, 3), dtype=np.uint8)
    check = export_onnx(bundle, tmp_path / ONNX_FILE, model_input(pixels, 3))
    assert check.images == 5 and check.top1_agreement == 1.0 and check.max_abs_diff <= 1e-3


def test_model_is_the_network_axis_in_a_grid_and_in_an_optuna_space():
    from tune_clothes import load_experiment
    from tune_clothes.config import Choice
    grid = load_experiment({"model": {"name": "resnet18"}, "search": {"grid": {"model": ["resnet18", "alexnet"]}}})
    assert grid.search.grid == {"name": Choice(("resnet18", "alexnet"))}
    space = load_experiment({"search": {"algorithm": "optuna", "space": {"model": {"choices": ["resnet18",
                                                                                             "mobilenet_v2"]}}}})
    assert space.search.space == {"name": Choice(("resnet18", "mobilenet_v2"))}
    assert space.axis_values("name") == ["resnet18", "mobilenet_v2"]
    with pytest.raises(ConfigError, match="search.grid: both 'model' and 'name' vary model.name; keep one"):
        load_experiment({"search": {"grid": {"model": ["resnet18"], "name": ["alexnet"]}}})
