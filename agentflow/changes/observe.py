"""What the site holds of a change: looked for before it is made again, read back after it was made.

Both follow the write tool's `catalog.Lookup` and read through the same call as the write (the gate: metered,
audited). Before: an interrupted change, or any change of a run whose journal was lost, is looked for by
agentflow's marks (`changes.attribution`): the run's label and the summary, the generated-by note, the page's
title, or the state a transition, link or epic change would leave; what is found is adopted instead of made
twice. After: the object is read back and compared with what the change asked for (summary, labels, epic or
parent, the note in the body, status, link); a difference is reported, never silently accepted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from agentflow.atlassian import catalog
from agentflow.atlassian.catalog import Lookup
from agentflow.budget import BudgetExhausted
from agentflow.changes.attribution import marker, run_label
from agentflow.changes.plan import Change
from agentflow.runs import CallStatus, RunRecord

SEARCH_PAGE = 100
MAX_LABELLED_PAGES = 50  # 5,000 issues of one run: far beyond any plan; a bound so a looping cursor cannot spin


class Outcome(Protocol):
    """What a call through the gate (`host.gate.GateOutcome`) gives back, as apply reads it."""

    text: str
    structured: dict[str, Any] | None
    is_error: bool
    requests: int
    status: CallStatus


Call = Callable[[str, str, dict[str, Any]], Awaitable[Outcome]]  # (server, tool, arguments)


async def called(call: Call, server: str, tool: str, arguments: dict[str, Any]) -> Outcome:
    """The call's outcome; `BudgetExhausted` when the budget had no room for it: apply stops there."""
    outcome = await call(server, tool, arguments)
    if outcome.status == CallStatus.BUDGET:
        raise BudgetExhausted(outcome.text, sent=outcome.requests)
    return outcome


@dataclass
class Check:
    """A read-back: `verified` True (as intended), False (`note` says how it differs) or None (not read)."""

    verified: bool | None
    note: str = ""


