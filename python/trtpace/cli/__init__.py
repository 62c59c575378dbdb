"""The `trtpace` command line: one module per command, all sharing `common`."""

from __future__ import annotations

from typing import Annotated

import typer

from trtpace import __version__
from trtpace.cli import clocks, compare, env, report, sweep
from trtpace.cli.common import OneLineErrors

app = typer.Typer(
    cls=OneLineErrors,
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Measure, explain and remove the GPU inference slowdown after idle gaps.",
)


def _version(value: bool) -> None:
    if value:
        print(f"trtpace {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print trtpace's version and exit.")
    ] = False,
) -> None:
    """Measure, explain and remove the GPU inference slowdown after idle gaps."""


app.command()(sweep.sweep)
app.command()(compare.compare)
app.command()(report.report)
app.command()(env.env)
app.add_typer(clocks.clocks_app, name="clocks")


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
