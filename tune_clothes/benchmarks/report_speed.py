"""How long report.html takes, and how big it is, for a synthetic experiment folder of a finished grid search
(default: search_spaces/clothing.yaml, 96 configurations x 5 folds = 480 trials, 20 epochs each, on the
Clothing Dataset's 19 classes and 4865 images).

    python -m tune_clothes.benchmarks.report_speed [--space search_spaces/clothing.yaml] [--keep DIR]
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from tune_clothes.analysis.report.page import write_report
from tune_clothes.analysis.summary import write_summary
from tune_clothes.benchmarks.synthetic_experiment import write_synthetic_experiment
from tune_clothes.config.loader import load_experiment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="search_spaces/clothing.yaml")
    parser.add_argument("--keep", type=Path, help="write the folder here and keep it (default: a temporary one)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        experiment = load_experiment(args.space, [f"storage={root / 'results'}", f"dataset.root={root / 'data'}",
                                                  f"dataset.cache_dir={root / 'cache'}", *args.overrides])
        started = time.perf_counter()
        location = write_synthetic_experiment(experiment)
        written = time.perf_counter() - started
        started = time.perf_counter()
        write_summary(location)
        summarized = time.perf_counter() - started
        started = time.perf_counter()
        report = Path(write_report(location))
        reported = time.perf_counter() - started
        trials = sum(1 for p in Path(location).iterdir() if (p / "params.json").is_file())
        print(f"{trials} trials written in {written:.1f} s; write_summary {summarized:.1f} s; "
              f"write_report {reported:.1f} s; report.html {report.stat().st_size / 1e6:.2f} MB ({report})")


if __name__ == "__main__":
    main()
