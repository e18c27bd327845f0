"""Rendering a finished run: for the terminal (rich), as Markdown, and as a JSON summary.

The workflow's report template already says what was found; this adds the facts about the run itself:
how it ended, what it cost, where its record is.
"""

from __future__ import annotations

from typing import Any

from agentflow.runs import RunRecord, TerminalReason

REASONS: dict[TerminalReason, str] = {
    TerminalReason.COMPLETED: "completed",
    TerminalReason.MAX_TURNS: "stopped: turn limit reached",
    TerminalReason.MAX_TOOL_CALLS: "stopped: tool-call limit reached",
    TerminalReason.MAX_TOKENS_TOTAL: "stopped: token limit reached",
    TerminalReason.TIMEOUT: "stopped: time limit reached",
    TerminalReason.BUDGET: "stopped: rate budget exhausted",
    TerminalReason.INCOMPLETE: "incomplete: the model ran out of output tokens",
    TerminalReason.CONTEXT_EXCEEDED: "stopped: the model's context window is full",
    TerminalReason.REFUSED: "the model refused",
    TerminalReason.NO_OUTPUT: "the model stopped without an answer",
    TerminalReason.INVALID_OUTPUT: "the model's answers did not match the output schema",
    TerminalReason.MODEL_ERROR: "failed: model error",
    TerminalReason.SERVER_ERROR: "failed: MCP server error",
    TerminalReason.STOPPED: "the model stopped for a reason agentflow does not know",
    TerminalReason.CANCELLED: "cancelled",
    TerminalReason.DEFERRED: "deferred: not started (the budget has no room yet, or a server needs a sign-in)",
    TerminalReason.CONFIG_ERROR: "failed: bad input or configuration",
    TerminalReason.REPORT_ERROR: "failed: the report template could not render the answer",
    TerminalReason.CRASHED: "failed: agentflow crashed",
}


INTERRUPTED = "interrupted (its process ended before the run did)"


def describe_reason(reason: TerminalReason | str | None) -> str:
    """Words for how a run ended; a reason this version does not know (from a newer record) as it was written."""
    if reason is None:
        return "still running"
    return REASONS.get(reason, f"ended: {reason}")  # type: ignore[call-overload]


def outcome(record: RunRecord) -> str:
    """How the run ended, in words; a record its dead process left `running` says it was interrupted."""
    return INTERRUPTED if record.abandoned else describe_reason(record.terminal_reason)


def footer_lines(record: RunRecord, waited: float | None = None) -> list[str]:
    """One short block: outcome, effort, cost, and where to look. `waited`: the seconds the person waited
    (the whole process, start-up included), shown instead of the run's own duration when given."""
    usage = record.usage
    parts = [f"**{outcome(record)}**"]
    if record.error and record.terminal_reason != TerminalReason.COMPLETED:
        parts.append(f"({record.error})")
    seconds = waited if waited is not None else record.duration_s
    effort = [
        f"{seconds:.1f} s" if seconds is not None else None,
        f"model {record.model}",
        f"{len(record.turns)} turns" if record.turns else None,
        f"{len(record.tool_calls)} tool calls" if record.tool_calls else None,
        f"{record.requests()} Atlassian requests",
        f"{usage.input_tokens + usage.output_tokens} tokens" if record.turns else None,
        f"~${record.cost_usd:.4f}" if record.cost_usd else None,
    ]
    return [" ".join(parts), " · ".join(p for p in effort if p), f"run {record.id}"]


def markdown(record: RunRecord) -> str:
    footer = "\n".join(f"_{line}_" if i else line for i, line in enumerate(footer_lines(record)))
    return f"{(record.report or '').rstrip()}\n\n---\n{footer}\n"


def summary(record: RunRecord, path: str | None = None, waited: float | None = None) -> dict[str, Any]:
    """What `--json` prints: enough for a script to decide what to do next. `duration_s` is the run's own;
    `waited_s` the whole process's, when the caller knows it."""
    return {
        "run_id": record.id,
        "workflow": record.workflow,
        "terminal_reason": record.terminal_reason,
        "succeeded": record.succeeded,
        "error": record.error,
        "model": record.model,
        "duration_s": record.duration_s,
        "turns": len(record.turns),
        "tool_calls": len(record.tool_calls),
        "atlassian_requests": record.requests(),
        "usage": record.usage.model_dump(),
        "cost_usd": record.cost_usd,
        "output": record.output,
        "report": record.report,
        "record": path,
        **({"waited_s": round(waited, 3)} if waited is not None else {}),
    }


def print_terminal(record: RunRecord, console: Any, waited: float | None = None) -> None:
    from rich.markdown import Markdown
    from rich.markup import escape
    from rich.rule import Rule

    console.print(Markdown(record.report or "(no report)"))
    console.print(Rule(style="dim"))
    colour = (
        "green" if record.succeeded else "yellow" if record.terminal_reason != TerminalReason.MODEL_ERROR else "red"
    )
    first, *rest = footer_lines(record, waited)
    console.print(f"[{colour}]{escape(first.replace('**', ''))}[/]", highlight=False, markup=True)
    for line in rest:
        console.print(line, style="dim", highlight=False, markup=False)
