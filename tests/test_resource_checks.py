"""Trials that no node can hold are refused with the fix (a trial runs on one node, so the largest node counts,
not the cluster's total); `--wait-for-nodes` lets an autoscaler add such nodes. And the advice when
`cpus_per_trial` leaves cores idle or oversubscribes them."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import tiny_space

from tune_clothes.config.errors import UserError
from tune_clothes.config.loader import experiment_from_dict
from tune_clothes.tuning.cluster_checks import NodeSize, check_trials_fit, cpu_advice


def experiment(tmp_path: Path, **resources):
    return experiment_from_dict(tiny_space(tmp_path, "resources", resources=resources))


def test_a_trial_must_fit_on_one_node_not_on_the_cluster(tmp_path: Path) -> None:
    nodes = [NodeSize(cpus=4, gpus=1), NodeSize(cpus=4, gpus=1)]  # 8 CPUs and 2 GPUs in all
    with pytest.raises(UserError, match=r"cpus_per_trial=6.*largest node has 4 CPUs.*cpus_per_trial=4.*"
                                        r"--wait-for-nodes"):
        check_trials_fit(experiment(tmp_path, cpus_per_trial=6), nodes, "the Ray cluster", wait_for_nodes=False)
    with pytest.raises(UserError, match=r"gpus_per_trial=2, but the Ray cluster has 1 GPUs on any one node"):
        check_trials_fit(experiment(tmp_path, gpus_per_trial=2), nodes, "the Ray cluster", wait_for_nodes=False)
    check_trials_fit(experiment(tmp_path, cpus_per_trial=4, gpus_per_trial=0.5), nodes, "the Ray cluster", False)
    check_trials_fit(experiment(tmp_path, cpus_per_trial=6), nodes, "the Ray cluster", wait_for_nodes=True)


@pytest.mark.parametrize("resources, trials, cpus, advice", [
    ({"cpus_per_trial": 1}, 9, 2, None),  # the demo: 2 trials at a time on 2 CPUs
    ({"cpus_per_trial": 1}, 1, 2, "leaves 1 of 2 CPUs idle (1 trial(s) at a time): --set resources.cpus_per_trial=2"),
    ({"cpus_per_trial": 1}, 3, 8, "leaves 5 of 8 CPUs idle (3 trial(s) at a time): --set resources.cpus_per_trial=2"),
    ({"cpus_per_trial": 3}, 9, 8, "leaves 2 of 8 CPUs idle (2 trial(s) at a time): --set resources.cpus_per_trial=4"),
    ({"cpus_per_trial": 0.5}, 9, 2, "runs 4 trials at once with 4 threads on 2 CPUs, which slows every one of them: "
                                    "--set resources.cpus_per_trial=1"),
    ({"cpus_per_trial": 1, "max_concurrent_trials": 1}, 9, 4, "--set resources.cpus_per_trial=4"),
    ({"cpus_per_trial": 0.5, "gpus_per_trial": 0.5}, 9, 2, None),  # GPU trials: paced by the GPU
])
def test_cpu_advice(tmp_path: Path, resources: dict, trials: int, cpus: int, advice: str | None) -> None:
    given = cpu_advice(experiment(tmp_path, **resources), trials, cpus)
    assert given == advice if advice is None else advice in given
