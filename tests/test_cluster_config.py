"""The shipped cluster-launcher configs pass Ray's own offline checks, and broken ones fail with Ray's message.

These tests import Ray's autoscaler code (the exception to the no-ray rule) but never start Ray.
"""
from __future__ import annotations

import socket
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from tune_clothes.cluster_config import main, validate_cluster_config
from tune_clothes.config.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
AWS_CONFIG = REPO / "cluster.yaml"
LOCAL_CONFIG = REPO / "cluster_local.yaml"


def shipped(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def write_yaml(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test: the check must work offline."""
    def refuse(*args, **kwargs):
        raise AssertionError("the cluster-config check tried to use the network")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_aws_config_passes_and_keeps_trials_off_the_head(no_network):
    prepared = validate_cluster_config(AWS_CONFIG)
    head = prepared["available_node_types"][prepared["head_node_type"]]
    assert head["resources"] == {"CPU": 0}
    workers = prepared["available_node_types"]["gpu_worker"]
    assert workers["min_workers"] == 0
    assert workers["node_config"]["InstanceMarketOptions"] == {"MarketType": "spot"}


@pytest.mark.parametrize("path", [AWS_CONFIG, LOCAL_CONFIG], ids=["aws", "local"])
def test_configs_set_token_auth_and_install_the_project_on_every_node(path):
    raw = shipped(path)
    assert raw["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        start = [command for command in raw[key] if "ray start" in command]
        assert start and all("RAY_AUTH_MODE=token ray start" in command for command in start), key
    assert any("pip install" in command and "tune_clothes[cluster]" in command for command in raw["setup_commands"])


def test_cluster_extra_pins_the_ray_this_check_was_written_for():
    """The nodes install `.[cluster]`; its Ray must be the installed one, whose private API the check calls."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    cluster = extras.get("cluster", [])
    assert f"ray[default]=={version('ray')}" in cluster
    assert any(requirement.startswith("boto3") for requirement in cluster)


def test_local_config_passes_with_the_node_type_ray_makes_for_it(no_network):
    prepared = validate_cluster_config(LOCAL_CONFIG)
    assert list(prepared["available_node_types"]) == [prepared["head_node_type"]]
    node_type = prepared["available_node_types"][prepared["head_node_type"]]
    assert node_type["min_workers"] == len(shipped(LOCAL_CONFIG)["provider"]["worker_ips"])


def test_rays_warnings_about_a_passing_config_are_logged(tmp_path, caplog):
    config = shipped(LOCAL_CONFIG)
    config["min_workers"] = 5  # more than the two worker_ips: Ray caps it and says so
    path = write_yaml(tmp_path / "five.yaml", config)
    prepared = validate_cluster_config(path)
    assert prepared["available_node_types"][prepared["head_node_type"]]["min_workers"] == 2
    assert any(str(path) in message and "Setting `min_workers=2`" in message for message in caplog.messages)


def test_top_level_typo_is_rejected_with_rays_message_and_a_suggestion(tmp_path):
    config = shipped(AWS_CONFIG)
    config["max_worker"] = config.pop("max_workers")
    path = write_yaml(tmp_path / "typo.yaml", config)
    with pytest.raises(ConfigError) as caught:
        validate_cluster_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert "Additional properties are not allowed ('max_worker' was unexpected)" in message
    assert "did you mean 'max_workers'" in message


def test_head_node_type_must_be_one_of_the_node_types(tmp_path):
    config = shipped(AWS_CONFIG)
    config["head_node_type"] = "cpu_head"
    path = write_yaml(tmp_path / "head.yaml", config)
    with pytest.raises(ConfigError, match="`head_node_type` must be one of `available_node_types`") as caught:
        validate_cluster_config(path)
    assert str(path) in str(caught.value)


def test_local_provider_rejects_available_node_types(tmp_path, capsys):
    config = shipped(LOCAL_CONFIG)
    config["available_node_types"] = shipped(AWS_CONFIG)["available_node_types"]
    config["head_node_type"] = "head"
    path = write_yaml(tmp_path / "local_types.yaml", config)
    with pytest.raises(ConfigError, match="available_node_types is not supported for on-premise clusters"):
        validate_cluster_config(path)
    assert "PANIC" not in capsys.readouterr().err  # Ray's own copy of the error is not printed as well


def test_worker_ips_must_be_a_list(tmp_path):
    config = shipped(LOCAL_CONFIG)
    config["provider"]["worker_ips"] = "10.0.0.11"
    path = write_yaml(tmp_path / "ips.yaml", config)
    with pytest.raises(ConfigError, match=r"provider\.worker_ips: '10\.0\.0\.11' is not of type 'array'"):
        validate_cluster_config(path)


def test_a_wrongly_typed_value_that_crashes_ray_is_named(tmp_path):
    config = shipped(AWS_CONFIG)
    config["head_setup_commands"] = "pip install boto3"  # a string where Ray concatenates lists
    path = write_yaml(tmp_path / "setup.yaml", config)
    with pytest.raises(ConfigError, match=r"head_setup_commands: 'pip install boto3' is not of type 'array'"):
        validate_cluster_config(path)


def test_local_files_check_names_each_missing_mount_source(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative sources are relative to where `ray up` runs
    (tmp_path / "repo").mkdir()
    config = shipped(LOCAL_CONFIG)
    config["auth"]["ssh_private_key"] = str(tmp_path / "id_test")
    config["file_mounts"] = {"~/tune_clothes": "repo", "~/data/clothing-dataset": "absent-data",
                             "~/.ray/auth_token": str(tmp_path / ".ray" / "auth_token")}
    path = write_yaml(tmp_path / "mounts.yaml", config)
    validate_cluster_config(path)  # Ray itself does not look at the laptop's files
    with pytest.raises(ConfigError) as caught:
        validate_cluster_config(path, check_local_files=True)
    message = str(caught.value)
    assert "'absent-data'" in message and "ray get-auth-token --generate" in message and "ssh_private_key" in message
    assert "'repo'" not in message
    for present in (tmp_path / "absent-data", tmp_path / ".ray"):
        present.mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("token", encoding="utf-8")
    (tmp_path / "id_test").write_text("key", encoding="utf-8")
    assert validate_cluster_config(path, check_local_files=True)["provider"]["type"] == "local"


@pytest.mark.parametrize(("text", "expected"), [
    ("provider: {type: aws}\n", "missing required key 'cluster_name'"),
    ("cluster_name: x\nprovider: aws\n", "missing required key 'provider.type'"),
    ("cluster_name: x\nprovider: {type: gcpx}\n", "Unsupported node provider: gcpx"),
    ("- a list\n", "the top level must be a mapping"),
    ("cluster_name: [unclosed\n", "not valid YAML"),
])
def test_malformed_files_get_one_line_errors(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected):
        validate_cluster_config(path)


def test_cli_prints_ok_or_error_per_file_and_exits_2_on_any_error(tmp_path, capsys):
    bad = write_yaml(tmp_path / "bad.yaml", {**shipped(AWS_CONFIG), "head_node_type": "cpu_head"})
    assert main([str(AWS_CONFIG), str(bad), str(tmp_path / "missing.yaml")]) == 2
    out, err = capsys.readouterr()
    assert out.startswith(f"ok: {AWS_CONFIG} (aws;")
    assert f"error: {bad}: `head_node_type`" in err
    assert "missing.yaml: no such file" in err
    assert main([str(AWS_CONFIG), str(LOCAL_CONFIG)]) == 0
