"""Any torchvision classification network by name (`torchvision.models.list_models` of its classification module),
with the layer that gives ImageNet's 1000 scores replaced by one for the dataset's classes, wherever the network
keeps it (`fc`, `classifier[-1]`, `heads.head`, squeezenet's final convolution).

`resnet18` and `fashion_cnn` keep the original project's meaning (`models.py`); every other name comes from here.
Grey images need nothing special: the data pipeline gives every network 3 channels.
"""
from __future__ import annotations

import difflib
import logging
from typing import Mapping

import torch
from torch import nn

from tune_clothes.config import PROJECT_MODELS
from tune_clothes.config.errors import ConfigError, UserError
from tune_clothes.training.weights import pretrained_network, read_weights_file

log = logging.getLogger(__name__)
IMAGENET_CLASSES = 1000  # what every torchvision classification network outputs


def torchvision_networks() -> list[str]:
    from torchvision import models
    return models.list_models(module=models)


def check_network_name(name: str) -> None:
    """Refuse a name that is neither the project's nor torchvision's, with the closest names."""
    known = [*PROJECT_MODELS, *torchvision_networks()]
    if name in known:
        return
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ConfigError(f"model.name={name!r}: not a network this project can build; {hint}use resnet18, fashion_cnn "
                      f"or one of torchvision's {len(known) - len(PROJECT_MODELS)} classification networks "
                      f"(torchvision.models.list_models(module=torchvision.models))")


def check_network(name: str, image_size: int) -> None:
    """Refuse an unknown name, and a torchvision network that cannot take image_size x image_size images, with
    the network's own reason: built without weights and run once on a blank image. (The project's two networks'
    smallest sizes are checked with the config.)"""
    check_network_name(name)
    if name in PROJECT_MODELS:
        return
    network = TorchvisionClassifier(name, num_classes=2).eval()
    try:
        with torch.inference_mode():
            network(torch.zeros(1, 3, image_size, image_size))
    except (RuntimeError, ValueError, AssertionError) as err:  # what torchvision raises for a wrong input size
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"model.name={name!r} cannot take {image_size} x {image_size} images ({reason}); choose "
                        f"another train.image_size or network") from None


class TorchvisionClassifier(nn.Module):
    """A torchvision network whose ImageNet classifier is replaced for `num_classes`.

    `pretrained`: False (random init), True (torchvision's default weights for the network, downloaded and cached
    by torch.hub), or a path to that network's state dict. `freeze_backbone`: train only the new classifier; the
    rest stays in eval mode too, so its BatchNorm statistics do not drift."""

    def __init__(self, name: str, num_classes: int, pretrained: bool | str = False,
                 freeze_backbone: bool = False) -> None:
        super().__init__()
        from torchvision import models
        self.network = pretrained_network(name) if pretrained is True else models.get_model(name, weights=None)
        if pretrained and pretrained is not True:
            _load(self.network, read_weights_file(str(pretrained), name), name, str(pretrained))
        self.classifier_path = replace_classifier(self.network, num_classes, name)
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            self.network.requires_grad_(False)
            self.network.get_submodule(self.classifier_path).requires_grad_(True)
            self.train(self.training)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        scores = self.network(images)
        return scores[0] if isinstance(scores, tuple) else scores  # googlenet, inception_v3: (logits, aux...)

    def train(self, mode: bool = True) -> "TorchvisionClassifier":
        super().train(mode)
        if self.freeze_backbone:  # the frozen part keeps its BatchNorm statistics and dropout off
            self.network.eval()
            self.network.get_submodule(self.classifier_path).train(mode)
        return self


def replace_classifier(network: nn.Module, num_classes: int, name: str) -> str:
    """Replace the last layer that gives the 1000 ImageNet scores (a Linear, or squeezenet's 1x1 Conv2d) with one
    for `num_classes`; returns its dotted path. Auxiliary classifiers (googlenet, inception) come earlier and stay."""
    found = [(path, layer) for path, layer in network.named_modules()
             if (isinstance(layer, nn.Linear) and layer.out_features == IMAGENET_CLASSES)
             or (isinstance(layer, nn.Conv2d) and layer.out_channels == IMAGENET_CLASSES)]
    if not found:
        raise ConfigError(f"model.name={name!r}: no layer gives the 1000 ImageNet scores, so there is no "
                          f"classifier to replace; choose another network")
    path, layer = found[-1]
    new = (nn.Linear(layer.in_features, num_classes) if isinstance(layer, nn.Linear)
           else nn.Conv2d(layer.in_channels, num_classes, layer.kernel_size, layer.stride, layer.padding))
    parent, _, leaf = path.rpartition(".")
    setattr(network.get_submodule(parent) if parent else network, leaf, new)
    return path


def _load(network: nn.Module, state: Mapping[str, torch.Tensor], name: str, source: str) -> None:
    try:
        network.load_state_dict(state)
    except RuntimeError as err:
        raise ConfigError(f"model.pretrained={source!r}: not {name} weights ({str(err).splitlines()[0]}); give a "
                          f"torchvision {name} state dict") from None
    log.info("%s loaded from %s", name, source)
