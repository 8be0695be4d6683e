"""What a final refit is asked to train, and how it can fail: the contract between `packaging.final_model`
(which decides it) and `tuning.refit` (which runs it as a Ray Tune trial). Plain data in the training layer,
which both import, so neither of the two imports the other."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tune_clothes.config import Experiment
from tune_clothes.data.folds import FoldPlan
from tune_clothes.data.index import DatasetIndex


@dataclass(frozen=True, eq=False)
class RefitJob:
    experiment: Experiment  # the chosen configuration, with the refit's epochs (and StepLR step size)
    index: DatasetIndex
    plan: FoldPlan  # the search's folds: the refit trains on `plan.pool`, never on `plan.holdout`
    monitor: np.ndarray  # pool positions whose per-epoch metrics the refit reports (it also trains on them)
    run_dir: str  # Tune's experiment folder for the refit trial (its checkpoints)
    resume: bool  # continue the refit in `run_dir` from its last checkpoint


class RefitFailed(RuntimeError):
    """The refit trial failed after its retries; its checkpoints are kept for `final --resume`."""
