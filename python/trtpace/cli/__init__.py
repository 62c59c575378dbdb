"""The `trtpace` command line: one module per command, all sharing `common`."""

from __future__ import annotations

from typing import Annotated

import typer

from trtpace import __version__
from trtpace.cli import clocks, compare, env, report, sweep
from trtpace.cli.errors import OneLineErrors

# Help is click's plain layout (rich_markup_mode=None): it wraps every line at the terminal's
# width and never cuts one (rich's panels ellipsized long defaults such as compare's policy
# list) and shows no <bool> metavar on flags. Shell completion: trtpace --install-completion.
app = typer.Typer(
    cls=OneLineErrors,
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
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


# Short help that fits the command list at 80 columns (click cuts a longer first sentence).
app.command(short_help="Measure how much slower inference gets after idle gaps.")(sweep.sweep)
app.command(short_help="Compare remedies side by side at one gap.")(compare.compare)
app.command(short_help="Render saved results: tables, plots, HTML, CSV or JSON.")(report.report)
app.command(short_help="Show what this machine offers, and what is missing.")(env.env)
app.add_typer(clocks.clocks_app, name="clocks", short_help="Show, lock and reset GPU clocks (locking needs root).")


def main() -> None:
    """Entry point of the console script and of `python -m trtpace`: both are named `trtpace` (usage
    lines, shell completion's `_TRTPACE_COMPLETE`)."""
    app(prog_name="trtpace")


__all__ = ["app", "main"]
