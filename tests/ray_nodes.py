"""Real Ray nodes on this machine for the cluster tests: `ray start --block` subprocesses, each with its own
temp dir and ports, found and ended by process id.

Never `ray stop`: it ends every Ray on the machine, including the local Ray of other tests. A node's
processes are its `ray start` process tree (gcs_server, raylet, agents, workers); every process started for
the cluster also inherits an environment marker, so one that left the tree is still found.

Token authentication is on, as on a real cluster: a fresh token in `RAY_AUTH_TOKEN` of every node and of
every driver, so nothing is written to `~/.ray/auth_token`, and no other Ray on the machine can attach.
Each node's `--temp-dir` is its own, so nothing goes to `/tmp/ray` (where `ray_current_cluster` would make a
later plain `ray.init()` try to attach to this cluster after it is gone).
"""
from __future__ import annotations

import os
import queue
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import psutil

MARKER = "TUNE_CLOTHES_TEST_RAY_NODE"  # environment variable: "<cluster id>:<role>"
STARTED = "Ray runtime started."  # printed by `ray start` once the GCS has registered the node
START_TIMEOUT_S = 90.0
RAY = str(Path(sys.executable).with_name("ray"))
# A SIGKILLed node is declared dead after period x threshold (default 3 s x 5); 1 s keeps that short, and a
# live node would have to miss 5 checks in a row, each with a 10 s timeout, to be declared dead by mistake.
HEAD_ENV = {"RAY_health_check_period_ms": "1000"}


def free_port() -> int:
    """A TCP port nobody listens on now (another process could take it before Ray binds it: unlikely)."""
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def short_temp_dir() -> Path:
    """Ray puts Unix sockets in `<temp dir>/session_<41 chars>/sockets/`, and a socket path has at most 107
    bytes, so pytest's long tmp_path does not do: a short folder in /tmp instead."""
    return Path(tempfile.mkdtemp(prefix="tc-ray-", dir="/tmp" if os.path.isdir("/tmp") else None))


def wait_for(condition: Callable[[], object], timeout_s: float, what: str, interval_s: float = 0.2) -> object:
    """Poll until `condition()` is truthy and return its value; TimeoutError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def lines_until(process: subprocess.Popen, text: str, timeout_s: float) -> str:
    """What `process` printed (text mode) up to and including its first line with `text`; AssertionError with
    what it printed if it ends first, TimeoutError if neither happens within `timeout_s`. The pipe is read by a
    thread, so a silent process cannot hang the test."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            lines.put(line)
            if text in line:
                return
        lines.put(None)  # the process closed its output
    threading.Thread(target=read, daemon=True).start()
    seen, deadline = [], time.monotonic() + timeout_s
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {text!r}:\n{''.join(seen)}") from None
        if line is None:
            raise AssertionError(f"the process ended without printing {text!r}:\n{''.join(seen)}")
        seen.append(line)
        if text in line:
            return "".join(seen)


def running(process: psutil.Process) -> bool:
    """Alive and not a zombie (a zombie is dead: only its parent's wait is missing)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def processes_marked(prefix: str) -> list[psutil.Process]:
    """Every running process whose marker starts with `prefix`."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(MARKER, "").startswith(prefix) and running(process):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)] if running(root) else []
    except psutil.NoSuchProcess:
        return []


def end_processes(processes: Iterable[psutil.Process], grace_s: float) -> None:
    """SIGTERM, then SIGKILL whatever still runs after `grace_s` seconds (0: SIGKILL at once)."""
    processes = list(processes)
    if grace_s > 0:
        _signal_all(processes, psutil.Process.terminate)
        _wait_ended(processes, grace_s)
    _signal_all([p for p in processes if running(p)], psutil.Process.kill)
    _wait_ended(processes, 10.0)


def _wait_ended(processes: list[psutil.Process], timeout_s: float) -> None:
    """Not psutil.wait_procs: it waits for a zombie's parent to reap it, which a dead parent never does."""
    try:
        wait_for(lambda: not any(map(running, processes)), timeout_s, "processes to end", interval_s=0.05)
    except TimeoutError:
        pass  # the caller checks what is left


def _signal_all(processes: list[psutil.Process], send: Callable[[psutil.Process], None]) -> None:
    for process in processes:
        try:
            send(process)
        except psutil.NoSuchProcess:
            pass


