"""tune_clothes: cross-validated hyperparameter search for clothing-image classifiers on Ray Tune.

The top level is what a user runs: one module per command (`python -m tune_clothes.<command>`, or
`tune-clothes <command>`; `cli.COMMANDS` lists them) and the experiment config (`config`). The library lives
in its layers, each importing only the ones before it:
`config` -> `data` -> `training` -> `tuning` (the only Ray) ; `analysis` reads results from disk; both decide with
`statistics` (the fold statistics and the race's decision, pure), which imports nothing of the project.
"""
