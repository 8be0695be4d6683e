"""A final model's folder, as `final` writes it and `evaluate` and `predict` read it:

- `model.pt`: the weights and everything that rebuilds the network (`bundle`);
- `model.onnx`: the same network for onnxruntime, tied to model.pt by its metadata (`onnx_export`);
- `model.json` and `model_card.md`: how it was made and how good it is (`model_card`);
- `test_metrics.json`: the locked test set's metrics, when the experiment had one.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tune_clothes.config.errors import UserError
from tune_clothes.data.experiment_folder import MODEL_JSON
from tune_clothes.packaging.bundle import MODEL_PT, ModelBundle, load_bundle
from tune_clothes.packaging.inference import Scorer, TorchScorer
from tune_clothes.packaging.onnx_export import ONNX_FILE, OnnxScorer

MODEL_CARD = "model_card.md"
BACKENDS = ("torch", "onnx")


@dataclass(frozen=True)
class ModelFolder:
    path: Path
    bundle: ModelBundle
    info: dict  # model.json: how it was made ({} when the folder has none)

    def scorer(self, backend: str = "torch", device: str | None = None) -> Scorer:
        """PyTorch (on CUDA when there is a GPU) or onnxruntime."""
        if backend == "torch":
            return TorchScorer(self.bundle, device)
        onnx = self.path / ONNX_FILE
        if not onnx.is_file():
            raise UserError(f"{onnx}: no such file; this model folder has no ONNX model: use --backend torch")
        return OnnxScorer(onnx, self.bundle)


def read_model_folder(path: str | Path) -> ModelFolder:
    path = Path(path).expanduser()
    if not path.is_dir():
        raise UserError(f"{path}: no such folder; pass the model folder that python -m tune_clothes.final wrote "
                        f"(EXPERIMENT_DIR/final unless it was given --out)")
    if not (path / MODEL_PT).is_file():
        raise UserError(f"{path}: no {MODEL_PT} here; pass the model folder that python -m tune_clothes.final "
                        f"wrote (it holds {MODEL_PT}, {ONNX_FILE}, {MODEL_CARD})")
    info_file = path / MODEL_JSON
    return ModelFolder(path, load_bundle(path / MODEL_PT), json.loads(info_file.read_text()) if info_file.is_file()
                       else {})
