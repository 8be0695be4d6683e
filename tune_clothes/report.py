"""`python -m tune_clothes.report EXPERIMENT_DIR`: the leaderboard and report.html of a search, from its files.

Works on a finished, running or interrupted experiment and needs no running Ray; rewrites
leaderboard.csv, cv_results.csv, best_config.yaml, trials.csv and TensorBoard's per-configuration runs
(cv_mean/) in the experiment folder, and writes report.html beside them: one self-contained page (open it in
any browser, no server or network needed).
"""
from __future__ import annotations

import argparse
import os
from typing import Sequence

from tune_clothes.analysis.report.page import write_report
from tune_clothes.analysis.summary import write_summary
from tune_clothes.analysis.tensorboard_curves import write_configuration_curves
from tune_clothes.cli import configure_logging, exit_quickly, run_command
from tune_clothes.data import storage


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tune_clothes.report", description=__doc__.splitlines()[0])
    parser.add_argument("experiment_dir", help="the experiment folder, <storage>/<name> (a path or s3://...)")
    args = parser.parse_args(argv)
    configure_logging()
    location = args.experiment_dir
    if not storage.is_uri(location):
        location = os.path.abspath(os.path.expanduser(location))
    summary = write_summary(location)
    write_configuration_curves(location)
    print(summary.table)
    print(f"\nreport: {write_report(location)}")
    return 0


if __name__ == "__main__":
    exit_quickly(run_command(main))
