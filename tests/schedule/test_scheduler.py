"""The scheduler: occurrences across zones and DST, exactly-once claims, missed and deferred occurrences, a
stop in the middle of a run, and the grooming job end to end with delivery to a file and a Slack webhook.

Time is a fake clock and a sleeper that only moves it; nothing here waits for real."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import pytest
from pydantic import ValidationError

from agentflow import redact, runs
from agentflow.agent.models import Model, Turn
from agentflow.agent.scripted import ScriptedModel
from agentflow.atlassian.testing import server_for
from agentflow.budget import Budget, Settings
from agentflow.config import state_dir
from agentflow.errors import BudgetDeferred, ConfigError
from agentflow.ledger import SQLiteLedger
from agentflow.runner import Runner, RunRequest, RunResult
from agentflow.sandbox.site import Site
from agentflow.schedule import OccurrenceStore, Scheduler, occurrences, settings_from, until_signalled
from agentflow.schedule.settings import Delivery, ScheduleSettings, parse_duration
from agentflow.workflow.schema import ScheduleSpec
from tests.conftest import SLOW_MACHINE_SECONDS

ROOT = Path(__file__).resolve().parents[2]
GROOMING_SCRIPT = ROOT / "examples" / "scripts" / "backlog-grooming.yaml"
THURSDAY_7AM = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)  # backlog-grooming runs at 07:00 UTC on weekdays
PROD = {"backlog-grooming": {"project": "PROD"}}


class Clock:
    """A clock that moves only when told; `sleep` moves it (and notes how long was asked for)."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def settings(**fields) -> ScheduleSettings:
    return ScheduleSettings(**{"grace": timedelta(hours=2), "inputs": PROD, **fields})


def scheduler(clock: Clock, runner_factory, lines: list[str], **fields) -> Scheduler:
    return Scheduler(
        settings=settings(**fields), runner_factory=runner_factory, clock=clock, sleep=clock.sleep, log=lines.append
    )


class Recorder:
    """Stands in for the runner: records each request and answers with a completed run record."""

    def __init__(self, barrier: threading.Barrier | None = None) -> None:
        self.requests: list[RunRequest] = []
        self.barrier = barrier

    def __call__(self) -> Recorder:
        return self

    async def execute(self, request: RunRequest) -> RunResult:
        self.requests.append(request)
        record = runs.RunRecord(
            id=f"run-{len(self.requests)}", workflow=request.workflow, actor=request.actor,
            started_at="2026-11-26T07:00:00+00:00", terminal_reason="completed", duration_s=3.1,
        )  # fmt: skip
        return RunResult(record, Path("/dev/null"))


# --- occurrences ----------------------------------------------------------------------------------------


def utc_keys(cron: str, zone: str, start: datetime, count: int) -> list[str]:
    return [occurrences.key(m) for m in occurrences.after(ScheduleSpec(cron=cron, timezone=zone), start, count)]


def test_berlin_7am_stays_7am_local_across_the_october_change_so_utc_moves_an_hour():
    spec = ScheduleSpec(cron="0 7 * * 1-5", timezone="Europe/Berlin")
    found = occurrences.after(spec, datetime(2026, 10, 22, 12, tzinfo=UTC), 3)
    assert [occurrences.key(m) for m in found] == ["2026-10-23T05:00Z", "2026-10-26T06:00Z", "2026-10-27T06:00Z"]
    assert [occurrences.local(m, spec) for m in found[:2]] == ["Fri 2026-10-23 07:00 CEST", "Mon 2026-10-26 07:00 CET"]


def test_zones_and_the_hours_dst_skips_or_repeats():
    assert utc_keys("0 9 * * *", "UTC", datetime(2026, 3, 28, tzinfo=UTC), 2) == [
        "2026-03-28T09:00Z",
        "2026-03-29T09:00Z",
    ]
    assert utc_keys("0 9 * * *", "Asia/Tokyo", datetime(2026, 3, 28, tzinfo=UTC), 1) == ["2026-03-29T00:00Z"]
    # 02:30 does not exist on the spring-forward night: it runs once, at the change (03:00 EDT), not never
    assert utc_keys("30 2 * * *", "America/New_York", datetime(2026, 3, 7, 12, tzinfo=UTC), 2) == [
        "2026-03-08T07:00Z",
        "2026-03-09T06:30Z",
    ]
    # 02:30 happens twice on the fall-back night: it runs once, the first time (CEST)
    assert utc_keys("30 2 * * *", "Europe/Berlin", datetime(2026, 10, 24, 12, tzinfo=UTC), 2) == [
        "2026-10-25T00:30Z",
        "2026-10-26T01:30Z",
    ]
    # every half hour through the skipped hour: no instant twice, none out of order
    half_hours = utc_keys("*/30 * * * *", "Europe/Berlin", datetime(2026, 3, 29, 0, 0, tzinfo=UTC), 4)
    assert half_hours == ["2026-03-29T00:30Z", "2026-03-29T01:00Z", "2026-03-29T01:30Z", "2026-03-29T02:00Z"]
    assert utc_keys("0 0 30 2 *", "UTC", datetime(2026, 1, 1, tzinfo=UTC), 1) == []  # 30 February never comes


