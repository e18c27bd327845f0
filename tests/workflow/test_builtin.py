"""The built-in workflows validate; `test_report_templates.py` renders their reports."""

import pytest

from agentflow.atlassian import catalog
from agentflow.workflow import loader

NAMES = {"bug-triage", "incident", "transcript-to-stories", "backlog-grooming"}


@pytest.fixture
def builtin(tmp_path, monkeypatch):
    """Load a built-in workflow by name from an empty working directory."""
    monkeypatch.chdir(tmp_path)
    return loader.load


def test_the_four_builtin_workflows_exist_and_validate(builtin):
    names = {name for name, path in loader.discover().items() if path.parent == loader.builtin_dir()}
    assert names == NAMES
    for name in names:
        loaded = builtin(name)
        assert loaded.workflow.name == name
        assert set(loaded.workflow.tools) <= catalog.TOOL_NAMES
