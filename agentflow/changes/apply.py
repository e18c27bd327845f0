"""Applying a run's change plan: in order, through the same MCP server, exactly once, attributed, verified.

Each change's state is in the run's journal (`changes.journal`), written before anything else happens.
Applying again skips what is applied. Before it makes a change that may already be made — one left
`applying` (the process died between the request and the journal write), or any change of a run whose journal
was lost or moved aside after an apply had begun — it looks on the site (`changes.observe`) and adopts what it
finds, rebuilding the journal and the keys `$N` placeholders resolve to; a transition to the status the issue
is already in counts as applied. After each write it reads the object back and reports any difference from
what was asked, in the result and in the audit trail.

Everything created says so (`changes.attribution`): labels on issues, a generated-by note in bodies.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from agentflow import audit, runs
from agentflow.atlassian.catalog import Lookup
from agentflow.budget import BudgetExhausted
from agentflow.changes.attribution import attributed
from agentflow.changes.journal import Journal, exclusive
from agentflow.changes.observe import Call, Check, Observer, called, lookup_of
from agentflow.changes.plan import DEFERRED, PLACEHOLDER, Applied, Change
from agentflow.errors import ConfigError
from agentflow.runs import RunRecord

READ_ONLY_VAR = "AGENTFLOW_READ_ONLY"


def refuse_if_read_only() -> None:
    if os.environ.get(READ_ONLY_VAR, "").strip().lower() in ("1", "true", "yes", "on"):
        raise ConfigError(f"{READ_ONLY_VAR}=1: this machine refuses to apply changes")


def resolve(arguments: Any, journal: Journal) -> Any:
    """`"$N"` values replaced by what change N created (its key, else its id)."""
    if isinstance(arguments, str):
        match = PLACEHOLDER.match(arguments)
        if not match:
            return arguments
        result = journal.entry(int(match.group(1))).result or {}
        return result.get("key") or result.get("id") or arguments
    if isinstance(arguments, dict):
        return {name: resolve(value, journal) for name, value in arguments.items()}
    if isinstance(arguments, list):
        return [resolve(value, journal) for value in arguments]
    return arguments


async def apply_plan(
    record: RunRecord,
    call: Call,
    *,
    actor: str,
    only: set[int] | None = None,
    on_change: Callable[[Applied], None] = lambda applied: None,
    who: audit.Actor | None = None,
) -> list[Applied]:
    """Apply the record's changes (those in `only`, if given) in order; returns what happened to each. `who`:
    in whose name a read-back that differs is written to the audit trail (None: not audited)."""
    refuse_if_read_only()
    audit.ready()  # a change made on the site must never go unaudited: find out now, before the first write
    with exclusive(record.id):
        journal = Journal.load(record.id)  # read under the lock: another apply may just have finished
        applying = _Apply(record, journal, Observer(record, call), call, actor, who)
        done: list[Applied] = []
        for change in record.changes:
            if only is not None and change.index not in only:
                continue
            before = journal.entry(change.index).state
            try:
                applied = await applying.one(change)
            except BudgetExhausted as exhausted:
                applied = Applied(index=change.index, tool=change.tool, summary=change.summary, state=DEFERRED,
                                  detail=exhausted.message)  # fmt: skip
                if exhausted.sent == 0 and before != "applying":  # nothing reached the site: as it was
                    journal.set(change.index, state=before, error=exhausted.message)
            done.append(applied)
            on_change(applied)
            if applied.state == DEFERRED:  # the budget has no room: the changes after it are not tried
                break
    return done


class _Apply:
    """One apply of one run: its journal, how it reaches and reads the site, and who approved it."""

    def __init__(
        self, record: RunRecord, journal: Journal, observer: Observer, call: Call, actor: str, who: audit.Actor | None
    ) -> None:
        self.record, self.journal, self.observer, self.call = record, journal, observer, call
        self.actor, self.who = actor, who
        # A lost journal of a run whose apply had begun: the site is the only record of what is made.
        self.reconcile = journal.lost and record.apply_started_at is not None

    async def one(self, change: Change) -> Applied:
        entry = self.journal.entry(change.index)
        report = Applied(index=change.index, tool=change.tool, summary=change.summary, state=entry.state)
        if entry.state == "applied":
            report.state, report.detail = "applied", "already applied"
            return report
        missing = [n for n in change.depends_on() if self.journal.entry(n).state != "applied"]
        if missing:
            detail = f"needs ${missing[0]}, which is not applied"
            self.journal.set(change.index, state="failed", error=detail)
            report.state, report.detail = "failed", detail
            return report
        arguments = resolve(attributed(change, self.record), self.journal)
        if entry.state == "applying" or self.reconcile:
            found = await self.observer.existing(change, arguments)
            if found is not None:
                self.journal.set(change.index, state="applied", result=found, approved_by=self.actor, error=None)
                report.state, report.detail = "applied", f"found it already made: {_name(found)}"
                return report
        self._begun()
        self.journal.set(change.index, state="applying", approved_by=self.actor)
        outcome = await called(self.call, change.server, change.tool, arguments)
        if outcome.is_error:
            return await self._failed(change, arguments, report, outcome.text)
        result = outcome.structured or {"text": outcome.text[:500]}
        check = await self.observer.check(change, arguments, result)
        self.journal.set(change.index, state="applied", result=result, error=None, verified=check.verified)
        report.state, report.detail, report.verified = "applied", _name(result), check.verified
        if check.verified is False:
            report.detail += f"; but reading it back: {check.note}"
        elif check.note:
            report.detail += f" ({check.note})"
        self._audit_check(change, check)
        return report

    async def _failed(self, change: Change, arguments: dict[str, Any], report: Applied, error: str) -> Applied:
        """A write the site refused; a transition refused because the issue is in that status already is done."""
        if lookup_of(change) == Lookup.ISSUE_STATUS:
            found = await self.observer.existing(change, arguments)
            if found is not None:
                self.journal.set(change.index, state="applied", result=found, error=None, verified=True)
                report.state, report.detail = "applied", f"{arguments.get('key')} is already {arguments.get('status')}"
                return report
        self.journal.set(change.index, state="failed", error=error[:2000])
        report.state, report.detail = "failed", error[:300]
        return report

    def _begun(self) -> None:
        """Before the first write of the run's first apply: the record says an apply began, so that a journal
        lost after this point makes apply look on the site first (the record and journal live apart)."""
        if self.record.apply_started_at is None:
            self.record.apply_started_at = runs.now_iso()
            runs.save(self.record)

    def _audit_check(self, change: Change, check: Check) -> None:
        if self.who is None or check.verified is None:
            return
        audit.record(
            self.who,
            server=change.server,
            tool=change.tool,
            arguments={"change": change.index},
            outcome="verified" if check.verified else "mismatch",
            duration_ms=0,
            requests=0,
            result=check.note,
            kind="verify",
        )


def _name(result: dict[str, Any]) -> str:
    return str(result.get("key") or result.get("id") or result.get("detail") or "done")


def journal_lines(record: RunRecord) -> list[dict[str, Any]]:
    """Each change with its journal state, for `runs show --changes` and JSON output."""
    journal = Journal.load(record.id)
    return [
        {
            **change.model_dump(),
            "state": journal.entry(change.index).state,
            "result": journal.entry(change.index).result,
        }
        for change in record.changes
    ]
