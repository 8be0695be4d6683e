"""The Ray a search runs on: a local Ray of its own, or a running cluster (--address, or RAY_ADDRESS).

A local Ray is started quietly and safely: with token authentication (Ray 2.60's default for a local Ray),
but with a fresh token of its own, kept in this process's environment, which Ray's processes inherit. So
nothing is written to ~/.ray, Ray prints no warning, and nothing else can attach to it; and with a reaper that
ends its processes when the search's process ends, even by SIGKILL (reaper.py). A cluster keeps its
token authentication: the token comes from RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token, and where
it is missing the error says so in one line. Either way one line says what the search runs on.
"""
from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

import ray

from tune_clothes.config.errors import UserError
from tune_clothes.tuning import reaper
from tune_clothes.tuning.ray_internals import (
    NO_IDLE_WORKERS,
    check_ray_version,
    kill_local_monitor,
    reload_auth_settings,
)

log = logging.getLogger(__name__)
AUTH_MODE, AUTH_TOKEN, AUTH_TOKEN_PATH = "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"


@dataclass(frozen=True)
class RayTarget:
    address: str | None  # a running cluster; None: start a local Ray
    num_cpus: int | None = None  # of a local Ray (None: all)
    verbose: bool = False  # Ray's own logs and the trials' output


def cluster_address(address: str | None) -> str | None:
    """The cluster to attach to: --address, else RAY_ADDRESS; None starts a local Ray."""
    return address or os.environ.get("RAY_ADDRESS") or None


@contextmanager
def ray_session(target: RayTarget, location: str) -> Iterator[None]:
    """Start or attach to Ray for the search; shut down only what was started here (a test's Ray is kept)."""
    if ray.is_initialized():
        yield
        return
    check_ray_version()
    if target.address is None:
        marker = secrets.token_hex(8)
        settings, guard = {**_local_auth(), **NO_IDLE_WORKERS, reaper.MARKER: marker}, _reaper(marker)
    else:
        settings, guard = _cluster_auth(), nullcontext()
    with _environment(settings), guard:
        if target.address is None:
            _start_local(target)
            log.info("started a local Ray for this search (%s; token authentication with a token of its own, "
                     "no dashboard); results go to %s", _size(ray.cluster_resources()), location)
        else:
            _attach(target)
            log.info("attached to the Ray cluster at %s (%d nodes, %s); results go to %s", target.address,
                     len([n for n in ray.nodes() if n.get("Alive")]), _size(ray.cluster_resources()), location)
        try:
            yield
        finally:
            _shutdown(local=target.address is None)


@contextmanager
def _reaper(marker: str) -> Iterator[None]:
    """The reaper (reaper.py) of the processes this search starts, however the search ends."""
    env = {key: value for key, value in os.environ.items() if key != reaper.MARKER}  # not one of its targets
    process = subprocess.Popen([sys.executable, "-m", "tune_clothes.tuning.reaper", marker], env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)  # a terminal's Ctrl-C does not reach it
    try:
        yield
    finally:
        process.stdin.close()  # Ray has shut down: the reaper ends what is left, if anything
        process.wait(timeout=reaper.GRACE_S + 10)


def _start_local(target: RayTarget) -> None:
    log.debug("starting a local Ray")
    # 'local' starts a new Ray, never a stale cluster's leftovers (a plain ray.init() would attach to those)
    ray.init(address="local", num_cpus=target.num_cpus, include_dashboard=False, log_to_driver=target.verbose,
             logging_level=logging.INFO if target.verbose else logging.WARNING)


def _shutdown(local: bool) -> None:
    """`ray.shutdown()`; for a local Ray, its autoscaler monitor is killed first (`kill_local_monitor`: 1.2 s
    sooner)."""
    try:
        if local:
            kill_local_monitor()
    finally:
        ray.shutdown()


def _attach(target: RayTarget) -> None:
    try:
        ray.init(address=target.address, log_to_driver=target.verbose,
                 logging_level=logging.INFO if target.verbose else logging.WARNING)
    except (ConnectionError, RuntimeError, ray.exceptions.RayError) as err:
        raise UserError(_attach_error(target.address, err)) from None


def _local_auth() -> dict[str, str]:
    """Token authentication with a fresh token, unless the user chose the mode (RAY_AUTH_MODE)."""
    if AUTH_MODE in os.environ:
        return {}
    return {AUTH_MODE: "token", AUTH_TOKEN: secrets.token_hex(32)}


def _cluster_auth() -> dict[str, str]:
    """Use the token where there is one: Ray itself only does so for address=auto, not for an address."""
    if AUTH_MODE not in os.environ and _token_source() is not None:
        return {AUTH_MODE: "token"}
    return {}


def _token_source() -> str | None:
    if os.environ.get(AUTH_TOKEN):
        return AUTH_TOKEN
    path = os.environ.get(AUTH_TOKEN_PATH)
    if path and Path(path).expanduser().is_file():
        return path
    default = Path.home() / ".ray" / "auth_token"
    return str(default) if default.is_file() else None


def _attach_error(address: str, err: BaseException) -> str:
    chain, cause = [], err
    while cause is not None and len(chain) < 5:
        chain.append(str(cause))
        cause = cause.__cause__ or cause.__context__
    text = " ".join(chain).lower()
    source = _token_source()
    if "authentication token" in text or "invalidauthtoken" in text:
        found = f"the token in {source} is not its token" if source else "no token was found here"
        return (f"the Ray cluster at {address} requires token authentication and {found}: print the cluster's "
                f"token on its head node (ray get-auth-token), then set RAY_AUTH_TOKEN to it (or save it in "
                f"~/.ray/auth_token) and RAY_AUTH_MODE=token")
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return (f"could not attach to the Ray cluster at {address} ({first}): check --address or RAY_ADDRESS "
            f"(`ray status` on the head node shows it), or leave both unset to run on this machine")


def _size(resources: Mapping[str, float]) -> str:
    gpus = resources.get("GPU", 0)
    return f"{resources.get('CPU', 0):g} CPUs" + (f", {gpus:g} GPUs" if gpus else "")


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the session (Ray's processes inherit them), then restore the old ones."""
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    reload_auth_settings()
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reload_auth_settings()
