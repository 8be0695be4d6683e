"""`python -m tune_clothes.evaluate MODEL_DIR DATA_ROOT [--json]`: measure a final model on labelled images.

DATA_ROOT is any layout the project reads: a Clothing Dataset folder (images.csv and images/), an image folder
(root/<class>/...; split into train/ and test/, --split picks one), a CSV file of image paths and labels (the
columns the model's search read), a folder of Fashion-MNIST IDX files (--split picks train or test), or a
Fashion-MNIST CSV file. The data is validated as for a search; missing, corrupt and unsafe files, and rows of
classes the model does not know (labels are matched by class name), are left out and reported. Prints
accuracy and macro precision/recall/F1 with 95% stratified-bootstrap intervals, and per-class results.

Exit status: 0 evaluated, 2 bad input (no model folder, no dataset, no class in common).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from tune_clothes.api.models import load_model
from tune_clothes.cli import configure_logging, exit_quickly, run_command
from tune_clothes.config import DatasetConfig
from tune_clothes.packaging.evaluation import format_report
from tune_clothes.packaging.model_folder import BACKENDS


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tune_clothes.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", help="the model folder that final wrote (holds model.pt)")
    parser.add_argument("data_root", help="labelled data: a Clothing Dataset folder, an image folder, a CSV of "
                                          "paths and labels, a Fashion-MNIST IDX folder or CSV file")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    parser.add_argument("--backend", choices=BACKENDS, default="torch", help="PyTorch (default) or onnxruntime")
    parser.add_argument("--split", choices=("test", "train"), default="test",
                        help="which Fashion-MNIST IDX files, or which part of an image folder split into "
                             "train/ and test/, to read (default: test)")
    parser.add_argument("--cache-dir", type=Path, default=Path(DatasetConfig.cache_dir).expanduser(),
                        help="where decode verdicts are cached (default: %(default)s)")
    args = parser.parse_args(argv)
    configure_logging()
    report = load_model(args.model_dir).evaluate(args.data_root, args.backend, args.split, args.cache_dir)
    if "note" in report:
        print(f"note: {report['note']}", file=sys.stderr)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    exit_quickly(run_command(main))
