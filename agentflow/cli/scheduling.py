"""`agentflow schedule`: run scheduled workflows as a service, once (for cron), or show when they would run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import MAXYEAR, datetime, timedelta
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from agentflow.cli.base import EXIT_FAILED, EXIT_USAGE
from agentflow.errors import AgentflowError, ConfigError

if TYPE_CHECKING:
    from agentflow.schedule import Scheduler
    from agentflow.workflow.loader import LoadedWorkflow


def register(app: typer.Typer) -> None:
    app.command()(schedule)


def schedule(
    once: Annotated[
        bool, typer.Option("--once", help="Run whatever is due now and exit (for cron, a Kubernetes CronJob, CI).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the next occurrences of every scheduled workflow and exit.")
    ] = False,
    count: Annotated[int, typer.Option("--count", min=1, help="How many occurrences --dry-run prints.")] = 5,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="WHEN",
            help="With --dry-run: list the occurrences at or after WHEN instead of after now, e.g. to check a DST "
            "night. ISO 8601: 2026-10-24T23:00Z, 2026-10-25T01:00+02:00, 2026-10-25; without an offset or Z it is "
            "read in each workflow's own time zone.",
        ),
    ] = None,
) -> None:
    """Run every workflow that has a `schedule:`, once per occurrence, as the `scheduler` actor at batch priority.

    Without options it runs until SIGTERM or Ctrl-C (a running occurrence is then cancelled and recorded). Inputs
    come from \\[schedule.inputs.WORKFLOW] in the config file; see docs/scheduling.md. With --once, exit codes: 0
    nothing failed; 1 a run failed (or the scheduler hit an unexpected error); 2 a workflow lacks configured
    inputs, or the config is wrong.
    """
    from agentflow.config import load_config
    from agentflow.schedule import Scheduler, scheduled_workflows, settings_from, until_signalled
    from agentflow.schedule.scheduler import crash_report

    if start is not None and not dry_run:
        raise ConfigError("--from goes with --dry-run: the scheduler itself always runs from now")
    begin = _parse_from(start) if start is not None else None
    settings = settings_from(load_config())  # a broken [schedule] table stops here, with exit code 2
    if dry_run:
        _print_upcoming(count, begin)
        _warn_sign_ins(lambda line: typer.echo(line, err=True))
        return
    scheduler = Scheduler(settings=settings if once else None)
    _warn_sign_ins(scheduler.log)
    if once:
        try:
            outcomes = asyncio.run(until_signalled(scheduler.run_due()))
        except AgentflowError:
            raise
        except Exception as error:  # a bug: said scrubbed, not as a raw traceback that may quote a credential
            scheduler.log(crash_report(error, "exiting"))
            raise typer.Exit(EXIT_FAILED) from None
        if outcomes is None:
            return  # stopped by a signal: the running occurrence is recorded as cancelled, the others released
        if not outcomes:
            _say_nothing_due(scheduler)
        if any(outcome.state == "failed" for outcome in outcomes):
            raise typer.Exit(EXIT_FAILED)
        if any(outcome.misconfigured for outcome in outcomes):
            raise typer.Exit(EXIT_USAGE)
        return
    workflows, _ = scheduled_workflows()
    names = ", ".join(f"{w.workflow.name} ({_when(w)})" for w in workflows) or "no workflow has a schedule yet"
    scheduler.log(f"schedule: watching {names}; stop with SIGTERM or Ctrl-C")
    asyncio.run(until_signalled(scheduler.serve()))
    scheduler.log("schedule: stopped")


def _warn_sign_ins(say: Callable[[str], None]) -> None:
    """Before any occurrence is due: each remote server a scheduled workflow uses that cannot sign in unattended
    (no OAuth sign-in, none that can be refreshed, a credential variable unset), so nobody learns it at 3 a.m."""
    import os

    from agentflow.config import load_config
    from agentflow.host.login import status
    from agentflow.host.specs import AuthKind, load_server_specs
    from agentflow.schedule import scheduled_workflows

    workflows, _ = scheduled_workflows()
    users: dict[str, list[str]] = {}
    for loaded in workflows:
        for server in loaded.workflow.servers:
            users.setdefault(server, []).append(loaded.workflow.name)
    specs = load_server_specs(load_config())
    remote = [specs[name] for name in users if name in specs and specs[name].transport in ("http", "sse")]
    if not remote:
        return
    store = None
    if any(spec.sign_in is AuthKind.OAUTH for spec in remote):
        from agentflow.host.credentials import CredentialStore, open_vault

        store = CredentialStore(open_vault())
    for row in status(remote, store, dict(os.environ)):
        if row.warning:
            say(f"schedule: warning: {row.name} (used by {', '.join(users[row.name])}): {row.state}; {row.warning}")


def _when(loaded: LoadedWorkflow) -> str:
    from agentflow.schedule.scheduler import spec_of

    spec = spec_of(loaded)
    return f"{spec.cron} {spec.timezone}"


def _say_nothing_due(scheduler: Scheduler) -> None:
    from agentflow.schedule import occurrences

    upcoming = scheduler.next_occurrences()
    soonest = f"; next: {upcoming[0][1]} at {occurrences.key(upcoming[0][0])}" if upcoming else ""
    scheduler.log(f"schedule: nothing due{soonest}")


def _parse_from(text: str) -> datetime:
    """`--from`: aware when it says its offset, naive (each workflow's wall time) when it does not."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"--from takes an ISO 8601 date or time such as 2026-10-24T23:00Z, 2026-10-25T01:00+02:00 or "
            f"2026-10-25 (got '{text}')"
        ) from None
    # Occurrences are looked for from a few hours before, and placed in UTC: the last year of `datetime`'s calendar
    # leaves no room for that, and no schedule has anything to show before 1970.
    if not 1970 <= moment.year < MAXYEAR:
        raise ConfigError(f"--from must be in the years 1970 to {MAXYEAR - 1} (got '{text}')")
    return moment


def _print_upcoming(count: int, begin: datetime | None) -> None:
    from agentflow.config import load_config
    from agentflow.schedule import occurrences, scheduled_workflows, settings_from
    from agentflow.schedule.scheduler import missing_inputs, spec_of, utc_now

    settings = settings_from(load_config())
    workflows, problems = scheduled_workflows()
    for problem in problems:
        typer.echo(f"warning: {problem}", err=True)
    if not workflows:
        typer.echo("No workflow has a schedule; add `schedule: {cron: ..., timezone: ...}` to one.")
        return
    now = utc_now()
    for loaded in workflows:
        spec = spec_of(loaded)
        name = loaded.workflow.name
        inputs = " ".join(f"{key}={value}" for key, value in settings.inputs_for(name).items()) or "none"
        typer.echo(f"{name}  {spec.cron}  ({spec.timezone})  inputs: {inputs}")
        if begin is None:
            since = now
        else:  # --from lists what is due at that very moment too: look from just before it
            aware = begin if begin.tzinfo else occurrences.instant(begin, ZoneInfo(spec.timezone))
            since = aware - timedelta(microseconds=1)
        for moment in occurrences.after(spec, since, count):
            typer.echo(f"  {occurrences.local(moment, spec):<28} {occurrences.key(moment)}")
        problem = missing_inputs(loaded, settings)
        if problem:
            typer.echo(f"  will be skipped: {problem}")
