"""The final model as a folder anyone can use: building it, its files, and inference with it. Imports no Ray.

Entry points: `final_model.build_final_model` (what `final` runs: a configuration of a search refitted on the
pool or its fold models as an ensemble, exported, checked and measured once on the locked test set);
`bundle.ModelBundle` with `save_bundle`/`load_bundle` (model.pt); `onnx_export.export_onnx` and
`onnx_export.OnnxScorer` (model.onnx); `model_folder.read_model_folder`; `inference` (the one preprocessing
path and batch scoring, shared by `final`, `evaluate` and `predict`); `labelled_data.open_labelled_data` and
`evaluation.evaluate` (`evaluate`); `prediction.predict_paths` (`predict`); `bootstrap_metrics.classification_report`
(metrics with stratified-bootstrap intervals); `model_card` (model_card.md and model.json).
"""
