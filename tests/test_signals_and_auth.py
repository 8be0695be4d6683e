"""A real search command with Ray's default authentication (no RAY_AUTH_MODE set, as a user runs it): its local
Ray has a token of its own, nothing is written to ~/.ray, and nothing without the token can attach. SIGTERM (as a
job scheduler sends it, to the driver alone) stops it with exit status 143 and the resume command; a second
Ctrl-C stops it at once. Either way no Ray process is left behind."""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import tiny_space
from ray_nodes import end_processes, lines_until, process_tree, running, wait_for

from tune_clothes.tuning.faults import ENV_VAR

pytestmark = pytest.mark.slow
TIMEOUT_S = 300


class HeldSearch:
    """`python -m tune_clothes.search` on the tiny space with one trial held in its second epoch, in a HOME of its
    own and with Ray's authentication left at its default."""

    def __init__(self, tmp_path: Path, name: str):
        self.home = tmp_path / "home"
        self.home.mkdir()
        space = tmp_path / "space.yaml"
        space.write_text(yaml.safe_dump(tiny_space(tmp_path, name, train={"epochs": 5}, cv={"folds": 2})))
        self.location = tmp_path / "results" / name
        hold = {"kind": "hold", "epoch": 1, "fold": 1, "axes": {"lr": 0.001}, "release_file": str(tmp_path / "no")}
        environment = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
        environment.update({ENV_VAR: json.dumps([hold]), "HOME": str(self.home)})
        self.driver = subprocess.Popen([sys.executable, "-m", "tune_clothes.search", "--space", str(space),
                                        "--num-cpus", "2"], start_new_session=True, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True, env=environment)
        self.ray_processes: dict[int, object] = {}
        self.read: list[str] = []  # lines read before `finish`

    def read_until(self, text: str) -> None:
        self.read.append(lines_until(self.driver, text, TIMEOUT_S))

    def wait_until_training(self) -> None:
        """Until a trial has reported an epoch (Tune's run is on, so a signal has something to stop)."""
        def training() -> bool:
            self.ray_processes.update((p.pid, p) for p in process_tree(self.driver.pid)[1:])
            assert self.driver.poll() is None, f"the search ended early:\n{self.driver.stdout.read()}"
            return any(path.stat().st_size for path in self.location.glob("*/result.json"))
        wait_for(training, TIMEOUT_S, "a trial to report an epoch")

    def gcs_port(self) -> int:
        for process in process_tree(self.driver.pid):
            found = re.search(r"--gcs_server_port=(\d+)", " ".join(process.cmdline()))
            if "gcs_server" in process.name() and found:
                return int(found.group(1))
        raise AssertionError("the search's Ray has no GCS server process")

    def finish(self) -> str:
        try:
            output, _ = self.driver.communicate(timeout=TIMEOUT_S)
        finally:
            end_processes(process_tree(self.driver.pid), grace_s=0)
        left = [p for p in self.ray_processes.values() if running(p)]
        assert not left or wait_for(lambda: not any(map(running, left)), 10, "Ray to end"), output
        return "".join(self.read) + output


@pytest.fixture(scope="module")
def held_searches(tmp_path_factory):
    """Both tests' searches, started together, so that their Ray starts and first epochs overlap (about 20 s of
    the suite); one whose test did not get to end it is killed here."""
    searches = {name: HeldSearch(tmp_path_factory.mktemp(name), name) for name in ("sigterm", "twice")}
    yield searches
    for search in searches.values():
        if search.driver.poll() is None:
            end_processes(process_tree(search.driver.pid), grace_s=0)


def test_sigterm_stops_a_search_whose_ray_has_a_token_of_its_own(held_searches, tmp_path):
    search = held_searches["sigterm"]
    try:
        search.wait_until_training()
        attach = subprocess.run(
            [sys.executable, "-c", f"import ray; ray.init(address='127.0.0.1:{search.gcs_port()}')"],
            capture_output=True, text=True, timeout=120,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")},
                 "HOME": str(tmp_path), "RAY_AUTH_MODE": "token", "RAY_gcs_server_port_wait_time_s": "2"})
        os.kill(search.driver.pid, signal.SIGTERM)  # to the driver alone, as a job scheduler may
    finally:
        output = search.finish()
    assert attach.returncode != 0 and "token" in (attach.stdout + attach.stderr).lower(), attach.stderr[-2000:]
    assert "token authentication with a token of its own" in output
    assert not (search.home / ".ray").exists(), "the search wrote to ~/.ray"
    assert search.driver.returncode == 143, output
    assert "SIGTERM: stopping the search" in output and "Traceback" not in output, output
    assert "rank  tied  config" in output  # the leaderboard of what finished
    resume = shlex.split(output.strip().splitlines()[-1])
    assert resume[:3] == ["python", "-m", "tune_clothes.search"] and resume[-1] == "--resume", output
    assert (search.location / "leaderboard.csv").is_file()


def test_a_second_ctrl_c_stops_at_once(held_searches):
    search = held_searches["twice"]
    try:
        search.wait_until_training()
        os.killpg(search.driver.pid, signal.SIGINT)
        search.read_until("stopping the search")  # the held trial keeps the stop waiting: Tune's 10 s grace
        os.killpg(search.driver.pid, signal.SIGINT)
    finally:
        output = search.finish()
    assert search.driver.returncode == 130, output
    assert "SIGINT again: stopping at once" in output and "Traceback" not in output, output
    assert "Continue with" not in output, output  # at once: no leaderboard, no report
