"""The Python API: what the commands run, as functions and objects for notebooks and scripts. The commands are
thin layers over it.

Public and stable (importable from `tune_clothes` itself): `load_experiment`, `search`, `dry_run`,
`load_results` and its `SearchResults`, `final`, `load_model` and its `Model`, and the errors a caller may
catch: `UserError` (bad input, with the fix in its message; `ConfigError` for the search space),
`SearchInterrupted` (Ctrl-C or SIGTERM stopped a search or a refit; what finished is kept), `RefitFailed` and
`ExportCheckFailed` (`final`). Everything else in the package may change between versions.
"""
