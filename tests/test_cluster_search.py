"""The search on a real two-node Ray cluster on this machine: a head and a worker node, separate `ray start`
process trees with one CPU each. The search attaches with --address, runs trials on both nodes with every
result in the shared storage, and still finishes, complete, when the worker node dies mid-search.

No race decides where trials run: every trial's first attempt is held (a `hold` fault) after two epochs
until the test releases it, so the first trial on either node cannot finish and take the other node's trial
(with reuse_actors, Tune gives a finished trial's process the next trial, and kills one still starting).
The test kills the worker while its trial is held, mid-training, then releases the head's.

The search runs in a driver subprocess (`python -m tune_clothes.search`), so this process never calls
ray.init: other tests of the session use a local Ray in this process. ray_nodes.py starts and ends the nodes.
"""
from __future__ import annotations

import json
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pytest
import yaml
from conftest import tiny_space
from ray_nodes import LocalRayCluster, RayNode, end_processes, process_tree, wait_for

from tune_clothes.analysis.summary import TRIALS_CSV
from tune_clothes.config import metric_names as M
from tune_clothes.config import trial_record as record
from tune_clothes.data.experiment_folder import LEADERBOARD_CSV
from tune_clothes.tuning.faults import ENV_VAR

pytestmark = pytest.mark.slow

SEARCH_TIMEOUT_S = 300  # the search below takes 15-25 s on 2 cores, minutes on a starved machine
LRS = (0.01,)
EPOCHS = 4
HELD_AFTER = 2  # epochs every trial's first attempt trains before it waits for the test
RAY_ADDRESS_FILE = Path("/tmp/ray/ray_current_cluster")  # what a plain ray.init() attaches to


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalRayCluster]:
    """The head node, shared by the tests here (it takes 5-12 s to start); the nodes' logs are kept in pytest's
    temp folder (ray-nodes0) for a look after a failure."""
    cluster = LocalRayCluster()
    try:
        cluster.start_head(num_cpus=1)
        yield cluster
    finally:
        cluster.shutdown(keep_logs_in=tmp_path_factory.mktemp("ray-nodes"))
    left = cluster.leftover_processes()
    assert not left, f"processes of the test's Ray cluster still run after its shutdown: {left}"
    if RAY_ADDRESS_FILE.is_file():
        assert f":{cluster.port}" not in RAY_ADDRESS_FILE.read_text(), "a later ray.init() would attach to it"


@pytest.fixture
def worker(cluster: LocalRayCluster) -> Iterator[RayNode]:
    """A worker node of its own for each test (one of them kills it)."""
    node = cluster.add_worker(num_cpus=1)
    try:
        yield node
    finally:
        node.stop()


@contextmanager
def search_driver(cluster: LocalRayCluster, space: dict[str, Any], root: Path,
                  faults: list[dict[str, Any]]) -> Iterator[subprocess.Popen]:
    """`python -m tune_clothes.search --space <space as YAML> --address <head>` with these injected faults; its
    output in <name>.out."""
    space_file = root / f"{space['name']}.yaml"
    space_file.write_text(yaml.safe_dump(space))
    with open(root / f"{space['name']}.out", "wb") as sink:
        driver = subprocess.Popen([sys.executable, "-m", "tune_clothes.search", "--space", str(space_file),
                                   "--address", cluster.address], stdout=sink, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL,
                                  env={**cluster.environment("driver"), ENV_VAR: json.dumps(faults)})
    try:
        yield driver
    finally:
        end_processes(process_tree(driver.pid), grace_s=3)
        driver.wait(timeout=10)


