"""What `final` does: the final model of a search, from choosing its configuration to measuring it, once, on
the locked test set.

1. The configuration: the leaderboard's best, or the one --config names (`analysis.selection`).
2. The model: `refit` trains it on the whole pool (everything but the locked holdout) for the epochs the search
   says (`analysis.refit_epochs`), as a Ray Tune trial that the caller passes in (`tuning.refit.run_refit`);
   `ensemble` takes its fold models at their best checkpoints, no training.
3. model.pt, then model.onnx, kept only when onnxruntime agrees with PyTorch on real pool images.
4. The locked holdout, evaluated once, after training: test_metrics.json. Nothing before this step reads it.
5. model_card.md, then model.json, last: a folder with model.json is complete.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tune_clothes.analysis.refit_epochs import EpochChoice, best_epoch, refit_epochs
from tune_clothes.analysis.selection import Selection, select_configuration
from tune_clothes.config.errors import UserError
from tune_clothes.config.trial_record import checkpoint_file
from tune_clothes.data import storage
from tune_clothes.data.datasets import CHANNELS, load_index
from tune_clothes.data.experiment_folder import FOLDS_JSON, MODEL_JSON, TEST_METRICS_JSON
from tune_clothes.data.folds import FoldPlan, load_fold_plan
from tune_clothes.data.index import DatasetIndex
from tune_clothes.packaging import model_card
from tune_clothes.packaging.bundle import MODEL_PT, ModelBundle, save_bundle
from tune_clothes.packaging.evaluation import evaluate
from tune_clothes.packaging.inference import TorchScorer, model_input
from tune_clothes.packaging.labelled_data import from_index
from tune_clothes.packaging.model_folder import MODEL_CARD
from tune_clothes.packaging.onnx_export import ONNX_FILE, ExportCheck, ExportCheckFailed, export_onnx
from tune_clothes.training.callbacks import load_checkpoint
from tune_clothes.training.refit_job import RefitJob

log = logging.getLogger(__name__)
REFIT_DIR = "refit"  # Tune's folder of the refit trial, inside the model folder
JOB_JSON = "job.json"  # in REFIT_DIR: what the refit was started with, so --resume continues that
CHECK_IMAGES = 64  # real images the ONNX export is checked on
Refit = Callable[[RefitJob], dict[str, Any]]


@dataclass(frozen=True)
class FinalRequest:
    location: str  # the experiment folder
    out: Path  # the model folder
    strategy: str = "refit"  # or "ensemble"
    epochs: int | None = None  # refit: instead of the search's rule
    config_file: str | None = None  # a configuration other than the best
    resume: bool = False  # continue an interrupted refit in `out`


@dataclass(frozen=True)
class FinalModel:
    folder: Path
    info: dict  # what model.json holds
    summary: str  # what to print


def build_final_model(request: FinalRequest, refit: Refit | None = None) -> FinalModel:
    """Build the model folder `request.out`; `refit` runs the refit trial (not needed for an ensemble)."""
    job_file = request.out / REFIT_DIR / JOB_JSON
    _check_out_folder(request, job_file)
    started = json.loads(job_file.read_text()) if request.resume else None
    if started and (request.config_file or request.epochs):
        log.warning("--resume continues the refit as it was started (%s); --config and --epochs are ignored",
                    job_file)
    selection = select_configuration(request.location, None if started else request.config_file,
                                     values=started["configuration"] if started else None)
    index = load_index(selection.experiment.dataset)
    plan = load_fold_plan(storage.join(request.location, FOLDS_JSON), index.fingerprint())
    if request.strategy == "refit":
        members, training = _refit(request, selection, index, plan, refit, started)
    else:
        members, training = _ensemble(selection)
    experiment = selection.experiment
    bundle = ModelBundle(request.strategy, experiment.model.name, index.class_names, experiment.train.image_size,
                         CHANNELS[index.kind], tuple(members))
    request.out.mkdir(parents=True, exist_ok=True)
    save_bundle(bundle, request.out / MODEL_PT)
    check = _export(bundle, request.out / ONNX_FILE, _check_images(index, _monitor(selection, plan), bundle))
    test = _locked_test(bundle, index, plan)  # the first and only time anything reads the holdout
    if test is not None:
        storage.write_text(str(request.out / TEST_METRICS_JSON), json.dumps(test, indent=2))
    info = model_card.model_info(model_card.CardInputs(request.location, selection, bundle, training, check,
                                                       test, plan))
    storage.write_text(str(request.out / MODEL_CARD), model_card.model_card(info))
    storage.write_text(str(request.out / MODEL_JSON), json.dumps(info, indent=2))
    return FinalModel(request.out, info, model_card.summary(info, request.out))


def _check_out_folder(request: FinalRequest, job_file: Path) -> None:
    if (request.out / MODEL_JSON).is_file():
        raise UserError(f"{request.out}: a final model is already there ({MODEL_JSON}); evaluate it with "
                        f"python -m tune_clothes.evaluate, or build another with --out DIR")
    if request.resume and not job_file.is_file():
        raise UserError(f"--resume: no refit was started in {request.out}; run without --resume to start one")
    if not request.resume and (request.out / REFIT_DIR).exists():
        raise UserError(f"{request.out / REFIT_DIR}: an unfinished refit is there: add --resume to continue it, "
                        f"or build the model in another folder with --out DIR")


def _monitor(selection: Selection, plan: FoldPlan) -> np.ndarray:
    """Pool images to watch the refit on and to check the export with: fold 0's validation part."""
    return plan.fold(selection.experiment.cv.split, 0)[1]


