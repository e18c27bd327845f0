"""The sandbox's SQLite database: schema, clock, and the identity and visibility rules every endpoint shares.

One `Store` is one Atlassian site. It lives in a file (stable across restarts: same users, same tokens,
whatever was created) or in memory. Seeded rows carry `seeded = 1`; on every open their times move forward
by the time elapsed since the last open, so that the seed's relative facts ("deployed two hours ago") hold
whenever the sandbox starts, even days after the file was made.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from agentflow.sandbox.query import textindex

Clock = Callable[[], float]

_SEEDED_TIMES = {
    "issues": ("created", "updated", "resolved"),
    "comments": ("created", "updated"),
    "pages": ("created", "updated"),
}

_ADDED_COLUMNS = {
    "comments": {
        "visibility_role_id": "INTEGER REFERENCES project_roles(id)",
        "visibility_group_id": "INTEGER REFERENCES groups(id)",
    },
}


@dataclass(frozen=True)
class User:
    id: int
    account_id: str
    username: str
    display_name: str
    email: str
    token: str
    time_zone: str
    account_type: str
    active: bool


class Store:
    """A connection to one sandbox site's database, safe to share between threads."""

    def __init__(self, conn: sqlite3.Connection, clock: Clock) -> None:
        self.conn = conn
        self.clock = clock
        self.lock = threading.RLock()

    @classmethod
    def open(cls, path: str | Path = ":memory:", clock: Clock = time.time) -> Store:
        """Open (creating if needed) a site database; seeded times are moved to the present. The file holds every
        seeded user's token: it is made readable by its owner only (SQLite's WAL files follow its mode)."""
        if str(path) != ":memory:":
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)  # never via a symlink
            os.fchmod(descriptor, 0o600)
            os.close(descriptor)
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        if str(path) != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(resources.files(__package__).joinpath("schema.sql").read_text(encoding="utf-8"))
        textindex.register(conn)
        store = cls(conn, clock)
        store._add_missing_columns()
        with store.transaction():
            textindex.ensure(conn)  # a file made before the index existed gets it here
        store._move_seeded_times()
        return store

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; concurrent requests queue on the lock rather than interleave."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def query(self, sql: str, params: tuple | list | dict = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple | list | dict = ()) -> sqlite3.Row | None:
        with self.lock:
            return self.conn.execute(sql, params).fetchone()

    def now(self) -> float:
        return self.clock()

    # --- meta -----------------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.query_one("SELECT value FROM meta WHERE key = ?", (key,))
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.lock:
            self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def is_empty(self) -> bool:
        return self.query_one("SELECT 1 FROM users LIMIT 1") is None

    def _add_missing_columns(self) -> None:
        """Columns added to a table after files were made with it (`CREATE TABLE IF NOT EXISTS` leaves an
        existing table as it is): a sandbox file from an older agentflow keeps working, its rows unrestricted."""
        with self.lock:
            for table, columns in _ADDED_COLUMNS.items():
                present = {row["name"] for row in self.conn.execute(f"PRAGMA table_info({table})")}
                for name, declaration in columns.items():
                    if name not in present:
                        self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")

    def _move_seeded_times(self) -> None:
        now = self.clock()
        anchor = self.meta("anchor")
        with self.transaction() as conn:
            if anchor is not None:
                delta = now - float(anchor)
                for table, columns in _SEEDED_TIMES.items():
                    moves = ", ".join(f"{c} = {c} + :delta" for c in columns)
                    conn.execute(f"UPDATE {table} SET {moves} WHERE seeded = 1", {"delta": delta})
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('anchor', ?)", (repr(now),))

    # --- identity and visibility -----------------------------------------------------------------------

    def users(self) -> list[User]:
        return [_user(row) for row in self.query("SELECT * FROM users ORDER BY id")]

    def user_by_token(self, token: str) -> User | None:
        row = self.query_one("SELECT * FROM users WHERE token = ? AND active = 1", (token,))
        return _user(row) if row else None

    def user_by_basic(self, credentials: str) -> User | None:
        """The user HTTP Basic `credentials` (base64 of `email:API token`, RFC 7617) prove: an active user whose
        token it is, with that email; None for anything else, malformed base64 included."""
        try:
            email, _, token = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user = self.user_by_token(token)
        return user if user is not None and user.email.lower() == email.lower() else None

    def user_by_email(self, email: str) -> User | None:
        row = self.query_one("SELECT * FROM users WHERE email = ? COLLATE NOCASE", (email,))
        return _user(row) if row else None

    def user(self, user_id: int) -> User | None:
        row = self.query_one("SELECT * FROM users WHERE id = ?", (user_id,))
        return _user(row) if row else None

    def find_user(self, reference: str) -> User | None:
        """A user by account id, username, email or display name (what JQL and REST bodies accept)."""
        row = self.query_one(
            "SELECT * FROM users WHERE account_id = ? OR username = ? OR email = ? COLLATE NOCASE "
            "OR display_name = ? COLLATE NOCASE ORDER BY id LIMIT 1",
            (reference, reference, reference, reference),
        )
        return _user(row) if row else None

    def service_account_keys(self) -> dict[int, str]:
        """Every user's service-account key (Rovo's `Authorization: Bearer <api key>`), made for users lacking one:
        users seeded or added before the keys existed get theirs on the next open."""
        with self.transaction() as conn:
            lacking = conn.execute(
                "SELECT id, username FROM users WHERE id NOT IN (SELECT user_id FROM service_account_keys)"
            ).fetchall()
            conn.executemany(
                "INSERT INTO service_account_keys (user_id, key) VALUES (?, ?)",
                [(row["id"], f"sbx-sa-{row['username']}-{secrets.token_hex(16)}") for row in lacking],
            )
            return dict(conn.execute("SELECT user_id, key FROM service_account_keys").fetchall())

    def user_by_service_account_key(self, key: str) -> User | None:
        row = self.query_one(
            "SELECT users.* FROM users JOIN service_account_keys ON service_account_keys.user_id = users.id "
            "WHERE service_account_keys.key = ? AND users.active = 1",
            (key,),
        )
        return _user(row) if row else None

    def visible_project_ids(self, user_id: int) -> frozenset[int]:
        """Projects the user may see: every open project, and restricted ones they are a member of."""
        rows = self.query(
            "SELECT id FROM projects WHERE restricted = 0 "
            "OR id IN (SELECT project_id FROM project_members WHERE user_id = ?)",
            (user_id,),
        )
        return frozenset(row["id"] for row in rows)


def _user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        account_id=row["account_id"],
        username=row["username"],
        display_name=row["display_name"],
        email=row["email"],
        token=row["token"],
        time_zone=row["time_zone"],
        account_type=row["account_type"],
        active=bool(row["active"]),
    )
