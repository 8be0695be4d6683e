"""`python -m tune_clothes.final EXPERIMENT_DIR`: build the final model of a search and measure it once.

Trains the best configuration (or --config's) on the whole cross-validation pool as a Ray Tune trial, for as
many optimizer steps as its fold models needed to reach their best (--strategy refit, the default), or takes
its fold models as an ensemble (--strategy ensemble); writes model.pt, model.onnx, model_card.md and
model.json, and evaluates the model once on the locked test set (cv.test_fraction), beside the CV estimate.

Exit status: 0 model built, 1 the refit trial or the ONNX export check failed, 2 bad input, 130 / 143 when
Ctrl-C (SIGINT) / SIGTERM stopped the refit (it then prints how to resume).
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Sequence

from tune_clothes.api.models import build_final, final_request
from tune_clothes.cli import configure_logging, exit_quickly, run_command
from tune_clothes.packaging.onnx_export import ExportCheckFailed
from tune_clothes.training.refit_job import RefitFailed
from tune_clothes.tuning.stop import SearchInterrupted  # signals only: no Ray

FAILED = 1


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tune_clothes.final", description=__doc__.splitlines()[0])
    parser.add_argument("experiment_dir", help="the search's experiment folder, <storage>/<name>")
    parser.add_argument("--strategy", choices=("refit", "ensemble"), default="refit",
                        help="refit: train on the whole pool (default); ensemble: average the fold models")
    parser.add_argument("--epochs", type=int, help="refit: train this many epochs instead of the search's rule")
    parser.add_argument("--config", help="a one-configuration YAML (e.g. the experiment's best_config.yaml, "
                                         "edited) naming the configuration to build instead of the best")
    parser.add_argument("--out", type=Path, help="the model folder (default: EXPERIMENT_DIR/final)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted refit in the model folder")
    parser.add_argument("--address", help="a running Ray cluster for the refit (default: RAY_ADDRESS, else a "
                                          "local Ray)")
    parser.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (default: all)")
    parser.add_argument("-v", "--verbose", action="store_true", help="Ray's own status table and worker logs")
    args = parser.parse_args(argv)
    if args.num_cpus is not None and args.num_cpus < 1:
        parser.error(f"--num-cpus {args.num_cpus}: must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.verbose)
    request = final_request(args.experiment_dir, args.strategy, args.epochs, args.config, args.out, args.resume)
    try:
        model, report = build_final(request, args.address, args.num_cpus, args.verbose)
    except (RefitFailed, ExportCheckFailed) as err:
        print(f"error: {err}", file=sys.stderr)
        return FAILED
    except SearchInterrupted as stopped:
        print(f"stopped; the refit's checkpoints are kept in {request.out}. Continue with:\n  "
              f"{resume_command(args, request.out)}")
        return stopped.exit_status
    print(model.summary)
    if report is not None:
        print(f"report: {report} (its final-model section is this model)")
    return 0


def resume_command(args: argparse.Namespace, out: Path) -> str:
    """This command with --resume, quoted for a POSIX shell."""
    words = ["python", "-m", "tune_clothes.final", args.experiment_dir, "--out", str(out), "--resume"]
    words += ["--address", args.address] if args.address else []
    words += ["--num-cpus", str(args.num_cpus)] if args.num_cpus else []
    return shlex.join(words)


if __name__ == "__main__":
    exit_quickly(run_command(main))
