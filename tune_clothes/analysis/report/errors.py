"""Section 6, where the best configuration errs: its out-of-fold confusion matrix, per-class precision,
recall and F1 with support, the most confused pairs of classes, and a gallery of misclassified images."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from tune_clothes.analysis.leaderboard import plain_value
from tune_clothes.analysis.report.blocks import Cell, Figure, Gallery, Section, Table, Text, Thumbnail, number
from tune_clothes.analysis.report.figures import data_uri, new_figure, short_labels, styled
from tune_clothes.analysis.report.gallery import thumbnails
from tune_clothes.analysis.report.inputs import ReportInputs, partial_note
from tune_clothes.analysis.report.oof import OutOfFold, coverage, fold_accuracies, out_of_fold
from tune_clothes.training.predictions import ValidationPredictions

TITLE = "Where the best configuration errs"
CONFUSED_PAIRS = 10
GALLERY_SIZE = 16  # misclassified images shown, the most confident mistakes first
ANNOTATED_UP_TO = 25  # classes: the confusion matrix prints its counts up to this many


def errors_section(inputs: ReportInputs) -> Section:
    best = inputs.best()
    if best is None:  # none can be ranked: the one with the best finished folds, marked
        shown = inputs.shown(1)
        if shown.empty:
            return Section("errors", TITLE, missing="No configuration has finished a fold yet.")
        best = shown.iloc[0]
    oof = out_of_fold(inputs, best["config"])
    if not oof.folds:
        reason = next(iter(oof.missing.values()), "no fold has finished")
        return Section("errors", TITLE, missing=f"{best['config']}: {reason}.")
    pooled = oof.pooled()
    names = class_names(inputs, pooled)
    matrix = confusion_matrix(pooled.labels, pooled.predicted, labels=np.arange(len(names)))
    blocks = [Text(_introduction(inputs, oof, pooled)), _accuracy_table(oof),
              Figure(confusion_plot(matrix, names), "out-of-fold confusion matrix",
                     "Rows: the true class; columns: the predicted class. Colour: the share of the true class "
                     "(each row sums to 1); numbers: predictions (with K folds, each image once per repeat)."),
              _per_class_table(pooled, names), _confused_pairs(matrix, names)]
    blocks += _gallery(inputs, oof, names, best)
    return Section("errors", f"{TITLE}: {best['config']}{partial_note(best)}", blocks)


def class_names(inputs: ReportInputs, pooled: ValidationPredictions) -> list[str]:
    """The class names in label order (dataset.json lists them so), else `class <i>`."""
    names = list((inputs.dataset.get("class_counts") or {}).keys())
    needed = int(max(pooled.labels.max(initial=0), pooled.predicted.max(initial=0))) + 1
    return names if len(names) >= needed else [f"class {i}" for i in range(needed)]


def _introduction(inputs: ReportInputs, oof: OutOfFold, pooled: ValidationPredictions) -> str:
    plan = inputs.plan
    text = (f"Every pool image predicted by the fold model that did not train on it, at the last epoch of each "
            f"fold (the epoch whose metrics the leaderboard shows): {len(oof.folds)} of the "
            f"{plan.total_folds} folds, {len(pooled)} predictions of the {len(plan.pool)} pool images, "
            f"out-of-fold accuracy {pooled.accuracy():.4f}.")
    scheme = inputs.trials.loc[inputs.trials["config"] == oof.config, "scheme"].iloc[0]
    if scheme != "kfold":
        text += (f" The folds are {plan.folds} random train/validation splits ({scheme}) per repeat, whose "
                 f"validation parts overlap: an image may be predicted by several fold models or by none, and "
                 f"every prediction is counted.")
    elif len(oof.folds) == plan.total_folds:
        problems = coverage(oof, plan.pool, plan.repeats)
        text += "".join(f" {problem}." for problem in problems) or (
            f" Each pool image is predicted exactly once in each of the {plan.repeats} repeat(s).")
    text += "".join(f" Fold {j}: {why}." for j, why in sorted(oof.missing.items()))
    if len(oof.folds) + len(oof.missing) < plan.total_folds:
        text += " Folds that have not finished are not included."
    return text


def _accuracy_table(oof: OutOfFold) -> Table:
    table = fold_accuracies(oof)
    rows = tuple((Cell(str(r.j)), Cell(str(r.images), css="num"), number(r.predictions, 4, "predictions"),
                  number(r.reported, 4, "val/acc")) for r in table.itertuples())
    return Table(("fold j", "images", "accuracy of the saved predictions", "val/acc the trial reported"), rows,
                 name="fold_accuracy", caption="The predictions are the ones behind the reported metrics")


def _per_class_table(pooled: ValidationPredictions, names: list[str]) -> Table:
    precision, recall, f1, support = precision_recall_fscore_support(
        pooled.labels, pooled.predicted, labels=np.arange(len(names)), zero_division=0)
    rows = tuple((Cell(name), number(precision[c], 3, "precision"), number(recall[c], 3, "recall"),
                  number(f1[c], 3, "f1"), Cell(str(int(support[c])), int(support[c]), "support", "num"))
                 for c, name in enumerate(names))
    return Table(("class", "precision", "recall", "F1", "support"), rows, name="per_class",
                 caption="Out of fold, over every repeat (support counts an image once per repeat)")


def _confused_pairs(matrix: np.ndarray, names: list[str]) -> Table | Text:
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    cells = [(int(off[t, p]), t, p) for t, p in zip(*np.nonzero(off))]
    cells.sort(key=lambda cell: (-cell[0], cell[1], cell[2]))
    if not cells:
        return Text("No image was misclassified.")
    rows = tuple((Cell(names[t]), Cell(names[p]), Cell(str(count), count, "count", "num"),
                  Cell(f"{count / matrix[t].sum():.1%}", css="num")) for count, t, p in cells[:CONFUSED_PAIRS])
    return Table(("true class", "predicted as", "images", "share of the true class"), rows, name="confused_pairs",
                 caption=f"The {min(CONFUSED_PAIRS, len(cells))} most frequent confusions")


def _gallery(inputs: ReportInputs, oof: OutOfFold, names: list[str], configuration: pd.Series) -> list:
    first = oof.pooled(0) if any(j < inputs.plan.folds for j in oof.folds) else oof.pooled()
    wrong = np.flatnonzero(first.labels != first.predicted)
    if not len(wrong):
        return []
    confidence = np.where(first.top_classes[:, 0] == first.predicted, first.top_probabilities[:, 0].astype(float),
                          np.nan)
    chosen = wrong[np.argsort(-np.nan_to_num(confidence[wrong], nan=-1.0), kind="stable")][:GALLERY_SIZE]
    values = {axis: plain_value(configuration[axis]) for axis in inputs.axes}
    size = inputs.experiment.with_axes(values).train.image_size
    uris, source = thumbnails(inputs.dataset, inputs.experiment.dataset.cache_dir, size,
                              first.positions[chosen], first.ids[chosen])
    if not uris:
        return [Text(f"No gallery of misclassified images: {source}.")]
    items = tuple(Thumbnail(uri, (f"true: {names[first.labels[i]]}", f"predicted: {names[first.predicted[i]]}"
                                  + ("" if np.isnan(confidence[i]) else f" ({confidence[i]:.0%})"), str(first.ids[i])))
                  for uri, i in zip(uris, chosen))
    return [Text(f"The {len(items)} most confident mistakes of {len(wrong)} (one repeat), from {source}:"),
            Gallery(items)]


@styled
def confusion_plot(matrix: np.ndarray, names: list[str]) -> str:
    count = len(names)
    side = min(9.5, 1.6 + 0.36 * count)
    figure = new_figure(side, side + 1.0)
    axes = figure.add_subplot()
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    labels = short_labels(names, 24)
    axes.set_xticks(range(count), labels, rotation=90)
    axes.set_yticks(range(count), labels)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    if count <= ANNOTATED_UP_TO:
        for t in range(count):
            for p in range(count):
                if matrix[t, p]:
                    axes.text(p, t, str(matrix[t, p]), ha="center", va="center", fontsize=7,
                              color="white" if shares[t, p] > 0.5 else "black")
    figure.colorbar(image, ax=axes, shrink=0.8, label="share of the true class")
    return data_uri(figure)
