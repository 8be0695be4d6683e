"""The reaper ends a search's processes when the search process is killed with SIGKILL (which leaves it no
chance to shut its Ray down): those it saw while the search ran, and those carrying the search's marker.
A stand-in search (no Ray) starts it as the real one does, then two children the way Ray's start."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import psutil
from ray_nodes import end_processes, running, wait_for

from tune_clothes.tuning.reaper import MARKER

SEARCH = f"""
import json, os, subprocess, sys, time
import psutil
from tune_clothes.tuning.session import _reaper
os.environ[{MARKER!r}] = "test-marker"
with _reaper("test-marker"):
    (reaper,) = [p for p in psutil.Process().children() if "tuning.reaper" in " ".join(p.cmdline())]
    seen = subprocess.Popen(["sleep", "300"], env={{k: v for k, v in os.environ.items() if k != {MARKER!r}}})
    waits, since = reaper.num_ctx_switches().voluntary, time.monotonic()
    # The reaper blocks once per look, in its 1 s wait on the pipe: the second wait it enters from now on comes
    # after a whole look that began after `seen` started (one more for margin), however loaded the machine is.
    # A look can also block while it reads /proc, so those switches alone can come within one look (seen once
    # in 12 runs): 2.5 looks' time must have passed too.
    while reaper.num_ctx_switches().voluntary < waits + 3 or time.monotonic() - since < 2.5:
        time.sleep(0.05)
    marked = subprocess.Popen(["sleep", "300"])  # started after its looks so far: found by its marker
    print(json.dumps([seen.pid, marked.pid]), flush=True)
    time.sleep(300)
"""


def test_a_killed_search_leaves_no_process_behind() -> None:
    search = subprocess.Popen([sys.executable, "-c", SEARCH], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    children = []
    try:
        children = [psutil.Process(pid) for pid in json.loads(search.stdout.readline())]
        reapers = [p for p in psutil.Process(search.pid).children() if "tuning.reaper" in " ".join(p.cmdline())]
        search.send_signal(signal.SIGKILL)
        search.wait()
        wait_for(lambda: not any(map(running, children + reapers)), 20, "the search's processes to end")
    finally:
        end_processes([child for child in children if running(child)], grace_s=0)
