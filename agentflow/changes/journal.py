"""The apply journal of a run: what became of each change, durable before anything else happens.

`journals/<run id>.json` in the state directory, rewritten atomically on every change of state: `pending`,
`applying` (the request may have reached the site), `applied` (with what it made), `failed` (with the error).
A journal that cannot be read is a `StateError` naming it; a missing one (`lost`) makes apply look on the site
before it makes anything. One apply of a run at a time holds the journal's lock (`exclusive`).
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentflow import config, statefiles
from agentflow.errors import ConfigError

State = Literal["pending", "applying", "applied", "failed"]


class Entry(BaseModel):
    index: int
    state: State = "pending"
    result: dict[str, Any] | None = None
    error: str | None = None
    approved_by: str | None = None
    updated_at: str | None = None
    verified: bool | None = None  # read back after it was made: as intended (True), not (False), not read (None)


class Journal(BaseModel):
    run_id: str
    entries: dict[int, Entry] = Field(default_factory=dict)
    lost: bool = Field(default=False, exclude=True)  # no journal file was found: the site is the only truth

    @classmethod
    def path_for(cls, run_id: str) -> Path:
        return config.state_dir() / "journals" / f"{run_id}.json"

    @classmethod
    def load(cls, run_id: str) -> Journal:
        """The run's journal, or an empty one when it has none (`lost`). `StateError` for one that cannot be
        read: it is never guessed at."""
        path = cls.path_for(run_id)
        if not path.exists():
            return cls(run_id=run_id, lost=True)
        try:
            journal = cls.model_validate_json(path.read_text(encoding="utf-8"))
            if journal.run_id != run_id:  # a copy of another run's: its keys would be taken for this run's
                raise ValueError(f"it is the journal of run {journal.run_id}")
            return journal
        except (OSError, ValueError) as exc:
            remedy = (
                f"move it aside (mv {path} {path}.damaged) and apply again: apply then looks on the site for what "
                "this run already made and creates only what is missing"
            )
            raise statefiles.damaged(path, "apply journal", exc, remedy) from None

    def entry(self, index: int) -> Entry:
        return self.entries.setdefault(index, Entry(index=index))

    def set(self, index: int, **fields: Any) -> None:
        """Change one entry and make it durable before anything else happens (`StateError` if the disk refuses)."""
        entry = self.entry(index)
        for name, value in fields.items():
            setattr(entry, name, value)
        entry.updated_at = datetime.now(UTC).isoformat(timespec="seconds")
        statefiles.write_private(self.path_for(self.run_id), self.model_dump_json(indent=2))
        self.lost = False


@contextlib.contextmanager
def exclusive(run_id: str) -> Iterator[None]:
    """One apply of a run at a time on this machine (a terminal and a chat command, or a double submit): two
    at once would both see a change pending and both create it. The lock goes with the process if it dies."""
    path = statefiles.private_file(Journal.path_for(run_id).with_suffix(".lock"))
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"run {run_id} is being applied right now by another process; try again when it is done"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
