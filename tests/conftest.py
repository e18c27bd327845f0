"""Fixtures shared by the whole suite."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

# The one bound for what should take a second or two (a child process starting, a server getting ready, a
# request, a thread finishing): a safety net that stops a hung test, never what a test measures. A loaded
# 2-core machine can be many times slower than a laptop, so it is generous; a passing test never gets near it.
# Where a time box is itself under test, the test uses a child or call that can never finish inside it.
SLOW_MACHINE_SECONDS = 120

MINIMAL_WORKFLOW = """\
name: {name}
title: A minimal workflow
agent:
  prompt: minimal.md.j2
output:
  schema: {{type: object}}
"""


class Project:
    """A throwaway project directory (the working directory) with `workflows/` and `prompts/`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "workflows").mkdir()
        (root / "prompts").mkdir()
        self.prompt("minimal.md.j2", "Do the thing for {{ inputs | length }} inputs.\n")

    def workflow(self, name: str, text: str | None = None) -> Path:
        """Write `workflows/NAME.yaml`; without text, a minimal valid workflow."""
        path = self.root / "workflows" / f"{name}.yaml"
        body = MINIMAL_WORKFLOW.format(name=name) if text is None else textwrap.dedent(text)
        path.write_text(body, encoding="utf-8")
        return path

    def prompt(self, name: str, text: str) -> Path:
        path = self.root / "prompts" / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path


ROOT = Path(__file__).resolve().parent.parent
TRANSCRIPT = ROOT / "examples" / "transcripts" / "acme-finance-interview.md"


def staged_stories() -> str:
    """Run transcript-to-stories with its scripted model through the CLI (four stories and four epic links
    staged on the state directory's sandbox); its run id."""
    from typer.testing import CliRunner

    from agentflow import runs
    from agentflow.cli import app

    script = ROOT / "examples" / "scripts" / "transcript-to-stories.yaml"
    ran = CliRunner().invoke(app, ["run", "transcript-to-stories", f"transcript={TRANSCRIPT}", "epic=PROD-100",
                                   "--model", f"script:{script}", "--quiet"])  # fmt: skip
    assert ran.exit_code == 0, ran.output
    return runs.load("last").id


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTFLOW_WORKFLOWS", raising=False)
    return Project(tmp_path)


LEAKY_VARIABLES = (
    "AGENTFLOW_WORKFLOWS", "AGENTFLOW_SITE", "AGENTFLOW_SITE_FLAVOR", "AGENTFLOW_READ_ONLY", "AGENTFLOW_CA_BUNDLE",
    "JIRA_URL", "JIRA_USERNAME", "JIRA_API_TOKEN", "JIRA_PERSONAL_TOKEN", "CONFLUENCE_URL", "CONFLUENCE_USERNAME",
    "CONFLUENCE_API_TOKEN", "CONFLUENCE_PERSONAL_TOKEN", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "AGENTFLOW_MODEL",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A developer's own sites, tokens, config file and state must not change (or leak into) what tests see."""
    for name in LEAKY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("agentflow-home")
    # The bundled server is a run's only server unless a test says otherwise; a run a test starts (in-process,
    # in a thread or in a worker process) gives it 20 s to start by default, which a starved machine has missed.
    (home / "config.toml").write_text(
        f'[servers.atlassian]\ntransport = "bundled"\nstartup_timeout = {SLOW_MACHINE_SECONDS}\n'
    )
    monkeypatch.setenv("AGENTFLOW_CONFIG", str(home / "config.toml"))
    monkeypatch.setenv("AGENTFLOW_STATE_DIR", str(home / "state"))
    _test_keyring(monkeypatch, home)


def _test_keyring(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """OAuth tokens go to a keyring of the test's own (this process and any child it starts), never the
    developer's; `AGENTFLOW_TOKEN_STORE` is left to its default (`auto`) unless a test sets it."""
    import keyring

    from tests.support.keyring_backend import PATH_VAR, FileKeyring

    monkeypatch.delenv("AGENTFLOW_TOKEN_STORE", raising=False)
    monkeypatch.setenv(PATH_VAR, str(home / "keyring.json"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.support.keyring_backend.FileKeyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", FileKeyring())


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (`@pytest.mark.anyio`) run on asyncio, the loop agentflow itself uses."""
    return "asyncio"


_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "sandbox", "testserver"}


def _is_local(host: object) -> bool:
    text = host.decode() if isinstance(host, bytes) else str(host)
    return text in _LOCAL_HOSTS or text.startswith("127.") or text.endswith(".localhost")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests are offline: anything but loopback (a real model API above all) fails loudly instead of leaking."""
    import socket

    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock: socket.socket, address: object) -> object:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):  # type: ignore[index]
            raise RuntimeError(f"network access to {address} is blocked in tests")
        return real_connect(sock, address)

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host is not None and not _is_local(host):
            raise RuntimeError(f"name lookup of {host} is blocked in tests")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
