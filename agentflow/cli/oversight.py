"""Looking after shared resources: `budget` (the hourly rate budget per site) and `audit` (every tool call)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from agentflow.cli import base as ui


def register(app: typer.Typer) -> None:
    app.command()(budget)
    app.command()(audit)


def budget(
    site: Annotated[
        str | None, typer.Option(help="One site (its host name, or 'sandbox'); default: all in use.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The hourly rate budget: used / limit / paused-until per site, and who used it in the last hour."""
    from agentflow.budget import moment_text, open_budget
    from agentflow.config import load_config

    ledger_budget = open_budget(load_config())
    sites = [site] if site else ledger_budget.ledger.sites(ledger_budget.clock()) or []
    statuses = [ledger_budget.status(name) for name in sites]
    if as_json:
        typer.echo(json.dumps(statuses, indent=2, default=lambda o: o.__dict__))
        return
    out = ui.console()
    if not statuses:
        out.print(f"No Atlassian requests in the last hour (limit {ledger_budget.settings.per_hour}/h per site).")
        return
    for status in statuses:
        used, limit = status["used"], status["limit"]
        filled = min(30, round(30 * used / limit)) if limit else 30
        colour = "red" if used >= limit else "yellow" if used >= status["batch_ceiling"] else "green"
        out.print(
            f"[bold]{ui.escape(status['site'])}[/]  [{colour}]{'█' * filled}[/]{'░' * (30 - filled)}  "
            f"{used} / {limit} requests in the last hour  (batch may use {status['batch_ceiling']})"
        )
        if status["paused_until"]:
            out.print(f"  [red]paused[/] until {moment_text(status['paused_until'])} (a 429 said to wait)")
        for consumer in status["consumers"][:5]:
            out.print(ui.escape(f"  {consumer.requests:>5}  {consumer.workflow}  ({consumer.actor})"))


def audit(
    run: Annotated[str | None, typer.Option("--run", help="Only this run (id or prefix).")] = None,
    since: Annotated[str | None, typer.Option(help="Only the last 30m, 1h, 2d, 1w ...")] = None,
    tool: Annotated[str | None, typer.Option(help="Only calls of this tool.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON lines.")] = False,
) -> None:
    """The audit log: every tool call agentflow made (and every write it applied), newest last."""
    from agentflow import audit as audit_log

    window = audit_log.parse_since(since) if since else None
    unreadable: list[int] = []
    lines = list(audit_log.read(run_id=run, since=window, tool=tool, on_unreadable=unreadable.append))
    if unreadable:  # said, not hidden: a line cut short by a crash or a full disk is a gap in the trail
        shown = ", ".join(map(str, unreadable[:10])) + (" ..." if len(unreadable) > 10 else "")
        ui.console(stderr=True).print(
            f"[yellow]warning:[/] {len(unreadable)} line(s) of the audit log could not be read (line {shown})"
        )
    if as_json:
        for line in lines:
            typer.echo(json.dumps(line))
        return
    if not lines:
        ui.console().print("No audited calls match.")
        return
    table = ui.table("time", "run", "actor", "tool", "outcome", "ms", "requests", "arguments")
    for column in (table.columns[1], table.columns[3], table.columns[7]):
        column.no_wrap, column.overflow = True, "ellipsis"
    for line in lines:
        cells = (
            str(line["time"])[11:19],
            str(line.get("run_id", ""))[-20:],
            f"{line.get('actor', '')} ({line.get('trigger', '')})",
            str(line.get("tool", "")),
            str(line.get("outcome", "")),
            f"{line.get('duration_ms') or 0:.0f}",
            str(line.get("requests", "")),
            json.dumps(line.get("arguments"), ensure_ascii=False)[:60],
        )
        table.add_row(*(ui.text(c) for c in cells))
    ui.console().print(table)