def finish(driver: subprocess.Popen, root: Path, name: str) -> str:
    """Wait for the search to end; its output, after checking that it succeeded."""
    try:
        driver.wait(timeout=SEARCH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the search did not finish in {SEARCH_TIMEOUT_S} s:\n{tail(root / f'{name}.out')}")
    output = (root / f"{name}.out").read_text(errors="replace")
    assert driver.returncode == 0, f"the search failed ({driver.returncode}):\n{tail(root / f'{name}.out')}"
    return output


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def trial_dirs(location: Path) -> list[Path]:
    return sorted(p for p in location.iterdir() if (p / "params.json").is_file()) if location.is_dir() else []


def epoch_rows(trial_dir: Path) -> list[dict[str, Any]]:
    """The epochs a trial reported (Ray's result.json); a line cut short by a kill is skipped."""
    path = trial_dir / "result.json"
    rows = []
    for line in (path.read_text().splitlines() if path.is_file() else []):
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def assert_leaderboard_complete(location: Path) -> None:
    board = pd.read_csv(location / LEADERBOARD_CSV)
    assert sorted(board["lr"]) == sorted(LRS), board.to_string()
    assert (board["folds_finished"] == 2).all() and (board["status"] == "complete").all(), board.to_string()


def one_trial_per_node(root: Path, name: str, **sections: Any) -> dict[str, Any]:
    """1 configuration x 2 folds: two trials, one on each node (1 CPU each)."""
    return tiny_space(root, name, lrs=LRS, cv={"folds": 2}, train={"epochs": EPOCHS}, **sections)


def held_on(node: RayNode, location: Path, driver: subprocess.Popen, output: Path) -> str | None:
    """A trial that trained its first HELD_AFTER epochs on `node` (and now waits); fails if the search ended."""
    if driver.poll() is not None:
        raise AssertionError(f"the search ended ({driver.returncode}) before a trial ran on {node.role}:\n"
                             f"{tail(output)}")
    for trial_dir in trial_dirs(location):
        nodes = [row[record.NODE_ID] for row in epoch_rows(trial_dir)]
        if nodes == [node.node_id] * HELD_AFTER:
            return trial_dir.name
    return None


def test_trials_run_on_both_nodes_and_the_search_finishes_when_the_worker_dies(cluster, worker, tmp_path):
    location, release = tmp_path / "results" / "node_dies", tmp_path / "release"
    hold = {"kind": "hold", "epoch": HELD_AFTER, "release_file": str(release), "once_dir": str(tmp_path / "held")}
    space = one_trial_per_node(tmp_path, "node_dies", search={"max_failures": 3})
    with search_driver(cluster, space, tmp_path, faults=[hold]) as driver:
        held = {node.role: wait_for(lambda n=node: held_on(n, location, driver, tmp_path / "node_dies.out"),
                                    SEARCH_TIMEOUT_S, f"a trial to train {HELD_AFTER} epochs on the {node.role}")
                for node in (cluster.head, worker)}
        killed = worker.kill()  # SIGKILL: `ray start`, raylet, agents, the held trial's worker process
        assert len(killed) >= 4 and not worker.processes(), killed
        release.touch()
        output = finish(driver, tmp_path, "node_dies")
    assert "is reachable from all 2 nodes" in output  # the storage check asked both nodes, and both saw it
    assert f"attached to the Ray cluster at {cluster.address} (2 nodes" in output
    assert "/2 nodes busy | " in output  # the progress line says how much of the cluster works
    assert_leaderboard_complete(location)
    trials = pd.read_csv(location / TRIALS_CSV)
    assert len(trials) == 2 and (trials["status"] == "finished").all(), trials.to_string()
    for trial_dir in trial_dirs(location):  # every trial's epochs and checkpoints are in the shared storage
        assert [row[M.EPOCH] for row in epoch_rows(trial_dir)] == list(range(EPOCHS)), trial_dir.name
        assert list(trial_dir.glob("checkpoint_*")), trial_dir.name
    interrupted = held[worker.role]
    nodes = [row[record.NODE_ID] for row in epoch_rows(location / interrupted)]
    moved = [worker.node_id] * HELD_AFTER + [cluster.head.node_id] * (EPOCHS - HELD_AFTER)
    assert nodes == moved, f"{interrupted} did not continue on the head from its checkpoint on the worker"


def test_attaching_without_the_clusters_token_is_one_clear_error(cluster, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(tiny_space(tmp_path, "no_token")))
    env = {k: v for k, v in cluster.environment("driver").items() if k not in ("RAY_AUTH_TOKEN", "RAY_AUTH_MODE")}
    env.update(HOME=str(tmp_path), RAY_gcs_server_port_wait_time_s="2")  # no ~/.ray/auth_token; Ray retries 2 s
    refused = subprocess.run([sys.executable, "-m", "tune_clothes.search", "--space", str(space), "--address",
                              cluster.address], capture_output=True, text=True, timeout=SEARCH_TIMEOUT_S, env=env)
    assert refused.returncode == 2, refused.stderr
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(f"error: the Ray cluster at {cluster.address} requires token authentication and "
                                f"no token was found"), refused.stderr
    assert "RAY_AUTH_TOKEN" in lines[-1] and "Traceback" not in refused.stderr
