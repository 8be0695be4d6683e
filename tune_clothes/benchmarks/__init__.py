"""Benchmarks with numbers for the notes (not timed tests): `python -m tune_clothes.benchmarks.<name> --help`."""
