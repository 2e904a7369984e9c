"""The typer application object and the helpers every command module shares.

Command modules (``kiban.cli.<name>``) register themselves on :data:`app`. They parse, call the
library and write files; they hold no domain logic.
"""

from __future__ import annotations

import typer
from rich.console import Console

from kiban._version import __version__

app = typer.Typer(
    name="kiban",
    help="kiban: digital twin and co-optimizer for GPU data centers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

console = Console()
err_console = Console(stderr=True)

EXIT_USER_ERROR = 2
"""Exit status for every mistake a user can make (bad file, bad option, bad value)."""


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"kiban {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Print the version and exit.",
        callback=_version_callback,
        is_eager=True,
    ),
) -> None:
    """kiban: digital twin and co-optimizer for GPU data centers."""
