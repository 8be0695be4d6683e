"""`final` builds a search's final model; `load_model` opens a model folder; a `Model` predicts and evaluates,
with PyTorch or onnxruntime, exactly as the `predict` and `evaluate` commands do."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Union

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from tune_clothes.api.progress import progress_shown
from tune_clothes.config import DatasetConfig
from tune_clothes.config.errors import UserError
from tune_clothes.data.decode import image_pixels
from tune_clothes.data.experiment_folder import FINAL_DIR, TEST_METRICS_JSON
from tune_clothes.packaging import model_card
from tune_clothes.packaging.evaluation import evaluate, trained_on_note
from tune_clothes.packaging.final_model import FinalRequest, build_final_model
from tune_clothes.packaging.inference import Scorer
from tune_clothes.packaging.labelled_data import open_labelled_data
from tune_clothes.packaging.model_folder import BACKENDS, ModelFolder, read_model_folder
from tune_clothes.packaging.prediction import Prediction, find_images, predict_paths, predict_pixels

#: What `Model.predict` takes: an image file or a folder of them, a PIL image, a uint8 array, or a list of these.
ImageInput = Union[str, os.PathLike, Image.Image, np.ndarray]
DEFAULT_TOPK = 3


@dataclass(frozen=True)
class Model:
    """A final model's folder (model.pt, model.onnx, model.json, model_card.md). Public: every attribute and
    method below."""

    folder: ModelFolder
    _scorers: dict[str, Scorer] = field(default_factory=dict, repr=False, compare=False)

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.folder.bundle.class_names)

    @property
    def info(self) -> dict:
        """model.json: how the model was made and what it scored."""
        return self.folder.info

    @property
    def test_metrics(self) -> dict | None:
        """The locked test set's metrics (test_metrics.json); None when the experiment had no holdout."""
        path = self.path / TEST_METRICS_JSON
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    @property
    def summary(self) -> str:
        """What `final` prints: the configuration, the CV estimate beside the test result, the files."""
        return model_card.summary(self.info, self.path) if self.info else f"model folder {self.path}"

    def predict(self, images: ImageInput | Iterable[ImageInput], topk: int | None = None,
                backend: str = "torch") -> pd.DataFrame:
        """Top-k classes of each image, most probable first. A folder gives a row per image file in it
        (recursively); a path that is not a usable image gets its `error` and the others go on. A single array
        is one image (H x W grey, or H x W x 1, 3 or 4 channels, uint8): pass several as a list.

        Columns: `input` (the position of the given image or path), `path` (None for an in-memory image),
        `label_1`, `prob_1` ... `label_K`, `prob_K`, `error`."""
        classes = len(self.class_names)
        topk = min(DEFAULT_TOPK, classes) if topk is None else topk
        if not 1 <= topk <= classes:
            raise UserError(f"topk={topk}: must be between 1 and the model's {classes} classes")
        given = [images] if isinstance(images, (str, os.PathLike, Image.Image, np.ndarray)) else list(images)
        files = [(i, entry) for i, item in enumerate(given) if isinstance(item, (str, os.PathLike))
                 for entry in find_images([os.path.expanduser(item)])]
        arrays = [(i, (f"<image {i}>", self._pixels(item, i))) for i, item in enumerate(given)
                  if not isinstance(item, (str, os.PathLike))]
        scorer, bundle = self._scorer(backend), self.folder.bundle
        rows = [(i, prediction) for (i, _), prediction in
                zip(files, predict_paths(scorer, bundle, [entry for _, entry in files], topk))]
        rows += [(i, prediction) for (i, _), prediction in
                 zip(arrays, predict_pixels(scorer, bundle, [image for _, image in arrays], topk))]
        rows.sort(key=lambda row: row[0])  # stable: a folder's files stay in their order
        in_memory = {i for i, _ in arrays}
        return pd.DataFrame([_row(i, prediction, topk, i in in_memory) for i, prediction in rows],
                            columns=["input", "path", *_top_columns(topk), "error"])

    def evaluate(self, data_root: str | os.PathLike, backend: str = "torch", split: str = "test",
                 cache_dir: str | os.PathLike | None = None) -> dict[str, Any]:
        """Accuracy and macro precision/recall/F1 with 95% stratified-bootstrap intervals, and per-class results,
        on labelled data (a Clothing Dataset folder, an image folder, a CSV of paths and labels, a Fashion-MNIST
        IDX folder or CSV file); what `evaluate --json` prints. Rows the data cannot give (missing or corrupt
        files, unknown classes) are left out and reported. `split`: which Fashion-MNIST IDX files to read, or
        an image folder's test/ (or train/ and val/) when it is split by folder."""
        if split not in ("test", "train"):
            raise UserError(f"split={split!r}: must be 'test' or 'train'")
        bundle = self.folder.bundle
        cache = Path(cache_dir if cache_dir is not None else DatasetConfig.cache_dir).expanduser()
        columns = (self.info.get("data") or {}).get("columns") or ("path", "label")
        labelled = open_labelled_data(str(data_root), bundle.class_names, bundle.image_size, cache, split, columns)
        scorer = self._scorer(backend)
        with tqdm(total=len(labelled), unit="img", file=sys.stderr, disable=None, leave=False) as bar:
            report = evaluate(scorer, labelled, bundle.class_names, bundle.channels, progress=bar.update)
        note = trained_on_note(self.info, str(data_root), split)
        return {**report, "note": note} if note else report

    def _scorer(self, backend: str) -> Scorer:
        if backend not in BACKENDS:
            raise UserError(f"backend={backend!r}: must be one of {', '.join(BACKENDS)}")
        if backend not in self._scorers:
            self._scorers[backend] = self.folder.scorer(backend)
        return self._scorers[backend]

    def _pixels(self, item: Any, position: int) -> np.ndarray:
        side = self.folder.bundle.image_size
        if isinstance(item, Image.Image):
            return image_pixels(item, side)
        if not isinstance(item, np.ndarray):
            raise UserError(f"image {position}: a {type(item).__name__}; pass a path, a PIL image or a uint8 array")
        if item.dtype != np.uint8 or not (item.ndim == 2 or (item.ndim == 3 and item.shape[2] in (1, 3, 4))):
            raise UserError(f"image {position}: an array of {item.dtype} {item.shape}; an image is uint8 H x W or "
                            f"H x W x 1, 3 or 4 (pass several images as a list; (x * 255).astype(np.uint8) "
                            f"converts floats in [0, 1])")
        return image_pixels(Image.fromarray(item[..., 0] if item.ndim == 3 and item.shape[2] == 1 else item), side)


