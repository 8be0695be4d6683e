"""`python -m tune_clothes <command> ...`: the same as the `tune-clothes` console script."""
from tune_clothes.cli import console_script

console_script()
