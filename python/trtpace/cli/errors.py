"""One-line errors: every user-facing failure as one line on stderr with the exit code of
trtpace.errors (no traceback), warnings and notes, --quiet, and SIGTERM/SIGHUP as an interruption."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from trtpace.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    TrtpaceError,
    exit_code,
)

# typer vendors click; its exception base is reached through a public class instead of a
# private import, so this works with every typer release.
_ClickException: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
# Messages on stderr: printed as given (a folder named '[/]x' is no markup), never wrapped (a
# long path stays one line, whole), no highlighting; styled parts are said with markup=True.
stderr = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)
# --quiet: no progress, tables, notes or warnings; errors and the closing line only. Set by the
# command that takes it, reset for every command line (OneLineErrors.invoke).
_quiet = {"on": False}


def set_quiet(on: bool) -> None:
    _quiet["on"] = bool(on)


def is_quiet() -> bool:
    return _quiet["on"]


def fail(message: str, code: int) -> NoReturn:
    """Every user-facing failure: one line on stderr, no traceback."""
    first_line = message.strip().splitlines()[0] if message.strip() else "failed"
    stderr.print(f"[bold red]error:[/] {escape(first_line)}", markup=True)
    sys.exit(code)


def warn(message: str) -> None:
    if not is_quiet():
        stderr.print(f"[yellow]warning:[/] {escape(message)}", markup=True)


def note(message: str) -> None:
    """Something the user should know that changed nothing they asked for (not under --quiet)."""
    if not is_quiet():
        stderr.print(f"[cyan]note:[/] {escape(message)}", markup=True)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, turned into an interruption so the running condition is saved as partial."""


class OneLineErrors(typer.core.TyperGroup):
    """Bad input, missing GPUs and CUDA failures become one line and the exit code of trtpace.errors."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            rv = super().main(
                args, prog_name, complete_var, standalone_mode=False, windows_expand_args=windows_expand_args, **extra
            )
        except _ClickException as e:
            if type(e).__name__ == "NoArgsIsHelpError":
                print(e.format_message())
                sys.exit(0)
            fail(e.format_message(), EXIT_USAGE)
        except TrtpaceError as e:
            fail(str(e), exit_code(e))
        except Terminated:
            fail("terminated", EXIT_TERMINATED)
        except (KeyboardInterrupt, typer.Abort):
            fail("interrupted", EXIT_INTERRUPTED)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        # Caught here, inside click and typer: they turn KeyboardInterrupt (our Terminated included)
        # into a bare exit 130 and EOFError (np.load of an empty file) into an "Aborted!" exit 1.
        set_quiet(False)  # each command line starts loud; --quiet says otherwise
        try:
            return super().invoke(ctx)
        except Terminated:
            fail("terminated", EXIT_TERMINATED)
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED)
        except EOFError as e:
            fail(f"unexpected end of input ({e or 'EOF'})", EXIT_FAILURE)
