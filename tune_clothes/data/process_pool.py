"""The one way the data layer decodes in parallel: a pool of *spawned* processes (not forked: the caller may be
a threaded process, a Ray worker or a test runner). A spawned process imports the caller's `__main__` again, so a
Python script that calls tune_clothes at its top level, without `if __name__ == "__main__":`, would start the
search again in every worker; Python stops those workers, and the pool breaks. That is said here, with the fix,
instead of a traceback about a broken process pool."""
from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing import get_context
from typing import Iterator

from tune_clothes.config.errors import DataError


@contextmanager
def spawned_pool(workers: int | None, what: str) -> Iterator[ProcessPoolExecutor]:
    """A process pool of `workers` (default: every CPU) for `what` (e.g. "decoding 4,872 images")."""
    try:
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count(), mp_context=get_context("spawn")) as pool:
            yield pool
    except BrokenProcessPool:
        script = getattr(sys.modules.get("__main__"), "__file__", None)
        hint = (f"; {script} is a script: put what it runs under `if __name__ == \"__main__\":` (the pool's "
                f"processes import it again, as Python's multiprocessing does)" if script else "")
        raise DataError(f"{what}: a worker process of the pool ended abruptly{hint}") from None
