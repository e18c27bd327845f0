"""`agentflow eval`: run a suite of cases and say which expectations held."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from agentflow.cli import base as ui
from agentflow.cli.base import EXIT_FAILED


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)


def evaluate(
    suite: Annotated[str, typer.Argument(help="A suite file (YAML), or `builtin` for the built-in workflows' suite.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    junit: Annotated[Path | None, typer.Option(help="Also write JUnit XML here, for CI.")] = None,
    case: Annotated[list[str] | None, typer.Option("--case", help="Only the case(s) of this name.")] = None,
    parallel: Annotated[int, typer.Option(min=1, max=32, help="Cases run at once.")] = 4,
) -> None:
    """Run an eval suite: each case runs a workflow (a fresh sandbox unless it names a site) and checks what it
    must find: text in the report, JSONPath checks on the answer, the staged changes, the terminal reason, at
    most N requests and tokens. Nothing is applied. Scripts, file inputs and workflow files a case names are found
    from the suite's folder. The format and an example: README, "Replays and evals".

    Exit codes: 0 every case passed; 1 a case failed (each broken expectation is named); 2 a bad suite (file:line).
    """
    import asyncio

    from agentflow import statefiles
    from agentflow.errors import ConfigError
    from agentflow.evals import output
    from agentflow.evals import suite as suites
    from agentflow.evals.running import CaseResult, run_suite

    loaded = suites.load(suite)
    if case:
        unknown = sorted(set(case) - {c.name for c in loaded.cases})
        if unknown:
            known = ", ".join(repr(c.name) for c in loaded.cases)
            raise ConfigError(f"the suite has no case named {unknown[0]!r}; its cases: {known}")
        loaded = loaded.model_copy(update={"cases": [c for c in loaded.cases if c.name in case]})
    if junit is not None:
        statefiles.check_writable(junit, "the JUnit file")
    progress = ui.console(stderr=True)

    def said(result: CaseResult) -> None:
        if not as_json:
            progress.print(f"[dim]{'pass' if result.passed else 'FAIL'} {ui.escape(result.name)}[/]")

    results = asyncio.run(run_suite(loaded, parallel=parallel, on_case=said))
    name = loaded.name or str(suite)
    if junit is not None:
        statefiles.write_atomic(junit, output.junit(name, results), "the JUnit file")
    if as_json:
        typer.echo(json.dumps(output.document(name, results), indent=2, default=str))
    else:
        table = ui.table("case", "result", "runs passed", "requests", "tokens", "cost", "seconds")
        for row in output.rows(results):
            table.add_row(*(ui.text(cell) for cell in row))
        out = ui.console()
        out.print(table)
        for line in output.failures(results):
            out.print(f"[red]failed:[/] {ui.escape(line)}")
        passed = sum(result.passed for result in results)
        out.print(f"{passed} of {len(results)} cases passed")
    if not all(result.passed for result in results):
        raise typer.Exit(EXIT_FAILED)
