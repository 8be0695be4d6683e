"""Cross-validated curves in TensorBoard: one run per configuration, `cv_mean/<label>`, holding per epoch the
mean over its finished folds of every metric under the metric's own name (`val/acc`), and the spread over
those folds (`val/acc/fold_min`, `val/acc/fold_max`, `val/acc/fold_std`); the custom-scalars tab draws each
metric's mean with its min-max band. Written from the files on disk (no Ray), so it runs during a search
(`report`) and at its end (`search`); each run is rewritten whole, so running it again adds no steps.

Finished folds are those that trained every epoch, and those ASHA stopped (its rungs compare configurations
at the same epoch); a fold still training or failed is left out.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from tune_clothes.analysis.leaderboard import config_labels
from tune_clothes.analysis.report.inputs import epoch_history
from tune_clothes.analysis.results import load_trials, search_axes
from tune_clothes.config.labels import path_safe
from tune_clothes.config.metric_names import EPOCH_SCALARS
from tune_clothes.config.trial_record import ENDED_EARLY, FOLD_INDEX, TrialStatus
from tune_clothes.data import storage
from tune_clothes.data.experiment_folder import read_experiment

CV_RUNS = "cv_mean"  # the folder of the per-configuration runs, in the experiment folder
SPREAD = ("fold_min", "fold_max", "fold_std")  # `<metric>/<spread>`: over the folds in the epoch's mean
EVENTS_PREFIX = "events.out.tfevents."


def write_configuration_curves(location: str) -> list[str]:
    """(Re)write the per-configuration runs of the experiment at `location`; returns their run names."""
    curves = configuration_curves(location)
    names = []
    with tempfile.TemporaryDirectory() as scratch:
        for label, frame in curves.items():
            name = path_safe(label.replace(", ", ","))
            names.append(f"{CV_RUNS}/{name}")
            _replace_run(storage.join(location, CV_RUNS, name), _events(Path(scratch) / name, frame))
        if curves:
            _replace_run(storage.join(location, CV_RUNS), _layout_events(Path(scratch) / "layout"))
    return names


def configuration_curves(location: str) -> dict[str, pd.DataFrame]:
    """Configuration label -> one row per epoch (1 = the first; the index): `folds` (how many are in the
    mean), and `<metric>` plus `<metric>/<spread>` for every per-epoch metric."""
    experiment = read_experiment(location)
    trials = load_trials(location, experiment)
    trials = trials.assign(config=config_labels(trials, search_axes(experiment)))
    done = trials[trials["status"].isin([TrialStatus.FINISHED.value, *ENDED_EARLY])]
    history = epoch_history(location, done)
    kept = history.merge(done[["trial", FOLD_INDEX]])
    return {label: _epoch_statistics(group) for label, group in kept.groupby("config", sort=True)}


def _epoch_statistics(history: pd.DataFrame) -> pd.DataFrame:
    by_epoch = history.dropna(subset=["epoch"]).groupby("epoch")
    columns = {"folds": by_epoch[FOLD_INDEX].nunique()}
    for name in EPOCH_SCALARS:
        values = by_epoch[name]
        columns.update({name: values.mean(), f"{name}/fold_min": values.min(), f"{name}/fold_max": values.max(),
                        f"{name}/fold_std": values.std(ddof=1)})
    return pd.DataFrame(columns).rename_axis("epoch")


def _events(folder: Path, frame: pd.DataFrame) -> Path:
    # tensorboard's writer, loaded only to write
    from torch.utils.tensorboard import SummaryWriter
    writer = SummaryWriter(str(folder), purge_step=1)  # a reader of an older file drops its steps 1...
    for epoch, row in frame.iterrows():
        for tag, value in row.drop("folds").dropna().items():
            writer.add_scalar(tag, float(value), global_step=int(epoch))
    writer.close()
    return folder


def _layout_events(folder: Path) -> Path:
    """The custom-scalars layout: per metric, the configurations' fold means with their min-max band."""
    from torch.utils.tensorboard import SummaryWriter
    charts = {name: ["Margin", [name, f"{name}/fold_min", f"{name}/fold_max"]] for name in EPOCH_SCALARS}
    writer = SummaryWriter(str(folder))
    writer.add_custom_scalars({"cross-validated: fold mean, band from the lowest to the highest fold": charts})
    writer.close()
    return folder


def _replace_run(run: str, written: Path) -> None:
    """Put the freshly written event file into `run`, then delete the run's older event files."""
    (new,) = written.glob(f"{EVENTS_PREFIX}*")
    storage.write_bytes(storage.join(run, new.name), new.read_bytes())
    for old in storage.list_files(run):
        if old.startswith(EVENTS_PREFIX) and old != new.name:
            storage.delete(storage.join(run, old))
