"""A pytest plugin that measures CPU seconds per test, for comparing the suite's cost on a shared, loaded
machine where wall times mean little. Not loaded by default:

    PYTHONPATH=.:tests CPU_TIME_OUT=cpu.json python -m pytest -p cpu_time_plugin

writes {test id: [wall seconds, CPU seconds], "__total__": [0, CPU seconds]} to CPU_TIME_OUT. CPU seconds are
those of pytest and every process below it (Ray's workers, drivers and nodes started by the tests), sampled
every 0.1 s so that short-lived processes count too (up to their last sample).
"""
from __future__ import annotations

import json
import os
import threading
import time

import psutil
import pytest

SAMPLE_S = 0.1  # seconds between samples of the process tree
_this = psutil.Process()
_cpu: dict[tuple[int, float], float] = {}  # (pid, start time) -> CPU seconds of that process, last seen
_lock = threading.Lock()
_records: dict[str, tuple[float, float]] = {}


def _sample() -> None:
    for process in [_this, *_this.children(recursive=True)]:
        try:
            key, times = (process.pid, process.create_time()), process.cpu_times()
        except psutil.Error:
            continue
        with _lock:
            _cpu[key] = times.user + times.system


def _sample_forever() -> None:
    while True:
        _sample()
        time.sleep(SAMPLE_S)


def _total() -> float:
    _sample()
    with _lock:
        return sum(_cpu.values())


def pytest_sessionstart(session) -> None:
    threading.Thread(target=_sample_forever, daemon=True).start()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    cpu, wall = _total(), time.monotonic()
    yield
    _records[item.nodeid] = (time.monotonic() - wall, _total() - cpu)


def pytest_sessionfinish(session) -> None:
    _records["__total__"] = (0.0, _total())
    with open(os.environ.get("CPU_TIME_OUT", "cpu_time.json"), "w") as out:
        json.dump(_records, out, indent=1)
