"""Fixtures shared by the whole suite."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

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


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTFLOW_WORKFLOWS", raising=False)
    return Project(tmp_path)


@pytest.fixture(autouse=True)
def _isolated_search_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own AGENTFLOW_WORKFLOWS must not change what the tests see."""
    monkeypatch.delenv("AGENTFLOW_WORKFLOWS", raising=False)


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (`@pytest.mark.anyio`) run on asyncio, the loop agentflow itself uses."""
    return "asyncio"
