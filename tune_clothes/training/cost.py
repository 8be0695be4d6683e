"""What a network costs to run: its parameters and multiply-accumulates for one image, counted by ptflops.

One counter for `complexity` and for the cost columns of a search (`leaderboard.csv`, `cv_results.csv`, the
report's compute plot): the numbers beside a configuration are the ones `complexity --model` prints.
"""
from __future__ import annotations

import copy
import io
from dataclasses import dataclass
from importlib.metadata import version

from ptflops import get_model_complexity_info
from torch import nn

from tune_clothes.config import Experiment, ModelConfig
from tune_clothes.training.models import build_model

COUNTER = f"ptflops {version('ptflops')} (pytorch backend)"


@dataclass(frozen=True)
class Complexity:
    """One model's size and cost for a single image."""
    params_m: float  # millions of parameters
    gmacs: float  # 1e9 multiply-accumulates per image
    gflops: float  # 2 x gmacs
    input_size: tuple[int, int, int]  # channels, height, width


def model_complexity(model: nn.Module, image_size: int, in_channels: int = 3) -> Complexity:
    """Count `model`'s parameters and MACs for one `in_channels x image_size x image_size` image with ptflops.

    The model itself is left untouched: ptflops patches and switches to eval mode a copy.
    """
    counted = copy.deepcopy(model).requires_grad_(True)  # ptflops counts only trainable parameters
    input_size = (in_channels, image_size, image_size)
    macs, params = get_model_complexity_info(counted, input_size, as_strings=False, print_per_layer_stat=False,
                                             backend="pytorch", ost=io.StringIO())
    if macs is None or params is None:  # ptflops prints its exception and returns None
        raise RuntimeError(f"ptflops could not count {type(model).__name__} at {input_size}")
    return Complexity(params_m=params / 1e6, gmacs=macs / 1e9, gflops=2 * macs / 1e9, input_size=input_size)


def network_cost(name: str, num_classes: int, image_size: int) -> Complexity:
    """The cost of network `name` with `num_classes` outputs at image_size (every network gets 3 channels: the
    data pipeline repeats a grey image's), untrained weights: the count does not depend on them."""
    return model_complexity(build_model(ModelConfig(name=name), num_classes), image_size)


def search_costs(experiment: Experiment, num_classes: int) -> dict:
    """costs.json: the cost of every network and image size a search can train, for `num_classes` outputs."""
    networks = []
    for name in experiment.axis_values("name"):
        for size in experiment.axis_values("image_size"):
            cost = network_cost(name, num_classes, size)
            networks.append({"name": name, "image_size": size, "params_m": cost.params_m, "gmacs": cost.gmacs})
    return {"counter": COUNTER, "classes": num_classes, "networks": networks}
