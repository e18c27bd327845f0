"""Running workflows and looking at past runs: `run`, `runs`, `runs show`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from agentflow.cli import base as ui
from agentflow.cli.base import EXIT_BUDGET, EXIT_FAILED, sub_app
from agentflow.errors import ConfigError


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(apply)
    app.add_typer(runs_app, name="runs")


def run(
    workflow: Annotated[str, typer.Argument(help="A workflow name (see `agentflow list`) or a workflow file.")],
    inputs: Annotated[
        list[str] | None,
        typer.Argument(help='Inputs as key=value, e.g. alert="DB pool exhausted".', show_default=False),
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", help="A YAML or JSON file of inputs (key=value wins).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="none, script:PATH, replay:RUN_ID (a recorded run's model turns; its inputs unless you give "
            "others), or a Claude model id (default: $AGENTFLOW_MODEL, config, Sonnet)."
        ),
    ] = None,
    site: Annotated[str | None, typer.Option(help="The Atlassian site for the bundled server (see README).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary instead of the report.")] = False,
    output: Annotated[Path | None, typer.Option(help="Also write the report (Markdown) to this file.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, only the result.")] = False,
    apply: Annotated[
        bool, typer.Option("--apply", help="Right after the run, show its change plan and ask to apply it.")
    ] = False,
) -> None:
    """Run a workflow: gather, let the agent plan and act over the allowed tools, print the report.

    Exit codes: 0 completed; 1 the run failed or a limit cut it short; 2 bad input or configuration; 3 deferred
    or stopped by the hourly rate budget.
    """
    import asyncio

    from agentflow import processes, statefiles
    from agentflow.cli.live import LiveView

    if output is not None:  # a typo in the path is found now, not after the run it would have lost
        statefiles.check_writable(output, "the report")
    values = _read_input_file(input_file) if input_file else {}
    values.update(_parse_inputs(inputs or []))
    console, progress = ui.console(wrap=True), ui.console(stderr=True)
    view = LiveView(progress, workflow, model or "default")
    try:
        with view if not quiet else _nothing():
            # The engine (the MCP SDK above all) loads while the view already shows the run starting.
            from agentflow.replay import REPLAY
            from agentflow.runner import Runner, RunRequest

            if model and model.startswith(REPLAY) and not values:
                values = _replayed_inputs(model.removeprefix(REPLAY))
            runner = Runner()
            request = RunRequest(workflow=workflow, inputs=values, model=model, site=site)
            result = asyncio.run(runner.execute(request, view.events() if not quiet else None))
    except KeyboardInterrupt:
        progress.print("[yellow]cancelled[/]; the run was recorded (agentflow runs show last)")
        raise typer.Exit(EXIT_FAILED) from None
    from agentflow import report
    from agentflow.runs import TerminalReason

    record = result.record
    if as_json:
        summary = report.summary(record, str(result.path), waited=processes.age())
        typer.echo(json.dumps(summary, indent=2, default=str))
    else:
        report.print_terminal(record, console, waited=processes.age())
    if output is not None:  # after the report is shown: a disk that fails now loses nothing on screen
        statefiles.write_atomic(output, report.markdown(record), "the report")
    if result.unsaved is not None:
        raise result.unsaved
    if apply and record.changes and not record.applied:
        _confirm_and_apply(runner, record, only=None, yes=False)
    if record.terminal_reason == TerminalReason.BUDGET:
        raise typer.Exit(EXIT_BUDGET)
    if not record.succeeded:
        raise typer.Exit(EXIT_FAILED)


def apply(
    run_id: Annotated[str, typer.Argument(help="The run whose change plan to apply (an id, a prefix, or `last`).")],
    only: Annotated[str | None, typer.Option(help="Apply only these changes, e.g. 1,3 (default: all).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; for scripts.")] = False,
) -> None:
    """Apply a run's staged changes, in order and exactly once: re-running after an interruption skips what
    is done and never creates anything twice. Everything created is labelled and notes the run."""
    from agentflow import runs
    from agentflow.runner import Runner

    record = runs.load(run_id)
    selected = _parse_only(only)
    if not record.changes:
        ui.console().print(f"Run {record.id} staged no changes; there is nothing to apply.")
        return
    _confirm_and_apply(Runner(), record, selected, yes)


def _replayed_inputs(run_id: str) -> dict[str, Any]:
    """A replayed run's inputs as it recorded them; what it could not keep whole is said, for the person to give."""
    from agentflow import replay, runs

    exported = replay.export(runs.load(run_id))
    for item in exported.missing:
        ui.console(stderr=True).print(f"[yellow]note:[/] {ui.escape(item)}")
    return exported.inputs


