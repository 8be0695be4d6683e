"""TensorBoard in the project's language, written by the driver in place of Ray's TensorBoard logger.

Each trial's run (its folder, named by `SearchPlan.trial_dirname`) holds its training curves under the
project's metric names (`train/loss`, `val/acc`, ..., `lr`; the fold mean for a trial that trains every fold),
one point per epoch (step 1 = the first epoch), and nothing of Ray's bookkeeping. When the trial ends (all its
epochs, or stopped by ASHA) its HPARAMS entry is the configuration: the search axes under their own names plus
the settings that define it (`model.name`, `train.image_size`, `train.epochs`, ...); the fold is in the run's
name, not a hyperparameter; the metrics are its final validation metrics. Tune adds its own logger only when
no `TBXLoggerCallback` is given, so this subclass replaces it and leaves Tune's CSV and JSON files alone.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

from ray.tune.logger import TBXLoggerCallback

from tune_clothes.config import Experiment
from tune_clothes.config import metric_names as M
from tune_clothes.config.labels import plain
from tune_clothes.config.trial_record import EPOCHS_DONE, configuration_of

SCALARS = (*M.EPOCH_SCALARS, M.LR)  # what a trial's run shows, in this order
FINAL_METRICS = tuple(name for name in M.EPOCH_SCALARS if name.startswith("val/"))  # HPARAMS' metrics
FLUSH_S = 30  # seconds between writes to the event file


class ProjectTensorBoard(TBXLoggerCallback):
    def __init__(self, experiment: Experiment):
        # Not TBXLoggerCallback.__init__: it loads tensorboardX; the writer here is torch's (tensorboard).
        self.experiment = experiment
        self._writers: dict[Any, Any] = {}  # trial -> SummaryWriter
        self._last: dict[Any, dict[str, float]] = {}  # trial -> its last epoch's scalars

    def log_trial_start(self, trial) -> None:
        # the driver's only use of tensorboard: loaded when a trial starts
        from torch.utils.tensorboard import SummaryWriter
        if trial in self._writers:
            self._writers[trial].close()
        trial.init_local_path()
        self._writers[trial] = SummaryWriter(trial.local_path, flush_secs=FLUSH_S)
        self._last.setdefault(trial, {})

    def log_trial_result(self, iteration: int, trial, result: dict) -> None:
        if trial not in self._writers:
            self.log_trial_start(trial)
        epoch = result.get(EPOCHS_DONE)
        if epoch is None:
            return
        scalars = {name: float(result[name]) for name in SCALARS if _is_number(result.get(name))}
        for name, value in scalars.items():
            self._writers[trial].add_scalar(name, value, global_step=int(epoch))
        self._writers[trial].flush()
        self._last[trial] = scalars

    def log_trial_end(self, trial, failed: bool = False) -> None:
        writer = self._writers.pop(trial, None)
        if writer is None:
            return
        last = self._last.pop(trial, {})
        if not failed and last:  # a failed attempt is retried, or the trial has no final metrics
            from torch.utils.tensorboard.summary import hparams
            configuration = configuration_of(trial.config)
            metrics = {name: last[name] for name in FINAL_METRICS if name in last}
            for summary in hparams(configuration_hparams(self.experiment, configuration), metrics):
                writer.file_writer.add_summary(summary)
        writer.close()


def configuration_hparams(experiment: Experiment, axes: dict[str, Any]) -> dict[str, Any]:
    """The configuration as HPARAMS shows it: the search axes under their own names, then every setting of the
    model and training (and of augmentation when it is on) as `section.field`, values as TensorBoard takes them."""
    configured = experiment.with_axes(axes)
    settings: dict[str, Any] = {axis: value for axis, value in axes.items()}
    sections = ["model", "train"] + (["augment"] if configured.train.augment else [])
    for section in sections:
        for name, value in dataclasses.asdict(getattr(configured, section)).items():
            if name not in axes and f"{section}.{name}" != "train.num_workers":  # workers: speed, not the model
                settings[f"{section}.{name}"] = value
    return {name: _hparam_value(value) for name, value in settings.items()}


def _hparam_value(value: Any) -> int | float | str:
    """Numbers as numbers; anything else as text (HPARAMS would show a bool as 0.0000 or 1.0000)."""
    value = plain(value)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
