"""The `agentflow` command line: parsing arguments and printing results, nothing more.

Commands live in small modules (`workflows`, `running`, `servers`); `base` maps errors to exit codes. Heavy
modules are imported inside the commands so that `agentflow --help` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from agentflow import __version__
from agentflow.cli import chat, evaluating, oversight, remote, running, scheduling, servers, workflows
from agentflow.cli.base import ErrorsToExitCodes


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agentflow {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="agentflow",
    cls=ErrorsToExitCodes,
    help=(
        "Run agentic workflows over Jira, Confluence and Compass.\n\n"
        "A workflow is a YAML file: typed inputs, the tools it may use, gather steps, a prompt and an output "
        "shape. Workflows are looked up in ./workflows, then in the directories of $AGENTFLOW_WORKFLOWS, then "
        "among the built-in ones."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Run agentic workflows over Jira, Confluence and Compass."""


for module in (workflows, running, oversight, evaluating, servers, remote, chat, scheduling):
    module.register(app)


def main() -> None:
    """The console script."""
    from agentflow.redact import install_logging

    install_logging()
    app()
