"""What `agentflow run` shows while it works: the phase, the plan checklist, gather steps and tool calls.

On a terminal it is a live panel that redraws in place and, when the run ends, stays on screen as a summary:
each phase with its time, the plan, every step and call (the newest `KEPT_LINES`). Elsewhere (CI logs, pipes)
one plain line per event goes to stderr, so that a long run is never silent. The view starts before the engine
is imported, so the first line shows at once.
"""

from __future__ import annotations

import time
from functools import cache
from typing import TYPE_CHECKING, Any

from rich.markup import escape

if TYPE_CHECKING:  # the view shows the run starting before the engine is imported
    from agentflow.runner import RunEvents
    from agentflow.runs import PlanStep, StepRecord, ToolCallRecord, TurnRecord

MARKS = {"done": "[green]✔[/]", "in_progress": "[yellow]▶[/]", "pending": "[dim]○[/]", "skipped": "[dim]-[/]"}
SHOWN_CALLS = 8
KEPT_LINES = 30


class LiveView:
    """Builds `RunEvents` for a console; use as a context manager around the run."""

    def __init__(self, console: Any, workflow: str, model: str) -> None:
        self.console = console
        self.title = f"{workflow} · model {model}"
        self.phase = "starting"
        self.phases: list[tuple[str, float]] = [("starting", time.monotonic())]
        self.plan: list[PlanStep] = []
        self.lines: list[str] = []
        self.turns = 0
        self.tokens = 0
        self.requests = 0
        self.live: Any = None

    def __enter__(self) -> LiveView:
        if self.console.is_terminal:
            from rich.live import Live

            self.live = Live(self._render(), console=self.console, refresh_per_second=8, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)
            self.console.print(self._summary())

    def _summary(self) -> Any:
        """The finished run as it happened: phases with their times, then the plan and the steps and calls."""
        from rich.console import Group
        from rich.panel import Panel
        from rich.text import Text

        ends = [started for _, started in self.phases[1:]] + [time.monotonic()]
        spans = zip(self.phases, ends, strict=True)
        timed = " · ".join(f"{name} {end - started:.1f} s" for (name, started), end in spans)
        parts: list[Any] = [Text(timed, style="dim"), Text.from_markup(f"[dim]{self._stats()}[/]")]
        parts += [Text.from_markup(f"{MARKS.get(s.status, '·')} ") + Text(s.title) for s in self.plan]
        if len(self.lines) > KEPT_LINES:
            earlier = len(self.lines) - KEPT_LINES
            parts.append(Text(f"… {earlier} earlier lines (agentflow runs show last)", style="dim"))
        parts += [Text.from_markup(line) for line in self.lines[-KEPT_LINES:]]
        return Panel(Group(*parts), title=self.title, title_align="left", border_style="dim")

    def events(self) -> RunEvents:
        from agentflow.runner import RunEvents

        return RunEvents(
            on_phase=self._phase,
            on_step=self._step,
            on_plan=self._plan,
            on_turn=self._turn,
            on_tool_start=lambda call: None,
            on_tool_end=self._tool,
        )

    def _update(self, line: str | None = None) -> None:
        if line is not None:
            self.lines.append(line)
        if self.live is not None:
            self.live.update(self._render())
        elif line is not None:
            self.console.print(line, highlight=False)

    def _render(self) -> Any:
        from rich.console import Group
        from rich.panel import Panel
        from rich.text import Text

        parts: list[Any] = [Text.from_markup(f"[bold]{self.phase}[/]  [dim]{self._stats()}[/]")]
        if self.plan:
            parts += [Text.from_markup(f"{MARKS.get(s.status, '·')} ") + Text(s.title) for s in self.plan]
        parts += [Text.from_markup(line) for line in self.lines[-SHOWN_CALLS:]]
        return Panel(Group(*parts), title=self.title, title_align="left", border_style="dim")

    def _stats(self) -> str:
        return f"turns {self.turns} · tokens {self.tokens} · Atlassian requests {self.requests}"

    def _phase(self, phase: str) -> None:
        self.phase = phase
        self.phases.append((phase, time.monotonic()))
        self._update(None if self.live else f"[dim]… {phase}[/]")

    def _step(self, step: StepRecord) -> None:
        self.requests += step.requests
        status = _step_styles().get(step.status, escape(step.status))
        self._update(f"gather [bold]{step.id}[/] {step.tool} {status} [dim]{step.duration_ms:.0f} ms[/]")

    def _plan(self, plan: list[PlanStep]) -> None:
        self.plan = list(plan)
        if self.live is None:
            self._update(escape("plan: " + "; ".join(f"[{s.status}] {s.title}" for s in plan)))
        else:
            self._update()

    def _turn(self, turn: TurnRecord) -> None:
        self.turns = turn.index
        self.tokens += turn.usage.input_tokens + turn.usage.output_tokens
        self._update(None if self.live else f"[dim]turn {turn.index}: {turn.stop_reason}[/]")

    def _tool(self, call: ToolCallRecord) -> None:
        if call.tool in ("update_plan",):
            return
        self.requests += call.requests
        status = f"[{_call_colours().get(call.status, 'white')}]{call.status}[/]"
        self._update(f"tool [bold]{call.tool}[/] {status} [dim]{call.duration_ms:.0f} ms[/]")


@cache
def _step_styles() -> dict[str, str]:
    """How each outcome of a gather step shows; one a newer record may have is shown as written."""
    from agentflow.runs import CallStatus

    return {
        "ok": "[green]ok[/]", "error": "[red]failed[/]", "skipped": "[dim]skipped[/]",
        CallStatus.FAILED: "[red]failed[/]", CallStatus.TIMEOUT: "[red]timed out[/]",
        CallStatus.CANCELLED: "[yellow]cancelled[/]",
    }  # fmt: skip


@cache
def _call_colours() -> dict[str, str]:
    from agentflow.runs import CallStatus

    return {
        CallStatus.OK: "green", CallStatus.CACHED: "blue", CallStatus.ERROR: "red", CallStatus.REFUSED: "yellow",
        CallStatus.INVALID: "yellow", CallStatus.STAGED: "cyan", CallStatus.BUDGET: "magenta",
        CallStatus.FAILED: "red", CallStatus.TIMEOUT: "red", CallStatus.CANCELLED: "yellow",
    }  # fmt: skip