def test_occurrences_end_where_the_calendar_does_instead_of_failing():
    # datetime ends with 9999: the 29 February after 9996 is in 10000, and so is 23:00 on 31 December 9999 in
    # New York, once in UTC
    assert utc_keys("0 23 29 2 *", "America/New_York", datetime(9990, 1, 1, tzinfo=UTC), 5) == [
        "9992-03-01T04:00Z",
        "9996-03-01T04:00Z",
    ]
    assert utc_keys("0 23 31 12 *", "America/New_York", datetime(9998, 6, 1, tzinfo=UTC), 3) == ["9999-01-01T04:00Z"]


def test_between_is_half_open():
    spec = ScheduleSpec(cron="0 7 * * *")
    found = occurrences.between(spec, THURSDAY_7AM, THURSDAY_7AM + timedelta(days=2))
    assert [occurrences.key(m) for m in found] == ["2026-11-27T07:00Z", "2026-11-28T07:00Z"]


# --- settings -------------------------------------------------------------------------------------------


def test_schedule_settings_from_the_config_table():
    delivery = {"file": "~/r/{workflow}-{date}.md", "stdout": True}
    parsed = settings_from({"schedule": {"grace": "1h30m", "model": "none", "inputs": PROD, "delivery": delivery}})
    assert parsed.grace == timedelta(minutes=90) and parsed.inputs_for("backlog-grooming") == {"project": "PROD"}
    assert settings_from({}).grace == timedelta(hours=1)
    assert parse_duration("1d") == timedelta(days=1)
    for table, message in [
        ({"grace": "soon"}, "schedule.grace in the config file: 'soon' is not a duration"),
        ({"graze": "2h"}, "schedule.graze"),
        ({"delivery": {"file": "{flow}.md"}}, "unknown field {flow}"),
    ]:
        with pytest.raises(Exception, match=message):
            settings_from({"schedule": table})


def test_a_file_pattern_that_does_not_fill_in_is_refused_when_the_config_is_read_naming_the_key():
    # Known field names with a format spec or conversion passed before and raised ValueError after the run.
    for pattern in ["r-{date}-{time:d}.md", "{date!x}.md", "{date:{run}}.md", "{workflow:%Y}.md"]:
        with pytest.raises(ConfigError, match=r"schedule\.delivery\.file in the config file: .* is not a valid"):
            settings_from({"schedule": {"delivery": {"file": pattern}}})
    assert settings_from({"schedule": {"delivery": {"file": "r-{date}-{time}-{run_id}.md"}}}).delivery.file


def test_grace_must_be_more_than_zero_and_at_most_a_week():
    for grace, message in [
        (-60, r"more than 0 and at most 7d \(got -1m\)"),  # a TOML integer is seconds
        ("0m", r"more than 0 and at most 7d \(got 0s\)"),
        ("8d", r"at most 7d \(got 8d\)"),
        ("999999d", r"at most 7d \(got 999999d\)"),  # was accepted, then overflowed date arithmetic
        ("99999999999d", "far too long a duration"),  # was an OverflowError from timedelta itself
    ]:
        with pytest.raises(ConfigError, match=r"schedule\.grace in the config file: .*" + message):
            settings_from({"schedule": {"grace": grace}})
    assert settings_from({"schedule": {"grace": "7d"}}).grace == timedelta(days=7)
    assert settings_from({"schedule": {"grace": 1}}).grace == timedelta(seconds=1)


def test_random_and_hashed_cron_fields_are_refused_with_a_clear_message():
    # croniter draws R anew each time occurrences are computed: a job at "R 7 * * *" would run many times a day.
    for cron in ["R 7 * * *", "r 7 * * 1-5", "0 R * * *", "R/15 * * * *", "R(0-29) 7 * * *", "H 7 * * *",
                 "H(0-29) 7 * * *", "0,H 7 * * *"]:  # fmt: skip
        with pytest.raises(ValidationError, match=r"uses [RH] \((random|hashed)\) in the field .* not support"):
            ScheduleSpec(cron=cron)
    # month and weekday names with an R or an H in them are fine
    assert ScheduleSpec(cron="0 7 * MAR,APR FRI,THU").cron == "0 7 * MAR,APR FRI,THU"


# --- exactly once ---------------------------------------------------------------------------------------