def _top_columns(topk: int) -> list[str]:
    return [f"{kind}_{k}" for k in range(1, topk + 1) for kind in ("label", "prob")]


def _row(position: int, prediction: Prediction, topk: int, in_memory: bool) -> list[Any]:
    top = []
    for k in range(topk):
        found = k < len(prediction.classes)
        top += [prediction.classes[k], prediction.probabilities[k]] if found else [None, np.nan]
    return [position, None if in_memory else prediction.path, *top, prediction.error or None]


def load_model(path: str | os.PathLike) -> Model:
    """The model folder that `final` wrote (EXPERIMENT_DIR/final unless it was given `out`)."""
    return Model(read_model_folder(path))


def final(results: Any, *, strategy: str = "refit", epochs: int | None = None, config: str | None = None,
          out: str | os.PathLike | None = None, resume: bool = False, address: str | None = None,
          num_cpus: int | None = None, verbose: bool = False) -> Model:
    """The final model of a search (`SearchResults`, or its folder), as the `final` command builds it: `refit` on
    the whole pool for the epochs the search says (`epochs` overrides), or the fold models as an `ensemble`;
    exported to ONNX and measured once on the locked test set. `config`: a one-configuration YAML naming another
    configuration than the best. `out`: the model folder (default: the experiment's `final`, which report.html
    then shows). Raises `SearchInterrupted` when Ctrl-C stopped the refit (`resume=True` continues it),
    `RefitFailed` or `ExportCheckFailed` when the model could not be built."""
    request = final_request(str(getattr(results, "location", results)), strategy, epochs, config, out, resume)
    return build_final(request, address, num_cpus, verbose)[0]


def final_request(location: str, strategy: str, epochs: int | None, config: str | None,
                  out: str | os.PathLike | None, resume: bool) -> FinalRequest:
    """What to build, checked: the same rules and messages for the command and for Python."""
    if "://" in location:
        raise UserError(f"{location}: final reads a local experiment folder; copy it here first (e.g. aws s3 sync "
                        f"URI DIR)")
    if strategy not in ("refit", "ensemble"):
        raise UserError(f"strategy {strategy!r}: must be refit (train on the whole pool) or ensemble (average the "
                        f"fold models)")
    if strategy == "ensemble" and (epochs is not None or resume):
        raise UserError("epochs and resume apply to the refit strategy; an ensemble trains nothing")
    if epochs is not None and epochs < 1:
        raise UserError(f"epochs {epochs}: must be at least 1")
    location = os.path.abspath(os.path.expanduser(location))
    folder = Path(out).expanduser().absolute() if out is not None else Path(location) / FINAL_DIR
    return FinalRequest(location, folder, strategy, epochs, config, resume)


def build_final(request: FinalRequest, address: str | None = None, num_cpus: int | None = None,
                verbose: bool = False) -> tuple[Model, str | None]:
    """Build the model folder (a refit runs on the `address` cluster, else a local Ray of `num_cpus`), then
    rewrite report.html when the folder is the one it shows; returns the model and the report written (None
    when it was not)."""
    def refit_on_ray(job):  # Ray is imported only when a refit runs
        from tune_clothes.tuning.refit import run_refit
        from tune_clothes.tuning.tuner import RayOptions
        return run_refit(job, RayOptions(address=address, num_cpus=num_cpus, verbose=verbose))
    with progress_shown():
        built = build_final_model(request, refit_on_ray)
        report = None
        if request.out == Path(request.location) / FINAL_DIR:
            from tune_clothes.analysis.report.page import write_report_after  # matplotlib: only when needed
            report = write_report_after(request.location, "the model folder")
    return Model(read_model_folder(built.folder)), report
