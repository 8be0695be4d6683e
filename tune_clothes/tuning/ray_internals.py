"""Every use of Ray's private API, in one place, each read and tested on Ray 2.60 (`TESTED_RAY`).

pyproject.toml allows Ray 2.60.x only: private APIs, and Tune's behaviour around them, change between Ray's minor
releases, and a wrong version is kinder refused by pip at install time than found in a search's first hour.
Where Ray was installed another way, `check_ray_version` says once, at the start, what was tested and how to get
it; each function below also degrades to Ray's public behaviour when its private part is missing.
"""
from __future__ import annotations

import logging
from typing import Callable

import ray

log = logging.getLogger(__name__)
TESTED_RAY = "2.60"  # major.minor
# A local Ray starts one idle worker process per CPU for the first driver. None can ever host a trial (Tune gives
# its trial actors a runtime_env of their own, and Ray hands a task only to a worker with the same one), yet on a
# small machine they boot while Ray and the first trials start: measured on 2 cores, Ray is up 0.3 s sooner
# without them. A RayConfig setting, read by the raylet from its environment.
NO_IDLE_WORKERS = {"RAY_prestart_worker_first_driver": "0"}
_warned: list[str] = []


def version_advice(version: str) -> str | None:
    """What to do about this Ray version, or None when it is the tested one."""
    if version == TESTED_RAY or version.startswith(TESTED_RAY + "."):
        return None
    return (f"Ray {version} is installed, but tune_clothes is tested with Ray {TESTED_RAY} only (it uses a few of "
            f"Ray's private parts, listed in tune_clothes/tuning/ray_internals.py, and they change between Ray "
            f"releases): if the search misbehaves, install the tested one with pip install 'ray[tune]=="
            f"{TESTED_RAY}.*'")


def check_ray_version() -> None:
    """Warn once per process when the installed Ray is not the tested one."""
    advice = version_advice(ray.__version__)
    if advice is not None and advice not in _warned:
        _warned.append(advice)
        log.warning("%s", advice)


def kill_local_monitor() -> None:
    """Kill the autoscaler monitor of the local Ray this process started. `ray.shutdown()` stops the monitor
    after the GCS and gives it a second to exit; it does not exit in that second (by the look of Ray's source, its
    exit handler reports to the GCS, by then gone), so Ray kills it after the full second. Measured on 2 cores,
    the shutdown takes 0.16 s instead of 1.35 s. A local Ray has nothing to autoscale. Without the private API,
    the shutdown is only slower."""
    node = getattr(getattr(getattr(ray, "_private", None), "worker", None), "_global_node", None)
    if hasattr(node, "kill_monitor"):
        node.kill_monitor(check_alive=False)


def reload_auth_settings() -> None:
    """This process read Ray's settings (the auth mode among them) and its token when it imported Ray: make it
    read them again, as Ray does when it turns token authentication on itself."""
    try:
        from ray._raylet import AuthenticationTokenLoader, Config
    except ImportError:  # another Ray: it reads them at ray.init, or the token must come from the environment
        log.debug("Ray %s has no AuthenticationTokenLoader: auth settings are not reloaded", ray.__version__)
        return
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


CLUSTER_CHECKS_LOGGER = "ray.autoscaler._private.util"  # prints "setting max workers for <type> to N" at INFO


def cluster_launcher_checks() -> tuple[Callable, Callable]:
    """`prepare_config` and `validate_config`: what `ray up` runs on a cluster file before its first cloud call
    (`ray.autoscaler._private.commands._bootstrap_config`)."""
    from ray.autoscaler._private.util import prepare_config, validate_config
    return prepare_config, validate_config
