"""The cost columns: each configuration gets its own network's cost (a searched network or image size, or the
experiment's own), and the accuracy/compute front holds exactly the configurations no other matches for less or
beats for as much."""
from __future__ import annotations

import pandas as pd

from tune_clothes.analysis.costs import with_costs
from tune_clothes.analysis.report.compute import on_front
from tune_clothes.config import Experiment, ModelConfig, TrainConfig

COSTS = {("resnet18", 64): {"params_m": 11.2, "gmacs": 0.15}, ("resnet18", 128): {"params_m": 11.2, "gmacs": 0.6},
         ("mobilenet_v3_small", 64): {"params_m": 1.5, "gmacs": 0.006}}


def test_each_row_gets_the_cost_of_its_own_network_and_size():
    experiment = Experiment(model=ModelConfig(name="resnet18"), train=TrainConfig(image_size=64))
    board = pd.DataFrame({"name": ["mobilenet_v3_small", "resnet18", None], "config": ["a", "b", "c"],
                          "image_size": [64, 128, 64], "rank": [1, 2, 3]})
    costed = with_costs(board, experiment, COSTS, after="config")
    assert list(costed.columns) == ["name", "config", "params_m", "gmacs", "image_size", "rank"]
    assert costed["gmacs"].tolist() == [0.006, 0.6, 0.15]  # None: the experiment's own network, resnet18
    unsearched = with_costs(pd.DataFrame({"param_lr": [0.1]}), experiment, COSTS, prefix="param_")
    assert unsearched["params_m"].tolist() == [11.2]
    assert with_costs(board, experiment, None) is board  # no costs.json: no columns


def test_the_front_is_what_no_other_configuration_matches_for_less_or_beats_for_as_much():
    board = pd.DataFrame({"val/acc/mean": [0.60, 0.80, 0.70, 0.80], "gmacs": [0.01, 1.0, 2.0, 3.0]})
    assert on_front(board, "val/acc", "max").tolist() == [True, True, False, False]
    assert on_front(board.assign(**{"val/acc/mean": [0.3, 0.2, 0.1, 0.4]}), "val/acc", "min").tolist() == \
        [True, True, True, False]
