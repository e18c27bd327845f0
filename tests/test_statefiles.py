"""State files on a misbehaving machine: a full or read-only disk, damaged files. Each is one clear message
naming the file and what to do (exit 2), nothing half-written, nothing lost that was already there.

CI runs as root, which no file mode stops: full and read-only disks are put behind `statefiles`' disk seam
(`_open`, `_write`) as the `OSError`s the kernel gives; SQLite's own errors come from SQLite itself.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentflow import config, runs, statefiles
from agentflow.budget import open_budget
from agentflow.cli import app
from agentflow.errors import StateError
from agentflow.schedule.store import OccurrenceStore
from tests.conftest import staged_stories

ALERT = "alert=DB pool exhausted"


class BrokenDisk:
    """Makes the disk seam fail with `error` for the paths `where` picks: on create for a read-only disk
    (EROFS), on write for a full one (ENOSPC). `after` writes to a picked path succeed first."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch

    def install(self, error: int, where: Callable[[Path], bool] = lambda path: True, after: int = 0) -> None:
        real_open, real_write = statefiles._open, statefiles._write
        opened: dict[int, Path] = {}
        left = [after]

        def fails(path: Path | None) -> bool:
            if path is None or not where(path):
                return False
            left[0] -= 1
            return left[0] < 0

        def open_(path: Path, flags: int, mode: int) -> int:
            if error == errno.EROFS and fails(Path(path)):
                raise OSError(error, os.strerror(error), str(path))
            descriptor = real_open(path, flags, mode)
            opened[descriptor] = Path(path)
            return descriptor

        def write(descriptor: int, data: bytes, *, sync: bool) -> None:
            if error != errno.EROFS and fails(opened.get(descriptor)):
                raise OSError(error, os.strerror(error))
            real_write(descriptor, data, sync=sync)

        self.monkeypatch.setattr(statefiles, "_open", open_)
        self.monkeypatch.setattr(statefiles, "_write", write)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> BrokenDisk:
    return BrokenDisk(monkeypatch)


def leftovers() -> list[Path]:
    return sorted(config.state_dir().rglob("*.partial"))


def test_a_full_disk_leaves_the_file_as_it_was_and_no_temporary_file(disk, tmp_path):
    path = tmp_path / "state" / "record.json"
    statefiles.write_private(path, "the old record")
    disk.install(errno.ENOSPC)
    with pytest.raises(StateError, match=r"cannot write .*record\.json: No space left on device \(the disk is full"):
        statefiles.write_private(path, "the new record")
    assert path.read_text() == "the old record" and not list(path.parent.glob("*.partial"))


def test_a_read_only_disk_says_where_to_point_the_state(disk, tmp_path):
    disk.install(errno.EROFS)
    with pytest.raises(StateError, match=r"Read-only file system .*point AGENTFLOW_STATE_DIR at a writable"):
        statefiles.write_private(tmp_path / "state" / "journal.json", "{}")
    with pytest.raises(StateError, match="Read-only file system"):
        statefiles.append_private(tmp_path / "audit.log", "{}\n")


@pytest.mark.parametrize(("error", "words"), [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "read-only")])
def test_a_run_on_a_disk_that_refuses_every_write_stops_at_once_with_one_clear_line(disk, error, words):
    disk.install(error, where=lambda path: config.state_dir() in path.parents)
    result = CliRunner().invoke(app, ["run", "incident", ALERT, "--model", "none", "--quiet"])
    assert result.exit_code == 2, result.output
    assert words in result.stderr and "Traceback" not in result.output
    assert not leftovers() and not list(runs.runs_dir().glob("*.json"))


def test_a_final_record_the_disk_refuses_still_shows_the_report_and_exits_2(disk):
    # The start record is written; the disk fills up before the finished one.
    disk.install(errno.ENOSPC, where=lambda path: path.parent == runs.runs_dir(), after=1)
    result = CliRunner().invoke(app, ["run", "incident", ALERT, "--model", "none", "--quiet"])
    assert result.exit_code == 2, result.output
    assert "Incident" in result.stdout and "Traceback" not in result.output  # the answer is not lost with it
    assert "No space left on device (the disk is full" in result.stderr
    assert not leftovers()
    [record] = runs.list_runs()
    assert record.status == "running" and not record.abandoned  # this very process is still alive


def test_runs_says_a_run_whose_process_died_was_interrupted():
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    from agentflow.processes import this_process

    host, _, incarnation = this_process().split(":")
    record = runs.RunRecord(id="20261201-080000-incident-abcdef", workflow="incident", started_at="2026-12-01T08:00:00",
                            process=f"{host}:{dead.stdout.strip()}:{incarnation}")  # fmt: skip
    runs.save(record)
    assert runs.load(record.id).abandoned
    listed = CliRunner().invoke(app, ["runs"])
    assert listed.exit_code == 0 and "interrupted" in listed.stdout


