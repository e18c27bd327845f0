"""When a schedule fires: a workflow's cron expression, read in its time zone, as instants in UTC.

Cron fields describe wall-clock time, so the expression is stepped through in naive local time (where croniter
has no DST corner cases) and each wall time is then placed in the zone. Across a DST change this keeps
`0 7 * * *` at 07:00 local, so the UTC instant moves by the offset. The nights the clocks change follow Debian
cron (`man 8 cron`). A wildcard job (`*` or a step in the minute or hour field: `*/15 * * * *`, `0 * * * *`) runs
on real time: in both passes through a repeated hour, and not at all in a skipped one, so its interval stays
even. A fixed-time job (any other: `30 2 * * *`) runs once at a wall time the clocks repeat, the first time, and
once, at the change, at a wall time they skip (02:30 -> 03:00). Instants are unique: two wall times that land on
one instant are one occurrence.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from datetime import MAXYEAR, UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from agentflow.workflow.schema import ScheduleSpec


def instant(naive: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall time in `zone` as a fixed-time job reads it: the first one when the wall time is
    repeated, and the moment of the change when it was skipped (the job runs once, late, rather than not at all)."""
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


def on_real_time(cron: str) -> bool:
    """Whether `cron` is a wildcard job: `*` or a step in its minute or hour field. Debian cron looks for a
    leading `*` only; a step counts too because `0-59/15` is `*/15` written out, and both mean an interval."""
    minute, hour = cron.split()[:2]
    return any(mark in field for field in (minute, hour) for mark in "*/")


def _instants(naive: datetime, zone: ZoneInfo, real_time: bool) -> tuple[datetime | None, datetime | None]:
    """Where a wall time the expression names runs: its first instant (None when it does not run) and, for a
    wildcard job in a repeated hour, its second one."""
    if not real_time:
        return instant(naive, zone), None
    first, second = (naive.replace(tzinfo=zone, fold=fold) for fold in (0, 1))
    if _wall(first, zone) != naive:  # skipped: real time never reads it
        return None, None
    repeated = second.utcoffset() != first.utcoffset()
    return first.astimezone(UTC), (second.astimezone(UTC) if repeated else None)


def _in_order(spec: ScheduleSpec, zone: ZoneInfo, wall_start: datetime) -> Iterator[datetime]:
    """The instants the expression names from `wall_start` on, oldest first; one may come twice in a row."""
    real_time = on_real_time(spec.cron)
    steps = croniter(spec.cron, wall_start)
    # A repeated hour's second instants come after the first instants of the wall times that follow it (the
    # second 02:15 after the first 02:45), so they wait here until the first instants have passed them.
    repeats: deque[datetime] = deque()
    while True:
        try:
            naive = steps.get_next(datetime)
        except ValueError:  # CroniterBadDateError: it never fires (30 February); or croniter ran past the year 9999
            break
        if naive.year == MAXYEAR:  # placing its wall times in UTC can run past the end of datetime's calendar
            break
        first, again = _instants(naive, zone, real_time)
        if first is None:
            continue
        while repeats and repeats[0] < first:
            yield repeats.popleft()
        yield first
        if again is not None:
            repeats.append(again)
    yield from repeats


def _walk(spec: ScheduleSpec, start: datetime) -> Iterator[datetime]:
    """Occurrences (UTC) strictly after `start`, oldest first, each once."""
    zone = ZoneInfo(spec.timezone)
    # Step from a little earlier in wall time: around an offset change, local times shortly before `start`'s
    # wall time may still be after it (the second pass through a repeated hour); the comparison below decides.
    previous: datetime | None = None
    for moment in _in_order(spec, zone, _wall(start, zone) - timedelta(hours=3)):
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
