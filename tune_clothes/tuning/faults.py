"""Failures injected into real trials, for the fault-tolerance tests: a crash mid-epoch (an exception of the
training code), a killed trial process, a simulated CUDA out-of-memory error, or a hold (the trial waits until
a file exists, so a test can act while it is surely mid-training). Described in the `TUNE_CLOTHES_FAULTS` environment variable of the driver, e.g.

    [{"kind": "crash", "epoch": 1, "batch": 2, "fold": 0, "axes": {"lr": 0.01}, "once_dir": "/tmp/faults"}]
    [{"kind": "hold", "epoch": 2, "release_file": "/tmp/go", "once_dir": "/tmp/held"}]

`once_dir` makes a fault fire once per trial (a marker file remembers it, and tells a test which trials it
fired in), so the retry succeeds; without it the fault fires on every attempt, and the trial exhausts its
retries.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from tune_clothes.config.errors import ConfigError
from tune_clothes.config.trial_record import configuration_of
from tune_clothes.training.fit import Callback, TrainingState

ENV_VAR = "TUNE_CLOTHES_FAULTS"
KINDS = ("crash", "kill", "oom", "hold")
HOLD_LIMIT_S = 600.0  # a hold never released ends as a crash after this many seconds


class InjectedCrash(RuntimeError):
    """The crash a test asked for."""


@dataclass(frozen=True)
class Fault:
    kind: str  # one of KINDS
    epoch: int  # fires during this epoch (0-based) ...
    batch: int = 0  # ... after this training batch
    fold: int | None = None  # None: every fold
    axes: Mapping[str, Any] = field(default_factory=dict)  # only trials with these axis values
    once_dir: str | None = None
    release_file: str | None = None  # hold: the trial goes on once this file exists


def faults_from_env() -> tuple[Fault, ...]:
    text = os.environ.get(ENV_VAR, "")
    if not text:
        return ()
    try:
        faults = tuple(Fault(**spec) for spec in json.loads(text))
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{ENV_VAR}={text!r}: not a JSON list of faults ({err})") from None
    for fault in faults:
        if fault.kind not in KINDS:
            raise ConfigError(f"{ENV_VAR}: kind={fault.kind!r}: must be one of {KINDS}")
        if (fault.kind == "hold") != (fault.release_file is not None):
            raise ConfigError(f"{ENV_VAR}: a hold, and only a hold, needs a release_file: {fault}")
    return faults


def fault_injectors(faults: tuple[Fault, ...], params: Mapping[str, Any], fold: int) -> list[Callback]:
    """Callbacks for the faults that apply to this trial's parameters and fold."""
    return [FaultInjector(f, _trial_key(params, fold)) for f in faults
            if (f.fold is None or f.fold == fold) and all(params.get(k) == v for k, v in f.axes.items())]


def _trial_key(params: Mapping[str, Any], fold: int) -> str:
    return "_".join(f"{k}={v}" for k, v in sorted(configuration_of(params).items())) + f"_fold{fold}"


class FaultInjector(Callback):
    def __init__(self, fault: Fault, trial_key: str):
        self.fault, self.trial_key = fault, trial_key

    def on_train_batch_end(self, batch: int, state: TrainingState) -> None:
        fault = self.fault
        if state.epoch + 1 != fault.epoch or batch != fault.batch:
            return
        if fault.once_dir is not None:
            marker = Path(fault.once_dir) / f"{self.trial_key}_epoch{fault.epoch}"
            if marker.exists():
                return
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        if fault.kind == "oom":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        if fault.kind == "kill":  # as the kernel's OOM killer or a lost node would end it: no exception at all
            os._exit(9)
        if fault.kind == "hold":
            _wait_for(Path(fault.release_file), f"held at epoch {fault.epoch} ({self.trial_key})")
            return
        raise InjectedCrash(f"injected crash at epoch {fault.epoch}, batch {fault.batch} ({self.trial_key})")


def _wait_for(release: Path, what: str) -> None:
    deadline = time.monotonic() + HOLD_LIMIT_S
    while not release.exists():
        if time.monotonic() > deadline:
            raise InjectedCrash(f"{what}: {release} did not appear within {HOLD_LIMIT_S:.0f} s")
        time.sleep(0.05)
