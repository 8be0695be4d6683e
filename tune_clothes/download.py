"""Download a public dataset into a folder, ready to be used as `dataset.root`.

    python -m tune_clothes.download clothing data/clothing-dataset
    python -m tune_clothes.download fashion_mnist data/fashion_mnist
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from tune_clothes.cli import configure_logging, exit_quickly, run_command
from tune_clothes.data.download import CLOTHING_URL, TIMEOUT_S, download_clothing, download_fashion_mnist


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tune_clothes.download", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=["clothing", "fashion_mnist"])
    parser.add_argument("dir", type=Path, help="folder to download into (clothing: a new or empty folder)")
    parser.add_argument("--url", help=f"clothing: the zip archive to fetch (default {CLOTHING_URL}); "
                                      f"fashion_mnist: the folder URL the IDX .gz files are fetched from "
                                      f"(default: torchvision's Fashion-MNIST mirrors)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S,
                        help="seconds to wait for the server before giving up (default %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error(f"--timeout {args.timeout}: must be a positive number of seconds")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.verbose)
    if args.dataset == "clothing":
        report = download_clothing(args.dir, url=args.url or CLOTHING_URL, timeout_s=args.timeout)
        if not report.ok:
            print(f"downloaded the Clothing Dataset into {args.dir}, but it has problems (listed above)",
                  file=sys.stderr)
            return 1
        print(f"Clothing Dataset ready in {args.dir}: set dataset.root: {args.dir}")
        return 0
    paths = download_fashion_mnist(args.dir, base_url=args.url, timeout_s=args.timeout)
    print(f"Fashion-MNIST ready in {args.dir} ({len(paths)} files): set dataset.root: {args.dir}")
    return 0


if __name__ == "__main__":
    exit_quickly(run_command(main))