def test_runs_lists_what_it_can_read_and_names_what_it_cannot():
    CliRunner().invoke(app, ["run", "incident", ALERT, "--model", "none", "--quiet"])
    (runs.runs_dir() / "20991231-000000-incident-ffffff.json").write_text('{"id": "truncat')
    (runs.runs_dir() / "20991231-000001-incident-eeeeee.json").write_text("")
    listed = CliRunner().invoke(app, ["runs"])
    assert listed.exit_code == 0 and "incident" in listed.stdout
    assert listed.stderr.count("is damaged or unreadable") == 2 and "20991231-000000-incident-ffffff" in listed.stderr
    shown = CliRunner().invoke(app, ["runs", "show", "20991231-000000"])
    assert shown.exit_code == 2 and "move it aside" in shown.stderr and "Traceback" not in shown.output


@pytest.mark.parametrize("damage", [b"", b'{"run_id": "x", "entries": {"1": {"ind'], ids=["empty", "truncated"])
def test_a_damaged_journal_stops_apply_and_says_how_to_go_on(damage):
    cli = CliRunner()
    staged_stories()
    record = runs.load("last")
    journal = config.state_dir() / "journals" / f"{record.id}.json"
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.write_bytes(damage)
    for command in (["apply", "last", "--yes"], ["runs", "show", "last", "--changes"]):
        result = cli.invoke(app, command)
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert f"the apply journal {journal} is damaged" in result.stderr and "move it aside" in result.stderr
    assert journal.read_bytes() == damage  # never overwritten: what it holds may still matter


