"""`python -m tune_clothes.train --config FILE [--fold N]`: try one configuration on one fold before a search.

Trains the base configuration of the file (its `train`, `model`, ... sections; search axes are not varied:
pick values with --set), prints one line per epoch, and keeps checkpoints and TensorBoard logs in --out.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from tune_clothes.cli import configure_logging, exit_quickly, run_command
from tune_clothes.config import metric_names as M
from tune_clothes.config.loader import load_experiment
from tune_clothes.training.fit import Callback, TrainingState
from tune_clothes.training.standalone import resolve_device, train_fold


class PrintEpochs(Callback):
    def on_epoch_end(self, metrics: dict[str, float], state: TrainingState) -> None:
        print(f"epoch {metrics[M.EPOCH] + 1:3d}  train loss {metrics[M.TRAIN_LOSS]:.4f} acc {metrics[M.TRAIN_ACC]:.3f}"
              f"  val loss {metrics[M.VAL_LOSS]:.4f} acc {metrics[M.VAL_ACC]:.3f} f1 {metrics[M.VAL_F1]:.3f}"
              f"  ({metrics['time/epoch_s']:.1f} s)", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tune_clothes.train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="a search space YAML file, e.g. search_spaces/demo.yaml")
    parser.add_argument("--fold", type=int, default=0, help="which cross-validation fold (default 0; with "
                        "cv.repeats, j = repeat * cv.folds + fold)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.lr=0.01 (repeatable)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: runs/<name>-fold<N>)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    experiment = load_experiment(args.config, args.overrides)
    out = args.out or Path("runs") / f"{experiment.name}-fold{args.fold}"
    state = train_fold(experiment, args.fold, out, resolve_device(args.device), [PrintEpochs()], args.resume)
    final = state.history[-1]
    print(f"done: {experiment.search.metric} {final[experiment.search.metric]:.4f} after {state.epoch + 1} epochs; "
          f"checkpoints and TensorBoard logs in {out}")
    return 0


if __name__ == "__main__":
    exit_quickly(run_command(main))
