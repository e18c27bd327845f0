"""The live view: on a terminal it redraws in place and stays on screen as a summary when the run ends; elsewhere
it prints one line per event. It starts before the engine is imported, so the first line shows at once."""

from __future__ import annotations

import io
import re
import subprocess
import sys

from rich.console import Console

from agentflow.cli.live import LiveView
from agentflow.runs import StepRecord


def test_on_a_terminal_the_phases_and_steps_stay_on_screen_when_the_run_ends():
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, color_system=None)
    with LiveView(console, "incident", "none") as view:
        events = view.events()
        events.on_phase("connecting atlassian")
        events.on_phase("gathering")
        events.on_step(StepRecord(id="runbooks", tool="search_confluence_pages", status="ok", requests=1))
        events.on_phase("reporting")
    shown = screen.getvalue()
    summary = shown[shown.rindex("incident · model none") :]  # the last drawing: what stays on screen
    assert re.search(r"starting [\d.]+ s · connecting atlassian [\d.]+ s · gathering [\d.]+ s · reporting", summary)
    assert "gather runbooks search_confluence_pages ok" in summary and "Atlassian requests 1" in summary


def test_elsewhere_each_event_is_one_plain_line():
    lines = io.StringIO()
    console = Console(file=lines, force_terminal=False, width=100)
    with LiveView(console, "incident", "none") as view:
        view.events().on_phase("gathering")
    assert lines.getvalue().splitlines() == ["… gathering"]


def test_the_view_needs_no_engine_to_start():
    """What shows the first line must not wait for the MCP SDK and the runner to load."""
    code = "import sys, agentflow.cli.live; print(sorted(m for m in ('mcp', 'agentflow.runner') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
