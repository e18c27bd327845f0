"""State files: private to their owner, written atomically, and every failure of them a clear `StateError`.

Everything agentflow keeps in the state directory (run records, apply journals, the budget ledger, the
scheduler's claims, the audit log, the MCP token) is made through these functions, so that a full or
read-only disk, a file of another user or a damaged file is one message naming the file and what to do
(exit 2 at the CLI), never a traceback or half a file:

- `private_dir` / `private_file`: 0700 / 0600 whatever the umask; symlinks never followed.
- `write_private` (and `write_atomic` for a report a person asked for): temp file beside the target, fsync,
  rename (POSIX rename is atomic); the temp removed if anything fails. `check_writable` before long work.
- `open_database`: SQLite with a busy timeout, whose errors (disk full, read-only, "malformed") name the file.
- `unwritable` / `damaged`: the `StateError` for a file that cannot be written or read.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import stat
import sys
from pathlib import Path
from typing import Any

from agentflow.errors import StateError

PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600
BUSY_TIMEOUT_S = 30  # how long a SQLite statement waits for another process's lock before it fails

# What to do, by errno: the same for every file, or (state, other) where a state file's differs from a report's.
_ADVICE: dict[int, str | tuple[str, str]] = {
    errno.ENOSPC: "the disk is full: free some space and try again",
    errno.EDQUOT: "the disk quota is used up: free some space and try again",
    errno.EFBIG: "the file would pass this process's file-size limit (ulimit -f): raise it and try again",
    errno.EIO: "the disk failed to write: check it (dmesg) and try again",
    errno.EROFS: ("the file system is read-only: point AGENTFLOW_STATE_DIR at a writable directory",
                  "the file system is read-only: choose a path on a writable one"),
    errno.EACCES: ("agentflow needs to write its state directory: fix its owner or set AGENTFLOW_STATE_DIR", ""),
    errno.EPERM: ("agentflow needs to write its state directory: fix its owner or set AGENTFLOW_STATE_DIR", ""),
    errno.ELOOP: ("it is a symbolic link, which agentflow never follows in its state directory: remove it", ""),
    errno.EEXIST: ("a file is where agentflow keeps a directory: move it aside", ""),
    errno.ENOTDIR: ("a file is where agentflow keeps a directory: move it aside", "a part of the path is a file"),
    errno.EISDIR: ("a directory is where agentflow keeps a file: move it aside", "it is a directory"),
}  # fmt: skip


def unwritable(path: Path, error: OSError, what: str = "", *, state: bool = True) -> StateError:
    """The error for `path` that could not be created or written; the advice follows the errno, and whether it
    is a file of the state directory (`state`) or one a person named (a report)."""
    reason = error.strerror or str(error)
    advice = _ADVICE.get(error.errno or 0, "")
    if isinstance(advice, tuple):
        advice = advice[0] if state else advice[1]
    return StateError(f"cannot write {what + ' ' if what else ''}{path}: {reason}" + (f" ({advice})" if advice else ""))


def damaged(path: Path, what: str, detail: str | Exception, remedy: str) -> StateError:
    """The error for a state file that exists but cannot be read as what it should be; `detail` is what went
    wrong, or the error that says it (of which a person needs the first line: pydantic's run to many)."""
    if isinstance(detail, OSError):
        detail = detail.strerror or str(detail)
    elif isinstance(detail, Exception):
        detail = (str(detail).strip().splitlines() or [type(detail).__name__])[0]
    return StateError(f"the {what} {path} is damaged or unreadable ({detail}); {remedy}")


def private_dir(path: Path) -> Path:
    """`path` as a directory only its owner can enter: created 0700 (whatever the umask), an existing one of
    ours tightened with a warning. A directory others may write to is refused: they could swap our files.
    `StateError` when it cannot be made private."""
    try:
        previous = os.umask(0o077)  # the parents it makes too: mkdir's mode applies to the last one only
        try:
            path.mkdir(parents=True, exist_ok=True)
        finally:
            os.umask(previous)
        status = path.stat()
        mode = status.st_mode & 0o777
        if status.st_uid != os.getuid():
            raise StateError(f"{path} belongs to another user; agentflow keeps its state only in a directory of yours")
        if mode & 0o022:
            raise StateError(
                f"{path} may be written by other users (mode {mode:o}); agentflow keeps tokens and records there: "
                "make it private (chmod 700) or point AGENTFLOW_STATE_DIR elsewhere"
            )
        if mode & 0o077:
            os.chmod(path, PRIVATE_DIR)
            _tightened(path, mode)
    except OSError as exc:
        raise unwritable(path, exc, "the directory") from None
    return path


def private_file(path: Path) -> Path:
    """`path` as a file only its owner can read: created empty 0600 if missing, tightened with a warning if
    looser. Its directory is made private first."""
    private_dir(path.parent)
    try:
        # Never through a symlink: one planted in the directory could point our chmod or writes elsewhere.
        descriptor = _open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE)
        try:
            _tighten(descriptor, path)
        finally:
            os.close(descriptor)
    except OSError as exc:
        raise unwritable(path, exc) from None
    return path