def _parse_only(text: str | None) -> set[int] | None:
    from agentflow.changes.plan import change_numbers

    if not text:
        return None
    try:
        return change_numbers(text)
    except ValueError:
        raise ConfigError(f"--only takes change numbers separated by commas, e.g. 1,3 (got '{text}')") from None


def _confirm_and_apply(runner: Any, record: Any, only: set[int] | None, yes: bool) -> None:
    import asyncio
    import getpass
    import sys

    from agentflow.changes.apply import journal_lines, refuse_if_read_only
    from agentflow.changes.plan import DEFERRED

    refuse_if_read_only()
    out = ui.console()
    table = ui.table("#", "tool", "target", "summary", "state")
    lines = [line for line in journal_lines(record) if only is None or line["index"] in only]
    for line in lines:
        table.add_row(*(ui.text(str(c)) for c in (f"${line['index']}", line["tool"], line["target"], line["summary"],
                                                   line["state"])))  # fmt: skip
    out.print(table)
    pending = [line for line in lines if line["state"] != "applied"]
    if not pending:
        out.print("Everything selected is already applied.")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise ConfigError("applying changes needs a yes: run it in a terminal, or pass --yes")
        typer.confirm(f"Apply {len(pending)} change{'s' if len(pending) != 1 else ''} to Atlassian?", abort=True)

    def show(applied: Any) -> None:
        colour = "red" if applied.state != "applied" else "yellow" if applied.verified is False else "green"
        out.print(
            f"[{colour}]{applied.state}[/] ${applied.index} {ui.escape(applied.summary)}: {ui.escape(applied.detail)}"
        )

    try:
        _, results = asyncio.run(runner.apply(record.id, actor=getpass.getuser(), only=only, on_change=show))
    except KeyboardInterrupt:
        out.print("[yellow]interrupted[/]; apply again to go on: what is applied is skipped, and a change cut off "
                  "half-way is looked up on the site before it would be made again")  # fmt: skip
        raise typer.Exit(EXIT_FAILED) from None
    failed = [r for r in results if r.state not in ("applied", DEFERRED)]
    if failed:
        out.print(f"[red]{len(failed)} change{'s' if len(failed) != 1 else ''} failed[/]; fix the cause and apply "
                  f"again: what is applied is skipped.")  # fmt: skip
    if any(r.state == DEFERRED for r in results):
        out.print("[yellow]Stopped by the hourly rate budget[/] at the change above; the ones after it were not "
                  "tried. Apply again later: what is applied is skipped.")  # fmt: skip
        raise typer.Exit(EXIT_BUDGET)
    if failed:
        raise typer.Exit(EXIT_FAILED)


