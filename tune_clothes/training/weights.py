"""Pretrained weights: torchvision's default weights for a network (downloaded once into torch.hub's cache), or
a local state-dict file for a machine without a network. The driver fetches them before any trial starts, so a
missing network fails once, at once, instead of in every trial after its retries."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from tune_clothes.config.errors import ConfigError, UserError


def download_default_weights(network: str) -> Mapping[str, torch.Tensor]:
    """torchvision's default ImageNet weights of `network` (resnet18's are IMAGENET1K_V1), from torch.hub's cache
    after the first download."""
    from torchvision import models
    weights = models.get_model_weights(network).DEFAULT
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except (OSError, RuntimeError) as err:  # URLError is an OSError; a bad download fails the hash check
        raise _download_error(network, weights.url, err) from err


def pretrained_network(network: str) -> torch.nn.Module:
    """The torchvision network with its default ImageNet weights, built by torchvision itself (which knows each
    network's quirks, such as googlenet's auxiliary classifiers), from torch.hub's cache after the first download."""
    from torchvision import models
    weights = models.get_model_weights(network).DEFAULT
    try:
        return models.get_model(network, weights=weights, progress=False)
    except (OSError, RuntimeError) as err:
        raise _download_error(network, weights.url, err) from err


def _download_error(network: str, url: str, err: Exception) -> UserError:
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    return UserError(f"model.pretrained=true: could not download the {network} ImageNet weights from {url} "
                     f"({reason}); on a machine with a network, download that file by hand and set "
                     f"model.pretrained: /path/to/{Path(url).name}, or put it in {cache}")


def read_weights_file(path: str, network: str) -> Mapping[str, torch.Tensor]:
    """A state dict of `network` saved with `torch.save(model.state_dict(), path)`."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"model.pretrained={path!r}: no such file; give the path of a {network} .pth weights "
                          f"file, or set model.pretrained: true to download torchvision's")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types (pickle, zip, RuntimeError) for unreadable files
        raise ConfigError(f"model.pretrained={path!r}: cannot read it as PyTorch weights ({err}); "
                          f"save it with torch.save(model.state_dict(), path)") from err
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"model.pretrained={path!r}: holds a {type(state).__name__}, not a state dict of "
                          f"tensors; save it with torch.save(model.state_dict(), path)")
    return state


def fetch_pretrained_weights(network: str, pretrained: bool | str) -> None:
    """Make sure the weights `model.pretrained` names for `network` are there: in torch.hub's cache or the file."""
    if pretrained is True:
        download_default_weights(network)
    elif isinstance(pretrained, str):
        read_weights_file(pretrained, network)
