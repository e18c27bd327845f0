"""What became of a run's change plan, as the Markdown section its report ends with: one table of every change
with its state (what apply created, linked; why one failed) and one sentence that agrees with the table.

The runner writes it when the run ends (after the writes policy applied what it may without asking); `runs
show` writes it again from the apply journal, so a run applied later no longer says "Nothing has been written".
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from agentflow.changes.journal import Journal
from agentflow.changes.plan import Change
from agentflow.runs import RunRecord

HEADING = "## Changes"
_TABLE_HEAD = "| # | tool | target | summary | state |"
# How reports of earlier versions began the section: their plan is replaced as well.
_EARLIER_HEADS = ("## Changes applied without asking (writes policy)\n", "## Proposed changes\n")


def plan_section(changes: list[Change], journal: Journal, unasked: Collection[int], run_id: str) -> str:
    """The section for `changes` as `journal` has them; `unasked`: the changes the writes policy took on itself
    (applied without a person). Empty when the run staged nothing."""
    if not changes:
        return ""
    lines = [HEADING, "", _TABLE_HEAD, "|---|---|---|---|---|"]
    for change in changes:
        cells = [change.placeholder, change.tool, change.target, change.summary]
        lines.append("| " + " | ".join([*(_cell(c) for c in cells), _state(journal, change.index, unasked)]) + " |")
    return "\n".join([*lines, "", _sentence(changes, journal, unasked, run_id)])


def record_section(record: RunRecord) -> str:
    """The section for a run as its apply journal has it now; the changes the writes policy applied at the end
    of the run (`record.applied`) are the ones applied without asking."""
    return plan_section(record.changes, Journal.load(record.id), {a.index for a in record.applied}, record.id)


def current_report(record: RunRecord) -> str:
    """The run's report with its change section as the apply journal has it now (a run applied after it
    ended says what apply created and what failed, not what the run staged)."""
    report = (record.report or "").rstrip()
    if not record.changes:
        return report
    section = record_section(record)
    starts = [report.rfind(f"{HEADING}\n\n{_TABLE_HEAD}")] + [report.find(head) for head in _EARLIER_HEADS]
    found = [start for start in starts if start >= 0]
    body = report[: min(found)].rstrip() if found else report
    return f"{body}\n\n{section}" if body else section


def _state(journal: Journal, index: int, unasked: Collection[int]) -> str:
    entry = journal.entry(index)
    if entry.state == "applied":
        made = _made(entry.result or {})
        how = "applied without asking (writes policy)" if index in unasked else "applied"
        checked = "; reading it back showed a difference" if entry.verified is False else ""
        return f"{how}{': ' + made if made else ''}{checked}"
    if entry.state == "failed":
        return "failed: " + _cell(entry.error or "no reason recorded")
    if entry.state == "applying":
        return "cut off while applying: apply again, it is looked up on the site first"
    return "staged"


def _made(result: dict[str, Any]) -> str:
    """The object a write made or changed, linked when the site gave its URL."""
    name = str(result.get("key") or result.get("title") or result.get("id") or "")
    url = result.get("url")
    if name and isinstance(url, str) and url.startswith(("http://", "https://")):
        return f"[{_cell(name)}]({url.replace(')', '%29').replace(' ', '%20')})"
    return _cell(name)


def _sentence(changes: list[Change], journal: Journal, unasked: Collection[int], run_id: str) -> str:
    states = [journal.entry(change.index).state for change in changes]
    applied = [c.index for c, state in zip(changes, states, strict=True) if state == "applied"]
    failed, cut_off, waiting = states.count("failed"), states.count("applying"), states.count("pending")
    if not failed and not cut_off and not waiting:
        without_asking = len([i for i in applied if i in unasked])
        if without_asking == len(applied):
            note = " without asking (writes policy)"
        else:
            note = f", {without_asking} of them without asking (writes policy)" if without_asking else ""
        return f"All {len(changes)} changes are applied{note}." if len(changes) > 1 else f"The change is applied{note}."
    parts = []
    if applied:
        if all(i in unasked for i in applied):
            parts.append(f"{len(applied)} applied without asking (writes policy)")
        else:
            parts.append(f"{len(applied)} applied")
    if cut_off:  # the request may have reached the site: it is neither written nor unwritten for sure
        parts.append(f"{cut_off} cut off while applying, perhaps written (apply again: it is looked up first)")
    if failed:
        parts.append(f"{failed} failed (see the table)")
    if waiting:
        parts.append(f"{waiting} staged, not written until a person applies them")
    if not applied and not failed and not cut_off:
        example = " (or `--only 1,3`)" if len(changes) > 1 else ""
        return (
            f"Nothing has been written: {'; '.join(parts)}. Review with `agentflow runs show {run_id} --changes`, "
            f"then apply with `agentflow apply {run_id}`{example}."
        )
    return (
        f"{'; '.join(parts)}. Review with `agentflow runs show {run_id} --changes`, then apply the rest with "
        f"`agentflow apply {run_id}`: what is applied is skipped."
    )


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")
