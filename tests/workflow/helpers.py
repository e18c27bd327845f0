"""Helpers for tests that expect a workflow to be rejected."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentflow.errors import WorkflowInvalid
from agentflow.workflow.loader import load_file


def problems_of(path: Path) -> list[str]:
    """Every problem `load_file` reports for `path`, as the user sees them."""
    with pytest.raises(WorkflowInvalid) as caught:
        load_file(path)
    return [str(problem) for problem in caught.value.problems]
