"""The ledger of the hourly rate budget: what each Atlassian site was sent in the last hour, shared by every
agentflow process on a machine (see `budget` for the rules it serves).

`Ledger` is the interface; `SQLiteLedger` keeps it in one SQLite file of the state directory (WAL, short `BEGIN
IMMEDIATE` transactions, so concurrent processes never together over-grant). A network store can implement
the same methods to share a quota between hosts.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agentflow.statefiles import damaged, open_database

WINDOW = 3600.0
# A damaged ledger holds only the last hour of requests; starting a new one forgets at most that hour.
DAMAGED_LEDGER = (
    "move it aside (e.g. mv budget.db budget.db.damaged) and agentflow starts a new one; it only held the last hour "
    "of requests, so wait that hour if the site's limit was near"
)
_COLUMNS = {
    "entries": {"id", "site", "at", "count", "committed", "run_id", "workflow", "actor"},
    "pauses": {"site", "until"},
    "meta": {"key", "value"},
    "totals": {"site", "used", "horizon"},
}
PRUNE_EVERY = 500  # reservations (of all processes: by entry id) between two prunings of expired rows


@dataclass(frozen=True)
class Grant:
    """A reservation the ledger made; `id` is what commit and release refer to."""

    id: int
    site: str
    count: int


@dataclass(frozen=True)
class Consumer:
    workflow: str
    actor: str
    requests: int


class Ledger(Protocol):
    """The shared store. Every method is atomic across processes."""

    def try_reserve(
        self, site: str, count: int, ceiling: int, now: float, *, run_id: str, workflow: str, actor: str
    ) -> Grant | None:
        """Reserve `count` if the site is not paused at `now` (epoch seconds) and what the window ending at `now`
        holds plus `count` stays within `ceiling`; else None. One atomic step: no other process's reservation
        or pause can come between the checks and the grant."""

    def record(self, site: str, count: int, now: float, *, run_id: str, workflow: str, actor: str) -> None:
        """Count `count` requests that were sent without a reservation (known only after the fact)."""

    def commit(self, grant_id: int, actual: int, now: float) -> None: ...

    def release(self, grant_id: int) -> None: ...

    def identity(self) -> str:
        """A random id of this ledger, the same for every process that opens it: a server that meters itself
        names it in its results, so a host sharing the ledger knows the requests are counted already."""

    def used(self, site: str, now: float) -> int: ...

    def oldest(self, site: str, now: float) -> list[tuple[float, int]]:
        """(time, count) of the window's entries, oldest first: when room frees up."""

    def pause(self, site: str, until: float) -> None: ...

    def paused_until(self, site: str, now: float) -> float | None: ...

    def consumers(self, site: str, now: float) -> list[Consumer]: ...

    def sites(self, now: float) -> list[str]: ...


