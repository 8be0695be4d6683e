"""What a final model is and how good it is: model.json (for programs), model_card.md (for people) and the
summary `final` prints, all from one `model_info` dict. Text from the data (class names, paths) is escaped
for Markdown, so a class called `a|b` or `<b>` cannot break a table or inject markup."""
from __future__ import annotations

import datetime
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tune_clothes.analysis.selection import Selection
from tune_clothes.config import DatasetConfig
from tune_clothes.config.loader import experiment_to_dict
from tune_clothes.data import storage
from tune_clothes.data.experiment_folder import DATASET_JSON, MODEL_JSON, TEST_METRICS_JSON, package_versions
from tune_clothes.data.folds import FoldPlan
from tune_clothes.packaging.bootstrap_metrics import SUMMARY
from tune_clothes.packaging.bundle import FORMAT_VERSION, MODEL_PT, ModelBundle
from tune_clothes.packaging.model_folder import MODEL_CARD
from tune_clothes.packaging.onnx_export import ONNX_FILE, ExportCheck

MONITOR_NOTE = ("the refit holds no image out (it trains on the whole pool), so its per-epoch 'val' metrics are "
                "measured on {n} pool images it also trains on (fold 0's validation part): a check that training "
                "converged, not an estimate; the model is the last epoch's, not chosen by them")
CV_NOTE = ("mean of the configuration's {folds} fold models, each on its own validation fold, with the "
           "leaderboard's 95% interval: an estimate for one model trained on a fold's training part")
ENSEMBLE_NOTE = ("the softmax outputs of the configuration's {n} fold models, each at its best kept checkpoint by "
                 "its own {metric}, averaged with equal weights; no training")


@dataclass(frozen=True)
class CardInputs:
    location: str  # the experiment folder
    selection: Selection
    bundle: ModelBundle
    training: dict  # what final_model did to get the weights
    check: ExportCheck | str  # or why there is no model.onnx
    test: dict | None  # the locked test set's metrics, or None when the experiment had none
    plan: FoldPlan


def _columns(dataset: DatasetConfig) -> list[str] | None:
    """A csv dataset's path and label columns: `evaluate` reads other CSV files of the same kind with them."""
    return [dataset.path_column, dataset.label_column] if dataset.kind == "csv" else None


def model_info(inputs: CardInputs) -> dict[str, Any]:
    """Everything model.json records, as plain JSON values."""
    selection, plan = inputs.selection, inputs.plan
    dataset_file = storage.join(inputs.location, DATASET_JSON)
    dataset = json.loads(storage.read_text(dataset_file)) if storage.exists(dataset_file) else {}
    test = inputs.test
    return {
        "format": FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "experiment": {"name": selection.experiment.name, "location": inputs.location},
        "configuration": {"label": selection.label, "axes": selection.axes},
        "model": inputs.bundle.description(),
        "data": {"fingerprint": plan.fingerprint, "kind": dataset.get("kind"), "root": dataset.get("root"),
                 "images": plan.num_images, "pool_images": len(plan.pool), "holdout_images": len(plan.holdout),
                 "class_counts": dataset.get("class_counts"), "dropped_classes": dataset.get("dropped_classes"),
                 "excluded": dataset.get("excluded"), "columns": _columns(selection.experiment.dataset)},
        "cv_estimate": {"metric": selection.experiment.search.metric, "folds": len(selection.runs),
                        "what": CV_NOTE.format(folds=len(selection.runs)), "statistics": selection.estimate},
        "training": _training_json(inputs.training, selection),
        "test": None if test is None else {key: test[key] for key in ("data", "images", "metrics", "interval",
                                                                       "per_class")} | {"file": TEST_METRICS_JSON},
        "export": ({"file": None, "error": inputs.check} if isinstance(inputs.check, str)
                   else {"file": ONNX_FILE, **inputs.check.to_json()}),
        "versions": package_versions(),
    }


