"""`python -m tune_clothes.verify ROOT [--json]`: check a Clothing Dataset folder for broken data.

Exit status: 0 nothing wrong, 1 problems found, 2 usage error (no such folder, no images.csv).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from tune_clothes.cli import configure_logging, exit_quickly, run_command
from tune_clothes.config import DatasetConfig
from tune_clothes.data.validation import validate_clothing

PROBLEMS_FOUND = 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tune_clothes.verify", description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the dataset folder (holds images.csv and images/)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a report")
    parser.add_argument("--cache-dir", type=Path, default=Path(DatasetConfig.cache_dir).expanduser(),
                        help="where decode verdicts are cached (default: %(default)s)")
    args = parser.parse_args(argv)
    configure_logging()
    report = validate_clothing(args.root, args.cache_dir)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print("\n".join(report.summary_lines()))
        print("classes: " + ", ".join(f"{name} {n}" for name, n in report.class_counts.items()))
    return 0 if report.ok else PROBLEMS_FOUND


if __name__ == "__main__":
    exit_quickly(run_command(main))
