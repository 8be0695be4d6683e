"""`model.pt`: everything that rebuilds and runs a final model, and nothing that can run code.

The file holds tensors, numbers, strings, lists and dicts only, so it loads with
`torch.load(weights_only=True)`; a file holding a pickled Python object is refused before any of it runs.
Its network is one classifier (a refit) or several (an ensemble of fold models) behind one interface:
`softmax(network(images))` is the class probabilities either way.
"""
from __future__ import annotations

import hashlib
import math
import pickle
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from tune_clothes.config import MIN_IMAGE_SIZE, PROJECT_MODELS, ModelConfig
from tune_clothes.config.errors import UserError
from tune_clothes.data.storage import atomic_path
from tune_clothes.training.augment import IMAGENET_MEAN, IMAGENET_STD
from tune_clothes.training.models import build_model
from tune_clothes.training.networks import torchvision_networks

FORMAT_VERSION = 1
MODEL_PT = "model.pt"
STRATEGIES = ("refit", "ensemble")
MAX_IMAGE_SIZE = 2048  # pixels: as train.image_size allows


class PackagedNetwork(nn.Module):
    """Scores whose softmax is the class probabilities: one member's logits, or for an ensemble the log of
    the mean of its members' softmax (computed as a log-sum-exp, so no probability underflows to log 0)."""

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if len(self.members) == 1:
            return self.members[0](images)
        log_probs = torch.stack([torch.log_softmax(member(images), dim=1) for member in self.members])
        return torch.logsumexp(log_probs, dim=0) - math.log(len(self.members))


@dataclass(frozen=True, eq=False)
class ModelBundle:
    strategy: str  # "refit" (one model trained on the pool) or "ensemble" (the fold models)
    model_name: str  # a ModelConfig name: what build_model rebuilds
    class_names: tuple[str, ...]  # in the order of the network's outputs
    image_size: int  # side of the square input, pixels
    channels: int  # of the images it was trained on: 1 (grey) or 3; the network always takes 3 (grey repeated)
    members: tuple[Mapping[str, torch.Tensor], ...]  # one state dict per member

    mean = IMAGENET_MEAN  # normalisation the network expects: (pixel / 255 - mean) / std, per RGB channel
    std = IMAGENET_STD

    @cached_property
    def digest(self) -> str:
        """sha256 of every weight, in order: what ties model.onnx (its metadata) to this model.pt."""
        digest = hashlib.sha256()
        for state in self.members:
            for name in sorted(state):
                digest.update(name.encode())
                digest.update(state[name].detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    def description(self) -> dict[str, Any]:
        """Everything but the weights, as plain values (model.json, the ONNX metadata)."""
        return {"format": FORMAT_VERSION, "strategy": self.strategy, "model": self.model_name,
                "class_names": list(self.class_names), "image_size": self.image_size, "channels": self.channels,
                "members": len(self.members), "mean": list(self.mean), "std": list(self.std),
                "weights_sha256": self.digest}

    def network(self) -> PackagedNetwork:
        """The network in eval mode, on the CPU."""
        members = []
        for state in self.members:
            member = build_model(ModelConfig(name=self.model_name), len(self.class_names))
            member.load_state_dict(state)
            members.append(member)
        return PackagedNetwork(members).eval()


def save_bundle(bundle: ModelBundle, path: Path) -> None:
    content = {key: value for key, value in bundle.description().items() if key != "members"}
    content["members"] = [dict(state) for state in bundle.members]
    with atomic_path(path) as tmp:
        torch.save(content, tmp)


def load_bundle(path: Path) -> ModelBundle:
    """Read and check a model.pt; refuse one that holds pickled objects, or weights that were altered."""
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise UserError(f"{path}: refused: it holds pickled Python objects, which could run code when loaded "
                        f"({str(err).splitlines()[-1][:200]}); a tune_clothes model.pt holds only tensors, "
                        f"numbers and strings: build it with python -m tune_clothes.final") from None
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; pass the model folder that final wrote (it holds "
                        f"{MODEL_PT})") from None
    except Exception as err:  # torch raises several types (zip, RuntimeError, KeyError) for unreadable files
        raise UserError(f"{path}: not a readable PyTorch file ({type(err).__name__}: {err})") from None
    bundle = _bundle_from(content, path)
    if bundle.digest != content["weights_sha256"]:
        raise UserError(f"{path}: its weights do not match the checksum it records: the file was altered or "
                        f"damaged; copy it again from the model folder that final wrote")
    try:
        bundle.network()
    except (RuntimeError, UserError) as err:
        raise UserError(f"{path}: its weights do not fit a {bundle.model_name} with {len(bundle.class_names)} "
                        f"classes ({str(err).splitlines()[0]})") from None
    return bundle


def _bundle_from(content: Any, path: Path) -> ModelBundle:
    def require(ok: bool, what: str) -> None:
        if not ok:
            raise UserError(f"{path}: not a tune_clothes model file ({what}); build one with "
                            f"python -m tune_clothes.final")

    require(isinstance(content, dict) and content.get("format") == FORMAT_VERSION,
            f"expected format {FORMAT_VERSION}")
    require(content.get("strategy") in STRATEGIES, f"strategy must be one of {STRATEGIES}")
    model = content.get("model")
    require(model in PROJECT_MODELS or model in torchvision_networks(), f"unknown model {model!r}")
    names = content.get("class_names")
    require(isinstance(names, list) and len(names) >= 2 and all(isinstance(n, str) for n in names),
            "class_names must list at least 2 names")
    size, smallest = content.get("image_size"), MIN_IMAGE_SIZE.get(model, 1)
    require(isinstance(size, int) and smallest <= size <= MAX_IMAGE_SIZE,
            f"image_size must be a whole number of pixels in [{smallest}, {MAX_IMAGE_SIZE}]")
    require(content.get("channels") in (1, 3), "channels must be 1 or 3")
    members = content.get("members")
    require(isinstance(members, list) and len(members) >= 1 and all(
        isinstance(m, dict) and all(isinstance(t, torch.Tensor) for t in m.values()) for m in members),
        "members must be a list of state dicts")
    require(isinstance(content.get("weights_sha256"), str), "no weights_sha256")
    return ModelBundle(content["strategy"], content["model"], tuple(names), content["image_size"],
                       content["channels"], tuple(members))
