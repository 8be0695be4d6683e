"""model.onnx: the network exported with `torch.onnx` (dynamo, a dynamic batch axis), described by its
metadata, and checked against PyTorch with onnxruntime on real images before it is kept.

The metadata carry what a user outside Python needs (class names in order, input side, normalisation) and
the sha256 of model.pt's weights: `OnnxScorer` refuses a model.onnx that does not belong to the model.pt
beside it.
"""
from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tune_clothes.config.errors import UserError
from tune_clothes.data.storage import atomic_path
from tune_clothes.packaging.bundle import MODEL_PT, ModelBundle

log = logging.getLogger(__name__)
ONNX_FILE = "model.onnx"
INPUT, OUTPUT = "images", "scores"
MAX_SCORE_DIFF = 1e-3  # largest |ONNX - PyTorch| score difference accepted, logit units
MAX_BATCH = 4096  # the dynamic batch axis' upper bound
PREPROCESSING = ("decode to 8-bit RGB (a grey model: grey, repeated to 3 channels), resize to {side}x{side} "
                 "(bilinear), then per channel (pixel / 255 - mean) / std; input float32 N x 3 x {side} x {side}")


class ExportCheckFailed(RuntimeError):
    """model.onnx does not compute what model.pt computes: it is not kept."""


@dataclass(frozen=True)
class ExportCheck:
    images: int  # real images both backends scored
    max_abs_diff: float  # largest |ONNX - PyTorch| score, logit units
    top1_agreement: float  # fraction of images with the same top class

    def to_json(self) -> dict:
        return {"images": self.images, "max_abs_score_diff": self.max_abs_diff,
                "top1_agreement": self.top1_agreement, "limit_max_abs_score_diff": MAX_SCORE_DIFF}


def onnx_metadata(bundle: ModelBundle) -> dict[str, str]:
    text = {key: value if isinstance(value, str) else json.dumps(value)
            for key, value in bundle.description().items()}
    text["preprocessing"] = PREPROCESSING.format(side=bundle.image_size)
    text["output"] = f"{OUTPUT}: N x {len(bundle.class_names)}; softmax gives the probabilities of class_names"
    return text


def export_onnx(bundle: ModelBundle, path: Path, images: torch.Tensor) -> ExportCheck:
    """Export to `path` and check it on `images` (normalised model input, real images); the file is written
    only when ONNX and PyTorch agree (top-1 on every image, scores within MAX_SCORE_DIFF)."""
    for name in ("onnxscript", "onnx_ir"):  # their INFO lines narrate the exporter's own passes
        logging.getLogger(name).setLevel(logging.WARNING)
    network = bundle.network()
    traced = images[:2] if len(images) >= 2 else images.repeat(2, 1, 1, 1)  # size 1 would be specialised
    with warnings.catch_warnings(), atomic_path(path) as tmp:
        warnings.simplefilter("ignore")  # the exporter's deprecation chatter is not the user's to act on
        program = torch.onnx.export(network, (traced,), dynamo=True, verbose=False, input_names=[INPUT],
                                    output_names=[OUTPUT],
                                    dynamic_shapes={INPUT: {0: torch.export.Dim("batch", min=1, max=MAX_BATCH)}})
        program.model.metadata_props.update(onnx_metadata(bundle))
        program.save(str(tmp))
        check = _check(network, OnnxScorer(tmp, bundle), images)
    log.info("model.onnx: max |score diff| %.2g, top-1 agreement %.1f%% on %d images", check.max_abs_diff,
             100 * check.top1_agreement, check.images)
    return check


def _check(network: torch.nn.Module, scorer: "OnnxScorer", images: torch.Tensor) -> ExportCheck:
    """Both backends on the images as one batch and on the first alone (the batch axis must be dynamic)."""
    with torch.inference_mode():
        expected = network(images).numpy()
    got = np.concatenate([scorer.scores(images[:1]), scorer.scores(images[1:])]) if len(images) > 1 \
        else scorer.scores(images)
    check = ExportCheck(len(images), float(np.abs(got - expected).max()),
                        float(np.mean(got.argmax(axis=1) == expected.argmax(axis=1))))
    if check.top1_agreement < 1.0 or not check.max_abs_diff <= MAX_SCORE_DIFF:
        raise ExportCheckFailed(
            f"model.onnx disagrees with PyTorch on {check.images} real images: max |score difference| "
            f"{check.max_abs_diff:.3g} (limit {MAX_SCORE_DIFF:g}), top-1 agreement {check.top1_agreement:.1%} "
            f"(must be 100%); the ONNX file was not kept (model.pt is fine: use --backend torch)")
    return check


class OnnxScorer:
    """model.onnx with onnxruntime (CUDA when onnxruntime has it); refused unless its metadata match
    `bundle` (the model.pt beside it), weights checksum included."""

    def __init__(self, path: Path, bundle: ModelBundle):
        import onnxruntime
        available = onnxruntime.get_available_providers()
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=providers)
        except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph/NoSuchFile types
            raise UserError(f"{path}: not a readable ONNX model ({str(err).splitlines()[0]})") from None
        found = self.session.get_modelmeta().custom_metadata_map
        expected = onnx_metadata(bundle)
        wrong = [key for key in expected if found.get(key) != expected[key]]
        if wrong:
            key = wrong[0]
            raise UserError(f"{path}: refused: its metadata do not match the {MODEL_PT} beside it ({key}: "
                            f"{_short(found.get(key))} in the ONNX file, {_short(expected[key])} in {MODEL_PT}); "
                            f"the two files come from different models: copy both from the same model folder, "
                            f"or use --backend torch")

    def scores(self, batch: torch.Tensor) -> np.ndarray:
        return self.session.run([OUTPUT], {INPUT: batch.numpy()})[0]


def _short(value: str | None) -> str:
    if value is None:
        return "(missing)"
    return repr(value if len(value) <= 40 else value[:37] + "...")
