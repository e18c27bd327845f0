"""Workflow commands: `list`, `show`, `validate`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from agentflow.cli import base as ui
from agentflow.cli.base import EXIT_USAGE, print_error
from agentflow.errors import ConfigError, ProblemsError

if TYPE_CHECKING:
    from agentflow.workflow.loader import LoadedWorkflow


def register(app: typer.Typer) -> None:
    app.command("list")(list_workflows)
    app.command()(show)
    app.command()(validate)


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
        table = ui.table("name", "persona", "title", "writes", "schedule", "from")
        table.columns[0].no_wrap = True
        for row in rows:
            table.add_row(*(ui.text(row[k]) for k in ("name", "persona", "title", "writes", "schedule", "origin")))
        ui.console().print(table if rows else "No workflows found.")
    for name, error in broken:
        ui.console(stderr=True).print(f"[yellow]warning:[/] workflow '{name}' is invalid and was left out:")
        print_error(error)


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

    workflow, console = loaded.workflow, ui.console()
    console.print(f"[bold]{ui.escape(workflow.name)}[/] — {ui.escape(workflow.title)}")
    console.print(f"persona: {ui.escape(workflow.persona or '-')}    from: {ui.escape(describe.origin(loaded))}")
    if workflow.description:
        console.print(ui.escape(workflow.description.strip()))
    console.print(f"\n[bold]Inputs[/]  {ui.escape(describe.signature(workflow))}")
    if workflow.inputs:
        table = ui.table("name", "type", "required", "default", "description")
        for input_name, spec in workflow.inputs.items():
            kind = f"enum: {', '.join(spec.choices or [])}" if spec.type == "enum" else spec.type
            if spec.pattern:
                kind += f" /{spec.pattern}/"
            default = "" if spec.default is None else json.dumps(spec.default)
            cells = (input_name, kind, "yes" if spec.required else "no", default, spec.description)
            table.add_row(*(ui.text(c) for c in cells))
        console.print(table)
    else:
        console.print("(none)")
    console.print(f"\n[bold]Servers[/]  {', '.join(workflow.servers)}")
    console.print(f"[bold]Tools[/]    {', '.join(workflow.tools) or '(none: the agent only reasons)'}")
    console.print("\n[bold]Gather steps[/]")
    if workflow.steps:
        table = ui.table("id", "tool", "foreach", "when", "args")
        for step in workflow.steps:
            args = "\n".join(f"{key}: {value}" for key, value in step.args.items())
            table.add_row(*(ui.text(c) for c in (step.id, step.action, step.foreach or "", step.when or "", args)))
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
    console.print(f"[bold]Output[/]   {ui.escape(fields)}{report}")
    limits = ", ".join(f"{tool} ≤ {n}" for tool, n in workflow.writes.limits.items())
    console.print(f"[bold]Writes[/]   {workflow.writes.mode}{'; limits: ' + limits if limits else ''}")
    budget = workflow.budget
    console.print(
        f"[bold]Budget[/]   at most {budget.max_calls} Atlassian requests per run, priority {budget.priority}"
    )
    if workflow.schedule:
        console.print(f"[bold]Schedule[/] {describe.scheduletext(workflow)}")


def validate(
    targets: Annotated[
        list[str] | None,
        typer.Argument(help="Workflow names or file paths. Default: every workflow file in the search path."),
    ] = None,
) -> None:
    """Check workflow files: schema, tool names, templates and prompts, and each gather step's arguments against
    the pinned definition of its tool (agentflow.lock; offline). Exit code 2 if any is invalid."""
    from agentflow.workflow import loader

    if not targets:
        targets = [str(path) for path in loader.workflow_files()]
        if not targets:
            raise ConfigError("no workflow files in " + ", ".join(str(d) for d in loader.search_path()))
    console, invalid = ui.console(), 0
    for target in targets:
        try:
            loaded = loader.load(target)
        except ConfigError as error:
            invalid += 1
            print_error(error)
            continue
        problems = _pinned_argument_problems(loaded)
        if problems:
            invalid += 1
            for problem in problems:
                ui.console(stderr=True).print(f"[red]error:[/] {ui.escape(str(loaded.path))}: {ui.escape(problem)}")
            continue
        console.print(f"[green]ok[/]  {ui.escape(loaded.workflow.name)}  ({ui.escape(str(loaded.path))})")
    total = f"{len(targets)} workflow{'s' if len(targets) != 1 else ''}"
    if invalid:
        ui.console(stderr=True).print(f"{invalid} of {total} invalid")
        raise typer.Exit(EXIT_USAGE)
    console.print(f"{total} valid")


def _pinned_argument_problems(loaded: LoadedWorkflow) -> list[str]:
    """Gather steps whose arguments the pinned definition of their tool does not declare (a server that drops
    unknown arguments would otherwise run them without a word); tools not pinned yet are not judged."""
    from agentflow.host.arguments import refusal, undeclared
    from agentflow.host.pins import PinLock

    pinned = PinLock().read().servers
    problems = []
    for step in loaded.workflow.steps:
        if not step.tool:
            continue
        server, _, name = step.tool.rpartition(".") if "." in step.tool else ("", "", step.tool)
        for section_name in [server] if server else loaded.workflow.servers:
            section = pinned.get(section_name)
            pin = section.tools.get(name) if section else None
            if pin is None:
                continue
            schema = pin.definition.get("input_schema") or {}
            unknown = undeclared(schema, step.args if isinstance(step.args, dict) else {})
            if unknown:
                problems.append(
                    f"step '{step.id}': {refusal(name, schema, unknown).removesuffix(' Nothing was sent.')}"
                )
            break
    return problems
