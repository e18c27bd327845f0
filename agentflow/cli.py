"""The `agentflow` command line: parsing arguments and printing results, nothing more.

This is the one place where errors become exit codes (see `EXIT_CODES`): 0 success, 1 run failed,
2 bad input or configuration, 3 deferred or stopped by budget. Heavy modules are imported inside the
commands so that `agentflow --help` stays fast.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
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


sandbox_app = typer.Typer(
    cls=_ErrorsToExitCodes,
    help="The embedded Atlassian site: a local Jira (Cloud or Data Center), Confluence and Compass.",
    no_args_is_help=True,
)
app.add_typer(sandbox_app, name="sandbox")


class Flavor(StrEnum):
    cloud = "cloud"
    dc = "dc"


FLAVOR_OPTION = typer.Option(help="Jira Cloud (REST v3 with ADF; v2 too) or Data Center (REST v2, wiki markup).")
DB_OPTION = typer.Option("--db", help="The site's database file (default: sandbox.db in the state directory).")


@sandbox_app.command("serve")
def sandbox_serve(
    port: Annotated[int, typer.Option(help="Port on the host; 0 picks a free one.")] = 8990,
    host: Annotated[str, typer.Option(help="Interface to bind; loopback unless you mean otherwise.")] = "127.0.0.1",
    flavor: Annotated[Flavor, FLAVOR_OPTION] = Flavor.cloud,
    db: Annotated[str | None, DB_OPTION] = None,
    rate_limit: Annotated[
        str | None, typer.Option("--rate-limit", help="Answer 429 after N requests in a sliding hour, e.g. 500/h.")
    ] = None,
    faults: Annotated[
        str | None, typer.Option(help="Inject faults at random, e.g. 429=0.2,503=0.05,latency=50ms (seeded).")
    ] = None,
    scale: Annotated[int, typer.Option(help="Add N generated issues when the database is created.")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON line with the URL, users and tokens.")
    ] = False,
) -> None:
    """Serve the sandbox on HTTP: prints its URL, the seeded users with their tokens, and the env vars to use."""
    from agentflow.sandbox import limits, site

    try:
        per_hour = limits.parse_rate_limit(rate_limit) if rate_limit else None
        injected = limits.Faults.parse(faults) if faults else None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    path = _sandbox_path(db)
    sandbox = site.Site.open(flavor.value, path, per_hour=per_hour, faults=injected, scale=scale)

    def announce(base_url: str) -> None:
        info = sandbox.describe(base_url)
        if as_json:
            typer.echo(json.dumps({**info, "db": str(path)}), nl=True)
            return
        console = _console()
        where = _escape(str(path))
        console.print(f"[bold]agentflow sandbox[/] ({flavor.value}) at [bold]{base_url}[/]  database: {where}")
        # Plain padded lines, not a table: a table squeezed to the terminal's width would cut the tokens.
        for user in info["users"]:
            line = f"  {user['username']:<5} {user['name']:<14} {user['email']:<27} token {user['token']}"
            console.print(_escape(line))
        console.print("\nPoint a client at it (as sre):")
        for name, value in info["env"].items():
            console.print(f"  export {name}={_escape(value)}")
        console.print("\nCtrl+C stops it.")

    try:
        site.serve(sandbox, host, port, announce)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; try another --port") from None


@sandbox_app.command("reset")
def sandbox_reset(db: Annotated[str | None, DB_OPTION] = None) -> None:
    """Delete the sandbox database and seed a fresh one (new tokens, nothing you created is kept)."""
    from agentflow.sandbox import site

    path = _sandbox_path(db)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    sandbox = site.Site.open("cloud", path)
    issues = sandbox.store.query_one("SELECT COUNT(*) FROM issues")[0]
    pages = sandbox.store.query_one("SELECT COUNT(*) FROM pages")[0]
    sandbox.store.close()
    _console().print(f"sandbox reset: {_escape(str(path))} ({issues} issues, {pages} pages)")


mcp_app = typer.Typer(
    cls=_ErrorsToExitCodes,
    help="The bundled Atlassian MCP server (Jira, Confluence, Compass; Cloud and Data Center).",
    no_args_is_help=True,
)
app.add_typer(mcp_app, name="mcp")


@mcp_app.command("serve")
def mcp_serve(
    http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP at /mcp instead of stdio.")] = False,
    port: Annotated[int, typer.Option(help="Port for --http; 0 picks a free one.")] = 8765,
    host: Annotated[str, typer.Option(help="Interface for --http (loopback; DNS-rebinding protection on).")] = (
        "127.0.0.1"
    ),
    site: Annotated[
        str | None, typer.Option(help="A site from the config file, 'env', or 'sandbox' (default: see README).")
    ] = None,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Hide and refuse the write tools (also AGENTFLOW_READ_ONLY=1).")
    ] = False,
) -> None:
    """Serve the Atlassian tools over stdio (for MCP clients that start it) or streamable HTTP."""
    import sys

    from agentflow.atlassian.server import AtlassianServer, read_only_from_env
    from agentflow.atlassian.sites import resolve_site

    chosen = resolve_site(site)
    server = AtlassianServer(chosen, read_only=read_only or read_only_from_env())
    mode = "read-only" if server.read_only else "read-write"
    if not http:
        print(f"agentflow MCP server on stdio: site '{chosen.name}' ({chosen.flavor}), {mode}", file=sys.stderr)
        server.run("stdio")
        return
    from agentflow import serving

    def announce(base_url: str) -> None:
        print(f"agentflow MCP server at {base_url}/mcp: site '{chosen.name}' ({chosen.flavor}), {mode}", flush=True)

    try:
        serving.serve(server.streamable_http_app(host=host), host, port, announce)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; try another --port") from None


def _sandbox_path(db: str | None) -> Path:
    if db == ":memory:":
        return Path(db)
    from agentflow import config

    path = Path(db).expanduser() if db else config.sandbox_db()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {path.parent}: {exc.strerror}") from None
    return path


def main() -> None:
    """The console script."""
    app()
