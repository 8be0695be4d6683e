"""The classifiers, as plain `nn.Module`s built on the CPU: the original project's two, and any torchvision
classification network by name (`networks.py`).

- `ClothClassifier`: torchvision's resnet18 with its 1000-way `fc` replaced by a three-layer head, optionally
  starting from ImageNet weights (downloaded, or read from a local `.pth` file for offline machines).
- `FashionMnistClassifier`: a small six-convolution network for 28x28 images.

Nothing here knows about devices: the training core moves the model where it runs. torchvision is imported
only where a torchvision network is built: importing it costs a trial process about a second (it loads
torch._dynamo).
"""
from __future__ import annotations

import logging
import os
from typing import Mapping

import torch
from torch import nn

from tune_clothes.config import ModelConfig
from tune_clothes.config.errors import ConfigError
from tune_clothes.training.networks import TorchvisionClassifier, check_network_name
from tune_clothes.training.weights import download_default_weights, read_weights_file

log = logging.getLogger(__name__)

RESNET18_FEATURES = 512  # width of resnet18's pooled feature vector
HEAD_WIDTH = 512  # hidden width of the fully connected head
HEAD_DROPOUT = (0.4, 0.5)  # after the first and the second hidden layer, as in the original project


def fully_connected_head(in_features: int, num_classes: int) -> nn.Sequential:
    """Linear -> BatchNorm -> ReLU -> Dropout, twice, then the class scores.

    The original project lists Linear, BatchNorm1d and Dropout per hidden layer; without a non-linearity the three linear
    layers collapse into one linear map at inference (BatchNorm is affine there), so a ReLU follows each
    BatchNorm, the usual Linear-BN-ReLU order.
    """
    layers: list[nn.Module] = []
    width = in_features
    for dropout in HEAD_DROPOUT:
        layers += [nn.Linear(width, HEAD_WIDTH), nn.BatchNorm1d(HEAD_WIDTH), nn.ReLU(inplace=True),
                   nn.Dropout(dropout)]
        width = HEAD_WIDTH
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


class ClothClassifier(nn.Module):
    """resnet18 features followed by `fully_connected_head`.

    `pretrained`: False (random init), True (torchvision's ImageNet weights, downloaded and cached by torch.hub),
    or a path to a resnet18 state dict (`.pth`). `freeze_backbone`: train only the head; the backbone's
    BatchNorm layers then stay in eval mode too, so its running statistics do not drift either.
    """

    def __init__(self, num_classes: int, pretrained: bool | str | os.PathLike = False,
                 freeze_backbone: bool = False) -> None:
        super().__init__()
        from torchvision.models import resnet18
        self.backbone = resnet18(weights=None)
        self.backbone.fc = nn.Identity()  # the head below replaces the ImageNet classifier
        self.head = fully_connected_head(RESNET18_FEATURES, num_classes)
        if pretrained is True:
            load_backbone_weights(self.backbone, download_default_weights("resnet18"), "torchvision ImageNet weights")
        elif isinstance(pretrained, (str, os.PathLike)):
            load_backbone_weights(self.backbone, read_weights_file(str(pretrained), "resnet18"), str(pretrained))
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            if pretrained is False:
                log.warning("freeze_backbone with pretrained=false trains the head on random features")
            self.backbone.requires_grad_(False)
            self.backbone.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))

    def train(self, mode: bool = True) -> "ClothClassifier":
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()  # a frozen backbone keeps its BatchNorm statistics as loaded
        return self


def load_backbone_weights(backbone: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Load resnet18 weights into `backbone`, dropping the ImageNet classifier (`fc.*`) that the head replaces."""
    features = {k: v for k, v in state.items() if not k.startswith("fc.")}
    expected = backbone.state_dict()
    missing = sorted(set(expected) - set(features))
    unexpected = sorted(set(features) - set(expected))
    wrong_shape = sorted(k for k in set(expected) & set(features) if expected[k].shape != features[k].shape)
    problems = [f"{label} {keys[:3]}{' ...' if len(keys) > 3 else ''}"
                for label, keys in (("missing", missing), ("unexpected", unexpected),
                                    ("wrong shape", wrong_shape)) if keys]
    if problems:
        raise ConfigError(f"model.pretrained={source!r}: not resnet18 weights ({'; '.join(problems)}); "
                          f"give a torchvision resnet18 state dict")
    backbone.load_state_dict(features)
    log.info("resnet18 backbone loaded from %s", source)


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution (size kept), ReLU, BatchNorm, channel dropout: the original project's order."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU(inplace=True),
                         nn.BatchNorm2d(out_channels), nn.Dropout2d(0.2))


class FashionMnistClassifier(nn.Module):
    """Six 3x3 conv blocks (32, 32, pool, 64, 64, pool, 64, 64), global average pooling, 64 -> 32 -> classes.

    Two 2x2 poolings make it work on any input side of at least 8 pixels (28 -> 14 -> 7 for Fashion-MNIST).
    """

    def __init__(self, num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_block(in_channels, 32), conv_block(32, 32), nn.MaxPool2d(2),
            conv_block(32, 64), conv_block(64, 64), nn.MaxPool2d(2),
            conv_block(64, 64), conv_block(64, 64),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Sequential(nn.Linear(64, 32), nn.ReLU(inplace=True), nn.Dropout(0.3),
                                        nn.Linear(32, num_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))


def build_model(cfg: ModelConfig, num_classes: int) -> nn.Module:
    """The model `cfg` names, with `num_classes` outputs, on the CPU."""
    if num_classes < 2:
        raise ConfigError(f"num_classes={num_classes}: a classifier needs at least 2 classes")
    if cfg.name == "resnet18":
        return ClothClassifier(num_classes, pretrained=cfg.pretrained, freeze_backbone=cfg.freeze_backbone)
    if cfg.name == "fashion_cnn":
        return FashionMnistClassifier(num_classes)
    check_network_name(cfg.name)
    return TorchvisionClassifier(cfg.name, num_classes, cfg.pretrained, cfg.freeze_backbone)