def _training_json(training: dict, selection: Selection) -> dict:
    search = selection.experiment.search
    if training["strategy"] == "ensemble":
        members = training["members"]
        return {"strategy": "ensemble", "how": ENSEMBLE_NOTE.format(n=len(members), metric=search.metric),
                "members": members}
    choice, experiment = training["epochs"], training["experiment"]
    last = training["history"][-1]
    return {"strategy": "refit", "epochs": choice.epochs,
            "how_epochs_were_chosen": choice.explanation(search.metric, experiment.train.batch_size),
            "epoch_rule": choice.to_json(), "pool_images": training["pool_images"],
            "per_epoch_validation": MONITOR_NOTE.format(n=training["monitor_images"]),
            "last_epoch": {k: v for k, v in last.items() if k.startswith(("train/", "val/"))},
            "recipe": experiment_to_dict(experiment)}


def estimates(info: dict) -> list[tuple[str, str, str | None]]:
    """(metric, CV "0.81 [0.77, 0.85]", test "0.79 [0.75, 0.83]" or None) for each metric the CV measured; the
    search's own metric is marked with a *."""
    statistics, test = info["cv_estimate"]["statistics"], info["test"]
    rows = []
    for name in SUMMARY:
        cv = statistics.get(f"val/{name}")
        if cv is not None:
            tested = test["metrics"][name] if test else None
            mark = "*" if info["cv_estimate"]["metric"] == f"val/{name}" else ""
            rows.append((name + mark, _interval(cv["mean"], cv["ci_low"], cv["ci_high"]),
                         _interval(tested["value"], tested["ci_low"], tested["ci_high"]) if tested else None))
    return rows


def estimate_notes(info: dict) -> list[str]:
    """What the CV and the test numbers are."""
    test = info["test"]
    return [f"*: the metric the search ranked by ({info['cv_estimate']['metric']})",
            "CV: " + CV_NOTE.format(folds=info["cv_estimate"]["folds"]),
            f"test: the locked holdout ({test['images']} images that no search or training saw, evaluated once), "
            f"with a 95% stratified-bootstrap interval" if test else
            "test: none, the experiment has no locked holdout (set cv.test_fraction before the search)"]


def summary(info: dict, folder: Path) -> str:
    """What `final` prints."""
    training, export = info["training"], info["export"]
    label = info["configuration"]["label"]
    if training["strategy"] == "refit":
        lines = [f"final model: refit of {label} on the whole pool ({training['pool_images']} images)",
                 f"epochs: {training['how_epochs_were_chosen']}",
                 f"note: {training['per_epoch_validation']}"]
    else:
        lines = [f"final model: ensemble of {label}", f"how: {training['how']}"]
    lines += [_export_line(export), "",
              *(f"{name:<17} CV {cv}" + (f", test {test}" if test else "") for name, cv, test in estimates(info)),
              *estimate_notes(info), "",
              f"model folder: {folder} ({', '.join(_files(info))})"]
    return "\n".join(lines)


def _export_line(export: dict) -> str:
    if export.get("file") is None:
        return f"{ONNX_FILE}: not written ({export['error']}); {MODEL_PT} serves predict and evaluate (--backend torch)"
    return (f"{ONNX_FILE}: checked on {export['images']} real pool images: max |score difference| "
            f"{export['max_abs_score_diff']:.2g}, top-1 agreement {export['top1_agreement']:.0%}")


def _files(info: dict) -> list[str]:
    onnx = [ONNX_FILE] if info["export"].get("file") else []
    return [MODEL_PT, *onnx, MODEL_CARD, MODEL_JSON] + ([TEST_METRICS_JSON] if info["test"] else [])


def _interval(value: float, low: float, high: float) -> str:
    return f"{value:.4f} [{low:.4f}, {high:.4f}]"


