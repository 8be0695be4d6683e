"""Class predictions for image files: what `predict` runs.

Folders are searched recursively for image files (hidden ones skipped, as a dataset's are); a file named on
the command line is tried whatever its suffix. Every path ends up as one row: its top classes and
probabilities, or an `error` (no such path, a folder without images, a file that is not a usable image), and
one bad file never stops the others.
Decoding is the image cache's own (`inference.file_pixels`), run on a few threads: PIL releases the GIL
while it decodes.
"""
from __future__ import annotations

import csv
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable, Iterator, Sequence

import numpy as np

from tune_clothes.data.decode import ImageDecodeError
from tune_clothes.data.listing import IMAGE_SUFFIXES, image_files_under
from tune_clothes.packaging.bundle import ModelBundle
from tune_clothes.packaging.inference import BATCH_SIZE, Scorer, file_pixels, model_input, probabilities

DECODE_THREADS = min(8, os.cpu_count() or 1)


@dataclass(frozen=True)
class Prediction:
    path: str
    classes: tuple[str, ...] = ()  # the top classes, most probable first
    probabilities: tuple[float, ...] = ()
    error: str = ""


def find_images(paths: Sequence[str]) -> list[tuple[str, str]]:
    """(path, error) for every image file to predict, in the order given (folders: sorted, recursively);
    the error is empty, or says why a path yields no image (it does not exist, a folder without images)."""
    found = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(str(path / name) for name in image_files_under(path))
            none = f"a folder with no image files ({', '.join(IMAGE_SUFFIXES)})"
            found += [(f, "") for f in files] or [(given, none)]
        elif path.exists():
            found.append((given, ""))
        else:
            found.append((given, "no such file or folder"))
    return found


def predict_paths(scorer: Scorer, bundle: ModelBundle, entries: Sequence[tuple[str, str]], topk: int,
                  batch_size: int = BATCH_SIZE) -> Iterator[Prediction]:
    """One Prediction per entry of `find_images`, in order, a batch at a time; the next batch is decoded
    while the model scores this one."""
    batches = [entries[start:start + batch_size] for start in range(0, len(entries), batch_size)]
    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        decoding = pool.map(functools.partial(_decode, size=bundle.image_size), batches[0]) if batches else None
        for k, batch in enumerate(batches):
            decoded = list(decoding)
            if k + 1 < len(batches):
                decoding = pool.map(functools.partial(_decode, size=bundle.image_size), batches[k + 1])
            yield from _predicted(scorer, bundle, batch, decoded, topk)


def predict_pixels(scorer: Scorer, bundle: ModelBundle, images: Sequence[tuple[str, np.ndarray]], topk: int,
                   batch_size: int = BATCH_SIZE) -> Iterator[Prediction]:
    """One Prediction per (name, uint8 side x side x 3 pixels), in order, a batch at a time."""
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        yield from _predicted(scorer, bundle, [(name, "") for name, _ in batch],
                              [(pixels, "") for _, pixels in batch], topk)


def _predicted(scorer: Scorer, bundle: ModelBundle, batch: Sequence[tuple[str, str]],
               decoded: list[tuple[np.ndarray | None, str]], topk: int) -> Iterator[Prediction]:
    good = [i for i, (pixels, _) in enumerate(decoded) if pixels is not None]
    top: dict[int, tuple] = {}
    if good:
        probs = probabilities(scorer.scores(model_input(np.stack([decoded[i][0] for i in good]), bundle.channels)))
        for i, row in zip(good, probs):
            best = np.argsort(-row, kind="stable")[:topk]
            top[i] = (tuple(bundle.class_names[c] for c in best), tuple(float(row[c]) for c in best))
    for i, (path, _) in enumerate(batch):
        yield Prediction(path, *top[i]) if i in top else Prediction(path, error=decoded[i][1])


def _decode(entry: tuple[str, str], size: int) -> tuple[np.ndarray | None, str]:
    path, error = entry
    if error:
        return None, error
    try:
        return file_pixels(path, size), ""
    except (ImageDecodeError, OSError) as err:
        return None, f"not a usable image: {err}"


def write_predictions(predictions: Iterable[Prediction], topk: int, stream: IO[str]) -> Iterator[Prediction]:
    """Write CSV rows (path, label_1, prob_1, ..., label_K, prob_K, error) as the predictions come, quoted by
    the csv module (a comma, quote or newline in a file name stays in its cell); yields each one written."""
    writer = csv.writer(stream)
    writer.writerow(["path", *(f"{kind}_{k}" for k in range(1, topk + 1) for kind in ("label", "prob")), "error"])
    for prediction in predictions:
        cells = [prediction.path]
        for k in range(topk):
            found = k < len(prediction.classes)
            cells += [prediction.classes[k], f"{prediction.probabilities[k]:.6f}"] if found else ["", ""]
        writer.writerow([*cells, prediction.error])
        yield prediction
