"""The typer application object and the helpers every command module shares.

Command modules (``kiban.cli.<name>``) register themselves on :data:`app`. They parse, call the
library and write files; they hold no domain logic. They import only typer and the standard library
at module level: numpy, polars, scipy, pydantic and rich are loaded inside the command that needs
them, so ``kiban --help`` and ``kiban --version`` start in a fraction of a second
(``bench/bench_startup.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from kiban._version import __version__

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(
    name="kiban",
    help="kiban: digital twin and co-optimizer for GPU data centers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain click help: no rich markup (which ate bracketed words such as "[workload]") and no
    # "<bool>" type shown beside flags; it also keeps rich out of `kiban --help`.
    rich_markup_mode=None,
)

EXIT_USER_ERROR = 2
"""Exit status for every mistake a user can make (bad file, bad option, bad value)."""


class _LazyConsole:
    """A rich ``Console`` created on first use, so importing a command module does not load rich."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def get(self) -> Console:
        """The underlying console (created now if needed)."""
        if self._console is None:
            from rich.console import Console  # noqa: PLC0415 (startup time)

            self._console = Console(stderr=self._stderr)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)

    def __enter__(self) -> Console:
        return self.get().__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.get().__exit__(*exc)


def real_console(con: Console) -> Console:
    """The rich ``Console`` behind :data:`console` or :data:`err_console`.

    For rich objects (progress bars, live displays) that need the console itself, not a
    stand-in.
    """
    return con.get() if isinstance(con, _LazyConsole) else con


console: Console = _LazyConsole(stderr=False)  # type: ignore[assignment]
err_console: Console = _LazyConsole(stderr=True)  # type: ignore[assignment]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"kiban {__version__}")
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
