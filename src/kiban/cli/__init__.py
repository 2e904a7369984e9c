"""Command-line entry point: ``kiban``.

Every error a user can cause (a :class:`kiban.errors.KibanError`) is printed as one line per
problem and exits with status 2; users never see a traceback for their own mistakes.
"""

from __future__ import annotations

import importlib
import sys

from rich.markup import escape

from kiban.cli._app import EXIT_USER_ERROR, app, err_console
from kiban.errors import ConfigError, KibanError

# Each module registers its commands on `app` when imported. One line per module.
_COMMAND_MODULES = (
    "kiban.cli.validate",
    "kiban.cli.catalog",
    "kiban.cli.site",
    "kiban.cli.trace",
    "kiban.cli.simulate",
    "kiban.cli.demo",
    "kiban.cli.report",
    "kiban.cli.plan",
    "kiban.cli.diagnose",
    "kiban.cli.sweep",
    "kiban.cli.agent",
)


def _load_commands() -> None:
    for name in _COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            # A command module not written yet is simply absent; any other missing import is a bug.
            if err.name != name:
                raise


def _print_error(line: str) -> None:
    err_console.print(f"[red]error:[/red] {escape(line)}", highlight=False, soft_wrap=True)


def main() -> None:
    """Run the CLI, turning user errors into one clear line each and exit status 2."""
    _load_commands()
    try:
        app()
    except ConfigError as err:
        for line in err.problems:
            _print_error(line)
        sys.exit(EXIT_USER_ERROR)
    except KibanError as err:
        _print_error(str(err))
        sys.exit(EXIT_USER_ERROR)


__all__ = ["app", "main"]
