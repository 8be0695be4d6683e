"""Checks against the Ray cluster, made before any trial starts, for mistakes Ray would not report:
GPUs asked for where there are none (trials would wait forever), and results storage that some nodes
cannot reach (their results would be lost)."""
from __future__ import annotations

import logging
import uuid

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from tune_clothes.config import Experiment
from tune_clothes.config.errors import UserError
from tune_clothes.data import storage

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
