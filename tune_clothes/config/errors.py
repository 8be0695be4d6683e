"""Errors that are the user's to fix: each message names the file or key, the value, and the fix."""
from __future__ import annotations

from typing import Any


class UserError(Exception):
    """Bad input (a config, a dataset, a command-line argument). CLIs print it and exit with status 2."""


class ConfigError(UserError):
    """A search space or config value is malformed."""


class DataError(UserError):
    """A dataset is missing, malformed, or too small for what was asked of it."""


def require(ok: bool, key: str, value: Any, rule: str) -> None:
    """Raise a ConfigError naming the key, the value and the rule it breaks."""
    if not ok:
        raise ConfigError(f"{key}={value!r}: {rule}")