def test_two_schedulers_racing_for_one_occurrence_run_it_once():
    clock = Clock(THURSDAY_7AM + timedelta(seconds=20))
    barrier = threading.Barrier(2, timeout=SLOW_MACHINE_SECONDS)
    recorder = Recorder()
    results: list[list] = []

    def one_scheduler() -> None:
        own = Scheduler(
            settings=settings(), runner_factory=recorder, store=OccurrenceStore(state_dir() / "schedule.db"),
            clock=clock, sleep=clock.sleep, log=lambda line: None,
        )  # fmt: skip
        barrier.wait()  # both ask at the same moment
        results.append(asyncio.run(own.run_due()))

    threads = [threading.Thread(target=one_scheduler, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SLOW_MACHINE_SECONDS)
    assert len(recorder.requests) == 1
    assert sorted(len(outcomes) for outcomes in results) == [0, 1]
    request = recorder.requests[0]
    assert (request.actor, request.trigger, request.priority) == ("scheduler", "schedule", "batch")
    row = OccurrenceStore(state_dir() / "schedule.db").get("backlog-grooming", THURSDAY_7AM)
    assert row and row.state == "done" and row.run_id == "run-1" and row.attempts == 1


@pytest.mark.anyio
async def test_a_restarted_scheduler_does_not_run_what_is_on_record_again():
    clock, lines = Clock(THURSDAY_7AM + timedelta(minutes=1)), []
    recorder = Recorder()
    assert [o.state for o in await scheduler(clock, recorder, lines).run_due()] == ["done"]
    clock.advance(minutes=5)
    assert await scheduler(clock, recorder, lines).run_due() == []
    assert len(recorder.requests) == 1
    assert lines == ["schedule: backlog-grooming 2026-11-26T07:00Z -> completed run run-1 (3.1 s)"]


@pytest.mark.anyio
async def test_a_missed_occurrence_runs_once_within_grace_and_is_skipped_with_the_reason_beyond_it():
    store = OccurrenceStore(state_dir() / "schedule.db")
    store.claim("backlog-grooming", THURSDAY_7AM - timedelta(days=1), THURSDAY_7AM - timedelta(days=1))  # ran Wed
    store.update("backlog-grooming", THURSDAY_7AM - timedelta(days=1), "done", THURSDAY_7AM - timedelta(days=1))
    clock, lines, recorder = Clock(THURSDAY_7AM + timedelta(hours=1, minutes=30)), [], Recorder()
    [late] = await scheduler(clock, recorder, lines).run_due()  # down until 08:30, grace 2h: still runs
    assert late.state == "done" and len(recorder.requests) == 1

    clock.now = THURSDAY_7AM + timedelta(days=1, hours=3)  # down through Friday's run until 10:00
    [missed] = await scheduler(clock, recorder, lines).run_due()
    assert missed.state == "skipped" and missed.reason == "missed by 3h, grace 2h"
    assert lines[-1] == "schedule: backlog-grooming 2026-11-27T07:00Z -> skipped: missed by 3h, grace 2h"
    assert len(recorder.requests) == 1
    assert store.get("backlog-grooming", THURSDAY_7AM + timedelta(days=1)).state == "skipped"


@pytest.mark.anyio
async def test_a_late_frequent_schedule_catches_up_with_one_run_not_a_burst(project):
    project.workflow("every-five", "name: every-five\ntitle: Often\nagent: {prompt: minimal.md.j2}\n"
                     "output: {schema: {type: object}}\nschedule: '*/5 * * * *'\n")  # fmt: skip
    store = OccurrenceStore(state_dir() / "schedule.db")
    store.claim("every-five", THURSDAY_7AM, THURSDAY_7AM)
    clock, lines, recorder = Clock(THURSDAY_7AM + timedelta(minutes=17)), [], Recorder()
    outcomes = [o for o in await scheduler(clock, recorder, lines).run_due() if o.workflow == "every-five"]
    assert [(occurrences.key(o.scheduled)[11:], o.state) for o in outcomes] == [
        ("07:05Z", "skipped"), ("07:10Z", "skipped"), ("07:15Z", "done")]  # fmt: skip
    assert "superseded by 2026-11-26T07:15Z" in outcomes[0].reason
    assert [r.workflow for r in recorder.requests].count("every-five") == 1


@pytest.mark.anyio
async def test_a_per_minute_job_back_after_an_hour_runs_once_and_says_so_in_one_line(project):
    project.workflow("every-minute", "name: every-minute\ntitle: Often\nagent: {prompt: minimal.md.j2}\n"
                     "output: {schema: {type: object}}\nschedule: '* * * * *'\n")  # fmt: skip
    clock, lines, recorder = Clock(THURSDAY_7AM + timedelta(seconds=20)), [], Recorder()
    first = [o for o in await scheduler(clock, recorder, lines).run_due() if o.workflow == "every-minute"]
    assert [o.state for o in first] == ["done"]  # seen for the first time: nothing was missed
    clock.advance(hours=1)
    lines.clear()
    again = [o for o in await scheduler(clock, recorder, lines).run_due() if o.workflow == "every-minute"]
    assert [o.state for o in again].count("skipped") == 59 and again[-1].state == "done"
    minute_lines = [line for line in lines if "every-minute" in line]
    assert minute_lines == [
        "schedule: every-minute 2026-11-26T07:01Z .. 2026-11-26T07:59Z -> 59 skipped: superseded by "
        "2026-11-26T08:00Z: a late scheduler runs only the newest",
        "schedule: every-minute 2026-11-26T08:00Z -> completed run run-3 (3.1 s)",
    ]


@pytest.mark.anyio
async def test_a_dead_schedulers_started_occurrence_is_failed_and_its_merely_claimed_ones_run_again_within_grace(
    project,
):
    for name in ("aa-digest", "zz-digest"):
        project.workflow(name, f"name: {name}\ntitle: Also at seven\nagent: {{prompt: minimal.md.j2}}\n"
                         "output: {schema: {type: object}}\nschedule: '0 7 * * *'\n")  # fmt: skip
    store = OccurrenceStore(state_dir() / "schedule.db")
    dead, elsewhere = f"{socket.gethostname()}:999999:dead", "another-pod:1:alive"
    for name in ("backlog-grooming", "aa-digest", "zz-digest", "other-host"):
        store.claim(name, THURSDAY_7AM, THURSDAY_7AM)
    store.conn.execute("UPDATE occurrences SET state = 'running' WHERE workflow IN ('backlog-grooming', 'other-host')")
    # aa-digest was a deferred occurrence the dead scheduler had taken up again: it goes back to `deferred`
    store.conn.execute("UPDATE occurrences SET retry_at = ?, attempts = 1, reason = 'no room' WHERE workflow = "
                       "'aa-digest'", (THURSDAY_7AM.isoformat(),))  # fmt: skip
    store.conn.execute("UPDATE occurrences SET owner = ?", (dead,))
    store.conn.execute("UPDATE occurrences SET owner = ? WHERE workflow = 'other-host'", (elsewhere,))

    failed, released = store.close_orphans(THURSDAY_7AM + timedelta(minutes=5))
    assert [o.workflow for o in failed] == ["backlog-grooming"]
    assert sorted(o.workflow for o in released) == ["aa-digest", "zz-digest"]
    row = store.get("backlog-grooming", THURSDAY_7AM)
    assert row.state == "failed" and "stopped before it finished" in row.reason
    assert store.get("zz-digest", THURSDAY_7AM) is None  # never started: the claim is gone
    retry = store.get("aa-digest", THURSDAY_7AM)
    assert (retry.state, retry.attempts, retry.reason) == ("deferred", 1, "no room")
    assert store.get("other-host", THURSDAY_7AM).state == "running"  # another host's scheduler is assumed alive

    # Back to how the dead scheduler left them; the next pass, within grace, runs only the two never started.
    store.conn.execute("DELETE FROM occurrences")
    for name in ("backlog-grooming", "aa-digest", "zz-digest"):
        store.claim(name, THURSDAY_7AM, THURSDAY_7AM)
    store.conn.execute("UPDATE occurrences SET state = 'running' WHERE workflow = 'backlog-grooming'")
    store.conn.execute("UPDATE occurrences SET owner = ?", (dead,))
    clock, lines, recorder = Clock(THURSDAY_7AM + timedelta(minutes=5)), [], Recorder()
    outcomes = await scheduler(clock, recorder, lines).run_due()
    assert sorted((o.workflow, o.state) for o in outcomes) == [("aa-digest", "done"), ("zz-digest", "done")]
    assert sorted(r.workflow for r in recorder.requests) == ["aa-digest", "zz-digest"]
    assert (
        lines[0] == "schedule: backlog-grooming 2026-11-26T07:00Z -> failed: its scheduler stopped before it finished"
    )
    assert "schedule: zz-digest 2026-11-26T07:00Z -> released: its scheduler stopped before it started it" in lines[2]
    assert store.get("backlog-grooming", THURSDAY_7AM).state == "failed"


# --- missing inputs, budget -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_workflow_without_its_required_inputs_is_skipped_and_says_where_to_set_them():
    clock, lines, recorder = Clock(THURSDAY_7AM), [], Recorder()
    [outcome] = await scheduler(clock, recorder, lines, inputs={}).run_due()
    assert outcome.state == "skipped" and outcome.misconfigured and recorder.requests == []
    assert "missing required input 'project'" in outcome.reason
    assert "[schedule.inputs.backlog-grooming]" in lines[0]


@pytest.mark.anyio
async def test_a_deferred_run_is_retried_when_the_budget_says_and_skipped_once_grace_would_pass():
    clock, lines = Clock(THURSDAY_7AM - timedelta(minutes=30)), []
    budget = Budget(SQLiteLedger(":memory:"), Settings(per_hour=200), clock=lambda: clock.now.timestamp())
    budget.reserve("sandbox", 100, "interactive")  # batch may use 160; grooming needs 120
    site = Site.open("cloud")
    subject = scheduler(
        clock, lambda: Runner(model=None, bundled=lambda quota: server_for(site, quota=quota), budget=budget), lines
    )
    clock.now = THURSDAY_7AM + timedelta(seconds=30)

    [first] = await subject.run_due()
    assert first.state == "deferred" and first.retry_at == THURSDAY_7AM + timedelta(minutes=30, seconds=0)
    assert "needs 120 Atlassian requests and batch work may use 60" in first.reason
    assert runs.load(first.run_id).terminal_reason == "deferred"
    assert lines[-1].startswith("schedule: backlog-grooming 2026-11-26T07:00Z -> deferred until 2026-11-26T07:30Z")
    assert await subject.run_due() == []  # not yet
    assert subject.seconds_to_next() == 60.0

    clock.now = first.retry_at
    budget.reserve("sandbox", 100, "interactive")  # someone is busy: still no room
    [second] = await subject.run_due()
    assert second.state == "deferred" and occurrences.key(second.retry_at) == "2026-11-26T08:30Z"

    clock.now = second.retry_at
    budget.reserve("sandbox", 100, "interactive")
    [last] = await subject.run_due()
    assert last.state == "skipped" and "after its grace period ends at 2026-11-26T09:00Z" in last.reason
    row = subject.store.get("backlog-grooming", THURSDAY_7AM)
    assert row.state == "skipped" and row.attempts == 3
    assert [r.terminal_reason for r in runs.list_runs(actor="scheduler")] == ["deferred"] * 3


@pytest.mark.anyio
async def test_a_deferred_occurrence_whose_grace_ran_out_while_the_scheduler_was_down_is_skipped():
    class Deferring(Recorder):
        async def execute(self, request: RunRequest) -> RunResult:
            raise BudgetDeferred("deferred: no room", None)

    clock, lines = Clock(THURSDAY_7AM), []
    [deferred] = await scheduler(clock, Deferring(), lines).run_due()
    assert deferred.state == "deferred" and deferred.retry_at == THURSDAY_7AM + timedelta(minutes=1)
    clock.advance(hours=3)
    [skipped] = await scheduler(clock, Deferring(), lines).run_due()
    assert skipped.state == "skipped" and skipped.reason == "grace 2h ran out while deferred by the budget " \
        "(deferred: no room)"  # fmt: skip


@pytest.mark.anyio
async def test_a_run_that_cannot_start_fails_the_occurrence_with_the_reason_and_the_next_one_still_runs():
    clock, lines = Clock(THURSDAY_7AM), []
    site = Site.open("cloud")
    subject = scheduler(
        clock, lambda: Runner(bundled=lambda quota: server_for(site, quota=quota), budget=None), lines, model="gpt-4"
    )
    [failed] = await subject.run_due()
    assert failed.state == "failed" and "unknown model 'gpt-4'" in failed.reason and failed.run_id is None
    subject.fixed_settings = settings(model="none")
    clock.advance(days=1)
    [done] = await subject.run_due()
    assert done.state == "done" and runs.load(done.run_id).model == "none"


class TemplateFails(Recorder):
    """A runner whose runs complete but whose report template cannot render the answer."""

    async def execute(self, request: RunRequest) -> RunResult:
        result = await super().execute(request)
        result.record.terminal_reason = "report_error"
        result.record.error = "prompts/backlog-grooming.report.md.j2:10: undefined: 'dict object' has no attribute 'x'"
        return result


@pytest.mark.anyio
async def test_a_run_whose_report_template_failed_fails_the_occurrence_with_the_templates_message():
    clock, lines = Clock(THURSDAY_7AM), []
    [outcome] = await scheduler(clock, TemplateFails(), lines).run_due()
    assert outcome.state == "failed" and outcome.run_id == "run-1"
    assert outcome.reason == (
        "failed: the report template could not render the answer "
        "(prompts/backlog-grooming.report.md.j2:10: undefined: 'dict object' has no attribute 'x')"
    )
    assert lines == [f"schedule: backlog-grooming 2026-11-26T07:00Z -> failed run run-1 (3.1 s): {outcome.reason}"]


# --- the long-running loop, and stopping it ---------------------------------------------------------------


@pytest.mark.anyio
async def test_serve_sleeps_until_the_next_occurrence_in_bounded_steps_rereading_workflows():
    clock, lines, recorder = Clock(THURSDAY_7AM - timedelta(seconds=150)), [], Recorder()
    subject = scheduler(clock, recorder, lines)
    wakeups = 0

    async def sleep(seconds: float) -> None:
        nonlocal wakeups
        wakeups += 1
        if wakeups == 5:
            raise asyncio.CancelledError  # as a SIGTERM would
        await clock.sleep(seconds)

    subject.sleep = sleep
    with pytest.raises(asyncio.CancelledError):
        await subject.serve()
    assert clock.slept == [60.0, 60.0, 30.0, 60.0]  # 06:57:30 -> 06:58:30 -> 06:59:30 -> 07:00 (runs) -> ...
    assert len(recorder.requests) == 1


class Blocking(Model):
    """A model that thinks until it is cancelled."""

    name = "blocking"

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def turn(self, *, system, messages, tools, max_tokens) -> Turn:
        self.started.set()
        await asyncio.Event().wait()
        raise AssertionError("never answers")


@pytest.mark.anyio
async def test_sigterm_during_a_run_cancels_it_and_records_the_run_and_the_occurrence_as_cancelled(project):
    project.workflow("zz-digest", "name: zz-digest\ntitle: Also at seven\nagent: {prompt: minimal.md.j2}\n"
                     "output: {schema: {type: object}}\nschedule: '0 7 * * *'\n")  # fmt: skip
    clock, lines, model, site = Clock(THURSDAY_7AM), [], Blocking(), Site.open("cloud")
    subject = scheduler(
        clock, lambda: Runner(model=model, bundled=lambda quota: server_for(site, quota=quota), budget=None), lines
    )

    async def terminate() -> None:
        await model.started.wait()
        os.kill(os.getpid(), signal.SIGTERM)

    with anyio.fail_after(SLOW_MACHINE_SECONDS):
        killer = asyncio.ensure_future(terminate())
        assert await until_signalled(subject.run_due()) is None  # a clean stop
        await killer
    [record] = runs.list_runs(actor="scheduler")
    assert record.terminal_reason == "cancelled" and record.trigger == "schedule"
    row = subject.store.get("backlog-grooming", THURSDAY_7AM)
    assert row.state == "cancelled" and row.run_id == record.id
    assert lines[-2:] == [
        f"schedule: backlog-grooming 2026-11-26T07:00Z -> cancelled run {record.id}: the scheduler stopped",
        "schedule: zz-digest 2026-11-26T07:00Z -> released, not started: the scheduler stopped; the next pass may "
        "run it within grace",
    ]
    assert subject.store.get("zz-digest", THURSDAY_7AM) is None  # released, not closed for good

    # A scheduler back within grace runs the occurrence that never started, and not the cancelled one again.
    clock.advance(minutes=10)
    recorder = Recorder()
    [outcome] = await scheduler(clock, recorder, lines).run_due()
    assert (outcome.workflow, outcome.state) == ("zz-digest", "done")
    assert [r.workflow for r in recorder.requests] == ["zz-digest"]
    assert subject.store.get("backlog-grooming", THURSDAY_7AM).state == "cancelled"


class BrokenResult:
    """What a runner with a bug might hand back: reading the record raises (quoting a secret, as errors may)."""

    @property
    def record(self) -> runs.RunRecord:
        raise RuntimeError(f"bug near {os.environ['SOME_API_TOKEN']}")


class Broken(Recorder):
    async def execute(self, request: RunRequest) -> RunResult:
        self.requests.append(request)
        return BrokenResult()  # type: ignore[return-value]


ZZ_DIGEST = ("name: zz-digest\ntitle: Also at seven\nagent: {prompt: minimal.md.j2}\noutput: {schema: {type: object}}\n"
             "schedule: '0 7 * * *'\n")  # fmt: skip
SECRET = "s3cret-value-0123456789"


@pytest.mark.anyio
async def test_an_unexpected_error_in_a_pass_closes_the_started_occurrence_and_releases_the_others(
    project, monkeypatch
):
    project.workflow("zz-digest", ZZ_DIGEST)
    monkeypatch.setenv("SOME_API_TOKEN", SECRET)
    clock, lines = Clock(THURSDAY_7AM), []
    subject = scheduler(clock, Broken(), lines)
    with pytest.raises(RuntimeError, match="bug near"):
        await subject.run_due()
    row = subject.store.get("backlog-grooming", THURSDAY_7AM)
    assert row.state == "failed" and row.reason.startswith("crashed: RuntimeError('bug near [REDACTED]")
    assert subject.store.get("zz-digest", THURSDAY_7AM) is None  # claimed in that pass, never started: released
    assert "schedule: zz-digest 2026-11-26T07:00Z -> released, not started: the pass crashed" in lines[-1]
    assert SECRET not in "\n".join(lines)

    clock.advance(minutes=1)  # the next pass, within grace, runs what never started; the crashed one is done with
    recorder = Recorder()
    [outcome] = await scheduler(clock, recorder, lines).run_due()
    assert (outcome.workflow, outcome.state) == ("zz-digest", "done")


@pytest.mark.anyio
async def test_serve_logs_an_unexpected_error_scrubbed_and_carries_on(project, monkeypatch):
    project.workflow("zz-digest", ZZ_DIGEST)
    monkeypatch.setenv("SOME_API_TOKEN", SECRET)
    clock, lines = Clock(THURSDAY_7AM), []
    subject = scheduler(clock, Broken(), lines)
    wakeups = 0

    async def sleep(seconds: float) -> None:
        nonlocal wakeups
        wakeups += 1
        if wakeups == 2:
            raise asyncio.CancelledError  # as a SIGTERM would
        subject.runner_factory = Recorder()  # the bug is gone by the next pass
        await clock.sleep(seconds)

    subject.sleep = sleep
    with pytest.raises(asyncio.CancelledError):
        await subject.serve()
    crash = next(line for line in lines if line.startswith("schedule: unexpected error: RuntimeError('bug near"))
    assert "the scheduler carries on, next pass in 60 s" in crash and "Traceback" in crash
    assert SECRET not in "\n".join(lines) and "[REDACTED]" in crash
    assert clock.slept == [60.0]  # a pause after a crash, not a busy loop
    assert subject.store.get("backlog-grooming", THURSDAY_7AM).state == "failed"
    assert subject.store.get("zz-digest", THURSDAY_7AM).state == "done"  # released, then run by the next pass
    assert lines[-1] == "schedule: zz-digest 2026-11-26T07:00Z -> completed run run-1 (3.1 s)"


# --- the grooming job end to end --------------------------------------------------------------------------


class Webhook:
    """A Slack incoming webhook on loopback: records each POST; answers the first `failures` with a 500."""

    def __init__(self, failures: int = 0) -> None:
        self.posts: list[dict] = []
        self.failures = failures
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                failing = hook.failures > 0
                hook.failures -= 1
                if not failing:
                    hook.posts.append(json.loads(body))
                self.send_response(500 if failing else 200)
                self.end_headers()
                self.wfile.write(b"error" if failing else b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/not-a-real-secret"

    def __enter__(self) -> Webhook:
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Webhook]:
    with Webhook(failures=1) as hook:
        monkeypatch.setenv("GROOMING_WEBHOOK", hook.url)
        yield hook


@pytest.mark.anyio
async def test_grooming_applies_labels_stages_the_rest_and_delivers_to_a_file_and_slack(tmp_path, webhook, capsys):
    clock, lines, site = Clock(THURSDAY_7AM + timedelta(seconds=5)), [], Site.open("cloud")
    delivery = {"file": str(tmp_path / "reports" / "{workflow}-{date}.md"), "stdout": True,
                "slack_webhook_env": "GROOMING_WEBHOOK"}  # fmt: skip

    def runner() -> Runner:
        budget = Budget(SQLiteLedger(":memory:"), Settings())
        model = ScriptedModel(GROOMING_SCRIPT)
        return Runner(model=model, bundled=lambda quota: server_for(site, user="lead", quota=quota), budget=budget)

    subject = scheduler(clock, runner, lines, delivery=delivery)

    [outcome] = await subject.run_due()

    assert outcome.state == "done" and outcome.reason is None
    record = runs.load(outcome.run_id)
    assert (record.actor, record.trigger, record.priority) == ("scheduler", "schedule", "batch")
    labels = {key: set((labels or "").split(",")) for key, labels in site.store.query(
        "SELECT i.key, GROUP_CONCAT(l.label) FROM issues i JOIN issue_labels l ON l.issue_id = i.id "
        "WHERE i.key IN ('PROD-110', 'PROD-116') GROUP BY i.key")}  # fmt: skip
    assert "stale" in labels["PROD-110"] and "possible-duplicate" in labels["PROD-116"]
    comments = site.store.query_one("SELECT COUNT(*) FROM comments WHERE issue_id IN "
                                    "(SELECT id FROM issues WHERE key IN ('PROD-112', 'PROD-113'))")[0]  # fmt: skip
    assert comments == 0  # comments wait for a person
    assert {c.tool for c in record.changes if c.index not in {a.index for a in record.applied}} == {
        "add_jira_comment", "link_jira_issues"}  # fmt: skip

    report = (tmp_path / "reports" / "backlog-grooming-2026-11-26.md").read_text()
    assert "PROD-110" in report and record.id in report
    assert "| PROD-110 | stale |" in report and "| PROD-116 | duplicate of PROD-115 |" in report  # not a JSON dump
    assert record.id in capsys.readouterr().out
    [post] = webhook.posts  # the first attempt got a 500; the retry went through
    assert "PROD-116 duplicates PROD-115" in post["text"] and f"`agentflow apply {record.id}`" in post["text"]
    assert "Applied without asking: 5 changes" in post["text"] and "3 changes wait for approval" in post["text"]
    assert clock.slept == [2.0]
    assert lines == [f"schedule: backlog-grooming 2026-11-26T07:00Z -> completed run {record.id} "
                     f"({record.duration_s:.1f} s)"]  # fmt: skip
    assert webhook.url not in json.dumps(lines) + record.model_dump_json()
    assert [r.id for r in runs.list_runs(actor="scheduler")] == [record.id]


@pytest.mark.anyio
async def test_a_slack_webhook_that_stays_down_is_reported_without_its_url_and_the_run_stays_done(monkeypatch):
    with Webhook(failures=99) as hook:
        monkeypatch.setenv("GROOMING_WEBHOOK", hook.url)
        clock, lines = Clock(THURSDAY_7AM), []
        subject = scheduler(clock, Recorder(), lines, delivery={"slack_webhook_env": "GROOMING_WEBHOOK"})
        [outcome] = await subject.run_due()
    assert outcome.state == "done" and outcome.reason == "slack delivery failed after 3 attempts (HTTP 500)"
    assert clock.slept == [2.0, 4.0] and hook.posts == []
    assert "slack delivery failed" in lines[0] and hook.url not in "\n".join(lines)
    monkeypatch.delenv("GROOMING_WEBHOOK")
    clock.advance(days=1)
    [unset] = await subject.run_due()
    assert "GROOMING_WEBHOOK is not set" in unset.reason


@pytest.mark.anyio
async def test_a_delivery_that_raises_is_reported_and_the_other_targets_and_occurrences_still_go(
    project, tmp_path, capsys
):
    # A pattern the config check refuses now (`{time:d}`), built around it: whatever a target raises, the deliverer
    # reports it like any delivery failure, instead of the exception ending the pass with claims left open.
    project.workflow("zz-digest", ZZ_DIGEST)
    delivery = Delivery.model_construct(file=str(tmp_path / "r-{date}-{time:d}.md"), stdout=True)
    clock, lines, recorder = Clock(THURSDAY_7AM), [], Recorder()
    outcomes = await scheduler(clock, recorder, lines, delivery=delivery).run_due()
    assert [(o.workflow, o.state) for o in outcomes] == [("backlog-grooming", "done"), ("zz-digest", "done")]
    for outcome in outcomes:
        assert outcome.reason == "file delivery failed: Unknown format code 'd' for object of type 'str'"
        assert OccurrenceStore(state_dir() / "schedule.db").get(outcome.workflow, THURSDAY_7AM).state == "done"
    assert capsys.readouterr().out.count("---") == 2  # stdout still got both reports
    assert "schedule: zz-digest 2026-11-26T07:00Z: file delivery failed: Unknown format code" in "\n".join(lines)


@pytest.mark.anyio
async def test_a_slack_error_quoting_the_webhook_url_never_reaches_a_log_or_the_output(monkeypatch, capsys, caplog):
    from slack_sdk.webhook import WebhookClient

    url = "https://hooks.slack.com/services/T0000/B0000/not-a-real-secret-xyz"

    def refuse(self: WebhookClient, url: str, request: object) -> object:
        raise OSError(f"could not reach {url}")  # slack_sdk logs this at ERROR before our code sees it

    monkeypatch.setattr(WebhookClient, "_perform_http_request_internal", refuse)
    monkeypatch.setenv("GROOMING_WEBHOOK", url)
    caplog.set_level(logging.DEBUG)
    clock, lines = Clock(THURSDAY_7AM), []
    subject = scheduler(clock, Recorder(), lines, delivery={"slack_webhook_env": "GROOMING_WEBHOOK"})
    [outcome] = await subject.run_due()
    assert outcome.state == "done" and outcome.reason == "slack delivery failed after 3 attempts (OSError)"
    captured = capsys.readouterr()
    seen = "\n".join([captured.out, captured.err, caplog.text, *lines, *(r.getMessage() for r in caplog.records)])
    assert "slack delivery failed" in seen and url not in seen and "not-a-real-secret" not in seen


def test_the_schedules_webhook_url_is_a_secret_scrubbed_everywhere(monkeypatch):
    url = "https://hooks.slack.com/services/T0000/B0000/not-a-real-secret-xyz"
    config = {"schedule": {"delivery": {"slack_webhook_env": "GROOMING_WEBHOOK"}}}
    assert url in redact.secrets_from({"GROOMING_WEBHOOK": url + "\n"}, config)
    assert redact.secrets_from({"GROOMING_WEBHOOK": url}, {"schedule": {"delivery": {}}}) == []
    monkeypatch.setenv("GROOMING_WEBHOOK", url)
    Path(os.environ["AGENTFLOW_CONFIG"]).write_text('[schedule.delivery]\nslack_webhook_env = "GROOMING_WEBHOOK"\n')
    assert redact.scrub(f"POST {url} failed") == "POST [REDACTED] failed"
