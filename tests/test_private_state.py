"""Private state: everything agentflow keeps (tokens, records, ledgers, journals) is its owner's alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentflow.cli import app
from tests.conftest import SLOW_MACHINE_SECONDS

SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "scripts" / "transcript-to-stories.yaml"
TRANSCRIPT = Path(__file__).resolve().parent.parent / "examples" / "transcripts" / "acme-finance-interview.md"


def world_traversable_state(monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state directory whose parent anyone may enter, so that only agentflow's own modes protect it."""
    parent = Path(tempfile.mkdtemp())
    parent.chmod(0o755)
    state = parent / "state"
    monkeypatch.setenv("AGENTFLOW_STATE_DIR", str(state))
    return state


def make_state(monkeypatch: pytest.MonkeyPatch, old_umask: int = 0o022) -> Path:
    state = world_traversable_state(monkeypatch)
    previous = os.umask(old_umask)
    try:
        cli = CliRunner()
        ran = cli.invoke(app, ["run", "transcript-to-stories", f"transcript={TRANSCRIPT}", "epic=PROD-100",
                               "--model", f"script:{SCRIPT}", "--quiet"])  # fmt: skip
        assert ran.exit_code == 0, ran.stderr
        assert cli.invoke(app, ["apply", "last", "--yes", "--only", "1"]).exit_code == 0
        assert cli.invoke(app, ["mcp", "token"]).exit_code == 0
    finally:
        os.umask(previous)
    return state


def test_every_directory_is_0700_and_every_file_0600_whatever_the_umask(monkeypatch):
    state = make_state(monkeypatch, old_umask=0o000)
    kinds = {path.name for path in state.rglob("*")}
    assert {"sandbox.db", "budget.db", "audit.log", "runs", "journals", "mcp-token"} <= kinds
    for path in [state, *state.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {mode:o}"


def test_looser_files_of_ours_are_tightened_and_a_shared_state_directory_refused(monkeypatch):
    state = make_state(monkeypatch)
    (state / "budget.db").chmod(0o644)
    (state / "runs").chmod(0o755)
    listed = CliRunner().invoke(app, ["runs"])
    assert listed.exit_code == 0
    budget = CliRunner().invoke(app, ["budget"])
    assert budget.exit_code == 0
    assert oct((state / "budget.db").stat().st_mode & 0o777) == "0o600"
    assert "budget.db was open to other users (mode 644); it is now private" in budget.stderr
    state.chmod(0o777)
    refused = CliRunner().invoke(app, ["run", "incident", "alert=pool", "--model", "none"])
    assert refused.exit_code == 2 and "may be written by other users (mode 777)" in refused.stderr


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="needs root to act as another uid")
def test_another_user_reads_nothing(monkeypatch):
    state = make_state(monkeypatch)
    for target in ("sandbox.db", "budget.db", "audit.log", "mcp-token", "runs"):
        peek = subprocess.run(["runuser", "-u", "nobody", "--", "ls", "-l", str(state / target)],
                              capture_output=True, text=True, timeout=SLOW_MACHINE_SECONDS)  # fmt: skip
        assert peek.returncode != 0 and "Permission denied" in peek.stderr, target


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="needs root to act as another uid")
def test_a_state_directory_of_another_user_is_refused_and_symlinks_in_ours_are_not_followed(monkeypatch, tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    shutil.chown(theirs, "nobody")
    monkeypatch.setenv("AGENTFLOW_STATE_DIR", str(theirs))
    refused = CliRunner().invoke(app, ["mcp", "token"])
    assert refused.exit_code == 2 and "belongs to another user" in refused.stderr
    ours = tmp_path / "ours"
    ours.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("not yours\n")
    victim.chmod(0o644)
    (ours / "mcp-token").symlink_to(victim)
    monkeypatch.setenv("AGENTFLOW_STATE_DIR", str(ours))
    planted = CliRunner().invoke(app, ["mcp", "token"])
    assert planted.exit_code == 2 and "it is a symbolic link, which agentflow never follows" in planted.stderr
    assert oct(victim.stat().st_mode & 0o777) == "0o644" and victim.read_text() == "not yours\n"
