"""What a search or a refit says while it runs, shown where nothing else would show it."""
from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def progress_shown() -> Iterator[None]:
    """The project logs its progress at INFO. Where nothing configured logging (a notebook, a plain script),
    show those lines on stderr for this call, then leave logging as it was."""
    package = logging.getLogger("tune_clothes")
    if logging.getLogger().handlers or package.handlers:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    level = package.level
    package.addHandler(handler)
    package.setLevel(logging.INFO)
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(level)
