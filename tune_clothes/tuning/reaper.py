"""Ends a search's local Ray when the search process ends, however it ends.

`ray.shutdown()` ends Ray's processes when the search stops normally, on an error or on a signal it handles.
A SIGKILL leaves no chance to call it, and Ray's own fate-sharing then ends only the processes the search
started itself, not the agents and trial workers that the raylet started. So the search starts this reaper
with a pipe on its standard input. While the pipe is open, the reaper notes the search's processes every
second; when it closes (the search ended), it ends those still running, and every process whose environment
carries the search's marker (trial workers started since the last look inherit it). Both are needed: Ray's
agents retitle their process, which blanks their environment as /proc shows it.

    python -m tune_clothes.tuning.reaper MARKER_VALUE
"""
from __future__ import annotations

import os
import select
import signal
import sys
import time

import psutil

MARKER = "TUNE_CLOTHES_RAY_SESSION"  # environment variable: a fresh value per search
GRACE_S = 3.0  # after SIGTERM, before SIGKILL
LOOK_EVERY_S = 1.0


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is for the search, not for this
    search, started = psutil.Process(os.getppid()), psutil.Process().create_time()
    seen: dict[int, psutil.Process] = {}  # the search's processes started since this one (Ray's), by pid
    while not _closed(sys.stdin.fileno(), LOOK_EVERY_S):
        seen.update((p.pid, p) for p in _started_since(search, started))
    end_processes(lambda: [p for p in seen.values() if _running(p)] + marked(sys.argv[1]))


def _started_since(search: psutil.Process, started: float) -> list[psutil.Process]:
    """The search's descendants (this reaper aside) started at `started` or later."""
    try:
        descendants = search.children(recursive=True)
    except psutil.NoSuchProcess:  # the search has ended: its pipe is closed too
        return []
    found = []
    for process in descendants:
        try:
            if process.pid != os.getpid() and process.create_time() >= started:
                found.append(process)
        except psutil.NoSuchProcess:
            continue
    return found


def _closed(fd: int, timeout_s: float) -> bool:
    """Whether the pipe was closed (waits up to `timeout_s` for it)."""
    readable, _, _ = select.select([fd], [], [], timeout_s)
    return bool(readable) and os.read(fd, 4096) == b""


def marked(value: str) -> list[psutil.Process]:
    """The running processes (other than this one) whose environment has MARKER=value."""
    entry = f"{MARKER}={value}".encode()
    found = []
    for process in psutil.process_iter():
        try:
            with open(f"/proc/{process.pid}/environ", "rb") as block:
                if process.pid != os.getpid() and entry in block.read().split(b"\0"):
                    found.append(process)
        except OSError:  # ended meanwhile, a kernel thread, another user's process, or no /proc (macOS)
            continue
    return found


def end_processes(find, rounds: int = 10) -> None:
    """SIGTERM what `find()` returns, SIGKILL what still runs after GRACE_S seconds; again, until `find()`
    returns nothing: a dying raylet can still start a process after the first look."""
    for _ in range(rounds):
        processes = find()
        if not processes:
            return
        _signal(processes, psutil.Process.terminate)
        deadline = time.monotonic() + GRACE_S
        while any(map(_running, processes)) and time.monotonic() < deadline:
            time.sleep(0.05)
        _signal([p for p in processes if _running(p)], psutil.Process.kill)
        time.sleep(0.2)


def _running(process: psutil.Process) -> bool:
    """Alive (the same process: psutil compares its start time) and not a zombie."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _signal(processes: list[psutil.Process], send) -> None:
    for process in processes:
        try:
            send(process)
        except psutil.NoSuchProcess:
            continue


if __name__ == "__main__":
    main()
