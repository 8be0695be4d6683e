"""Checks against the Ray cluster, made before any trial starts, for mistakes Ray would not report:
GPUs asked for where there are none (trials would wait forever), and results storage that some nodes
cannot reach (their results would be lost)."""
from __future__ import annotations

import logging
import uuid

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from tune_clothes import storage
from tune_clothes.config import Experiment
from tune_clothes.errors import UserError

log = logging.getLogger(__name__)


def check_local_gpus(experiment: Experiment, wait_for_gpus: bool) -> None:
    """Before starting a local Ray: are there GPUs on this machine for trials that want them?"""
    if experiment.resources.gpus_per_trial > 0:
        import torch
        _require_gpus(experiment.resources.gpus_per_trial, torch.cuda.device_count(), "this machine", wait_for_gpus)


def check_gpus(experiment: Experiment, wait_for_gpus: bool) -> None:
    """On the Ray cluster the search runs on (local or attached)."""
    if experiment.resources.gpus_per_trial > 0:
        _require_gpus(experiment.resources.gpus_per_trial, ray.cluster_resources().get("GPU", 0), "the Ray cluster",
                      wait_for_gpus)


def _require_gpus(wanted: float, available: float, where: str, wait_for_gpus: bool) -> None:
    if available >= min(wanted, 1) or wait_for_gpus:
        return
    raise UserError(f"resources.gpus_per_trial={wanted}, but {where} has {available:g} GPUs, so every trial "
                    f"would wait forever: set resources.gpus_per_trial: 0 (--set resources.gpus_per_trial=0) to "
                    f"train on CPUs, attach to a cluster with GPUs (--address), or pass --wait-for-gpus if an "
                    f"autoscaler will add GPU nodes")


def alive_nodes() -> list[dict]:
    return [node for node in ray.nodes() if node.get("Alive")]


def check_shared_storage(location: str) -> None:
    """Every node must see the experiment folder: s3:// and the like are shared; a path must be on a shared
    filesystem, which is checked by asking each node to read a file the driver just wrote there."""
    nodes = alive_nodes()
    if len(nodes) < 2 or storage.is_uri(location):
        return
    token = uuid.uuid4().hex
    probe = storage.join(location, f".storage-probe-{token}")
    storage.write_text(probe, token)
    try:
        seen = ray.get([_read_probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
            node["NodeID"], soft=False)).remote(probe) for node in nodes], timeout=60)
    finally:
        storage.delete(probe)
    blind = [node["NodeManagerAddress"] for node, text in zip(nodes, seen) if text != token]
    if blind:
        raise UserError(f"--storage {location} is not shared: node(s) {', '.join(blind)} of this {len(nodes)}-node "
                        f"cluster cannot see it, so their results would be lost. Use storage every node reaches: "
                        f"s3://bucket/prefix, or a path on a filesystem mounted on every node (NFS, EFS)")
    log.info("storage %s is reachable from all %d nodes", location, len(nodes))


@ray.remote(num_cpus=0)
def _read_probe(path: str) -> str | None:
    try:
        return storage.read_text(path)
    except OSError:
        return None