class SQLiteLedger:
    """The machine-wide ledger: a SQLite file every agentflow process opens.

    What a site used in the window is a running total per site (`totals`), so a reservation costs the same
    whether the window holds ten requests or ten thousand: `used` is the sum of the site's entries newer than
    its `horizon`, kept so by triggers on every change to `entries` (whichever agentflow version makes it), and
    each reservation moves the horizon up to its own window's edge, subtracting the few entries that slid out
    since the last one. A reservation is one `BEGIN IMMEDIATE` transaction: the pause, the total and the insert.
    """

    def __init__(self, path: Path | str) -> None:
        self.conn = open_database(path, "budget ledger", DAMAGED_LEDGER)
        self.conn.execute("PRAGMA journal_mode = WAL")
        # Under WAL, NORMAL syncs at checkpoints, not at each commit: a commit survives any process crash (it is
        # in the WAL file before COMMIT returns), and only an OS crash or power cut can lose the last few, never
        # corrupt the file. Those processes are gone then too; FULL would cost an fsync per request.
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.executescript(
            """
            CREATE TABLE IF NOT EXISTS entries (
                id INTEGER PRIMARY KEY, site TEXT NOT NULL, at REAL NOT NULL, count INTEGER NOT NULL,
                committed INTEGER NOT NULL DEFAULT 0, run_id TEXT, workflow TEXT, actor TEXT);
            CREATE INDEX IF NOT EXISTS entries_site_at ON entries(site, at);
            CREATE TABLE IF NOT EXISTS pauses (site TEXT PRIMARY KEY, until REAL NOT NULL);
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS totals (site TEXT PRIMARY KEY, used INTEGER NOT NULL, horizon REAL NOT NULL);
            CREATE TRIGGER IF NOT EXISTS entries_added AFTER INSERT ON entries BEGIN
                UPDATE totals SET used = used + NEW.count WHERE site = NEW.site AND NEW.at > horizon;
            END;
            CREATE TRIGGER IF NOT EXISTS entries_removed AFTER DELETE ON entries BEGIN
                UPDATE totals SET used = used - OLD.count WHERE site = OLD.site AND OLD.at > horizon;
            END;
            CREATE TRIGGER IF NOT EXISTS entries_changed AFTER UPDATE OF site, at, count ON entries BEGIN
                UPDATE totals SET used = used - OLD.count WHERE site = OLD.site AND OLD.at > horizon;
                UPDATE totals SET used = used + NEW.count WHERE site = NEW.site AND NEW.at > horizon;
            END;
            """
        )
        self._check_columns(path)
        self._identity: str | None = None

    def _check_columns(self, path: Path | str) -> None:
        """A ledger whose tables lack columns (another version's, or edited) fails now, named, rather than in
        the middle of a tool call."""
        for table, needed in _COLUMNS.items():
            have = {row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")}
            if needed - have:
                raise damaged(Path(path), "budget ledger", f"its {table} table lacks {sorted(needed - have)}",
                              DAMAGED_LEDGER)  # fmt: skip

    def _in(self) -> Any:
        return _Immediate(self.conn)

    def try_reserve(
        self, site: str, count: int, ceiling: int, now: float, *, run_id: str, workflow: str, actor: str
    ) -> Grant | None:
        with self._in() as conn:
            if conn.execute("SELECT 1 FROM pauses WHERE site = ? AND until > ?", (site, now)).fetchone():
                return None
            if _advance(conn, site, now) + count > ceiling:
                return None
            cursor = conn.execute(
                "INSERT INTO entries (site, at, count, run_id, workflow, actor) VALUES (?, ?, ?, ?, ?, ?)",
                (site, now, count, run_id, workflow, actor),
            )
            grant = Grant(cursor.lastrowid, site, count)
            if grant.id % PRUNE_EVERY == 0:
                _prune(conn, now)
            return grant

    def record(self, site: str, count: int, now: float, *, run_id: str, workflow: str, actor: str) -> None:
        with self._in() as conn:
            conn.execute(
                "INSERT INTO entries (site, at, count, committed, run_id, workflow, actor) "
                "VALUES (?, ?, ?, 1, ?, ?, ?)",
                (site, now, count, run_id, workflow, actor),
            )

    def identity(self) -> str:
        if self._identity is None:
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'identity'").fetchone()
            if row is None:
                with self._in() as conn:
                    conn.execute("INSERT OR IGNORE INTO meta VALUES ('identity', ?)", (uuid.uuid4().hex,))
                    row = conn.execute("SELECT value FROM meta WHERE key = 'identity'").fetchone()
            self._identity = row[0]
        return self._identity

    def commit(self, grant_id: int, actual: int, now: float) -> None:
        with self._in() as conn:
            conn.execute("UPDATE entries SET count = ?, committed = 1 WHERE id = ?", (actual, grant_id))

    def release(self, grant_id: int) -> None:
        with self._in() as conn:
            conn.execute("DELETE FROM entries WHERE id = ? AND committed = 0", (grant_id,))

    def used(self, site: str, now: float) -> int:
        row = self.conn.execute(_USED, {"site": site, "edge": now - WINDOW}).fetchone()
        return int(row[0]) if row else _window_sum(self.conn, site, now)

    def oldest(self, site: str, now: float) -> list[tuple[float, int]]:
        rows = self.conn.execute(
            "SELECT at, count FROM entries WHERE site = ? AND at > ? ORDER BY at", (site, now - WINDOW)
        )
        return [(at, count) for at, count in rows]

    def pause(self, site: str, until: float) -> None:
        with self._in() as conn:
            conn.execute(
                "INSERT INTO pauses VALUES (?, ?) ON CONFLICT(site) DO UPDATE SET until = MAX(until, excluded.until)",
                (site, until),
            )

    def paused_until(self, site: str, now: float) -> float | None:
        row = self.conn.execute("SELECT until FROM pauses WHERE site = ? AND until > ?", (site, now)).fetchone()
        return row[0] if row else None

    def consumers(self, site: str, now: float) -> list[Consumer]:
        rows = self.conn.execute(
            "SELECT workflow, actor, SUM(count) FROM entries WHERE site = ? AND at > ? "
            "GROUP BY workflow, actor HAVING SUM(count) > 0 ORDER BY SUM(count) DESC",
            (site, now - WINDOW),
        )
        return [Consumer(workflow or "-", actor or "-", total) for workflow, actor, total in rows]

    def sites(self, now: float) -> list[str]:
        rows = self.conn.execute(
            "SELECT DISTINCT site FROM entries WHERE at > ? UNION SELECT site FROM pauses WHERE until > ?",
            (now - WINDOW, now),
        )
        return sorted(site for (site,) in rows)

    def close(self) -> None:
        self.conn.close()


class _Immediate:
    """`BEGIN IMMEDIATE` ... `COMMIT`: takes the write lock up front so that check-then-insert is atomic."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self.conn.execute("ROLLBACK" if kind else "COMMIT")


# The site's total as seen at `edge` (= now - WINDOW): its running total, less what slid out between the horizon
# and the edge, or plus what a clock behind the horizon's still counts. At most one of the two ranges is non-empty.
_USED = """
    SELECT used
        - (SELECT COALESCE(SUM(count), 0) FROM entries WHERE site = :site AND at > horizon AND at <= :edge)
        + (SELECT COALESCE(SUM(count), 0) FROM entries WHERE site = :site AND at > :edge AND at <= horizon)
    FROM totals WHERE site = :site
"""


def _advance(conn: sqlite3.Connection, site: str, now: float) -> int:
    """Inside a write transaction: what `site` used in the window ending at `now`, the site's horizon moved up
    to the window's edge first (its running total started from the entries when it has none yet)."""
    edge = now - WINDOW
    # Moved at every reservation, so that what slid out since is a handful of entries, not the window's worth.
    moved = conn.execute(
        "UPDATE totals SET used = used - (SELECT COALESCE(SUM(count), 0) FROM entries "
        "WHERE site = :site AND at > totals.horizon AND at <= :edge), horizon = :edge "
        "WHERE site = :site AND horizon < :edge",
        {"site": site, "edge": edge},
    )
    if not moved.rowcount:
        row = conn.execute(_USED, {"site": site, "edge": edge}).fetchone()
        if row is not None:
            return int(row[0])
        conn.execute(
            "INSERT INTO totals SELECT :site, COALESCE(SUM(count), 0), :edge FROM entries "
            "WHERE site = :site AND at > :edge",
            {"site": site, "edge": edge},
        )
    return int(conn.execute("SELECT used FROM totals WHERE site = ?", (site,)).fetchone()[0])


def _prune(conn: sqlite3.Connection, now: float) -> None:
    """Forget what slid out of the window long ago: one row per request adds up over days. Entries stay a window
    past their own, so a process whose clock is behind the horizon (it read its clock before another process
    took the lock) still finds what its window holds; pauses stay a window after they end, so a process whose
    reservation a pause refused still finds it when it asks why. The running totals do not change: what is
    deleted is behind every horizon, or its trigger takes it off."""
    conn.execute("DELETE FROM entries WHERE at <= ?", (now - 2 * WINDOW,))
    conn.execute("DELETE FROM pauses WHERE until <= ?", (now - WINDOW,))


def _window_sum(conn: sqlite3.Connection, site: str, now: float) -> int:
    row = conn.execute("SELECT COALESCE(SUM(count), 0) FROM entries WHERE site = ? AND at > ?", (site, now - WINDOW))
    return int(row.fetchone()[0])


# --- policy -----------------------------------------------------------------------------------------------
