"""Check a Ray cluster-launcher file (cluster.yaml) offline, the way `ray up` checks it before its first cloud call.

    python -m tune_clothes.cluster_config [--check-local-files] cluster.yaml cluster_local.yaml

`ray up` loads the YAML, then (in `ray.autoscaler._private.commands._bootstrap_config`) runs `prepare_config`
(merge the provider's defaults.yaml; synthesize the single node type of an on-premises cluster) and
`validate_config` (ray-schema.json, `head_node_type` among `available_node_types`, the min/max worker sums).
This module runs the same two functions, without network access and without boto3. It does not check what
only the cloud or the machines can: AMIs, instance types, quotas, SSH access. `--check-local-files` adds what
`ray up` would trip over on the laptop once the head is already running: file_mounts sources that do not exist.
Both functions are private Ray API (`tuning.ray_internals`), read and tested on Ray 2.60.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

import yaml

from tune_clothes.cli import configure_logging, exit_quickly, run_command
from tune_clothes.config.errors import ConfigError
from tune_clothes.config.loader import unknown_key_message

logger = logging.getLogger(__name__)

def validate_cluster_config(path: str | os.PathLike, check_local_files: bool = False) -> dict:
    """Validate a cluster-launcher YAML file; return the config as `ray up` would use it (defaults merged).

    Raises ConfigError naming the file and carrying Ray's message. With `check_local_files`, also require
    every file_mounts source (and auth.ssh_private_key) to exist, as `ray up` run from the current directory
    needs them: a missing one only fails once the head node is already running.
    """
    raw = _read_launcher_yaml(path)
    if check_local_files:
        _require_local_files(raw, path)
    # Lazy imports: importing Ray takes about half a second, and only this check needs it.
    import click
    import jsonschema

    from tune_clothes.tuning.ray_internals import cluster_launcher_checks
    prepare_config, validate_config = cluster_launcher_checks()

    with _ray_output_captured() as ray_output:
        try:
            prepared = prepare_config(copy.deepcopy(raw))
            validate_config(prepared)
        except jsonschema.ValidationError as err:
            raise ConfigError(f"{path}: {_schema_error_message(err)}") from None
        except click.ClickException as err:  # prepare_local's aborts (e.g. available_node_types on-prem)
            raise ConfigError(f"{path}: {err.format_message()}") from None
        except (TypeError, AttributeError, KeyError) as err:  # a value of the wrong type crashed prepare_config
            raise ConfigError(f"{path}: {_wrong_type_message(raw, err)}") from None
        except (ValueError, NotImplementedError, RuntimeError, AssertionError) as err:
            raise ConfigError(f"{path}: {err}") from None
    for line in ray_output.getvalue().splitlines():  # e.g. "... min_workers (5) ... Setting `min_workers=2`."
        if line.strip():  # drop Ray's "<time> WARN config.py:88 -- " prefix
            logger.warning("%s: %s", path, line.split(" -- ", 1)[-1].strip())
    return prepared


def _read_launcher_yaml(path: str | os.PathLike) -> dict:
    """Load the file and check the two keys `ray up` reads before any validation (it would KeyError)."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{path}: no such file; pass a cluster-launcher config such as cluster.yaml")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping (cluster_name, provider, ...), "
                          f"not {type(raw).__name__}")
    if "cluster_name" not in raw:
        raise ConfigError(f"{path}: missing required key 'cluster_name': add e.g. `cluster_name: tune-clothes`")
    provider = raw.get("provider")
    if not isinstance(provider, dict) or "type" not in provider:
        raise ConfigError(f"{path}: missing required key 'provider.type': add e.g. `provider: {{type: aws}}` "
                          f"(or `type: local` for your own machines)")
    return raw


def _require_local_files(raw: dict, path: str | os.PathLike) -> None:
    sources = {f"file_mounts[{remote!r}]": local for remote, local in (raw.get("file_mounts") or {}).items()}
    if (raw.get("auth") or {}).get("ssh_private_key"):
        sources["auth.ssh_private_key"] = raw["auth"]["ssh_private_key"]
    missing = [f"{key}: {local!r}{_missing_path_hint(str(local))}" for key, local in sources.items()
               if not os.path.exists(os.path.expanduser(str(local)))]
    if missing:
        raise ConfigError(f"{path}: local paths that do not exist: {'; '.join(missing)}")


def _missing_path_hint(local: str) -> str:
    if local.endswith(".ray/auth_token"):
        return " (create it with `ray get-auth-token --generate`)"
    if not os.path.isabs(os.path.expanduser(local)):
        return f" (relative to the directory `ray up` runs in, here {os.getcwd()})"
    return ""


@contextlib.contextmanager
def _ray_output_captured() -> Iterator[io.StringIO]:
    """Collect what Ray's cli_logger prints and mute Ray's per-node-type INFO lines, for the duration.

    cli_logger prints straight to sys.stdout/sys.stderr (its PANIC line repeats the error we raise), so it is
    redirected; this is process-wide, which is fine for a command-line check but not thread-safe.
    """
    from tune_clothes.tuning.ray_internals import CLUSTER_CHECKS_LOGGER
    ray_util_logger = logging.getLogger(CLUSTER_CHECKS_LOGGER)
    old_level = ray_util_logger.level
    ray_util_logger.setLevel(logging.WARNING)
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            yield output
    finally:
        ray_util_logger.setLevel(old_level)


def _schema_error_message(err: Any) -> str:
    """One line from a jsonschema error: where, what, and for a typo the closest valid key."""
    where = ".".join(str(part) for part in err.absolute_path) or "top level"
    message = f"{where}: {err.message}"
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        valid = sorted(err.schema.get("properties", {}))
        unknown = [key for key in err.instance if key not in valid]
        hints = [unknown_key_message(str(key), valid) for key in unknown]
        message += "".join(f"; {hint}" for hint in hints)
    return f"{message} [ray-schema.json]"


def _wrong_type_message(raw: dict, err: Exception) -> str:
    """prepare_config assumes the types the schema asks for; find the offending key in the raw config."""
    import jsonschema
    import ray.autoscaler

    schema_path = Path(ray.autoscaler.__file__).with_name("ray-schema.json")
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    # Only type errors: on the raw config other rules misfire (e.g. the on-prem top-level min_workers).
    for error in jsonschema.Draft7Validator(schema).iter_errors(raw):
        if error.validator == "type":
            return _schema_error_message(error)
    if isinstance(err, KeyError):
        return f"missing key {err.args[0]!r}, which Ray's prepare_config needs"
    return f"Ray could not prepare this config: {type(err).__name__}: {err}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tune_clothes.cluster_config", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path, help="cluster-launcher YAML files to check")
    parser.add_argument("--check-local-files", action="store_true",
                        help="also require the file_mounts sources and the SSH key to exist (run it where "
                             "you will run `ray up`)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging()
    failed = 0
    for path in args.files:
        try:
            prepared = validate_cluster_config(path, check_local_files=args.check_local_files)
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr)
            failed += 1
            continue
        node_types = ", ".join(prepared["available_node_types"])
        print(f"ok: {path} ({prepared['provider']['type']}; node types {node_types}; "
              f"max_workers {prepared['max_workers']})")
    return 2 if failed else 0


if __name__ == "__main__":
    exit_quickly(run_command(main))
