"""Stopping a search cleanly on Ctrl-C (SIGINT) or SIGTERM.

The first signal asks Tune to end its run the way it does on SIGUSR1: no new epochs are waited for, the
experiment state is saved one last time, the trials are stopped, and `fit` returns; the search then ends with
`SearchInterrupted`, which the command turns into a leaderboard, the resume command and exit status 128 +
the signal (130, 143). What the trials saved (results, checkpoints) stays as it is, so `--resume` continues.
A second signal stops at once: the process exits there and then (an exception raised from a signal handler can
land in any `__del__` of Ray's, which swallows it, and the stop would go on as before); a local Ray is ended by
the search's reaper, a cluster ends the trials whose driver is gone.

Tune's own SIGINT handler is turned off (TUNE_DISABLE_SIGINT_HANDLER, set by the runner) so that SIGINT and
SIGTERM are handled alike, here. Ray's processes ignore a terminal's Ctrl-C (Ray starts them with SIGINT
blocked) and end with the driver's session.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator, NoReturn

log = logging.getLogger(__name__)
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SearchInterrupted(Exception):
    """The search stopped on a signal after saving what it had; `exit_status` is the shell's 128 + signal."""

    def __init__(self, location: str, signum: int):
        super().__init__(f"the search at {location} was stopped by {signal.Signals(signum).name}")
        self.location, self.signum = location, signum
        self.results = None  # what finished, as `tune_clothes.search` read it back (a `SearchResults`)

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


class StopNow(KeyboardInterrupt):
    """A second signal: stop without waiting for anything."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.exit_status = 128 + signum


class StopRequest:
    """The signal received, if any; `handle` is the signal handler."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def handle(self, signum: int, frame) -> None:
        if self.signum is not None:
            _exit_now(signum)
        self.signum = signum
        log.warning("%s: stopping the search; what is finished is kept (%s again to stop at once)",
                    signal.Signals(signum).name, "Ctrl-C" if signum == signal.SIGINT else "the signal")
        tune_stop = signal.getsignal(signal.SIGUSR1)
        if not callable(tune_stop):  # Tune's run has not started: there is nothing to save
            raise StopNow(signum)
        signal.raise_signal(signal.SIGUSR1)  # Tune ends its run and saves the experiment state


def _exit_now(signum: int) -> NoReturn:
    log.warning("%s again: stopping at once; the epochs that were running are lost, --resume continues from the "
                "last checkpoints", signal.Signals(signum).name)
    logging.shutdown()  # flushes the handlers
    sys.stdout.flush()
    os._exit(128 + signum)


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Handle SIGINT and SIGTERM with a `StopRequest` inside the block; the previous handlers after it (the
    default where a C library had set one, as Ray does for SIGTERM)."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():  # only the main thread gets signals
        yield request
        return
    previous = {sig: signal.signal(sig, request.handle) for sig in SIGNALS}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
