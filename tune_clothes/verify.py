"""`python -m tune_clothes.verify ROOT [--json]`: check a dataset's files for broken data.

ROOT is a Clothing Dataset folder (images.csv and images/), a CSV file of image paths and labels
(--path-column, --label-column), or an image folder (root/<class>/..., or split into train/, val/, test/).
Exit status: 0 nothing wrong, 1 problems found, 2 usage error (no such folder, not a layout it reads).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from tune_clothes.cli import configure_logging, exit_quickly, run_command
from tune_clothes.config import DatasetConfig
from tune_clothes.config.errors import DataError
from tune_clothes.data import layouts
from tune_clothes.data.validation import scan

PROBLEMS_FOUND = 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tune_clothes.verify", description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the dataset: a Clothing Dataset folder, a CSV file or an image "
                                                "folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a report")
    parser.add_argument("--path-column", default=DatasetConfig.path_column,
                        help="a CSV file's column of image paths (default: %(default)s)")
    parser.add_argument("--label-column", default=DatasetConfig.label_column,
                        help="a CSV file's column of class names (default: %(default)s)")
    parser.add_argument("--cache-dir", type=Path, default=Path(DatasetConfig.cache_dir).expanduser(),
                        help="where decode verdicts are cached (default: %(default)s)")
    args = parser.parse_args(argv)
    configure_logging()
    kind = layouts.detect_kind(args.root, args.path_column) or ("csv" if args.root.suffix.lower() == ".csv" else None)
    if kind is None:
        raise DataError(f"{args.root}: not a layout verify reads: pass a Clothing Dataset folder, an image folder, "
                        f"or a CSV file of image paths and labels")
    dataset = DatasetConfig(kind=kind, root=str(args.root), path_column=args.path_column,
                            label_column=args.label_column)
    report = scan(layouts.listing(kind, args.root, dataset), args.cache_dir)
    if args.json:
        print(json.dumps({"kind": kind, **report.to_json()}, indent=2))
    else:
        print(f"{kind} dataset " + "\n".join(report.summary_lines()))
        print("classes: " + ", ".join(f"{name} {n}" for name, n in report.class_counts.items()))
    return 0 if report.ok else PROBLEMS_FOUND


if __name__ == "__main__":
    exit_quickly(run_command(main))
