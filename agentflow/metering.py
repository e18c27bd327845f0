"""Every tool call of a run passes through a `Meter`: it keeps the call inside the hourly budget, makes it,
writes the audit line, and scrubs secrets from what comes back before anyone (the model included) sees it.

Who counts a call's Atlassian requests depends on the server (`Metering`, planned once per run):
- the bundled server reserves every HTTP request it sends through the run's `SiteQuota`, which the host hands
  it; the meter reads what it reports and notices when a request was refused for lack of budget;
- a server declared with `site` (another Atlassian MCP server: Rovo, mcp-atlassian) is metered here: its
  `requests_per_call` estimate is reserved before each call and what it reports committed after. One that
  `meters_itself` (another agentflow `mcp serve`) reserves in the same ledger, so the gate reserves nothing
  for it; a result that says it was not metered after all is charged to the ledger after the fact. Either way
  the requests count against the run's own cap (`budget.max_calls`);
- any other server reaches no Atlassian site and costs nothing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from agentflow import audit, redact
from agentflow.atlassian.quota import QuotaExhausted, Reservation, reserve_waiting
from agentflow.atlassian.sites import budget_key_of
from agentflow.budget import Allowance, Budget, BudgetExhausted, Priority, SiteQuota
from agentflow.errors import ConfigError
from agentflow.host.servers import Host, ServerSpec, ToolOutcome


def reaches_atlassian(spec: ServerSpec) -> bool:
    """Whether the server's calls spend an Atlassian site's requests: the bundled one, or one declared so."""
    return spec.transport == "bundled" or spec.site is not None


@dataclass
class Metering:
    """How one run (or apply) spends the budget: the quota handed to the bundled server, and the quotas the
    gate reserves from for other Atlassian servers, all within one `allowance` (None: no per-run cap)."""

    bundled: SiteQuota | None = None
    by_server: dict[str, SiteQuota] = field(default_factory=dict)
    allowance: Allowance | None = None

    @classmethod
    def plan(
        cls,
        specs: list[ServerSpec],
        budget: Budget | None,
        *,
        site: str | None,
        priority: Priority,
        who: audit.Actor,
        cap: int | None,
    ) -> Metering:
        """Quotas for the servers in `specs` that reach Atlassian; none at all when `budget` is None."""
        if budget is None or not any(reaches_atlassian(spec) for spec in specs):
            return cls()
        for spec in specs:
            if spec.transport == "bundled" and budget.settings.max_wait >= spec.call_timeout:
                raise ConfigError(
                    f"budget.max_wait ({budget.settings.max_wait:g} s) must be shorter than the call_timeout of the "
                    f"server '{spec.name}' ({spec.call_timeout:g} s): a call that waits for the site would be cut off"
                )
        allowance = Allowance(cap) if cap is not None else None
        attribution = {"run_id": who.run_id, "workflow": who.workflow, "actor": who.actor}

        def quota(site_name: str | None) -> SiteQuota:
            return SiteQuota(budget, budget_key_of(site_name), priority, allowance=allowance, **attribution)

        bundled = quota(site) if any(spec.transport == "bundled" for spec in specs) else None
        others = {spec.name: quota(spec.site) for spec in specs if spec.transport != "bundled" and spec.site}
        return cls(bundled, others, allowance)

    def rebind(self, actor: str) -> None:
        """From now on spend as `actor`, outside the run's cap: a run's approved changes are the approver's."""
        for quota in self.quotas():
            quota.rebind(actor=actor, allowance=None)
        self.allowance = None

    def quotas(self) -> list[SiteQuota]:
        return [*self.by_server.values(), *([self.bundled] if self.bundled else [])]

    def sites(self) -> set[str]:
        return {quota.site for quota in self.quotas()}


class Meter:
    def __init__(
        self,
        host: Host,
        metering: Metering,
        *,
        who: audit.Actor,
        kind: str = "tool_call",
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        """`kind` labels the audit lines: "tool_call" inside a run, "apply" for an approved change."""
        self.host = host
        self.metering = metering
        self.who = who
        self.kind = kind
        self.sleep = sleep
        self.exhausted: str | None = None
        self.scrub = redact.default()

    @property
    def allowance(self) -> Allowance | None:
        return self.metering.allowance

    def note(self) -> str | None:
        """What the model is told after each call once half the run's requests are spent."""
        allowance = self.allowance
        if allowance is None or allowance.left() > allowance.cap / 2:
            return None
        return f"[budget: {allowance.left()} Atlassian requests left in this run]"

    async def call(self, server: str, tool: str, arguments: dict[str, Any]) -> ToolOutcome:
        """The call's outcome, scrubbed, with `requests` the Atlassian requests it cost; `BudgetExhausted` when
        the budget had no room for it (then nothing, or nothing more, was sent)."""
        spec = self.host.spec(server)
        quota = self.metering.by_server.get(server)
        began = time.monotonic()
        held: Reservation | None = None
        if quota is not None:
            try:
                if spec.meters_itself:
                    quota.hold(spec.requests_per_call)
                else:
                    held, _ = await reserve_waiting(quota, spec.requests_per_call, self.sleep)
            except QuotaExhausted as exhausted:
                self._audit(server, tool, arguments, "budget", began, 0, "")
                self.exhausted = exhausted.message
                raise BudgetExhausted(exhausted.message) from None
        try:
            outcome = await self.host.call(server, tool, arguments)
        except BaseException:
            # The call may have reached the site: what was reserved stays counted.
            self._audit(server, tool, arguments, "failed", began, held.count if held else 0, "")
            raise
        requests = self._settle(spec, quota, held, outcome)
        clean = outcome.model_copy(
            update={
                "text": self.scrub(outcome.text),
                "structured": self.scrub.data(outcome.structured),
                "requests": requests,
            }
        )
        if outcome.budget_exhausted:
            self._audit(server, tool, arguments, "budget", began, requests, clean.text)
            self.exhausted = clean.text
            raise BudgetExhausted(clean.text, sent=requests)
        status = "error" if outcome.is_error else "ok"
        self._audit(server, tool, arguments, status, began, requests, clean.text)
        return clean

    def _settle(self, spec: ServerSpec, quota: SiteQuota | None, held: Reservation | None, outcome: ToolOutcome) -> int:
        """What the call cost the site, charged where the gate meters the server. A server's word that it
        counted its requests itself is believed only when it names this very ledger."""
        if not reaches_atlassian(spec):
            return 0
        if quota is None:  # the bundled server, metered through the quota it was handed, or no budget at all
            return outcome.requests or 0
        requests = outcome.requests if outcome.requests is not None else spec.requests_per_call
        counted = outcome.metered_in == quota.ledger
        if held is None:  # declared to meter itself: the gate held the estimate in the allowance only
            quota.charge(requests, in_ledger=not counted, held=spec.requests_per_call)
        elif counted:  # it reserved its own requests in our ledger: give the gate's back
            held.settle(0)
            quota.charge(requests, in_ledger=False)
        else:
            held.settle(requests)
        if outcome.retry_after and not counted:
            quota.pause(outcome.retry_after)
        return requests

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
