"""The nights the clocks change, by Debian cron's rule (`man 8 cron`): wildcard jobs (`*` or a step in the minute or
hour field) run on real time, fixed-time jobs run once; every case with the UTC instants it must give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentflow.schedule import Scheduler, occurrences
from agentflow.schedule.settings import ScheduleSettings
from agentflow.workflow.schema import ScheduleSpec
from tests.schedule.test_scheduler import Clock, Recorder

BERLIN_FALL_BACK = datetime(2026, 10, 24, 23, 0, tzinfo=UTC)  # 01:00 CEST; at 01:00 UTC 03:00 CEST -> 02:00 CET
BERLIN_SPRING_FORWARD = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # 00:00 CET; at 01:00 UTC 02:00 CET -> 03:00 CEST
NEW_YORK_FALL_BACK = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # 00:00 EDT; at 06:00 UTC 02:00 EDT -> 01:00 EST
QUARTERLY = """\
name: quarterly
title: Every quarter of an hour, Berlin time
agent: {prompt: minimal.md.j2}
output: {schema: {type: object}}
schedule: {cron: "*/15 * * * *", timezone: Europe/Berlin}
"""


def listed(cron: str, zone: str, start: datetime, end: datetime) -> list[tuple[str, str]]:
    """Occurrences in (start, end]: UTC key and the local time of day as a person in `zone` reads it."""
    spec = ScheduleSpec(cron=cron, timezone=zone)
    return [(occurrences.key(m), occurrences.local(m, spec)[15:]) for m in occurrences.between(spec, start, end)]


@pytest.mark.parametrize(
    ("cron", "wildcard"),
    [("*/15 * * * *", True), ("0 * * * *", True), ("0-59/15 * * * *", True), ("30 */2 * * *", True),
     ("30 2 * * *", False), ("0 7 * * 1-5", False), ("0,30 2 * * *", False), ("0 1-4 * * *", False)],
)  # fmt: skip
def test_a_wildcard_job_has_a_star_or_a_step_in_its_minute_or_hour_field(cron: str, wildcard: bool):
    assert occurrences.on_real_time(cron) is wildcard


def test_fall_back_a_quarter_hourly_job_runs_every_15_real_minutes_through_both_passes_of_the_repeated_hour():
    found = listed("*/15 * * * *", "Europe/Berlin", BERLIN_FALL_BACK, BERLIN_FALL_BACK + timedelta(hours=3))
    expected = [BERLIN_FALL_BACK + timedelta(minutes=15 * n) for n in range(1, 13)]
    assert [key for key, _ in found] == [occurrences.key(m) for m in expected]  # 23:15Z .. 02:00Z, no gap
    assert [local for _, local in found[2:9]] == [
        "01:45 CEST", "02:00 CEST", "02:15 CEST", "02:30 CEST", "02:45 CEST", "02:00 CET", "02:15 CET"]  # fmt: skip


def test_fall_back_an_hourly_job_runs_at_both_2am():
    assert listed("0 * * * *", "Europe/Berlin", BERLIN_FALL_BACK - timedelta(minutes=1), datetime(
        2026, 10, 25, 3, 0, tzinfo=UTC)) == [
        ("2026-10-24T23:00Z", "01:00 CEST"), ("2026-10-25T00:00Z", "02:00 CEST"),
        ("2026-10-25T01:00Z", "02:00 CET"), ("2026-10-25T02:00Z", "03:00 CET"), ("2026-10-25T03:00Z", "04:00 CET"),
    ]  # fmt: skip


def test_fall_back_a_fixed_time_job_in_the_repeated_hour_runs_once_the_first_time():
    assert listed("30 2 * * *", "Europe/Berlin", datetime(2026, 10, 24, tzinfo=UTC), datetime(
        2026, 10, 26, 12, tzinfo=UTC)) == [
        ("2026-10-24T00:30Z", "02:30 CEST"), ("2026-10-25T00:30Z", "02:30 CEST"), ("2026-10-26T01:30Z", "02:30 CET"),
    ]  # fmt: skip


def test_spring_forward_a_fixed_time_job_in_the_skipped_hour_runs_at_the_change():
    assert listed("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 28, tzinfo=UTC), datetime(
        2026, 3, 30, 12, tzinfo=UTC)) == [
        ("2026-03-28T01:30Z", "02:30 CET"), ("2026-03-29T01:00Z", "03:00 CEST"), ("2026-03-30T00:30Z", "02:30 CEST"),
    ]  # fmt: skip


def test_spring_forward_a_quarter_hourly_job_goes_on_in_real_time_without_a_burst_or_a_duplicate():
    found = listed("*/15 * * * *", "Europe/Berlin", BERLIN_SPRING_FORWARD, BERLIN_SPRING_FORWARD + timedelta(hours=3))
    expected = [BERLIN_SPRING_FORWARD + timedelta(minutes=15 * n) for n in range(1, 13)]
    assert [key for key, _ in found] == [occurrences.key(m) for m in expected]  # 23:15Z .. 02:00Z
    assert [local for _, local in found[6:9]] == ["01:45 CET", "03:00 CEST", "03:15 CEST"]


def test_spring_forward_a_wildcard_job_does_not_run_at_the_skipped_times():
    # every two hours: 00:00 CET, then 04:00 CEST; the 02:00 the clocks skip is not made up at 03:00
    assert listed("0 */2 * * *", "Europe/Berlin", BERLIN_SPRING_FORWARD - timedelta(minutes=1), datetime(
        2026, 3, 29, 2, 0, tzinfo=UTC)) == [
        ("2026-03-28T23:00Z", "00:00 CET"), ("2026-03-29T02:00Z", "04:00 CEST")]  # fmt: skip


def test_new_york_fall_back_follows_the_same_rule():
    end = NEW_YORK_FALL_BACK + timedelta(hours=4)
    assert listed("*/30 * * * *", "America/New_York", NEW_YORK_FALL_BACK, end) == [
        ("2026-11-01T04:30Z", "00:30 EDT"), ("2026-11-01T05:00Z", "01:00 EDT"), ("2026-11-01T05:30Z", "01:30 EDT"),
        ("2026-11-01T06:00Z", "01:00 EST"), ("2026-11-01T06:30Z", "01:30 EST"), ("2026-11-01T07:00Z", "02:00 EST"),
        ("2026-11-01T07:30Z", "02:30 EST"), ("2026-11-01T08:00Z", "03:00 EST"),
    ]  # fmt: skip
    assert listed("30 1 * * *", "America/New_York", NEW_YORK_FALL_BACK, end) == [("2026-11-01T05:30Z", "01:30 EDT")]


def test_a_start_in_the_second_pass_of_the_repeated_hour_goes_on_from_there():
    spec = ScheduleSpec(cron="*/15 * * * *", timezone="Europe/Berlin")
    second_2_15 = datetime(2026, 10, 25, 1, 15, tzinfo=UTC)
    assert [occurrences.key(m) for m in occurrences.after(spec, second_2_15, 3)] == [
        "2026-10-25T01:30Z", "2026-10-25T01:45Z", "2026-10-25T02:00Z"]  # fmt: skip


@pytest.mark.anyio
async def test_the_scheduler_runs_each_quarter_hour_of_the_fall_back_night_once_under_its_own_utc_key(project):
    project.workflow("quarterly", QUARTERLY)
    clock, recorder = Clock(BERLIN_FALL_BACK), Recorder()
    scheduler = Scheduler(settings=ScheduleSettings(grace=timedelta(minutes=10)), runner_factory=recorder,
                          clock=clock, sleep=clock.sleep, log=lambda line: None)  # fmt: skip
    done = []
    for _ in range(37):  # a pass every 5 real minutes, 23:00Z to 02:00Z: each occurrence is due in one of them
        done += [o for o in await scheduler.run_due() if o.workflow == "quarterly"]
        clock.advance(minutes=5)
    assert [(occurrences.key(o.scheduled), o.state) for o in done] == [
        (occurrences.key(BERLIN_FALL_BACK + timedelta(minutes=15 * n)), "done") for n in range(13)]  # fmt: skip
    rows = scheduler.store.conn.execute("SELECT scheduled_at FROM occurrences WHERE workflow = 'quarterly'").fetchall()
    assert len(rows) == len(set(rows)) == 13
    assert len(recorder.requests) == 13
