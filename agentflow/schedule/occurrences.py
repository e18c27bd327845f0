"""When a schedule fires: a workflow's cron expression, read in its time zone, as instants in UTC.

Cron fields describe wall-clock time, so the expression is stepped through in naive local time (where croniter
has no DST corner cases) and each wall time is then placed in the zone. Across a DST change this keeps
`0 7 * * *` at 07:00 local, so the UTC instant moves by the offset. A wall time that does not exist (the hour
skipped in spring) fires once, at the change (02:30 -> 03:00); a wall time that exists
twice (the hour repeated in autumn) fires once, at its first occurrence. Instants are unique: two wall times
that land on one instant are one occurrence.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

from agentflow.workflow.schema import ScheduleSpec


def _instant(naive: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall time in `zone`: the first one when the wall time is repeated, and the moment of
    the change when it was skipped (what cron daemons do: the job runs once, late, rather than not at all)."""
    first = naive.replace(tzinfo=zone, fold=0)
    if _wall(first, zone) == naive:
        return first.astimezone(UTC)
    # Skipped: fold=1 lands before the change and fold=0 after it; find the first minute whose wall time is
    # past `naive` between the two (a change is at most a few hours wide: a handful of steps).
    low = int(naive.replace(tzinfo=zone, fold=1).timestamp()) // 60
    high = -(-int(first.timestamp()) // 60)
    while high - low > 1:
        middle = (low + high) // 2
        if _wall(datetime.fromtimestamp(middle * 60, UTC), zone) >= naive:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high * 60, UTC)


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    # Through UTC: `astimezone` to the zone a datetime already has returns it unchanged, skipped wall time and all.
    return moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None)


def _walk(spec: ScheduleSpec, start: datetime) -> Iterator[datetime]:
    """Occurrences (UTC) strictly after `start`, oldest first, each once."""
    zone = ZoneInfo(spec.timezone)
    # Step from a little earlier in wall time: around an offset change, local times shortly before `start`'s
    # wall time may still be after it; the comparison below decides.
    steps = croniter(spec.cron, _wall(start, zone) - timedelta(hours=3))
    previous: datetime | None = None
    while True:
        try:
            naive = steps.get_next(datetime)
        except CroniterBadDateError:  # a valid expression that never fires, such as 30 February
            return
        moment = _instant(naive, zone)
        if moment != previous and moment > start:
            yield moment
        previous = moment


def after(spec: ScheduleSpec, moment: datetime, count: int) -> list[datetime]:
    """The next `count` occurrences strictly after `moment` (aware), in UTC."""
    found: list[datetime] = []
    for occurrence in _walk(spec, moment):
        if len(found) == count:
            break
        found.append(occurrence)
    return found


def between(spec: ScheduleSpec, start: datetime, end: datetime) -> list[datetime]:
    """Occurrences in the half-open interval (start, end], oldest first, in UTC."""
    found: list[datetime] = []
    for occurrence in _walk(spec, start):
        if occurrence > end:
            break
        found.append(occurrence)
    return found


def key(moment: datetime) -> str:
    """An occurrence's name and database key: its UTC minute, e.g. `2026-11-26T07:00Z` (sorts as text)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def from_key(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)


def local(moment: datetime, spec: ScheduleSpec) -> str:
    """An occurrence as a person in the workflow's zone reads it: `Mon 2026-10-26 07:00 CET`."""
    return moment.astimezone(ZoneInfo(spec.timezone)).strftime("%a %Y-%m-%d %H:%M %Z")
