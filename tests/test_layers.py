"""The package's shape: layers import one way, every imported package is declared, the commands run."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tune_clothes.cli import COMMANDS

PACKAGE = Path(__file__).resolve().parents[1] / "tune_clothes"
PYPROJECT = PACKAGE.parent / "pyproject.toml"
#: Which layers each layer may import (itself included). Commands and benchmarks, at the top, may import any;
#: the API, below the commands, imports Ray's layer (tuning) only inside the functions that start a search.
ALLOWED = {"statistics": {"statistics"}, "config": {"config"}, "data": {"config", "data"},
           "training": {"config", "data", "training"},
           "analysis": {"statistics", "config", "data", "training", "analysis"},
           "packaging": {"statistics", "config", "data", "training", "analysis", "packaging"},
           "tuning": {"statistics", "config", "data", "training", "tuning"},
           "api": {"statistics", "config", "data", "training", "analysis", "packaging", "tuning", "api"}}
#: Third-party packages a layer must not import, even lazily inside a function.
FORBIDDEN = {"statistics": {"ray", "torch", "pandas"}, "config": {"ray", "torch"}, "data": {"ray", "torch"},
             "training": {"ray"}, "analysis": {"ray"}, "packaging": {"ray"}}
#: Import name -> distribution name, where they differ.
DISTRIBUTIONS = {"PIL": "pillow", "sklearn": "scikit-learn", "yaml": "pyyaml", "cv2": "opencv-python-headless"}


def modules() -> dict[str, Path]:
    """`tune_clothes.a.b` -> its file, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def layer(module: str) -> str | None:
    """The layer of `tune_clothes.<layer>...`; None for the top level (commands, cli) and benchmarks."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else None


def imported(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_layers_import_only_the_layers_before_them():
    wrong = []
    for module, path in modules().items():
        own = layer(module)
        if own not in ALLOWED:
            continue
        for name in imported(path):
            target = layer(name) if name.startswith("tune_clothes.") else None
            if target is not None and target not in ALLOWED[own]:
                wrong.append(f"{module} imports {name}")
            if name.split(".")[0] in FORBIDDEN.get(own, ()):
                wrong.append(f"{module} imports {name}")
            if own == "training" and name.startswith("tune_clothes.config.loader"):
                wrong.append(f"{module} imports the YAML loader")
    assert wrong == []


FRESH_IMPORTS = {  # what is imported in a fresh interpreter -> the modules that must not come with it
    "statistics": ("ray", "torch", "pandas", "tune_clothes.config", "tune_clothes.data", "tune_clothes.training",
                   "tune_clothes.tuning", "tune_clothes.analysis"),
    "data": ("ray", "torch", "tune_clothes.training", "tune_clothes.tuning"),
    "training": ("ray", "tune_clothes.config.loader", "tune_clothes.tuning", "tune_clothes.analysis"),
    "analysis": ("ray", "torch", "tune_clothes.tuning"),  # the page and tables: files in, no torch
    "packaging": ("ray", "tune_clothes.tuning"),
    "tuning": ("tune_clothes.analysis",),
    "api": ("ray", "tune_clothes.tuning"),  # Ray only once a search or a refit starts
}
# the commands that run without Ray, and the search command's module, which imports Ray only once its input is good
NO_RAY_COMMANDS = ["tune_clothes", "tune_clothes.train", "tune_clothes.search", "tune_clothes.report",
                   "tune_clothes.verify", "tune_clothes.download", "tune_clothes.complexity"]
#: Two fresh interpreters (one per core: their time is imports), each importing its layers in turn and checking
#: after each. Each layer must not load anything that a later one in its interpreter must not, so no check is
#: masked by an earlier import: each is as strict as in an interpreter of its own. (Data may load the YAML
#: loader, so it is not before training; training loads torch, so it is not before analysis.)
INTERPRETERS = (("statistics", "data", "analysis", "packaging", "api", "commands"), ("training", "tuning"))


def test_importing_a_layer_in_a_fresh_interpreter_loads_nothing_above_it():
    checks = {name: ([m for m in modules() if layer(m) == name], absent) for name, absent in FRESH_IMPORTS.items()}
    checks["commands"] = (NO_RAY_COMMANDS, ("ray",))
    assert sorted(name for names in INTERPRETERS for name in names) == sorted(checks)
    for names in INTERPRETERS:
        for earlier, later in zip(names, names[1:]):
            assert set(checks[later][1]) <= set(checks[earlier][1]), f"{later} cannot follow {earlier}"
    runs = []
    for names in INTERPRETERS:
        steps = [(name, *checks[name]) for name in names]
        code = (f"import json, sys\nloaded = {{}}\nfor name, modules, absent in {steps!r}:\n"
                f"    for module in modules: __import__(module)\n"
                f"    loaded[name] = [a for a in absent if any(m == a or m.startswith(a + '.') for m in sys.modules)]\n"
                f"print(json.dumps(loaded))")
        runs.append(subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True))
    loaded = {}
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err[-2000:]
        loaded.update(json.loads(out.strip().splitlines()[-1]))
    assert loaded == {name: [] for name in checks}


def test_every_imported_package_is_declared():
    declared = set()
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    for requirement in project["dependencies"]:
        declared.add(re.split(r"[<>=!\[; ]", requirement, maxsplit=1)[0].lower())
    third_party = set()
    for path in modules().values():
        for name in imported(path):
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top not in ("tune_clothes", "__future__"):
                third_party.add(DISTRIBUTIONS.get(top, top).lower())
    assert sorted(third_party - declared) == []


def test_the_console_script_lists_every_command():
    script = Path(sys.executable).with_name("tune-clothes")
    if not script.is_file():
        pytest.skip(f"{script} is not installed: run pip install -e .")
    shown = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    for command in COMMANDS:
        assert f"  {command.replace('_', '-')} " in shown.stdout
    unknown = subprocess.run([str(script), "serch"], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "unknown command 'serch'" in unknown.stderr
    through = subprocess.run([str(script), "search", "--help"], capture_output=True, text=True, timeout=60)
    assert through.returncode == 0 and "--space" in through.stdout


def test_every_command_runs_as_a_module():
    runs = {command: subprocess.Popen([sys.executable, "-m", f"tune_clothes.{command}", "--help"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for command in ("search", "report")}  # at once: each is mostly imports
    for command, run in runs.items():
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0 and f"usage: python -m tune_clothes.{command}" in out, err