def _export_paragraph(export: dict) -> str:
    if export.get("file") is None:
        return f"No `{ONNX_FILE}`: {md(export['error'])}. `{MODEL_PT}` holds the whole model (use `--backend torch`)."
    return (f"`{ONNX_FILE}` (dynamic batch axis; class names and preprocessing in its metadata) was checked "
            f"against PyTorch on {export['images']} real pool images: max \\|score difference\\| "
            f"{export['max_abs_score_diff']:.2g} (limit {export['limit_max_abs_score_diff']:g}), "
            f"top-1 agreement {export['top1_agreement']:.0%}.")


def md(text: Any) -> str:
    """Data text for Markdown: HTML special characters and Markdown punctuation escaped, one line."""
    escaped = html.escape(" ".join(str(text).split()), quote=False)
    return re.sub(r"([\\`*_{}\[\]()#+!|~])", r"\\\1", escaped)


def model_card(info: dict) -> str:
    """model_card.md: what the model is, how it was made, how good it is, how to use it."""
    model, data, training = info["model"], info["data"], info["training"]
    colour = "grey" if model["channels"] == 1 else "colour"
    lines = [f"# Model card: {md(info['experiment']['name'])} ({training['strategy']})", "",
             f"A {model['model']} classifier of {len(model['class_names'])} classes from {model['image_size']}x"
             f"{model['image_size']} {colour} images, built by `python -m tune_clothes.final` on "
             f"{info['created']} from the search in {md(info['experiment']['location'])}.", "",
             "Classes, in the order of the outputs: " + ", ".join(md(n) for n in model["class_names"]) + ".", "",
             "## How it was made", "",
             f"- Configuration: {md(info['configuration']['label'])}.",
             f"- Refit on the whole pool; epochs: {training['how_epochs_were_chosen']}."
             if training["strategy"] == "refit" else f"- Ensemble: {training['how']}."]
    if training["strategy"] == "refit":
        lines.append(f"- Per-epoch validation: {training['per_epoch_validation']}.")
    lines += ["", "## How good it is", "", *_estimate_table(info), "", *_per_class_table(info), "",
              *_data_section(data), "", "## Export", "", _export_paragraph(info["export"]), "",
              "## Use", "", "```", "python -m tune_clothes.predict MODEL_DIR IMAGES... [--topk 3] "
              "[--backend torch|onnx] [--out predictions.csv]", "python -m tune_clothes.evaluate MODEL_DIR DATA_ROOT "
              "[--json]", "```", "", "## Versions", "",
              ", ".join(f"{md(k)} {md(v)}" for k, v in info["versions"].items()), ""]
    return "\n".join(lines)


def _estimate_table(info: dict) -> list[str]:
    test = info["test"]
    rows = [f"| metric | CV estimate ({info['cv_estimate']['folds']} folds) |"
            + (f" locked test ({test['images']} images) |" if test else ""), "|---|---|" + ("---|" if test else "")]
    rows += [f"| {name.replace('*', chr(92) + '*')} | {cv} |" + (f" {tested} |" if test else "")
             for name, cv, tested in estimates(info)]
    return rows + ["", *(f"- {note}".replace("*", "\\*") for note in estimate_notes(info))]


def _per_class_table(info: dict) -> list[str]:
    if not info["test"]:
        return []
    return ["Per class, on the locked test set:", "", "| class | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
            *(f"| {md(name)} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | {row['support']} |"
              for name, row in info["test"]["per_class"].items())]


def _data_section(data: dict) -> list[str]:
    counts = data.get("class_counts") or {}
    return ["## Data", "", f"- {md(data.get('root'))} ({md(data.get('kind'))}), fingerprint {data['fingerprint']}: "
            f"{data['images']} images, {data['pool_images']} in the cross-validation pool, {data['holdout_images']} "
            f"in the locked holdout.",
            "- Images per class: " + ", ".join(f"{md(n)} {c}" for n, c in counts.items()) + "."]
