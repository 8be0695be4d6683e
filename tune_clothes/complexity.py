"""`python -m tune_clothes.complexity`: parameters and compute of the two models, as in the original project's table;
or of any network `model.name` takes (`--model NAME`, repeatable), at `--image-size`, with `--classes` outputs.

Counted by ptflops (`get_model_complexity_info`, pytorch backend) for one image (batch of 1):
multiply-accumulates (MACs) of Conv2d and Linear layers, plus one per output element of BatchNorm, ReLU and
pooling layers; residual additions and dropout are not counted. FLOPs are reported as 2 x MACs, the original project's
convention. Parameters are all of the model's parameters, trainable or frozen.

`--image-size` sets the cloth model's input side (default 224, the original project's). The Fashion-MNIST model
keeps its native 28 pixels unless `--fashion-image-size` says otherwise: its images are 28x28, and upscaling them
only multiplies its cost, so the original project's figure is the meaningful one.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Sequence

from tune_clothes.cli import exit_quickly, run_command
from tune_clothes.config import MIN_IMAGE_SIZE, ModelConfig
from tune_clothes.config.errors import UserError
from tune_clothes.training.cost import COUNTER, Complexity, model_complexity, network_cost
from tune_clothes.training.models import build_model
from tune_clothes.training.networks import check_network

CLOTH_CLASSES = 20  # the clothing dataset's classes, as in the original project's table
FASHION_CLASSES = 10  # Fashion-MNIST's classes
CLOTH_IMAGE_SIZE = 224  # pixels, the original project's input side for the cloth model
FASHION_IMAGE_SIZE = 28  # pixels, Fashion-MNIST's native side


def reference_table(cloth_size: int = CLOTH_IMAGE_SIZE,
                   fashion_size: int = FASHION_IMAGE_SIZE) -> dict[str, Complexity]:
    """The original project's table: both models, by config name, at the given input sides (pixels)."""
    sizes = {"resnet18": (cloth_size, CLOTH_CLASSES), "fashion_cnn": (fashion_size, FASHION_CLASSES)}
    table = {}
    for name, (size, classes) in sizes.items():
        _check_size(name, size)
        table[name] = model_complexity(build_model(ModelConfig(name=name), classes), size)
    return table


def networks_table(names: Sequence[str], image_size: int, classes: int = CLOTH_CLASSES) -> dict[str, Complexity]:
    """Each network `model.name` may name, with `classes` outputs, at image_size x image_size; one that does not
    exist or cannot take that size is refused with the reason, as before a search."""
    if classes < 2:
        raise UserError(f"--classes {classes}: a classifier needs at least 2 classes")
    for name in names:
        _check_size(name, image_size)
        check_network(name, image_size)
    return {name: network_cost(name, classes, image_size) for name in names}


def _check_size(name: str, size: int) -> None:
    if size < MIN_IMAGE_SIZE.get(name, 1):
        raise UserError(f"image size {size} is too small for {name}: it needs at least {MIN_IMAGE_SIZE[name]} pixels")


def format_table(table: dict[str, Complexity]) -> str:
    width = max(12, *map(len, table))
    lines = [f"{'model':<{width}} {'input':>10} {'params':>9} {'GMACs':>8} {'GFLOPs':>8}"]
    for name, c in table.items():
        shape = "x".join(str(s) for s in c.input_size)
        lines.append(f"{name:<{width}} {shape:>10} {c.params_m:>7.2f} M {c.gmacs:>8.3f} {c.gflops:>8.3f}")
    lines.append(f"counted by {COUNTER}: Conv2d/Linear MACs plus one per output of BatchNorm, ReLU and "
                 "pooling; residual additions and dropout not counted; FLOPs = 2 x MACs; batch of 1")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tune_clothes.complexity",
                                     description="Parameters, GMACs and GFLOPs of the models (ptflops).")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--image-size", type=int, default=CLOTH_IMAGE_SIZE,
                        help=f"input side of the resnet18 cloth model and of each --model, pixels (default "
                             f"{CLOTH_IMAGE_SIZE})")
    parser.add_argument("--fashion-image-size", type=int, default=FASHION_IMAGE_SIZE,
                        help=f"input side of the Fashion-MNIST model, pixels (default {FASHION_IMAGE_SIZE})")
    parser.add_argument("--model", action="append", metavar="NAME",
                        help="any network model.name takes (resnet18, fashion_cnn, or a torchvision classification "
                             "network such as mobilenet_v3_small), at --image-size; repeatable")
    parser.add_argument("--classes", type=int, default=CLOTH_CLASSES,
                        help=f"outputs of each --model's classifier (default {CLOTH_CLASSES})")
    args = parser.parse_args(argv)
    table = (networks_table(args.model, args.image_size, args.classes) if args.model
             else reference_table(args.image_size, args.fashion_image_size))
    if args.json:
        print(json.dumps({name: {**asdict(c), "counter": COUNTER} for name, c in table.items()}))
    else:
        print(format_table(table))
    return 0


if __name__ == "__main__":
    exit_quickly(run_command(main))
