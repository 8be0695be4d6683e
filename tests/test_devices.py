"""What training does on each device: on CUDA, bf16 autocast, channels_last memory layout and pinned host
memory; on the CPU, none of them (the CPU convolutions of these models are faster without). Each test runs
on the CPU here and on CUDA where there is a GPU (`pytest -m gpu` runs only the CUDA ones)."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from tune_clothes.config.errors import UserError
from tune_clothes.config.loader import experiment_from_dict
from tune_clothes.training.callbacks import load_checkpoint, save_checkpoint
from tune_clothes.training.fit import Callback, Trainer, fit
from tune_clothes.training.models import build_model
from tune_clothes.training.standalone import prepare_fold, resolve_device

HAS_CUDA = torch.cuda.is_available()
CUDA = pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")])
DEVICES = ["cpu", CUDA]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """An experiment and one fold of its synthetic data: 16 px, one epoch of 2 training and 1 validation batches."""
    root = tmp_path_factory.mktemp("devices")
    exp = experiment_from_dict({
        "dataset": {"kind": "synthetic", "root": str(root / "synthetic"), "cache_dir": str(root / "cache"),
                    "synthetic_images_per_class": 8},
        "model": {"name": "fashion_cnn"}, "cv": {"folds": 3},
        "train": {"epochs": 1, "image_size": 16, "batch_size": 16, "augment": True}})
    return exp, prepare_fold(exp, 0)


class Probe(Callback):
    """Records what the model is given and gives back at every forward pass."""

    def __init__(self):
        self.inputs, self.outputs = [], []

    def on_fit_start(self, state):
        def before(_module, args):
            (images,) = args
            self.inputs.append((images.device.type, images.dtype, images.is_contiguous(
                memory_format=torch.channels_last) and not images.is_contiguous()))
        state.model.register_forward_pre_hook(before)
        state.model.register_forward_hook(lambda _module, _args, logits: self.outputs.append(logits.dtype))


@pytest.mark.parametrize("device", DEVICES)
def test_a_fit_uses_the_devices_precision_and_memory_layout(small, tmp_path, device):
    experiment, data = small
    recipe = experiment.recipe
    probe = Probe()
    state = fit(recipe, data, [probe], device=device)
    cuda = device == "cuda"
    batches = -(-len(data.train) // 16) + -(-len(data.val) // 16)  # an epoch of training and validation
    assert probe.inputs == [(device, torch.float32, cuda)] * batches  # channels_last on CUDA only
    assert set(probe.outputs) == {torch.bfloat16 if cuda else torch.float32}  # autocast to bf16 on CUDA only
    weights = list(state.model.parameters())  # kept in float32 under autocast
    assert all(p.device.type == device and p.dtype == torch.float32 for p in weights)
    convolution = next(m for m in state.model.modules() if isinstance(m, torch.nn.Conv2d)).weight
    assert convolution.is_contiguous(memory_format=torch.channels_last) == cuda
    assert len(state.history) == 1 and all(math.isfinite(row["train/loss"]) for row in state.history)
    save_checkpoint(state.checkpoint(), tmp_path / "last.pt")  # a GPU run's checkpoint loads on a CPU
    model = build_model(recipe.model, len(data.class_names))
    model.load_state_dict(load_checkpoint(tmp_path / "last.pt")["model"])
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, state.model.state_dict()[name].cpu()), name


@pytest.mark.parametrize("device", DEVICES)
def test_the_loader_pins_host_memory_for_cuda_only(small, device):
    experiment, data = small
    trainer = Trainer(experiment.recipe, data, device=device)
    cuda = device == "cuda"
    assert {part: loader.pin_memory for part, loader in trainer.loaders.items()} == {"train": cuda, "val": cuda}


def test_auto_picks_cuda_when_there_is_a_gpu_and_cuda_is_refused_without():
    assert resolve_device("auto") == ("cuda" if HAS_CUDA else "cpu") and resolve_device("cpu") == "cpu"
    if HAS_CUDA:
        assert resolve_device("cuda:0") == "cuda:0"
    else:
        with pytest.raises(UserError, match="no CUDA GPU is visible here; use --device cpu"):
            resolve_device("cuda")


@pytest.mark.parametrize("gpus, device", [(0, "cpu"), (0.5, "cuda"), (1, "cuda")])
def test_a_trial_trains_on_cuda_when_tune_gives_it_a_gpu(monkeypatch, gpus, device):
    from ray import tune

    from tune_clothes.tuning import trainable
    resources = SimpleNamespace(required_resources={"CPU": 2.0, "GPU": gpus} if gpus else {"CPU": 2.0})
    context = SimpleNamespace(get_trial_resources=lambda: resources)
    monkeypatch.setattr(tune, "get_context", lambda: context)
    threads = torch.get_num_threads()
    try:
        assert trainable.trial_resources() == (2, device)
    finally:
        torch.set_num_threads(threads)


def test_out_of_gpu_memory_in_a_trial_says_which_settings_to_lower(small):
    from tune_clothes.tuning.faults import Fault, fault_injectors
    from tune_clothes.tuning.trainable import TrialOutOfMemory, explain_out_of_memory
    experiment, data = small
    simulated = fault_injectors((Fault(kind="oom", epoch=0),), {"lr": 0.01}, fold=0)  # what CUDA raises
    with pytest.raises(TrialOutOfMemory) as caught, explain_out_of_memory(experiment):
        fit(experiment.recipe, data, simulated)
    assert str(caught.value).startswith(
        "out of GPU memory with train.batch_size=16, train.image_size=16 and resources.gpus_per_trial=0.0: lower "
        "train.batch_size, or raise resources.gpus_per_trial so fewer trials share a GPU (CUDA out of memory.")
