"""A model measured on labelled images: predictions in batches through the one inference path, then the
metrics with stratified-bootstrap intervals (`bootstrap_metrics`), and what was left out and why."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from tune_clothes.config.errors import DataError
from tune_clothes.packaging.bootstrap_metrics import SUMMARY, classification_report
from tune_clothes.packaging.inference import BATCH_SIZE, Scorer, model_input
from tune_clothes.packaging.labelled_data import LabelledSet

Progress = Callable[[int], None]  # called with the number of images just done


def predict_labelled(scorer: Scorer, labelled: LabelledSet, channels: int, batch_size: int = BATCH_SIZE,
                     progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """True and predicted class ids of the readable images, and position -> why an image was unreadable."""
    truths, predictions, unreadable = [], [], {}
    for start in range(0, len(labelled), batch_size):
        stop = min(start + batch_size, len(labelled))
        pixels, failed = labelled.read(start, stop)
        readable = [i for i in range(stop - start) if i not in failed]
        unreadable.update({start + i: reason for i, reason in failed.items()})
        if readable:
            scores = scorer.scores(model_input(pixels[readable], channels))
            predictions.append(scores.argmax(axis=1))
            truths.append(labelled.labels[start:stop][readable])
        if progress is not None:
            progress(stop - start)
    if not predictions:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64), unreadable
    return np.concatenate(truths), np.concatenate(predictions), unreadable


def evaluate(scorer: Scorer, labelled: LabelledSet, class_names: Sequence[str], channels: int,
             progress: Progress | None = None) -> dict:
    """The metrics of `scorer` on `labelled` (see bootstrap_metrics.classification_report), with `data` (what
    was measured) and `left_out` (problem -> count and examples: invalid files, unknown classes, images
    that could not be decoded)."""
    y_true, y_pred, unreadable = predict_labelled(scorer, labelled, channels, progress=progress)
    left_out = {problem: {"count": len(ids), "examples": ids[:5]} for problem, ids in labelled.left_out.items()}
    if labelled.unknown_classes:
        left_out["classes the model does not know"] = {"count": sum(labelled.unknown_classes.values()),
                                                        "by_class": labelled.unknown_classes}
    if unreadable:
        left_out["unreadable images"] = {"count": len(unreadable), "examples": list(unreadable.values())[:5]}
    if not len(y_true):
        raise DataError(f"{labelled.description}: no image could be read; left out: {left_out}")
    return {"data": labelled.description, **classification_report(y_true, y_pred, class_names),
            "left_out": left_out}


def trained_on_note(info: dict, data_root: str | Path, split: str) -> str | None:
    """A warning when the data is what the model was built from: then the metrics say how well it fits its own
    training images, which is no estimate of how it does on new ones."""
    root = (info.get("data") or {}).get("root")
    same = root is not None and Path(root).resolve() == Path(data_root).expanduser().resolve()
    kind = info["data"].get("kind") if same else None
    held_out = split == "test" and (kind == "fashion_mnist" or (kind == "image_folder" and
                                                                 (Path(root) / "test").is_dir()))
    if not same or held_out:  # Fashion-MNIST's test files and an image folder's test/ are never trained on
        return None
    return (f"{data_root} is the data this model was built from: it trained on its pool, so these numbers say how "
            f"well it fits its own training images, not how it does on new ones (see test_metrics.json for the "
            f"locked holdout, when the experiment had one)")


def format_report(report: dict) -> str:
    """The metrics for a terminal: the summary with intervals, then per class, then what was left out."""
    interval = report["interval"]
    lines = [f"{report['data']}: {report['images']} images",
             *(f"  {name:<16} {m['value']:.4f}  [{m['ci_low']:.4f}, {m['ci_high']:.4f}]"
               for name, m in ((n, report["metrics"][n]) for n in SUMMARY)),
             f"  ({interval['confidence']:.0%} {interval['method']} intervals, {interval['replicates']} "
             f"replicates; macro over the {len(report['macro_over_classes'])} classes present)", "",
             f"  {'class':<24} precision  recall      f1  support"]
    for name, row in report["per_class"].items():
        lines.append(f"  {_printable(name)[:24]:<24} {row['precision']:9.3f} {row['recall']:7.3f} {row['f1']:7.3f} "
                     f"{row['support']:8d}")
    for problem, found in report["left_out"].items():
        detail = found.get("by_class") or found.get("examples")
        lines.append(f"left out: {found['count']} ({problem}), e.g. {_printable(str(detail))[:200]}")
    return "\n".join(lines)


def _printable(text: str) -> str:
    """Data text for a terminal: control characters (an escape sequence in a class name) shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