def write_private(path: Path, text: str) -> Path:
    """Write `text` to `path` atomically and privately: a 0600 temporary file beside it (`NAME.partial`),
    flushed to disk, then renamed over it, so that a reader never sees half a file. On failure the temporary
    file is removed, `path` is as it was, and `StateError` says why."""
    return _replace(private_file(path.with_name(path.name + ".partial")), path, text)


def write_atomic(path: Path, text: str, what: str = "") -> Path:
    """`write_private` for a file a person asked for (a report): the same atomic replace, with the mode the
    umask gives a new file (an existing one keeps its mode). A symlink is followed: the file it names is
    replaced. What is not a regular file (`/dev/stdout`, a FIFO) is written through, never replaced."""
    target = _target(path, what)
    try:
        if target.exists() and not target.is_file():
            with open(target, "w", encoding="utf-8") as handle:
                handle.write(text)
            return path
        partial = target.with_name(target.name + ".partial")
        descriptor = _open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o666)  # umask applies
        try:
            if target.exists():
                os.fchmod(descriptor, target.stat().st_mode & 0o777)
        finally:
            os.close(descriptor)
    except OSError as exc:
        raise unwritable(path, exc, what, state=False) from None
    _replace(partial, target, text, what, state=False)
    return path


def check_writable(path: Path, what: str) -> None:
    """Before long work whose result goes to `path`: `StateError` now if it could not be written then (a
    missing directory, a directory in its place, a read-only disk). Leaves nothing behind."""
    target = _target(path, what)
    if not target.parent.is_dir():
        missing = "is not a directory" if target.parent.exists() else "does not exist"
        raise StateError(f"cannot write {what} {path}: {target.parent} {missing}")
    if stat.S_ISFIFO(target.stat().st_mode if target.exists() else 0):
        if not os.access(target, os.W_OK):  # opening a FIFO to try would wait for its reader
            raise StateError(f"cannot write {what} {path}: permission denied")
        return
    existed = target.exists()
    try:
        with open(target, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise unwritable(path, exc, what, state=False) from None
    if not existed:
        with contextlib.suppress(OSError):
            target.unlink()


def _target(path: Path, what: str) -> Path:
    """The file `path` names, through any symlinks; `StateError` when it is a directory."""
    target = path.resolve()
    if target.is_dir():
        raise StateError(f"cannot write {what} {path}: it is a directory")
    return target


def _replace(partial: Path, path: Path, text: str, what: str = "", *, state: bool = True) -> Path:
    try:
        descriptor = _open(partial, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW, PRIVATE_FILE)
        try:
            _write(descriptor, text.encode(), sync=True)
        finally:
            os.close(descriptor)
        os.replace(partial, path)
    except OSError as exc:
        with contextlib.suppress(OSError):  # on a read-only disk even this may fail; nothing more to do then
            partial.unlink()
        raise unwritable(path, exc, what, state=state) from None
    return path


def append_private(path: Path, text: str) -> None:
    """Append `text` to a private file (created 0600, tightened if looser; a symlink refused), whole or not at
    all: what a full disk let through is cut off again, so that the next line does not run into half of this
    one. `StateError` when it cannot."""
    try:
        descriptor = _open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE)
    except OSError as exc:
        raise unwritable(path, exc) from None
    try:
        status = _tighten(descriptor, path)
        data = text.encode()
        try:
            _write(descriptor, data, sync=False)
        except OSError as exc:
            size = os.fstat(descriptor).st_size
            if status.st_size < size < status.st_size + len(data):  # only ours got in, and only part of it
                with contextlib.suppress(OSError):
                    os.ftruncate(descriptor, status.st_size)
            raise unwritable(path, exc) from None
    finally:
        os.close(descriptor)


