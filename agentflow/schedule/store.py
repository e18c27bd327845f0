"""Which occurrences have been claimed, and what became of them: `schedule.db` in the state directory.

One row per occurrence (workflow, scheduled minute in UTC), under a UNIQUE constraint: a scheduler inserts the
row before it starts the run, inside `BEGIN IMMEDIATE`, so of two schedulers (or a restarted one) exactly one
gets it. States:

    claimed -> running -> done | deferred | skipped | failed | cancelled
    deferred -> claimed (retried when `retry_at` has come, by whichever scheduler takes it first)
    claimed -> (released) when its scheduler stops or dies before starting it

A row also carries the run id, the reason (why it was skipped, deferred, failed) and its owner. A claim that
never started is released: the row goes (or, for a deferred retry, goes back to `deferred`), so that the next
pass may claim the occurrence again within grace. A row a dead scheduler on this host left `running` is closed
as failed instead of staying open for ever; one whose owner is on another host is left alone (its scheduler is
assumed alive: there is no lease).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from agentflow.processes import alive, this_process
from agentflow.schedule.occurrences import from_key, key
from agentflow.statefiles import open_database

State = Literal["claimed", "running", "done", "deferred", "skipped", "failed", "cancelled"]

SETUP_ATTEMPTS = 100  # x 50 ms: how long a starting scheduler waits for another one creating the file


class Occurrence(BaseModel):
    """A row of the table."""

    workflow: str
    scheduled: datetime
    state: State
    run_id: str | None = None
    reason: str | None = None
    attempts: int = 0
    retry_at: datetime | None = None
    owner: str = ""
    updated_at: datetime

    @property
    def key(self) -> str:
        return key(self.scheduled)


class OccurrenceStore:
    """The table, over one connection (each scheduler opens its own; SQLite's lock is what they share)."""

    def __init__(self, path: Path | str) -> None:
        # Private: it names other people's runs. A damaged one only costs the record of past claims.
        remedy = "move it aside (mv it to schedule.db.damaged): the scheduler starts a new one"
        self.conn = open_database(path, "scheduler's claims database", remedy)
        for attempt in range(SETUP_ATTEMPTS):
            try:
                self._set_up()
                break
            except sqlite3.OperationalError as exc:
                # Switching a new file to WAL takes an exclusive lock and SQLite answers "locked" at once, without
                # waiting, when two schedulers start together; so the wait is ours, briefly.
                if "locked" not in str(exc) or attempt == SETUP_ATTEMPTS - 1:
                    raise
                time.sleep(0.05)

    def _set_up(self) -> None:
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute(
            """CREATE TABLE IF NOT EXISTS occurrences (
                workflow TEXT NOT NULL, scheduled_at TEXT NOT NULL, state TEXT NOT NULL, run_id TEXT,
                reason TEXT, attempts INTEGER NOT NULL DEFAULT 0, retry_at TEXT, owner TEXT NOT NULL,
                updated_at TEXT NOT NULL, UNIQUE (workflow, scheduled_at))"""
        )

    @contextmanager
    def _immediate(self) -> Iterator[sqlite3.Connection]:
        """The write lock up front, so that check-then-write is atomic across processes."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def claim(
        self, workflow: str, scheduled: datetime, now: datetime, state: State = "claimed", reason: str | None = None
    ) -> bool:
        """Insert the occurrence in `state` (a missed one goes straight to `skipped`); False when it exists."""
        with self._immediate() as conn:
            cursor = conn.execute(
                "INSERT INTO occurrences (workflow, scheduled_at, state, reason, owner, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (workflow, key(scheduled), state, reason, this_process(), _iso(now)),
            )
            return cursor.rowcount == 1

    def reclaim_deferred(self, workflow: str, scheduled: datetime, now: datetime) -> bool:
        """Take a deferred occurrence whose retry time has come; False when another scheduler took it first."""
        with self._immediate() as conn:
            cursor = conn.execute(
                "UPDATE occurrences SET state = 'claimed', owner = ?, updated_at = ? "
                "WHERE workflow = ? AND scheduled_at = ? AND state = 'deferred' AND retry_at <= ?",
                (this_process(), _iso(now), workflow, key(scheduled), _iso(now)),
            )
            return cursor.rowcount == 1

    def update(
        self,
        workflow: str,
        scheduled: datetime,
        state: State,
        now: datetime,
        *,
        run_id: str | None = None,
        reason: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        """Move a claimed occurrence on, setting every field as given; `running` counts an attempt."""
        with self._immediate() as conn:
            conn.execute(
                "UPDATE occurrences SET state = ?, run_id = ?, reason = ?, retry_at = ?, attempts = attempts + ?, "
                "updated_at = ? WHERE workflow = ? AND scheduled_at = ?",
                (state, run_id, reason, retry_at and _iso(retry_at), int(state == "running"), _iso(now), workflow,
                 key(scheduled)),
            )  # fmt: skip

    def get(self, workflow: str, scheduled: datetime) -> Occurrence | None:
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM occurrences WHERE workflow = ? AND scheduled_at = ?", (workflow, key(scheduled))
        ).fetchone()
        return _occurrence(row) if row else None

    def latest(self, workflow: str) -> datetime | None:
        """The newest occurrence of the workflow on record, whatever its state."""
        row = self.conn.execute("SELECT MAX(scheduled_at) FROM occurrences WHERE workflow = ?", (workflow,)).fetchone()
        return from_key(row[0]) if row and row[0] else None

    def deferred(self) -> list[Occurrence]:
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM occurrences WHERE state = 'deferred' ORDER BY retry_at, scheduled_at"
        )
        return [_occurrence(row) for row in rows]

    def release(self, workflow: str, scheduled: datetime, owner: str, now: datetime) -> bool:
        """Undo `owner`'s claim on an occurrence that never started, so that it may be claimed again: a deferred
        retry goes back to `deferred` (due at once), a first claim is deleted. False when the row is not a claim
        of `owner`'s any more (it started, or someone else holds it)."""
        with self._immediate() as conn:
            where = "WHERE workflow = ? AND scheduled_at = ? AND state = 'claimed' AND owner = ?"
            match = (workflow, key(scheduled), owner)
            cursor = conn.execute(
                f"UPDATE occurrences SET state = 'deferred', updated_at = ? {where} AND retry_at IS NOT NULL",
                (_iso(now), *match),
            )
            if cursor.rowcount == 0:
                cursor = conn.execute(f"DELETE FROM occurrences {where}", match)
            return cursor.rowcount == 1

    def close_orphans(self, now: datetime) -> tuple[list[Occurrence], list[Occurrence]]:
        """The open occurrences whose scheduler on this host is gone (killed, or the machine restarted): those it
        had started are closed as failed (nobody will finish them, and they must not run a second time); those it
        had only claimed are released, to be claimed again within grace. Returns (failed, released). A scheduler
        on another host is assumed alive, so its rows are left as they are."""
        rows = self.conn.execute(f"SELECT {_COLUMNS} FROM occurrences WHERE state IN ('claimed', 'running')")
        orphans = [o for o in map(_occurrence, rows) if not alive(o.owner)]
        failed: list[Occurrence] = []
        released: list[Occurrence] = []
        for orphan in orphans:
            if orphan.state == "claimed":
                if self.release(orphan.workflow, orphan.scheduled, orphan.owner, now):
                    released.append(orphan)
                continue
            with self._immediate() as conn:
                cursor = conn.execute(
                    "UPDATE occurrences SET state = 'failed', reason = ?, updated_at = ? "
                    "WHERE workflow = ? AND scheduled_at = ? AND owner = ? AND state = 'running'",
                    (f"the scheduler that ran it ({orphan.owner}) stopped before it finished", _iso(now),
                     orphan.workflow, orphan.key, orphan.owner),
                )  # fmt: skip
            if cursor.rowcount == 1:
                failed.append(orphan)
        return failed, released

    def close(self) -> None:
        self.conn.close()


_COLUMNS = "workflow, scheduled_at, state, run_id, reason, attempts, retry_at, owner, updated_at"


def _occurrence(row: tuple) -> Occurrence:
    workflow, scheduled, state, run_id, reason, attempts, retry_at, owner, updated = row
    return Occurrence(
        workflow=workflow,
        scheduled=from_key(scheduled),
        state=state,
        run_id=run_id,
        reason=reason,
        attempts=attempts,
        retry_at=datetime.fromisoformat(retry_at) if retry_at else None,
        owner=owner,
        updated_at=datetime.fromisoformat(updated),
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
