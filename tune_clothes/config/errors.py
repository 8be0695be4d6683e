"""Errors that are the user's to fix: each message names the file or key, the value, and the fix."""


class UserError(Exception):
    """Bad input (a config, a dataset, a command-line argument). CLIs print it and exit with status 2."""


class ConfigError(UserError):
    """A search space or config value is malformed."""


class DataError(UserError):
    """A dataset is missing, malformed, or too small for what was asked of it."""
