"""The `agentflow` command line: parsing arguments and printing results, nothing more.

This is the one place where errors become exit codes (see `EXIT_CODES`): 0 success, 1 run failed,
2 bad input or configuration, 3 deferred or stopped by budget. Heavy modules are imported inside the
commands so that `agentflow --help` stays fast.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
from typer.core import TyperGroup

from agentflow import __version__
from agentflow.errors import AgentflowError, ConfigError, ProblemsError

if TYPE_CHECKING:
    from rich.console import Console

    from agentflow.workflow.loader import LoadedWorkflow

EXIT_FAILED, EXIT_USAGE = 1, 2
EXIT_CODES: list[tuple[type[AgentflowError], int]] = [(ConfigError, EXIT_USAGE), (AgentflowError, EXIT_FAILED)]


def exit_code_for(error: AgentflowError) -> int:
    return next(code for kind, code in EXIT_CODES if isinstance(error, kind))


class _ErrorsToExitCodes(TyperGroup):
    """Every command's `AgentflowError` becomes a message on stderr and its exit code; no tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AgentflowError as error:
            print_error(error)
            ctx.exit(exit_code_for(error))


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def print_error(error: AgentflowError) -> None:
    console = _console(stderr=True)
    lines = [str(p) for p in error.problems] if isinstance(error, ProblemsError) else [str(error)]
    for line in lines:
        console.print(f"[bold red]error:[/] {_escape(line)}")


def _table(*headers: str) -> Any:
    from rich.table import Table

    return Table(*headers, box=None, pad_edge=False, header_style="bold")


def _text(value: str) -> Any:
    """A table cell shown as written: workflow text may contain `[brackets]` that are not rich markup."""
    from rich.text import Text

    return Text(value)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agentflow {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="agentflow",
    cls=_ErrorsToExitCodes,
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


@app.command("list")
def list_workflows(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the workflows that can be run: name, persona, title, write policy and schedule."""
    from agentflow.workflow import describe, loader

    rows, broken = [], []
    for name, path in loader.discover().items():
        try:
            rows.append(describe.summary(loader.load_file(path)))
        except ProblemsError as error:
            broken.append((name, error))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        table = _table("name", "persona", "title", "writes", "schedule", "from")
        table.columns[0].no_wrap = True
        for row in rows:
            table.add_row(*(_text(row[k]) for k in ("name", "persona", "title", "writes", "schedule", "origin")))
        _console().print(table if rows else "No workflows found.")
    for name, error in broken:
        _console(stderr=True).print(f"[yellow]warning:[/] workflow '{name}' is invalid and was left out:")
        print_error(error)


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="A workflow name, or the path of a workflow file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Show a workflow: its inputs, tools, gather steps, limits and output."""
    from agentflow.workflow import describe, loader

    loaded = loader.load(name)
    if as_json:
        typer.echo(json.dumps(describe.detail(loaded), indent=2))
        return
    _print_workflow(loaded)


def _print_workflow(loaded: LoadedWorkflow) -> None:
    from agentflow.workflow import describe

    workflow, console = loaded.workflow, _console()
    console.print(f"[bold]{_escape(workflow.name)}[/] — {_escape(workflow.title)}")
    console.print(f"persona: {_escape(workflow.persona or '-')}    from: {_escape(describe.origin(loaded))}")
    if workflow.description:
        console.print(_escape(workflow.description.strip()))
    console.print(f"\n[bold]Inputs[/]  {_escape(describe.signature(workflow))}")
    if workflow.inputs:
        table = _table("name", "type", "required", "default", "description")
        for input_name, spec in workflow.inputs.items():
            kind = f"enum: {', '.join(spec.choices or [])}" if spec.type == "enum" else spec.type
            if spec.pattern:
                kind += f" /{spec.pattern}/"
            default = "" if spec.default is None else json.dumps(spec.default)
            cells = (input_name, kind, "yes" if spec.required else "no", default, spec.description)
            table.add_row(*(_text(c) for c in cells))
        console.print(table)
    else:
        console.print("(none)")
    console.print(f"\n[bold]Servers[/]  {', '.join(workflow.servers)}")
    console.print(f"[bold]Tools[/]    {', '.join(workflow.tools) or '(none: the agent only reasons)'}")
    console.print("\n[bold]Gather steps[/]")
    if workflow.steps:
        table = _table("id", "tool", "foreach", "when", "args")
        for step in workflow.steps:
            args = "\n".join(f"{key}: {value}" for key, value in step.args.items())
            table.add_row(*(_text(c) for c in (step.id, step.tool, step.foreach or "", step.when or "", args)))
        console.print(table)
    else:
        console.print("(none)")
    agent = workflow.agent
    console.print(
        f"\n[bold]Agent[/]    prompt {agent.prompt}; at most {agent.max_turns} turns, "
        f"{agent.max_tool_calls} tool calls, {agent.max_output_tokens} output tokens per turn"
    )
    properties = workflow.output.json_schema.get("properties", {})
    required = set(workflow.output.json_schema.get("required", []))
    fields = ", ".join(f"{key}{'' if key in required else '?'}" for key in properties) or "(free form)"
    report = f"; report {workflow.output.report}" if workflow.output.report else ""
    console.print(f"[bold]Output[/]   {_escape(fields)}{report}")
    limits = ", ".join(f"{tool} ≤ {n}" for tool, n in workflow.writes.limits.items())
    console.print(f"[bold]Writes[/]   {workflow.writes.mode}{'; limits: ' + limits if limits else ''}")
    budget = workflow.budget
    console.print(f"[bold]Budget[/]   at most {budget.max_calls} Atlassian calls per run, priority {budget.priority}")
    if workflow.schedule:
        console.print(f"[bold]Schedule[/] {describe.schedule_text(workflow)}")


@app.command()
def validate(
    targets: Annotated[
        list[str] | None,
        typer.Argument(help="Workflow names or file paths. Default: every workflow file in the search path."),
    ] = None,
) -> None:
    """Check workflow files: schema, tool names, templates and prompts. Exit code 2 if any is invalid."""
    from agentflow.workflow import loader

    if not targets:
        targets = [str(path) for path in loader.workflow_files()]
        if not targets:
            raise ConfigError("no workflow files in " + ", ".join(str(d) for d in loader.search_path()))
    console, invalid = _console(), 0
    for target in targets:
        try:
            loaded = loader.load(target)
        except ConfigError as error:
            invalid += 1
            print_error(error)
            continue
        console.print(f"[green]ok[/]  {_escape(loaded.workflow.name)}  ({_escape(str(loaded.path))})")
    total = f"{len(targets)} workflow{'s' if len(targets) != 1 else ''}"
    if invalid:
        _console(stderr=True).print(f"{invalid} of {total} invalid")
        raise typer.Exit(EXIT_USAGE)
    console.print(f"{total} valid")


def main() -> None:
    """The console script."""
    app()
