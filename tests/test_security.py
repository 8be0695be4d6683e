"""Nothing a user hands us can run code: YAML builds no objects, checkpoints hold no pickled objects."""
from __future__ import annotations

import pickle

import pytest
import torch

from tune_clothes.config.errors import ConfigError
from tune_clothes.config.loader import load_experiment
from tune_clothes.training.callbacks import load_checkpoint


class Payload:
    ran = False

    def __reduce__(self):
        return (setattr, (Payload, "ran", True))


def test_yaml_python_tags_are_refused(tmp_path):
    space = tmp_path / "evil.yaml"
    space.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="evil.yaml.*not valid YAML"):
        load_experiment(space)


def test_a_checkpoint_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"epoch": 1, "payload": Payload()}, path)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(path)
    assert not Payload.ran