def _refit(request: FinalRequest, selection: Selection, index: DatasetIndex, plan: FoldPlan, refit: Refit | None,
           started: dict | None) -> tuple[list, dict]:
    if refit is None:
        raise ValueError("the refit strategy needs a refit runner (tuning.refit.run_refit)")
    choice = EpochChoice.from_json(started["epochs"]) if started else _epoch_choice(selection, plan, request.epochs)
    train = selection.experiment.train
    experiment = dataclasses.replace(selection.experiment, train=dataclasses.replace(
        train, epochs=choice.epochs, step_size=choice.scaled_step_size(train.step_size)))
    run_dir = request.out / REFIT_DIR
    if not started:
        run_dir.mkdir(parents=True, exist_ok=True)
        storage.write_text(str(run_dir / JOB_JSON), json.dumps({"configuration": selection.axes,
                                                                "epochs": choice.to_json()}))
    monitor = _monitor(selection, plan)
    state = refit(RefitJob(experiment, index, plan, monitor, str(run_dir), request.resume))
    return [state["model"]], {"strategy": "refit", "epochs": choice, "experiment": experiment,
                              "history": state["history"], "monitor_images": len(monitor),
                              "pool_images": len(plan.pool)}


def _epoch_choice(selection: Selection, plan: FoldPlan, override: int | None) -> EpochChoice:
    mode, split = selection.experiment.search.mode, selection.experiment.cv.split
    best = [best_epoch(run.history, mode) for run in selection.runs]
    sizes = [len(plan.fold(split, run.fold.j)[0]) for run in selection.runs]
    return refit_epochs(best, sizes, len(plan.pool), selection.experiment.train.batch_size, override)


def _ensemble(selection: Selection) -> tuple[list, dict]:
    """Each finished fold model at its best kept checkpoint (by its own metric; the earliest when tied)."""
    metric, mode = selection.experiment.search.metric, selection.experiment.search.mode
    members, chosen = [], []
    for run in selection.runs:
        states = [load_checkpoint(Path(d) / checkpoint_file(run.fold.j)) for d in run.checkpoints]
        states = [s for s in states if np.isfinite(s["history"][-1][metric])]
        if not states:
            raise UserError(f"{run.trial_dir}: no checkpoint with a finite {metric} is left in this fold trial")
        sign = 1 if mode == "max" else -1
        state = max(states, key=lambda s: (sign * s["history"][-1][metric], -s["epoch"]))
        members.append(state["model"])
        chosen.append({"trial": Path(run.trial_dir).name, **run.fold.columns(), "epoch": state["epoch"],
                       metric: state["history"][-1][metric]})
    return members, {"strategy": "ensemble", "members": chosen}


def _export(bundle: ModelBundle, path: Path, images) -> ExportCheck | str:
    """model.onnx, checked against PyTorch; or, for a network torch.onnx cannot export, why there is none: the
    model is still whole in model.pt. An export that disagrees with PyTorch still fails (ExportCheckFailed)."""
    try:
        return export_onnx(bundle, path, images)
    except ExportCheckFailed:
        raise
    except Exception as err:  # noqa: BLE001 - the exporter raises many types for what it cannot convert
        reason = f"torch.onnx cannot export {bundle.model_name}: {(str(err).strip().splitlines() or [''])[0]}"
        log.warning("%s not written (%s); %s serves predict and evaluate with the torch backend", ONNX_FILE, reason,
                    MODEL_PT)
        return reason


def _check_images(index: DatasetIndex, positions: np.ndarray, bundle: ModelBundle):
    """Up to CHECK_IMAGES real pool images as model input, read as evaluation reads them."""
    pixels, failed = from_index(index, positions[:CHECK_IMAGES], bundle.image_size, "").read(0, CHECK_IMAGES)
    keep = [i for i in range(len(pixels)) if i not in failed]
    return model_input(pixels[keep], bundle.channels)


def _locked_test(bundle: ModelBundle, index: DatasetIndex, plan: FoldPlan) -> dict | None:
    if not len(plan.holdout):
        return None
    holdout = from_index(index, plan.holdout, bundle.image_size,
                         f"the locked holdout ({len(plan.holdout)} images that no search or training saw)")
    return evaluate(TorchScorer(bundle), holdout, bundle.class_names, bundle.channels)
