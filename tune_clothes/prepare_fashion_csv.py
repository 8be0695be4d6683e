"""Convert a Fashion-MNIST split from the published IDX files to a CSV of `label,pixel1..pixel784`.

    python -m tune_clothes.prepare_fashion_csv --idx-dir data/fashion_mnist --out fashion_train.csv --split train
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from tune_clothes.cli import configure_logging, exit_quickly, run_command
from tune_clothes.data.fashion_mnist import SPLIT_PREFIX, read_idx_split, write_fashion_csv


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tune_clothes.prepare_fashion_csv", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idx-dir", type=Path, required=True,
                        help="folder with the IDX files (plain or .gz), e.g. from `tune_clothes.download`")
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    parser.add_argument("--split", choices=sorted(SPLIT_PREFIX), default="train")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging()
    images, labels = read_idx_split(args.idx_dir, args.split)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_fashion_csv(args.out, images, labels)
    print(f"wrote {len(labels)} rows ({args.split} split) to {args.out}")
    return 0


if __name__ == "__main__":
    exit_quickly(run_command(main))
