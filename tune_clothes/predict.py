"""`python -m tune_clothes.predict MODEL_DIR PATH... [--topk K] [--out FILE.csv]`: classify image files.

PATHs are image files or folders (searched recursively for .jpg, .jpeg, .png, .bmp, .gif, .tif, .tiff, .webp).
Writes CSV (to --out, else stdout): `path`, then `label_1`, `prob_1` ... `label_K`, `prob_K`, then `error`.
A path that is not a usable image gets its error and the others go on. Images are decoded and preprocessed as
in training (CMYK, 16-bit, grey and EXIF-rotated files included; a Fashion-MNIST model takes grey images of any
size); runs on the GPU when there is one.

Exit status: 0 every image predicted, 1 some paths failed (see their `error`), 2 bad input.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from tune_clothes.cli import configure_logging, exit_quickly, run_command
from tune_clothes.data.storage import atomic_path
from tune_clothes.packaging.model_folder import BACKENDS, read_model_folder
from tune_clothes.packaging.prediction import find_images, predict_paths, write_predictions

SOME_FAILED = 1
DEFAULT_TOPK = 3


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tune_clothes.predict", description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", help="the model folder that final wrote (holds model.pt)")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    parser.add_argument("--topk", type=int, help=f"classes per image, most probable first (default "
                                                 f"{DEFAULT_TOPK}, or all classes if fewer)")
    parser.add_argument("--backend", choices=BACKENDS, default="torch", help="PyTorch (default) or onnxruntime")
    parser.add_argument("--out", type=Path, help="write the CSV here instead of stdout")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging()
    model = read_model_folder(args.model_dir)
    classes = len(model.bundle.class_names)
    topk = min(DEFAULT_TOPK, classes) if args.topk is None else args.topk
    if not 1 <= topk <= classes:
        print(f"error: --topk {topk}: must be between 1 and the model's {classes} classes", file=sys.stderr)
        return 2
    if args.out is not None and not args.out.parent.is_dir():
        print(f"error: --out {args.out}: the folder {args.out.parent} does not exist", file=sys.stderr)
        return 2
    scorer = model.scorer(args.backend)
    entries = find_images(args.paths)
    failed = 0
    try:
        with _output(args.out) as stream, tqdm(total=len(entries), unit="img", file=sys.stderr, disable=None,
                                               leave=False) as bar:
            for prediction in write_predictions(predict_paths(scorer, model.bundle, entries, topk), topk, stream):
                failed += bool(prediction.error)
                bar.update()
    except BrokenPipeError:  # the reader of stdout stopped (`| head`): what it wanted is written
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python exits
        return 0
    if failed:
        print(f"{failed} of {len(entries)} path(s) could not be predicted: see their error column", file=sys.stderr)
    return SOME_FAILED if failed else 0


@contextlib.contextmanager
def _output(path: Path | None):
    """stdout, or the --out file (written whole: an interrupted run leaves no half file)."""
    if path is None:
        yield sys.stdout
        return
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as stream:
        yield stream


if __name__ == "__main__":
    exit_quickly(run_command(main))
