"""`agentflow schedule`: run scheduled workflows as a service, once (for cron), or show when they would run."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from agentflow.cli.base import EXIT_FAILED, EXIT_USAGE

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
) -> None:
    """Run every workflow that has a `schedule:`, once per occurrence, as the `scheduler` actor at batch priority.

    Without options it runs until SIGTERM or Ctrl-C (a running occurrence is then cancelled and recorded). Inputs
    come from \\[schedule.inputs.WORKFLOW] in the config file; see docs/scheduling.md. With --once, exit codes: 0
    nothing failed; 1 a run failed (or the scheduler hit an unexpected error); 2 a workflow lacks configured
    inputs, or the config is wrong.
    """
    from agentflow.config import load_config
    from agentflow.errors import AgentflowError
    from agentflow.schedule import Scheduler, scheduled_workflows, settings_from, until_signalled
    from agentflow.schedule.scheduler import crash_report

    settings = settings_from(load_config())  # a broken [schedule] table stops here, with exit code 2
    if dry_run:
        _print_upcoming(count)
        return
    scheduler = Scheduler(settings=settings if once else None)
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


def _when(loaded: LoadedWorkflow) -> str:
    from agentflow.schedule.scheduler import spec_of

    spec = spec_of(loaded)
    return f"{spec.cron} {spec.timezone}"


def _say_nothing_due(scheduler: Scheduler) -> None:
    from agentflow.schedule import occurrences

    upcoming = scheduler.next_occurrences()
    soonest = f"; next: {upcoming[0][1]} at {occurrences.key(upcoming[0][0])}" if upcoming else ""
    scheduler.log(f"schedule: nothing due{soonest}")


def _print_upcoming(count: int) -> None:
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
        for moment in occurrences.after(spec, now, count):
            typer.echo(f"  {occurrences.local(moment, spec):<28} {occurrences.key(moment)}")
        problem = missing_inputs(loaded, settings)
        if problem:
            typer.echo(f"  will be skipped: {problem}")
