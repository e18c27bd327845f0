"""The facts a report adds about the run itself: every way a run can end has words."""

from __future__ import annotations

from agentflow.report import REASONS, describe_reason
from agentflow.runs import TerminalReason


def test_every_terminal_reason_is_described():
    assert set(REASONS) == set(TerminalReason)
    assert describe_reason(TerminalReason.BUDGET) == "stopped: rate budget exhausted"
    assert describe_reason(None) == "still running"
