"""What every command shares: logging set up once, and user errors printed as one line with exit status 2."""
from __future__ import annotations

import logging
import sys
from typing import Callable, Sequence

from tune_clothes.errors import UserError

USAGE_ERROR = 2


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


def run_command(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run a command's `main`; a UserError becomes `error: ...` on stderr and exit status 2, not a traceback."""
    try:
        return main(argv)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