# The disk, as state files are written to it: the seam where tests put a full or read-only one (CI runs as root,
# which no file mode stops). Every byte of every state file (SQLite's aside) goes through these two.
def _open(path: Path, flags: int, mode: int) -> int:
    return os.open(path, flags, mode)


def _write(descriptor: int, data: bytes, *, sync: bool) -> None:
    view = memoryview(data)
    while view:  # os.write may write less than it was given
        view = view[os.write(descriptor, view) :]
    if sync:
        os.fsync(descriptor)


class _GuardedConnection(sqlite3.Connection):
    """A SQLite connection whose statements fail as `StateError`s naming the database and what to do."""

    path: Path
    what: str
    remedy: str

    def execute(self, *args: Any) -> sqlite3.Cursor:
        return self._guarded(super().execute, *args)

    def executescript(self, script: str) -> sqlite3.Cursor:
        return self._guarded(super().executescript, script)

    def _guarded(self, statement: Any, *args: Any) -> sqlite3.Cursor:
        try:
            return statement(*args)
        except sqlite3.DatabaseError as exc:
            if _locked(exc):  # the caller may wait and retry (a scheduler setting up the file); the CLI edge names it
                raise
            raise database_error(self.path, self.what, exc, self.remedy) from None


def open_database(path: Path | str, what: str, remedy: str) -> sqlite3.Connection:
    """A SQLite database of the state directory (made private first; `:memory:` for tests), in autocommit mode
    with a busy timeout. `what` names it in errors ("budget ledger"); `remedy` says what to do if it is damaged."""
    if str(path) != ":memory:":
        private_file(Path(path))  # WAL and shared-memory files take the database file's mode
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False,
                               factory=_GuardedConnection)  # fmt: skip
    except sqlite3.DatabaseError as exc:
        raise database_error(Path(path), what, exc, remedy) from None
    conn.path, conn.what, conn.remedy = Path(path), what, remedy
    return conn


def database_error(path: Path, what: str, error: sqlite3.DatabaseError, remedy: str) -> StateError:
    """SQLite's error as a person can act on it: a full or read-only disk, or a damaged file."""
    text = str(error)
    if "disk is full" in text:
        return unwritable(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), f"the {what}")
    if "disk I/O error" in text:  # SQLite's word for a write the disk refused (full, a file-size limit, a fault)
        return unwritable(path, OSError(errno.EIO, "disk I/O error"), f"the {what}")
    if "readonly" in text or "read-only" in text:
        return unwritable(path, OSError(errno.EROFS, os.strerror(errno.EROFS)), f"the {what}")
    return damaged(path, what, text, remedy)


def _locked(error: sqlite3.DatabaseError) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


def _tighten(descriptor: int, path: Path) -> os.stat_result:
    """Make the open file private if it is not (the open file, not the path again: nothing can be swapped in
    between); its status as it was."""
    status = os.fstat(descriptor)
    if status.st_mode & 0o077:
        os.fchmod(descriptor, PRIVATE_FILE)
        _tightened(path, status.st_mode & 0o777)
    return status


def _tightened(path: Path, mode: int) -> None:
    print(f"agentflow: {path} was open to other users (mode {mode:o}); it is now private", file=sys.stderr)
