"""Scheduled runs (`agentflow schedule`): every workflow with a `schedule:` runs once per occurrence, as the
`scheduler` actor, at batch priority, claimed in `schedule.db` so that no occurrence ever runs twice.

    occurrences.py  cron expression + time zone -> UTC instants (DST nights by Debian cron's rule)
    settings.py     the `[schedule]` config table
    store.py        the occurrence claims (SQLite)
    delivery.py     report to a file, stdout, a Slack webhook
    scheduler.py    due -> claim -> run -> record -> deliver; the long-running loop and signal handling
"""

from agentflow.schedule.scheduler import ACTOR, Outcome, Scheduler, scheduled_workflows, until_signalled
from agentflow.schedule.settings import ScheduleSettings, settings_from
from agentflow.schedule.store import Occurrence, OccurrenceStore

__all__ = [
    "ACTOR",
    "Occurrence",
    "OccurrenceStore",
    "Outcome",
    "ScheduleSettings",
    "Scheduler",
    "scheduled_workflows",
    "settings_from",
    "until_signalled",
]
