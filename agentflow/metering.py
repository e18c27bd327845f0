"""Every tool call of a run passes through a `Meter`: it reserves Atlassian calls in the shared budget, makes
the call, commits the real request count, pauses the site on a 429, writes the audit line, and scrubs secrets
from what comes back before anyone (the model included) sees it.
"""

from __future__ import annotations

import time
from typing import Any

from agentflow import audit, redact
from agentflow.budget import Budget, BudgetExhausted, Priority
from agentflow.host.servers import Host, ToolOutcome

# Servers whose calls are Atlassian requests, metered by the hourly budget.
BUDGETED_SERVERS = frozenset({"atlassian"})
# Most bundled tools make one or two requests; reserving two keeps concurrent runs from over-granting
# while the real count is committed afterwards.
ESTIMATE = 2


class Meter:
    def __init__(
        self,
        host: Host,
        budget: Budget | None,
        *,
        site: str,
        priority: Priority,
        allowance: int,
        who: audit.Actor,
        kind: str = "tool_call",
    ) -> None:
        """`kind` labels the audit lines: "tool_call" inside a run, "apply" for an approved change."""
        self.host = host
        self.budget = budget
        self.site = site
        self.priority = priority
        self.allowance = allowance
        self.who = who
        self.kind = kind
        self.used = 0
        self.exhausted: str | None = None
        self.scrub = redact.default()

    def left(self) -> int:
        return max(0, self.allowance - self.used)

    def note(self) -> str | None:
        """What the model is told after each call once half the run's budget is spent."""
        if self.budget is None or self.left() > self.allowance / 2:
            return None
        return f"[budget: {self.left()} Atlassian calls left in this run]"

    async def call(self, server: str, tool: str, arguments: dict[str, Any]) -> ToolOutcome:
        """The call's outcome, scrubbed; `BudgetExhausted` when the budget has no room for it."""
        grant = None
        if self.budget is not None and server in BUDGETED_SERVERS:
            if self.left() <= 0:
                self.exhausted = f"this run's budget of {self.allowance} Atlassian calls is spent"
                raise BudgetExhausted(self.exhausted)
            try:
                grant = self.budget.reserve(
                    self.site,
                    min(ESTIMATE, self.left()),
                    self.priority,
                    run_id=self.who.run_id,
                    workflow=self.who.workflow,
                    actor=self.who.actor,
                )
            except BudgetExhausted as exhausted:
                self.exhausted = exhausted.message
                raise
        began = time.monotonic()
        try:
            outcome = await self.host.call(server, tool, arguments)
        except BaseException:
            if grant is not None:  # the call may have reached the site: count what was reserved
                self.budget.commit(grant, grant.count)
                self.used += grant.count
            self._audit(server, tool, arguments, "failed", began, grant.count if grant else 0, "")
            raise
        if grant is not None:
            self.budget.commit(grant, outcome.requests)
            self.used += outcome.requests
            if outcome.retry_after:
                self.budget.pause(self.site, outcome.retry_after)
        clean = outcome.model_copy(
            update={"text": self.scrub(outcome.text), "structured": self.scrub.data(outcome.structured)}
        )
        status = "error" if outcome.is_error else "ok"
        self._audit(server, tool, arguments, status, began, outcome.requests, clean.text)
        return clean

    def _audit(self, server: str, tool: str, arguments: dict[str, Any], outcome: str, began: float, requests: int,
               result: str) -> None:  # fmt: skip
        audit.record(
            self.who,
            server=server,
            tool=tool,
            arguments=arguments,
            outcome=outcome,
            duration_ms=(time.monotonic() - began) * 1000,
            requests=requests,
            result=result,
            kind=self.kind,
        )