def _parse_inputs(pairs: list[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key.strip():
            raise ConfigError(f"expected key=value, got '{pair}' (e.g. alert=\"DB pool exhausted\")")
        values[key.strip()] = value
    return values


def _read_input_file(path: Path) -> dict[str, Any]:
    from agentflow.workflow import source

    try:
        if path.stat().st_size > source.MAX_CHARS * 4:  # refused before a huge file is read at all
            raise source.YamlError(f"the file is {path.stat().st_size:,} bytes; at most {source.MAX_CHARS:,} are read")
        data, _ = source.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the input file {path}: {exc}") from None
    except source.YamlError as exc:
        where = f":{exc.line}" if exc.line else ""
        raise ConfigError(f"the input file {path}{where}: {exc.message}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"the input file {path} must hold a mapping of input names to values")
    return data


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


runs_app = sub_app(
    "Recorded runs: list them, show one, or export one's model turns to replay it.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@runs_app.callback()
def runs_list(
    ctx: typer.Context,
    workflow: Annotated[str | None, typer.Option(help="Only runs of this workflow.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only runs started by this actor (e.g. scheduler).")] = None,
    limit: Annotated[int, typer.Option(help="How many of the newest runs.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List recent runs, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from agentflow import runs
    from agentflow.report import outcome

    unreadable: list[str] = []
    records = runs.list_runs(
        limit=limit, workflow=workflow, actor=actor, on_unreadable=lambda e: unreadable.append(str(e))
    )
    for problem in unreadable:  # said, not hidden: a run the listing skips should not look as if it never ran
        ui.console(stderr=True).print(f"[yellow]warning:[/] {ui.escape(problem)}")
    if as_json:
        typer.echo(
            json.dumps(
                [
                    r.model_dump(
                        include={"id", "workflow", "actor", "trigger", "started_at", "terminal_reason", "model"}
                    )
                    for r in records
                ],
                indent=2,
            )
        )
        return
    if not records:
        ui.console().print("No runs recorded yet.")
        return
    table = ui.table("run", "workflow", "actor", "started", "model", "outcome")
    table.columns[0].no_wrap = True
    for r in records:
        cells = (
            r.id,
            r.workflow,
            r.actor,
            r.started_at.replace("T", " ")[:16],
            r.model,
            outcome(r),
        )
        table.add_row(*(ui.text(c) for c in cells))
    ui.console().print(table)


@runs_app.command("export")
def runs_export(
    run_id: Annotated[str, typer.Argument(help="A run id, a unique prefix of one, or `last`.")],
    script: Annotated[Path, typer.Option("--script", help="Where to write the model turns (a script:PATH file).")],
    inputs_file: Annotated[
        Path | None, typer.Option("--inputs", help="Also write the run's inputs here (an --input-file).")
    ] = None,
) -> None:
    """Write a run's model turns as a script, to replay it (`--model script:FILE`) or keep it as a regression
    case: a bad real run becomes a test in one command. Values the record does not hold whole (a file input, a
    redacted secret) are named for you to supply."""
    import yaml

    from agentflow import replay, runs, statefiles

    record = runs.load(run_id)
    exported = replay.export(record)  # before anything is written: a run without model turns has nothing to give
    if inputs_file is not None and inputs_file.resolve() == script.resolve():
        raise ConfigError("--script and --inputs name the same file; give each its own")
    for path, what in ((script, "the script"), (inputs_file, "the inputs file")):
        if path is not None:  # both checked before either is written: nothing half done
            statefiles.check_writable(path, what)
    statefiles.write_atomic(script, replay.script_text(record, exported), "the script")
    if inputs_file is not None:
        text = yaml.safe_dump(exported.inputs, sort_keys=False, allow_unicode=True)
        statefiles.write_atomic(inputs_file, text, "the inputs file")
    out = ui.console()
    out.print(f"Wrote {len(exported.turns)} turns of run {record.id} to {ui.escape(str(script))}.")
    for item in exported.missing:
        out.print(f"[yellow]to supply:[/] {ui.escape(item)}")
    given = f"--input-file {inputs_file}" if inputs_file else "INPUTS"
    out.print(f"Replay: agentflow run {record.workflow} {given} --model script:{ui.escape(str(script))}")


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="A run id, a unique prefix of one, or `last`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole record as JSON.")] = False,
    changes: Annotated[
        bool, typer.Option("--changes", help="Show the change plan in full: each change's target and body.")
    ] = False,
) -> None:
    """Show one run: its report, then how it went (steps, plan, tool calls, usage)."""
    from agentflow import report, runs
    from agentflow.changes.apply import journal_lines
    from agentflow.changes.status import current_report

    record = runs.load(run_id)
    record.report = current_report(record)  # what apply did since the run ended
    if as_json:
        shown = json.loads(record.model_dump_json())
        shown["change_states"] = [  # from the apply journal: the record keeps what the run staged
            {"index": line["index"], "state": line["state"], "result": line["result"]} for line in journal_lines(record)
        ]
        typer.echo(json.dumps(shown, indent=2))
        return
    if changes:
        out = ui.console(wrap=True)
        if not record.changes:
            out.print(f"Run {record.id} staged no changes.")
        for line in journal_lines(record):
            out.print(f"\n[bold]${line['index']} {ui.escape(line['tool'])}[/] → {ui.escape(line['target'])}  "
                      f"[dim]({line['state']})[/]")  # fmt: skip
            out.print(ui.escape(line["summary"]))
            arguments = {k: v for k, v in line["arguments"].items() if k not in ("description", "body")}
            out.print(ui.escape(json.dumps(arguments, ensure_ascii=False)), style="dim")
            if line["preview"]:
                from rich.markdown import Markdown

                out.print(Markdown(line["preview"]))
        return
    console = ui.console(wrap=True)
    report.print_terminal(record, console)
    console.print(f"\n[bold]inputs[/] {ui.escape(json.dumps(record.inputs, default=str))}")
    for step in record.steps:
        console.print(ui.escape(f"gather {step.id}: {step.tool} {step.status} ({step.requests} requests)"))
    for item in record.plan:
        console.print(ui.escape(f"plan [{item.status}] {item.title}"))
    for call in record.tool_calls:
        console.print(ui.escape(f"turn {call.turn}: {call.tool} {call.status} {call.duration_ms:.0f} ms"))
