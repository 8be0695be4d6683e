"""`tune-clothes <command> ...`: every command in one console script (`tune-clothes --help` lists them), and
what every command shares: logging set up once, user errors printed as one line with exit status 2.

Each command is also `python -m tune_clothes.<command>`.
"""
from __future__ import annotations

import ast
import gc
import importlib
import importlib.util
import logging
import sys
from pathlib import Path
from typing import Callable, NoReturn, Sequence

from tune_clothes.config.errors import UserError

USAGE_ERROR = 2
INTERRUPTED = 130  # 128 + SIGINT, as shells report it
#: The commands, in the order `--help` lists them: a module `tune_clothes.<name>` with a `main(argv)` each.
COMMANDS = ("search", "report", "final", "evaluate", "predict", "train", "verify", "download",
            "prepare_fashion_csv", "complexity", "cluster_config")


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if not verbose:  # matplotlib says at INFO that it built its font cache (a first run's report): not news
        logging.getLogger("matplotlib").setLevel(logging.WARNING)


def run_command(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run a command's `main`; a UserError becomes `error: ...` on stderr and exit status 2, not a traceback."""
    try:
        return main(argv)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt as stop:  # Ctrl-C; or a second SIGINT/SIGTERM while a search was stopping
        print("interrupted", file=sys.stderr)
        return getattr(stop, "exit_status", INTERRUPTED)


def exit_quickly(status: int) -> NoReturn:
    """End a command's own process with `status`. gc.freeze() first spares the interpreter's last garbage
    collections over every torch and Ray object, 0.6 of the 0.8 s an exit takes on 2 cores; atexit handlers
    and flushes still run. Never in a process that goes on: frozen objects are not collected again."""
    gc.freeze()
    sys.exit(status)


def console_script() -> NoReturn:
    """The `tune-clothes` console script's entry point."""
    exit_quickly(main())


def main(argv: Sequence[str] | None = None) -> int:
    """The `tune-clothes` console script: `tune-clothes <command> [arguments]`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else USAGE_ERROR
    name, rest = argv[0].replace("-", "_"), argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return USAGE_ERROR
    command = importlib.import_module(f"tune_clothes.{name}")
    return run_command(command.main, rest)


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name.replace('_', '-').ljust(width)}  {_summary(name)}" for name in COMMANDS]
    return ("usage: tune-clothes <command> [arguments]   (or: python -m tune_clothes.<command>)\n\n"
            "commands:\n" + "\n".join(lines) + "\n\n`tune-clothes <command> --help` explains a command.")


def _summary(name: str) -> str:
    """The first line of the command module's docstring, read from its source: importing every command (torch,
    Ray, ...) to list them would take seconds."""
    spec = importlib.util.find_spec(f"tune_clothes.{name}")
    docstring = ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding="utf-8"))) or ""
    first = docstring.strip().splitlines()[0] if docstring.strip() else ""
    if first.startswith("`") and ": " in first:  # "`python -m tune_clothes.x ...`: what it does."
        first = first.split(": ", 1)[1]
    return first[:1].upper() + first[1:].rstrip(".")


if __name__ == "__main__":
    exit_quickly(main())
