"""What every command shares: errors become messages and exit codes here, and nowhere else.

Exit codes: 0 success, 1 run failed (or cut short by a limit), 2 bad input or configuration, 3 deferred or
stopped by the rate budget. Output helpers import rich lazily so that `agentflow --help` stays fast.
"""

from __future__ import annotations

import errno
import sqlite3
from typing import TYPE_CHECKING, Any

import click
import typer
from typer.core import TyperGroup

from agentflow.errors import AgentflowError, ConfigError, Deferred, ProblemsError, StateError

if TYPE_CHECKING:
    from rich.console import Console

EXIT_FAILED, EXIT_USAGE, EXIT_BUDGET = 1, 2, 3
_OUTPUT_FAILURES = {errno.ENOSPC, errno.EFBIG, errno.EIO, errno.EDQUOT}
EXIT_CODES: list[tuple[type[AgentflowError], int]] = [
    (ConfigError, EXIT_USAGE),
    (Deferred, EXIT_BUDGET),
    (AgentflowError, EXIT_FAILED),
]


def exit_code_for(error: AgentflowError) -> int:
    return next(code for kind, code in EXIT_CODES if isinstance(error, kind))


class ErrorsToExitCodes(TyperGroup):
    """Every command's `AgentflowError` becomes a message on stderr and its exit code; no tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AgentflowError as error:
            print_error(error)
            ctx.exit(exit_code_for(error))
        except OSError as error:
            if error.errno not in _OUTPUT_FAILURES:  # anything else is a bug, and its traceback the way to fix it
                raise
            # What could not be written here is the output itself (`> /dev/full`): every state and report file
            # is written through `statefiles`, whose errors name the file.
            print_error(StateError(f"writing the output failed: {error.strerror or error}"))
            ctx.exit(EXIT_USAGE)
        except sqlite3.Error as error:  # one a store did not name (e.g. a lock held past the busy timeout)
            print_error(StateError(f"a database in the state directory failed: {error}; try again, and if it "
                                   "persists, check the disk and AGENTFLOW_STATE_DIR"))  # fmt: skip
            ctx.exit(EXIT_USAGE)


def sub_app(help_text: str, **options: Any) -> typer.Typer:
    """A command group that maps errors to exit codes like the root."""
    options.setdefault("no_args_is_help", True)
    return typer.Typer(cls=ErrorsToExitCodes, help=help_text, **options)


def console(stderr: bool = False, wrap: bool = False) -> Console:
    """Plain lines are not wrapped (paths and tokens stay whole); `wrap=True` for rendered Markdown."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=not wrap)


def print_error(error: AgentflowError) -> None:
    """One line per problem, secrets scrubbed: an error may quote a request or a server's stderr."""
    from agentflow.redact import scrub

    out = console(stderr=True)
    lines = [str(p) for p in error.problems] if isinstance(error, ProblemsError) else [str(error)]
    for line in lines:
        out.print(f"[bold red]error:[/] {escape(scrub(line))}")


def table(*headers: str) -> Any:
    from rich.table import Table

    return Table(*headers, box=None, pad_edge=False, header_style="bold")


def text(value: str) -> Any:
    """A table cell shown as written: user text may contain `[brackets]` that are not rich markup."""
    from rich.text import Text

    return Text(value)


def escape(value: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(value)
