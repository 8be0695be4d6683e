"""Ray's private parts are used in one module only, which knows the Ray version they were tested on and says
what to do on another."""
from __future__ import annotations

import ast
import re
import tomllib

import pytest
from test_layers import PYPROJECT, modules

from tune_clothes.tuning import ray_internals
from tune_clothes.tuning.ray_internals import TESTED_RAY, version_advice

PRIVATE_FLAGS = ("RAY_prestart_worker_first_driver",)  # Ray settings that are not documented


def private_uses(tree: ast.AST) -> list[str]:
    """Imports of a private Ray module, `ray._...` attribute chains, and undocumented Ray settings, in code."""
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id == "ray":
                names = [f"ray...{node.attr}"]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in PRIVATE_FLAGS:
            names = [node.value]
        found += [name for name in names if name in PRIVATE_FLAGS or (
            name.split(".")[0] == "ray" and any(_private(part) for part in name.split(".")[1:]))]
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")  # `__version__` is public


def test_only_ray_internals_touches_rays_private_parts():
    users = {}
    for module, path in modules().items():
        uses = private_uses(ast.parse(path.read_text(encoding="utf-8")))
        if uses:
            users[module] = uses
    assert set(users) == {"tune_clothes.tuning.ray_internals"}, users


def test_the_check_itself_sees_a_private_use():
    assert private_uses(ast.parse("import ray\nray._private.worker.x = 1")) == ["ray..._private"]
    assert private_uses(ast.parse("from ray.autoscaler._private.util import f")) == ["ray.autoscaler._private.util"]
    assert private_uses(ast.parse("env = {'RAY_prestart_worker_first_driver': '0'}")) == list(PRIVATE_FLAGS)
    assert private_uses(ast.parse("from ray import tune\ntune.report({})")) == []


@pytest.mark.parametrize("version", ["2.60.0", "2.60.3"])
def test_the_tested_ray_needs_no_advice(version):
    assert version_advice(version) is None


@pytest.mark.parametrize("version", ["2.61.0", "2.6.0", "3.0.0"])
def test_another_ray_gets_the_command_that_installs_the_tested_one(version):
    advice = version_advice(version)
    assert f"Ray {version} is installed" in advice and f"pip install 'ray[tune]=={TESTED_RAY}.*'" in advice


def test_the_installed_ray_and_the_declared_range_are_the_tested_one():
    import ray
    assert version_advice(ray.__version__) is None
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (declared,) = [d for d in dependencies if d.startswith("ray[")]
    low, high = re.findall(r"[<>]=?\s*([\d.]+)", declared)
    assert low == TESTED_RAY and high == f"{TESTED_RAY.split('.')[0]}.{int(TESTED_RAY.split('.')[1]) + 1}"


def test_the_warning_is_given_once(monkeypatch, caplog):
    monkeypatch.setattr(ray_internals.ray, "__version__", "2.99.0")
    monkeypatch.setattr(ray_internals, "_warned", [])
    ray_internals.check_ray_version()
    ray_internals.check_ray_version()
    assert [r.message for r in caplog.records].count(version_advice("2.99.0")) == 1
