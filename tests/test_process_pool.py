"""A Python script that calls tune_clothes without `if __name__ == "__main__":` gets, when the data layer decodes in
a pool of spawned processes (which import the script again), one error that names the script and the fix, not a
broken-pool traceback; the same script with the guard works."""
from __future__ import annotations

import subprocess
import sys

from conftest import write_jpeg

SCRIPT = """
import tune_clothes.data.validation as validation
validation.PARALLEL_FROM = 1  # a pool for two images, as for the thousands of a real dataset
{call}
"""
CALL = "print(validation._decode_verdicts({paths!r}, workers=2))"


def run(tmp_path, guarded: bool) -> subprocess.CompletedProcess:
    paths = [str(write_jpeg(tmp_path / f"{i}.jpg", seed=i)) for i in range(2)]
    call = CALL.format(paths=paths)
    body = f"if __name__ == '__main__':\n    {call}" if guarded else call
    script = tmp_path / ("guarded.py" if guarded else "unguarded.py")
    script.write_text(SCRIPT.format(call=body))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)


def test_a_script_without_the_main_guard_is_told_the_fix(tmp_path):
    unguarded = run(tmp_path, guarded=False)
    assert unguarded.returncode != 0
    last = unguarded.stderr.strip().splitlines()[-1]
    assert last.startswith("tune_clothes.config.errors.DataError: checking 2 images: a worker process")
    assert "unguarded.py is a script: put what it runs under `if __name__ == \"__main__\":`" in last
    guarded = run(tmp_path, guarded=True)
    assert guarded.returncode == 0 and guarded.stdout.strip() == "['', '']", guarded.stderr[-2000:]
