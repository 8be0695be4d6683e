"""`python -m tune_clothes <command> ...`: the same as the `tune-clothes` console script."""
import sys

from tune_clothes.cli import main

sys.exit(main())