def test_a_damaged_budget_ledger_is_named_with_what_to_do():
    open_budget({}).ledger.close()  # a real ledger, then cut short as a crash or a full disk leaves it
    path = config.state_dir() / "budget.db"
    path.write_bytes(path.read_bytes()[:100])
    result = CliRunner().invoke(app, ["run", "incident", ALERT, "--model", "none", "--quiet"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"the budget ledger {path} is damaged" in result.stderr and "move it aside" in result.stderr


@pytest.mark.parametrize("command", [["run", "incident", ALERT, "--model", "none", "--quiet"], ["sandbox", "serve"]])
def test_a_damaged_sandbox_database_is_named_with_what_to_do(command):
    path = config.sandbox_db()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_bytes(b"SQLite format 3\x00" + b"\x00" * 84)
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"the sandbox database {path} is damaged" in result.stderr and "move it aside" in result.stderr


def test_sqlite_full_and_read_only_databases_are_state_errors(tmp_path):
    conn = statefiles.open_database(tmp_path / "full.db", "budget ledger", "move it aside")
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")  # SQLITE_FULL
    with pytest.raises(StateError, match=r"cannot write the budget ledger .*full\.db: .*the disk is full"):
        conn.execute("INSERT INTO t VALUES (?)", ("x" * 100_000,))
    conn.execute("PRAGMA query_only = 1")  # SQLite answers as for a read-only file
    with pytest.raises(StateError, match="read-only"):
        conn.execute("INSERT INTO t VALUES ('y')")
    (tmp_path / "schedule.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    with pytest.raises(StateError, match=r"scheduler's claims database .* is damaged"):
        OccurrenceStore(tmp_path / "schedule.db")


def test_a_state_database_error_no_store_names_is_still_one_line_at_the_cli(monkeypatch):
    def locked(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr("agentflow.runner.open_budget", locked)
    result = CliRunner().invoke(app, ["run", "incident", ALERT, "--model", "none", "--quiet"])
    assert result.exit_code == 2 and "a database in the state directory failed: database is locked" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("where", ["missing/report.md", "."], ids=["no such directory", "a directory"])
def test_an_output_path_that_cannot_be_written_is_refused_before_the_run(tmp_path, monkeypatch, where):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["run", "incident", ALERT, "--model", "none", "--quiet", "--output", where])
    assert result.exit_code == 2 and "cannot write the report" in result.stderr
    assert not runs.runs_dir().exists() or not list(runs.runs_dir().glob("*.json"))  # no run was started


def test_an_output_file_is_written_whole_and_an_existing_one_keeps_its_mode(tmp_path):
    report = tmp_path / "report.md"
    report.write_text("an older report")
    report.chmod(0o640)
    result = CliRunner().invoke(app, ["run", "incident", ALERT, "--model", "none", "--quiet", "--output", str(report)])
    assert result.exit_code == 0, result.output
    assert report.read_text().startswith("#") and report.stat().st_mode & 0o777 == 0o640
    assert not list(tmp_path.glob("*.partial"))
    assert json.loads(json.dumps(runs.load("last").model_dump(mode="json")))["status"] == "finished"


def test_a_disk_that_fills_up_during_apply_loses_nothing_and_makes_nothing_twice():
    from agentflow.sandbox.site import Site

    cli = CliRunner()
    staged_stories()
    site = Site.open("cloud", config.sandbox_db())
    before = site.store.query_one("SELECT COUNT(*) FROM issues")[0]
    with pytest.MonkeyPatch.context() as patch:
        # The journal takes five writes (two changes, each `applying` then `applied`, and the third `applying`),
        # then the disk is full: the third story is made on the site but its `applied` never reaches the journal.
        BrokenDisk(patch).install(errno.ENOSPC, where=lambda path: path.parent.name == "journals", after=5)
        full = cli.invoke(app, ["apply", "last", "--yes"])
    assert full.exit_code == 2 and "the disk is full" in full.stderr and "Traceback" not in full.output
    assert site.store.query_one("SELECT COUNT(*) FROM issues")[0] == before + 3
    again = cli.invoke(app, ["apply", "last", "--yes"])
    assert again.exit_code == 0, again.output
    assert site.store.query_one("SELECT COUNT(*) FROM issues")[0] == before + 4 and not leftovers()


def test_an_output_path_that_is_not_a_regular_file_is_written_through_never_replaced(tmp_path):
    import stat

    target = tmp_path / "reports" / "2026-12-01.md"
    target.parent.mkdir()
    target.write_text("yesterday's")
    latest = tmp_path / "latest.md"
    latest.symlink_to(target)
    for output in (str(latest), os.devnull):
        result = CliRunner().invoke(app, ["run", "incident", ALERT, "--model", "none", "--quiet", "--output", output])
        assert result.exit_code == 0, result.output
    assert latest.is_symlink() and target.read_text().startswith("#")  # the link kept, the file it names replaced
    assert stat.S_ISCHR(Path(os.devnull).stat().st_mode)  # a device is written to, not swapped for a file
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    statefiles.check_writable(fifo, "the report")  # returns at once: opening a FIFO would wait for a reader
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_an_output_path_under_a_file_says_so(tmp_path):
    (tmp_path / "notes").write_text("a file")
    with pytest.raises(StateError, match=r"cannot write the report .*notes/x\.md: .*notes is not a directory"):
        statefiles.check_writable(tmp_path / "notes" / "x.md", "the report")


def test_things_in_the_wrong_place_are_named_not_taken_for_empty(monkeypatch, tmp_path):
    runs.runs_dir().parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    runs.runs_dir().write_text("a file where the records go")
    for command in (["runs"], ["runs", "show", "last"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2 and "is not a directory: agentflow keeps its run records there" in result.stderr
    monkeypatch.setenv("AGENTFLOW_CONFIG", str(tmp_path))
    result = CliRunner().invoke(app, ["run", "incident", ALERT, "--model", "none", "--quiet"])
    assert result.exit_code == 2 and f"the config file {tmp_path} is a directory, not a file" in result.stderr


def test_a_journal_of_another_run_is_never_taken_for_this_one():
    from agentflow.changes.journal import Journal

    Journal(run_id="20261201-080000-transcript-to-stories-aaaaaa").set(1, state="applied", result={"key": "PROD-117"})
    other = Journal.path_for("20261201-090000-transcript-to-stories-bbbbbb")
    other.write_bytes(Journal.path_for("20261201-080000-transcript-to-stories-aaaaaa").read_bytes())
    with pytest.raises(StateError, match="it is the journal of run 20261201-080000-transcript-to-stories-aaaaaa"):
        Journal.load("20261201-090000-transcript-to-stories-bbbbbb")


def test_sqlite_disk_io_errors_are_a_disk_that_refused_not_a_damaged_file(tmp_path):
    refused = sqlite3.OperationalError("disk I/O error")  # what SQLite says of a full disk or a file-size limit
    error = statefiles.database_error(tmp_path / "budget.db", "budget ledger", refused, "move it aside")
    assert "cannot write the budget ledger" in str(error) and "damaged" not in str(error)


def test_output_to_a_full_disk_is_one_line_and_exit_2():
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "agentflow", "list"], stdout=full, stderr=subprocess.PIPE,
                                text=True, env=os.environ.copy())  # fmt: skip
    assert result.returncode == 2 and "writing the output failed: No space left on device" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_record_whose_process_died_while_writing_it_first_is_named():
    runs.runs_dir().mkdir(mode=0o700, parents=True)
    (runs.runs_dir() / "20261201-080000-incident-abcdef.json.partial").write_text('{"id": "2026')
    listed = CliRunner().invoke(app, ["runs"])
    assert listed.exit_code == 0 and "No runs recorded yet" in listed.stdout
    assert "unfinished first record of run 20261201-080000-incident-abcdef" in " ".join(listed.stderr.split())