class Observer:
    """Looks for and reads back the changes of one apply of one run."""

    def __init__(self, record: RunRecord, call: Call) -> None:
        self.record = record
        self.call = call
        self._labelled: list[dict[str, Any]] | None = None  # the run's labelled issues, searched once per apply
        self._adopted: set[str] = set()

    async def existing(self, change: Change, arguments: dict[str, Any]) -> dict[str, Any] | None:
        """What the site already holds of `change` (as apply journals a result), or None when it must be made.
        `BudgetExhausted` when the budget has no room to look: nothing of the change was sent."""
        lookup = lookup_of(change)
        if lookup == Lookup.LABELLED_ISSUE:
            for issue in await self._labelled_issues(change.server):
                if issue.get("summary") == arguments.get("summary") and issue["key"] not in self._adopted:
                    self._adopted.add(issue["key"])
                    return {"action": "created", "key": issue["key"], "url": issue.get("url")}
        elif lookup == Lookup.MARKED_COMMENT:
            issue = await self._issue(change.server, arguments["key"], comments=100)
            for comment in (issue or {}).get("comments", []):
                if marker(self.record, change.index) in comment.get("body", ""):
                    return {"action": "commented", "key": arguments["key"], "id": comment.get("id")}
        elif lookup == Lookup.PAGE_TITLE:
            page = await self._read(change.server, "get_confluence_page",
                                    {"space": arguments["space"], "title": arguments["title"]})  # fmt: skip
            if page:
                return {"action": "created page", "id": page["id"], "url": page.get("url")}
        elif lookup in (Lookup.ISSUE_STATUS, Lookup.ISSUE_LINK, Lookup.EPIC):
            subject = _subject(arguments)
            issue = await self._issue(change.server, subject, comments=0)
            if issue and not _differences(lookup, arguments, issue, self.record, change.index):
                return {"action": "already so", "key": subject, "detail": "the site already shows it"}
        return None

    async def check(self, change: Change, arguments: dict[str, Any], result: dict[str, Any]) -> Check:
        """Read what `change` made (its result names it) and compare it with what it asked for."""
        lookup = lookup_of(change)
        try:
            if lookup == Lookup.PAGE_TITLE:
                found = await self._read(change.server, "get_confluence_page", {"page_id": str(result.get("id"))})
            elif lookup is None:
                return Check(None)
            else:
                subject = str(result.get("key")) if lookup == Lookup.LABELLED_ISSUE else _subject(arguments)
                comments = 100 if lookup == Lookup.MARKED_COMMENT else 0
                found = await self._issue(change.server, subject, comments=comments)
        except BudgetExhausted:  # it is made; only the reading back had no room
            return Check(None, "not read back: the hourly budget had no room")
        if found is None:
            return Check(False, "reading it back found nothing")
        differences = _differences(lookup, arguments, found, self.record, change.index)
        return Check(False, "; ".join(differences)) if differences else Check(True)

    async def _labelled_issues(self, server: str) -> list[dict[str, Any]]:
        if self._labelled is None:
            jql = f'labels = "{run_label(self.record.id)}" ORDER BY created ASC'
            found: list[dict[str, Any]] = []
            token: str | None = None
            for _ in range(MAX_LABELLED_PAGES):
                arguments: dict[str, Any] = {"jql": jql, "limit": SEARCH_PAGE}
                if token:
                    arguments["page_token"] = token
                page = await self._read(server, "search_jira_issues", arguments) or {}
                found += page.get("issues", [])
                token = page.get("next_page_token")
                if not token:
                    break
            self._labelled = found
        return self._labelled

    async def _issue(self, server: str, key: str, *, comments: int) -> dict[str, Any] | None:
        return await self._read(server, "get_jira_issue", {"key": key, "comment_limit": comments})

    async def _read(self, server: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
        outcome = await called(self.call, server, tool, arguments)
        return None if outcome.is_error else outcome.structured


def lookup_of(change: Change) -> Lookup | None:
    """How `change` is found on the site (its write tool's `catalog.Lookup`); None for a tool not in the catalog."""
    meta = catalog.WRITES.get(change.tool)
    return meta.lookup if meta else None


def _subject(arguments: dict[str, Any]) -> str:
    """The issue a transition, link or update is about, as its arguments name it."""
    return str(arguments.get("inward") or arguments.get("issue") or arguments.get("key"))


def _differences(
    lookup: Lookup | None, asked: dict[str, Any], found: dict[str, Any], record: RunRecord, index: int
) -> list[str]:
    """How what the site shows differs from what the change asked for; [] when it is as intended."""
    out: list[str] = []
    if lookup in (Lookup.LABELLED_ISSUE, Lookup.UPDATED_ISSUE):
        if asked.get("summary") is not None and found.get("summary") != asked["summary"]:
            out.append(f"summary is {found.get('summary')!r}, not {asked['summary']!r}")
        labels = set(found.get("labels") or [])
        wanted = set(asked.get("labels") or []) | set(asked.get("add_labels") or [])
        if wanted - labels:
            out.append(f"labels {sorted(wanted - labels)} are missing")
        if set(asked.get("remove_labels") or []) & labels:
            out.append(f"labels {sorted(set(asked['remove_labels']) & labels)} are still there")
        if asked.get("priority") and str(found.get("priority") or "").casefold() != asked["priority"].casefold():
            out.append(f"priority is {found.get('priority')!r}, not {asked['priority']!r}")
        if asked.get("epic") and asked["epic"] not in (found.get("epic"), found.get("parent")):
            out.append(f"it is not under the epic {asked['epic']}")
        if asked.get("parent") and found.get("parent") != asked["parent"]:
            out.append(f"its parent is {found.get('parent')!r}, not {asked['parent']!r}")
        description = str(found.get("description") or "")
        noted = found.get("description_truncated") or marker(record, index) in description  # the note ends it
        if asked.get("description") and not description.strip():
            out.append("the description is empty")
        elif lookup == Lookup.LABELLED_ISSUE and not noted:
            out.append("the description lacks agentflow's generated-by note")
    elif lookup == Lookup.MARKED_COMMENT:
        if not any(marker(record, index) in c.get("body", "") for c in found.get("comments") or []):
            out.append("the comment is not on the issue")
    elif lookup == Lookup.PAGE_TITLE:
        if found.get("title") != asked.get("title"):
            out.append(f"the title is {found.get('title')!r}, not {asked.get('title')!r}")
        if not found.get("body_truncated") and marker(record, index) not in str(found.get("body") or ""):
            out.append("the body lacks agentflow's generated-by note")
    elif lookup == Lookup.ISSUE_STATUS:
        if str(found.get("status") or "").casefold() != str(asked.get("status") or "").casefold():
            out.append(f"its status is {found.get('status')!r}, not {asked.get('status')!r}")
    elif lookup == Lookup.ISSUE_LINK:
        if not any(link.get("key") == asked.get("outward") for link in found.get("links") or []):
            out.append(f"no link from {asked.get('inward')} to {asked.get('outward')}")
    elif lookup == Lookup.EPIC and asked.get("epic") not in (found.get("epic"), found.get("parent")):
        out.append(f"it is not under the epic {asked.get('epic')}")
    return out
