"""Checks made before any trial starts, for what Ray would not report: trials asking for more CPUs or GPUs than
any node has (they would wait forever), results storage that some nodes cannot reach (their results would
be lost); and advice when `cpus_per_trial` leaves this machine's cores idle or oversubscribes them.

A local search is checked against this machine before Ray starts; a search on a cluster against its nodes.
"""
from __future__ import annotations

import logging
import math
import os
import uuid
from dataclasses import dataclass
from typing import Sequence

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from tune_clothes.config import Experiment
from tune_clothes.config.errors import UserError
from tune_clothes.data import storage

log = logging.getLogger(__name__)
WAIT_OPTION = "--wait-for-nodes"


@dataclass(frozen=True)
class NodeSize:
    cpus: float
    gpus: float


def local_cpus(num_cpus: int | None) -> int:
    """The CPUs a local Ray gets: --num-cpus, else the ones this process may run on."""
    if num_cpus:
        return num_cpus
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def this_machine(experiment: Experiment, num_cpus: int | None) -> NodeSize:
    gpus = 0
    if experiment.resources.gpus_per_trial > 0:  # torch.cuda only when it matters
        import torch
        gpus = torch.cuda.device_count()
    return NodeSize(local_cpus(num_cpus), gpus)


def cluster_nodes() -> list[NodeSize]:
    return [NodeSize(node["Resources"].get("CPU", 0), node["Resources"].get("GPU", 0)) for node in alive_nodes()]


def check_trials_fit(experiment: Experiment, nodes: Sequence[NodeSize], where: str, wait_for_nodes: bool) -> None:
    """A trial runs on one node: refuse a search whose trials no node can hold (unless an autoscaler will add
    nodes that can). `where`: 'this machine' or 'the Ray cluster'."""
    if wait_for_nodes:
        return
    resources = experiment.resources
    cpus = max((node.cpus for node in nodes), default=0)
    if resources.cpus_per_trial > cpus:
        largest = "it has" if where == "this machine" else "its largest node has"
        fix = math.floor(cpus) if cpus >= 1 else cpus
        raise UserError(f"resources.cpus_per_trial={resources.cpus_per_trial:g}, but {where} cannot run such a "
                        f"trial ({largest} {cpus:g} CPUs), so every trial would wait forever: set "
                        f"--set resources.cpus_per_trial={fix:g}, or pass {WAIT_OPTION} if an autoscaler will add "
                        f"larger nodes")
    gpus = max((node.gpus for node in nodes), default=0)
    if resources.gpus_per_trial > 0 and gpus < resources.gpus_per_trial:
        per_node = "" if where == "this machine" else " on any one node"
        raise UserError(f"resources.gpus_per_trial={resources.gpus_per_trial:g}, but {where} has {gpus:g} GPUs"
                        f"{per_node}, so every trial would wait "
                        f"forever: set resources.gpus_per_trial: 0 (--set resources.gpus_per_trial=0) to train on "
                        f"CPUs, attach to a cluster with GPUs (--address), or pass {WAIT_OPTION} if an autoscaler "
                        f"will add GPU nodes")


def cpu_advice(experiment: Experiment, trials: int, cpus: int) -> str | None:
    """One line when CPU trials would leave whole cores of this machine idle, or run more threads than it has
    cores; None when they fit. A trial uses max(1, cpus_per_trial) torch threads plus its loader workers."""
    resources, workers = experiment.resources, experiment.train.num_workers
    if resources.gpus_per_trial > 0:  # GPU trials are paced by their GPU, not by their CPU share
        return None
    limit = min(trials, resources.max_concurrent_trials or trials)
    at_once = min(limit, int(cpus // resources.cpus_per_trial))
    threads = at_once * (max(1, int(resources.cpus_per_trial)) + workers)
    setting = f"resources.cpus_per_trial={resources.cpus_per_trial:g}"
    if threads > cpus:
        better = max(1, min(cpus, workers + 1))
        return (f"{setting} with train.num_workers={workers} runs {at_once} trials at once with {threads} threads "
                f"on {cpus} CPUs, which slows every one of them: --set resources.cpus_per_trial={better}")
    idle = cpus - at_once * resources.cpus_per_trial
    if idle >= 1 and at_once >= 1:
        better = int(cpus // at_once)  # the same trials at a time, with every core busy
        if better > resources.cpus_per_trial:
            return (f"{setting} leaves {idle:g} of {cpus} CPUs idle ({at_once} trial(s) at a time): --set "
                    f"resources.cpus_per_trial={better} gives each trial {better} threads")
    return None


def alive_nodes() -> list[dict]:
    return [node for node in ray.nodes() if node.get("Alive")]


def check_shared_storage(storage_root: str) -> None:
    """Every node must see the results storage: s3:// and the like are shared; a path must be on a shared
    filesystem, which is checked by asking each node to read a file the driver just wrote there."""
    nodes = alive_nodes()
    if len(nodes) < 2 or storage.is_uri(storage_root):
        return
    token = uuid.uuid4().hex
    probe = storage.join(storage_root, f".tune_clothes-storage-probe-{token}")  # not in the experiment folder
    storage.write_text(probe, token)
    try:
        seen = {node["NodeManagerAddress"] + " " + node["NodeID"][:8]: _probe_from(node, probe) for node in nodes}
    finally:
        storage.delete(probe)
    blind = [name for name, text in seen.items() if text is not None and text != token]
    if blind:
        raise UserError(f"--storage {storage_root} is not shared: node(s) {', '.join(blind)} of this "
                        f"{len(nodes)}-node cluster cannot see it, so their results would be lost. Use storage every "
                        f"node reaches: s3://bucket/prefix, or a path on a filesystem mounted on every node (NFS, EFS)")
    log.info("storage %s is reachable from all %d nodes", storage_root, len(nodes))


def _probe_from(node: dict, probe: str) -> str | None:
    """What `node` reads at `probe` ('' when nothing); None when the node could not be asked (it just died)."""
    task = _read_probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
    try:
        return ray.get(task.remote(probe), timeout=60)
    except ray.exceptions.RayError as err:  # includes GetTimeoutError
        log.warning("could not check storage from node %s (%s); Ray will not schedule trials on a dead node",
                    node["NodeManagerAddress"], type(err).__name__)
        return None


@ray.remote(num_cpus=0)
def _read_probe(path: str) -> str | None:
    try:
        return storage.read_text(path)
    except OSError:
        return ""
