"""Section 8, the final model, when `python -m tune_clothes.final` has built one in the experiment's `final/`
folder: how it was made, its locked-test result beside the cross-validation estimate, and the test
confusion matrix. Read from final/model.json and final/test_metrics.json (written by `packaging`)."""
from __future__ import annotations

import json

import numpy as np

from tune_clothes.analysis.report.blocks import Cell, Facts, Figure, Section, Table, Text, number
from tune_clothes.analysis.report.errors import confusion_plot
from tune_clothes.analysis.report.inputs import ReportInputs
from tune_clothes.data import storage
from tune_clothes.data.experiment_folder import FINAL_DIR, MODEL_JSON, TEST_METRICS_JSON

TITLE = "The final model"
SUMMARY = ("acc", "precision_macro", "recall_macro", "f1_macro")


def model_section(inputs: ReportInputs) -> Section:
    folder = storage.join(inputs.location, FINAL_DIR)
    info_file = storage.join(folder, MODEL_JSON)
    if not storage.exists(info_file):
        building = storage.exists(folder)
        return Section("final", TITLE, missing=(
            f"{folder} has no {MODEL_JSON}: a final model is being built there, or its build was interrupted "
            f"(python -m tune_clothes.final {inputs.location} --resume continues it)." if building else
            f"No final model yet: python -m tune_clothes.final {inputs.location} builds one from the best "
            f"configuration (a model written to another folder is not shown here)."))
    info = json.loads(storage.read_text(info_file))
    blocks = [Facts(_how_it_was_made(info, folder)), _estimates(info)]
    test_file = storage.join(folder, TEST_METRICS_JSON)
    if info.get("test") and storage.exists(test_file):
        test = json.loads(storage.read_text(test_file))
        caption = (f"The locked test set ({test['images']} images), evaluated once: rows the true class, columns "
                   f"the predicted class.")
        figure = confusion_plot(np.array(test["confusion_matrix"]), list(test["class_names"]))
        blocks.append(Figure(figure, "confusion matrix on the locked test set", caption))
    else:
        blocks.append(Text("No locked test set: the experiment held no images out (set cv.test_fraction before "
                           "the search to have one)."))
    return Section("final", TITLE, blocks)


def _how_it_was_made(info: dict, folder: str) -> tuple[tuple[str, str], ...]:
    training = info.get("training", {})
    how = (f"refit on the whole pool ({training.get('pool_images')} images), {training.get('epochs')} epochs"
           if training.get("strategy") == "refit" else f"ensemble: {training.get('how', '')}")
    return (("configuration", str(info.get("configuration", {}).get("label"))), ("how", how),
            ("built", str(info.get("created"))), ("folder", folder))


def _estimates(info: dict) -> Table:
    cv, test = info["cv_estimate"], info.get("test")
    rows = []
    for name in SUMMARY:
        estimate = cv["statistics"].get(f"val/{name}")
        if estimate is None:
            continue
        tested = test["metrics"][name] if test else {}
        rows.append((Cell(name + ("*" if cv["metric"] == f"val/{name}" else ""), column="metric"),
                     number(estimate.get("mean"), 4, "cv_mean"), number(estimate.get("ci_low"), 4, "cv_ci_low"),
                     number(estimate.get("ci_high"), 4, "cv_ci_high"), number(tested.get("value"), 4, "test"),
                     number(tested.get("ci_low"), 4, "test_ci_low"), number(tested.get("ci_high"), 4, "test_ci_high")))
    caption = (f"CV: the mean of the configuration's {cv.get('folds')} fold models, each on its own validation fold, "
               f"with the leaderboard's 95% interval. Test: the locked holdout"
               + (f" ({test['images']} images), with a 95% stratified-bootstrap interval" if test else ": none")
               + f". *: the metric the search ranked by ({cv['metric']}).")
    return Table(("metric", "CV", "from", "to", "test", "from", "to"), tuple(rows), name="final_estimates",
                 caption=caption)