@dataclass
class RayNode:
    role: str  # "head", "worker1", ...
    marker: str
    process: subprocess.Popen  # `ray start --block`
    output: Path  # its stdout and stderr
    node_id: str = ""
    seen: dict[int, psutil.Process] = field(default_factory=dict)  # every process of the node found so far

    def processes(self) -> list[psutil.Process]:
        """The running processes of the node: the `ray start` tree plus marked ones (the marker alone is not
        enough: Ray's agents and workers retitle themselves, which can blank the environment /proc shows)."""
        for process in [*process_tree(self.process.pid), *processes_marked(self.marker)]:
            self.seen.setdefault(process.pid, process)
        return [p for p in self.seen.values() if running(p)]

    def kill(self) -> list[int]:
        """SIGKILL every process of the node at once, as when its machine dies; returns their ids."""
        processes = self.processes()
        end_processes(processes, grace_s=0)
        return [p.pid for p in processes]

    def stop(self, grace_s: float = 0.0) -> None:
        """SIGKILL by default: `ray start --block`, the GCS and the raylet outlive a SIGTERM by more than 6 s
        here, so a grace period only waits."""
        end_processes(self.processes(), grace_s)
        try:
            self.process.wait(timeout=10)  # reap our own child
        except subprocess.TimeoutExpired:
            pass  # still running after SIGKILL: leftover_processes() reports it

    def wait_started(self) -> None:
        def started() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"`ray start` of the {self.role} exited with {self.process.returncode}:\n"
                                   f"{self.output_tail()}")
            return STARTED in self.output.read_text(errors="replace")
        try:
            wait_for(started, START_TIMEOUT_S, f"the Ray {self.role} to start", interval_s=0.1)
        except TimeoutError as err:
            raise TimeoutError(f"{err}:\n{self.output_tail()}") from None
        self.node_id = self._raylet_node_id()

    def _raylet_node_id(self) -> str:
        """The node id, from the raylet's command line (as Ray's own `services.find_node_ids` does)."""
        for process in self.processes():
            try:
                for arg in process.cmdline():
                    if arg.startswith("--node_id="):
                        return arg.split("=", 1)[1]
            except psutil.NoSuchProcess:
                continue
        raise RuntimeError(f"no raylet found for the Ray {self.role}:\n{self.output_tail()}")

    def output_tail(self, lines: int = 30) -> str:
        return "\n".join(self.output.read_text(errors="replace").splitlines()[-lines:])


class LocalRayCluster:
    """A Ray head and worker nodes as separate `ray start` process trees on this machine."""

    def __init__(self) -> None:
        self.root = short_temp_dir()
        self.cluster_id = f"tc-{secrets.token_hex(6)}"
        self.token = secrets.token_hex(32)
        self.port = free_port()
        self.nodes: list[RayNode] = []

    @property
    def head(self) -> RayNode:
        return self.nodes[0]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def environment(self, role: str) -> dict[str, str]:
        """For a node or a driver of this cluster: its token, no usage stats, and the marker."""
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN_PATH")}
        env.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token, "RAY_USAGE_STATS_ENABLED": "0",
                    "RAY_worker_niceness": "0",  # default 15: on a busy machine trials would wait for minutes
                    MARKER: f"{self.cluster_id}:{role}"})
        return env

    def start_head(self, num_cpus: int) -> RayNode:
        # the ports a head opens that have fixed defaults, chosen free so that other Rays here do not collide
        return self._start("head", ["--head", f"--port={self.port}", "--include-dashboard=false",
                                    f"--dashboard-port={free_port()}", f"--ray-client-server-port={free_port()}"],
                           num_cpus, HEAD_ENV)

    def add_worker(self, num_cpus: int) -> RayNode:
        return self._start(f"worker{len(self.nodes)}", [f"--address={self.address}"], num_cpus, {})

    def _start(self, role: str, args: list[str], num_cpus: int, extra_env: dict[str, str]) -> RayNode:
        temp_dir = self.root / role
        temp_dir.mkdir()
        output = self.root / f"{role}.out"
        command = [RAY, "start", *args, f"--num-cpus={num_cpus}", f"--temp-dir={temp_dir}", "--block",
                   "--disable-usage-stats", f"--dashboard-agent-listen-port={free_port()}",  # default: 52365
                   "--min-worker-port=0", "--max-worker-port=0"]  # default: 10002-19999, shared by every node
        with open(output, "wb") as sink:
            process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env={**self.environment(role), **extra_env})
        node = RayNode(role, f"{self.cluster_id}:{role}", process, output)
        self.nodes.append(node)
        node.wait_started()
        return node

    def leftover_processes(self) -> list[psutil.Process]:
        """Processes of this cluster still running: of its nodes, or marked (drivers, strays)."""
        found = {p.pid: p for node in self.nodes for p in node.processes()}
        found.update({p.pid: p for p in processes_marked(f"{self.cluster_id}:")})
        return list(found.values())

    def shutdown(self, keep_logs_in: Path | None = None, grace_s: float = 0.0) -> None:
        """End every process of the cluster, workers first; then copy the nodes' logs (not their sockets and
        object spill files) to `keep_logs_in`, and remove the temp dirs."""
        for node in reversed(self.nodes):
            node.stop(grace_s)
        end_processes(self.leftover_processes(), grace_s=0)
        if keep_logs_in is not None:
            shutil.copytree(self.root, keep_logs_in, symlinks=True, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("sockets", "spill*", "runtime_resources"))
        shutil.rmtree(self.root, ignore_errors=True)
