"""The scheduler: finds what is due, claims it, runs it through the runner, records and delivers the result.

`run_due()` is one pass (what `agentflow schedule --once` does); `serve()` repeats it, sleeping until the next
occurrence (at most `MAX_SLEEP`, so edited workflows and config are read again soon). Per workflow, a pass
looks at the occurrences since the last one on record: the newest within the grace period runs, older ones are
recorded as skipped (missed, or superseded by the newer one, so a scheduler that was down catches up with one
run, not a burst). Deferred occurrences are retried when the budget said they would fit, within the grace period.

Time comes from an injected clock (aware datetimes) and sleeper, so that tests never wait.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from pydantic import BaseModel

from agentflow import runs
from agentflow.config import load_config, state_dir
from agentflow.errors import AgentflowError, BudgetDeferred, Deferred, InputInvalid, SignInRequired, WorkflowInvalid
from agentflow.processes import this_process
from agentflow.redact import scrub
from agentflow.report import describe_reason
from agentflow.runner import Runner, RunRequest, RunResult
from agentflow.schedule import occurrences
from agentflow.schedule.delivery import Deliverer
from agentflow.schedule.settings import ScheduleSettings, format_duration, settings_from
from agentflow.schedule.store import OccurrenceStore, State
from agentflow.workflow import loader
from agentflow.workflow.loader import LoadedWorkflow
from agentflow.workflow.schema import ScheduleSpec

ACTOR = "scheduler"
# How far back a pass looks for occurrences it has no row for: older misses are not worth a row each.
LOOKBACK = timedelta(days=1)
MAX_SLEEP = 60.0
RETRY_AFTER = timedelta(minutes=1)  # when the budget cannot say when a deferred run would fit
SIGN_IN_RETRY = timedelta(minutes=15)  # a run waiting for someone to sign in again tries this often

T = TypeVar("T")
Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


def utc_now() -> datetime:
    return datetime.now(UTC)


def log_to_stderr(line: str) -> None:
    print(scrub(line), file=sys.stderr, flush=True)


class Executor(Protocol):
    """What the scheduler needs of a runner (`agentflow.runner.Runner`)."""

    async def execute(self, request: RunRequest) -> RunResult: ...


class Outcome(BaseModel):
    """What became of one occurrence in this pass."""

    workflow: str
    scheduled: datetime
    state: State
    run_id: str | None = None
    reason: str | None = None
    duration_s: float | None = None
    retry_at: datetime | None = None
    misconfigured: bool = False  # skipped because the config lacks what the workflow needs

    def line(self) -> str:
        """The health line: `schedule: backlog-grooming 2026-11-26T07:00Z -> completed run ID (3.1 s)`."""
        head = f"schedule: {self.workflow} {occurrences.key(self.scheduled)} -> "
        took = f" ({self.duration_s:.1f} s)" if self.duration_s is not None else ""
        run = f" run {self.run_id}" if self.run_id else ""
        if self.state == "done":
            return f"{head}completed{run}{took}"
        if self.state == "deferred" and self.retry_at:
            return f"{head}deferred until {occurrences.key(self.retry_at)}{run}: {self.reason}"
        return f"{head}{self.state}{run}{took}" + (f": {self.reason}" if self.reason else "")


def condensed(outcomes: list[Outcome]) -> list[str]:
    """Health lines, with a run of occurrences of one workflow skipped for the same kind of reason said once: a
    scheduler back after an hour with a per-minute job writes one line, not sixty."""
    lines: list[str] = []
    group: list[Outcome] = []

    def kind(outcome: Outcome) -> str | None:
        word = (outcome.reason or "").split(" ")[0]
        return word if outcome.state == "skipped" and word in ("missed", "superseded") else None

    def flush() -> None:
        if len(group) > 2:
            first, last = occurrences.key(group[0].scheduled), occurrences.key(group[-1].scheduled)
            reason = group[-1].reason or ""
            why = f"missed ({reason.split(', ')[-1]})" if kind(group[-1]) == "missed" else reason
            lines.append(f"schedule: {group[0].workflow} {first} .. {last} -> {len(group)} skipped: {why}")
        else:
            lines.extend(outcome.line() for outcome in group)
        group.clear()

    for outcome in outcomes:
        if group and (kind(outcome) != kind(group[-1]) or outcome.workflow != group[-1].workflow):
            flush()
        if kind(outcome):
            group.append(outcome)
        else:
            lines.append(outcome.line())
    flush()
    return lines


def scheduled_workflows() -> tuple[list[LoadedWorkflow], list[str]]:
    """Every discoverable workflow that has a schedule, and one problem line per file that does not load."""
    found: list[LoadedWorkflow] = []
    problems: list[str] = []
    for name, path in sorted(loader.discover().items()):
        try:
            loaded = loader.load_file(path)
        except WorkflowInvalid as exc:
            problems.append(f"workflow {name} is not scheduled, it does not load: {exc}")
            continue
        if loaded.workflow.schedule is not None:
            found.append(loaded)
    return found, problems


def spec_of(loaded: LoadedWorkflow) -> ScheduleSpec:
    assert loaded.workflow.schedule is not None  # scheduled_workflows() returns only scheduled ones
    return loaded.workflow.schedule


def missing_inputs(loaded: LoadedWorkflow, settings: ScheduleSettings) -> str | None:
    """Why the configured inputs cannot run the workflow, or None when they can."""
    name = loaded.workflow.name
    try:
        loaded.coerce_inputs(settings.inputs_for(name))
    except InputInvalid as exc:
        problems = "; ".join(problem.message for problem in exc.problems)
        return f"{problems}; set inputs in [schedule.inputs.{name}] of the config file"
    return None


class Scheduler:
    """Runs the occurrences of every scheduled workflow exactly once. Every dependency is injectable:
    `settings=None` reads `[schedule]` from the config file on each pass; `runner_factory` makes one runner per
    run; `store` defaults to `schedule.db` in the state directory."""

    def __init__(
        self,
        *,
        settings: ScheduleSettings | None = None,
        runner_factory: Callable[[], Executor] = Runner,
        store: OccurrenceStore | None = None,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        log: Callable[[str], None] = log_to_stderr,
    ) -> None:
        self.fixed_settings = settings
        self.runner_factory = runner_factory
        self.store = store or OccurrenceStore(state_dir() / "schedule.db")
        # Looked up at call time rather than bound here, so that the CLI's clock can be replaced in tests.
        self.clock = clock or (lambda: utc_now())
        self.sleep = sleep
        self.log = log
        self.workflows: list[LoadedWorkflow] = []
        self._reported: set[str] = set()

    def settings(self) -> ScheduleSettings:
        return self.fixed_settings or settings_from(load_config())

    # --- one pass ------------------------------------------------------------------------------------------

    async def run_due(self) -> list[Outcome]:
        """Claim and run whatever is due now; one outcome per occurrence this pass decided, logged as it goes.
        Whatever stops the pass halfway (a signal, a bug), no occurrence it claimed is left open: those it never
        started are released for the next pass, the one it was running is closed."""
        settings = self.settings()
        now = self.clock()
        failed, released = self.store.close_orphans(now)
        for orphan in failed:
            self.log(f"schedule: {orphan.workflow} {orphan.key} -> failed: its scheduler stopped before it finished")
        for orphan in released:
            self.log(f"schedule: {orphan.workflow} {orphan.key} -> released: its scheduler stopped before it "
                     "started it, so it may run now if within grace")  # fmt: skip
        self.workflows, problems = scheduled_workflows()
        for problem in problems:
            if problem not in self._reported:  # once per problem, not on every wake-up
                self._reported.add(problem)
                self.log(f"schedule: {problem}")
        outcomes: list[Outcome] = []
        pending: list[tuple[LoadedWorkflow, datetime]] = []  # claimed in this pass and not finished yet
        try:
            for loaded in self.workflows:
                skipped, claimed = self._claim_due(loaded, now, settings.grace)
                outcomes += skipped
                if claimed:
                    pending.append((loaded, claimed))
            self._retry_deferred(now, settings.grace, outcomes, pending)
            for line in condensed(outcomes):
                self.log(line)
            pending.sort(key=lambda item: item[1])
            while pending:
                loaded, scheduled = pending[0]
                outcome = await self._run(loaded, scheduled, settings)
                pending.pop(0)
                self.log(outcome.line())
                outcomes.append(outcome)
        except BaseException as error:
            self._abandon(pending, error)
            raise
        return outcomes

    def _abandon(self, pending: list[tuple[LoadedWorkflow, datetime]], error: BaseException) -> None:
        """A pass is stopping early: release the occurrences it claimed but never started, and close the one it
        had started if that is still open (a cancelled run closes its own; this is for what escaped `_run`)."""
        stopped = isinstance(error, asyncio.CancelledError | KeyboardInterrupt)
        for loaded, scheduled in pending:
            name, when = loaded.workflow.name, occurrences.key(scheduled)
            try:
                row = self.store.get(name, scheduled)
                if row is None or row.owner != this_process():
                    continue
                if row.state == "claimed":
                    why = "the scheduler stopped" if stopped else f"the pass crashed: {error!r}"
                    if self.store.release(name, scheduled, row.owner, self.clock()):
                        self.log(scrub(f"schedule: {name} {when} -> released, not started: {why}; the next pass "
                                       "may run it within grace"))  # fmt: skip
                elif row.state == "running":
                    outcome = Outcome(workflow=name, scheduled=scheduled, state="running", run_id=row.run_id)
                    if stopped:
                        self.log(self._close(outcome, "cancelled", reason="the scheduler stopped").line())
                    else:
                        self.log(self._close(outcome, "failed", reason=f"crashed: {error!r}").line())
            except Exception as problem:  # the store itself may be what failed; the original error goes on
                self.log(scrub(f"schedule: {name} {when}: could not be released or closed: {problem!r}"))

    def _claim_due(
        self, loaded: LoadedWorkflow, now: datetime, grace: timedelta
    ) -> tuple[list[Outcome], datetime | None]:
        """Record the occurrences since the last one on record: the newest within grace is claimed to run, the
        rest are skipped. Another scheduler may have claimed any of them first; those are left alone."""
        name, spec = loaded.workflow.name, spec_of(loaded)
        latest = self.store.latest(name)
        # A workflow seen for the first time has missed nothing: it starts with what is due within grace.
        start = max(latest or now - grace, now - grace - LOOKBACK)
        due = occurrences.between(spec, start, now)
        if latest is None:
            due = due[-1:]  # nothing on record to have missed: only the newest (within grace) may run
        newest = due[-1] if due and now - due[-1] <= grace else None
        skipped: list[Outcome] = []
        for scheduled in due:
            if scheduled == newest:
                continue
            late = now - scheduled
            reason = (
                f"missed by {format_duration(late)}, grace {format_duration(grace)}"
                if late > grace
                else f"superseded by {occurrences.key(newest or scheduled)}: a late scheduler runs only the newest"
            )
            if self.store.claim(name, scheduled, now, state="skipped", reason=reason):
                skipped.append(Outcome(workflow=name, scheduled=scheduled, state="skipped", reason=reason))
        claimed = newest if newest and self.store.claim(name, newest, now) else None
        return skipped, claimed

    def _retry_deferred(
        self, now: datetime, grace: timedelta, outcomes: list[Outcome], pending: list[tuple[LoadedWorkflow, datetime]]
    ) -> None:
        """Deferred occurrences whose retry time has come: claimed again (added to `pending`), or skipped once
        grace is over (added to `outcomes`)."""
        by_name = {loaded.workflow.name: loaded for loaded in self.workflows}
        for row in self.store.deferred():
            if row.retry_at is None or row.retry_at > now:
                continue
            loaded = by_name.get(row.workflow)
            reason = None
            if loaded is None:
                reason = "the workflow no longer has a schedule"
            elif now - row.scheduled > grace:
                reason = f"grace {format_duration(grace)} ran out while deferred by the budget ({row.reason})"
            if not self.store.reclaim_deferred(row.workflow, row.scheduled, now):
                continue  # another scheduler took it
            if reason is not None or loaded is None:
                self.store.update(row.workflow, row.scheduled, "skipped", now, reason=reason)
                outcomes.append(Outcome(workflow=row.workflow, scheduled=row.scheduled, state="skipped",
                                        run_id=row.run_id, reason=reason))  # fmt: skip
            else:
                pending.append((loaded, row.scheduled))

    # --- one occurrence ------------------------------------------------------------------------------------

    async def _run(self, loaded: LoadedWorkflow, scheduled: datetime, settings: ScheduleSettings) -> Outcome:
        name = loaded.workflow.name
        outcome = Outcome(workflow=name, scheduled=scheduled, state="running")
        problem = missing_inputs(loaded, settings)
        if problem:
            return self._close(outcome, "skipped", reason=problem, misconfigured=True)
        # The run is named before it starts, so that the occurrence points at its record even if this process
        # dies or the runner raises; each attempt of a deferred occurrence is a run of its own.
        run_id = runs.new_run_id(name, self.clock())
        self.store.update(name, scheduled, "running", self.clock(), run_id=run_id)
        request = RunRequest(
            workflow=name, inputs=settings.inputs_for(name), actor=ACTOR, trigger="schedule", priority="batch",
            model=settings.model, run_id=run_id,
        )  # fmt: skip
        try:
            result = await self.runner_factory().execute(request)
        except SignInRequired as needed:
            # Nobody will sign in by itself: say so where the results go, then try again now and then in grace.
            deferred = self._defer(outcome, needed, _recorded(run_id), settings.grace, SIGN_IN_RETRY)
            if deferred.run_id is not None:
                record = runs.load(deferred.run_id)
                timezone = spec_of(loaded).timezone
                for problem in await Deliverer(settings.delivery, self.sleep).deliver(record, scheduled, timezone):
                    self.log(f"schedule: {name} {occurrences.key(scheduled)}: {problem}")
            return deferred
        except BudgetDeferred as deferred:
            return self._defer(outcome, deferred, _recorded(run_id), settings.grace)
        except asyncio.CancelledError:
            cancelled = self._close(outcome, "cancelled", run_id=_recorded(run_id), reason="the scheduler stopped")
            self.log(cancelled.line())
            raise
        except AgentflowError as error:
            return self._close(outcome, "failed", run_id=_recorded(run_id), reason=str(error))
        except Exception as error:  # a bug in one run must not stop the service: the run record and log keep it
            return self._close(outcome, "failed", run_id=_recorded(run_id), reason=f"crashed: {error!r}")
        record = result.record
        reason = None if record.succeeded else describe_reason(record.terminal_reason)
        if reason and record.error:
            reason += f" ({record.error})"
        # Closed before delivery: a stop during delivery must not leave a finished run looking unfinished.
        outcome = self._close(outcome, "done" if record.succeeded else "failed", run_id=record.id, reason=reason,
                              duration_s=record.duration_s)  # fmt: skip
        problems = await Deliverer(settings.delivery, self.sleep).deliver(record, scheduled, spec_of(loaded).timezone)
        if problems:
            for problem in problems:
                self.log(f"schedule: {name} {occurrences.key(scheduled)}: {problem}")
            outcome = self._close(outcome, outcome.state, reason="; ".join(([reason] if reason else []) + problems))
        return outcome

    def _defer(
        self, outcome: Outcome, deferred: Deferred, run_id: str | None, grace: timedelta, wait: timedelta = RETRY_AFTER
    ) -> Outcome:
        """Retry when the budget says the run fits (at least `wait` on), unless that is after grace."""
        now = self.clock()
        deadline = outcome.scheduled + grace
        fits = deferred.retry_at
        retry_at = max(now + wait, datetime.fromtimestamp(fits, UTC) if fits and fits != float("inf") else now)
        if fits == float("inf") or retry_at > deadline:
            reason = f"{deferred}; that is after its grace period ends at {occurrences.key(deadline)}"
            return self._close(outcome, "skipped", run_id=run_id, reason=reason)
        return self._close(outcome, "deferred", run_id=run_id, reason=str(deferred), retry_at=retry_at)

    def _close(self, outcome: Outcome, state: State, **fields: object) -> Outcome:
        closed = outcome.model_copy(update={"state": state, **fields})
        if closed.reason:  # reasons quote errors, and errors may quote a request with its credentials
            closed = closed.model_copy(update={"reason": scrub(closed.reason)})
        self.store.update(
            closed.workflow, closed.scheduled, state, self.clock(), run_id=closed.run_id, reason=closed.reason,
            retry_at=closed.retry_at,
        )  # fmt: skip
        return closed

    # --- the long-running loop ---------------------------------------------------------------------------

    def next_occurrences(self) -> list[tuple[datetime, str]]:
        """The next occurrence of each workflow scheduled as of the last pass, soonest first."""
        now = self.clock()
        found = [(moment, w.workflow.name) for w in self.workflows for moment in occurrences.after(spec_of(w), now, 1)]
        return sorted(found)

    def seconds_to_next(self) -> float:
        """Until the next occurrence or deferred retry, at most `MAX_SLEEP`."""
        upcoming = [moment for moment, _ in self.next_occurrences()]
        upcoming += [row.retry_at for row in self.store.deferred() if row.retry_at]
        if not upcoming:
            return MAX_SLEEP
        return max(0.0, min(MAX_SLEEP, (min(upcoming) - self.clock()).total_seconds()))

    async def serve(self) -> None:
        """Pass, sleep, pass, ... until cancelled. A configuration problem is logged and retried, not fatal:
        a service should survive someone saving a half-edited config file. Nor does a bug in a pass stop it: the
        error is logged (scrubbed) and the next pass comes after a pause."""
        carry_on = f"the scheduler carries on, next pass in {MAX_SLEEP:.0f} s"
        while True:
            pause = MAX_SLEEP  # after a bug: whatever failed may fail again at once, so no busy loop
            try:
                try:
                    await self.run_due()
                except AgentflowError as error:
                    self.log(f"schedule: {error}")
                pause = self.seconds_to_next()
            except Exception as error:
                self.log(crash_report(error, carry_on))
            await self.sleep(pause)


def crash_report(error: BaseException, then: str) -> str:
    """An unexpected error as a log entry: what, what happens next, and where (the traceback), scrubbed."""
    trace = "".join(traceback.format_exception(error)).rstrip()
    return scrub(f"schedule: unexpected error: {error!r}; {then}\n{trace}")


async def until_signalled(work: Awaitable[T], signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> T | None:
    """Await `work`, cancelling it on SIGTERM or SIGINT; its result, or None when a signal stopped it."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    received: list[int] = []

    def stop(number: int) -> None:
        received.append(number)
        task.cancel()

    for number in signals:
        loop.add_signal_handler(number, stop, number)
    try:
        return await task
    except asyncio.CancelledError:
        if not received:  # cancelled from outside, not by a signal: not ours to swallow
            raise
        return None
    finally:
        for number in signals:
            loop.remove_signal_handler(number)


def _recorded(run_id: str) -> str | None:
    """The run id when the runner got as far as recording the run (it raises before that on a broken workflow)."""
    return run_id if (runs.runs_dir() / f"{run_id}.json").is_file() else None
