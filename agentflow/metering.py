"""How a run (or an apply) spends the hourly budget: `Metering`, planned once per run, says who counts a tool
call's Atlassian requests, which depends on the server (the gate, `host.gate`, acts on it):
- the bundled server reserves every HTTP request it sends through the run's `SiteQuota`, which the host hands
  it; the gate reads what it reports and notices when a request was refused for lack of budget;
- a server declared with `site` (another Atlassian MCP server: Rovo, mcp-atlassian) is metered by the gate: its
  `requests_per_call` estimate is reserved before each call and what it reports committed after. One that
  `meters_itself` (another agentflow `mcp serve`) reserves in the same ledger, so the gate reserves nothing
  for it; a result that says it was not metered after all is charged to the ledger after the fact. Either way
  the requests count against the run's own cap (`budget.max_calls`);
- any other server reaches no Atlassian site and costs nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentflow import audit
from agentflow.atlassian.sites import SiteConfig, budget_key_of
from agentflow.budget import Allowance, Budget, Priority, SiteQuota
from agentflow.errors import BudgetDeferred, ConfigError
from agentflow.host.specs import ServerSpec


def uses_bundled(specs: list[ServerSpec]) -> bool:
    """Whether the bundled server is among `specs` (it needs the run's site)."""
    return any(spec.transport == "bundled" for spec in specs)


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
        site: SiteConfig | None,
        priority: Priority,
        who: audit.Actor,
        cap: int | None,
        config: Mapping[str, Any] | None = None,
    ) -> Metering:
        """Quotas for the servers in `specs` that reach Atlassian; none at all when `budget` is None. `site` is
        the bundled server's (None: the default site); `config` the config file's contents, if read already."""
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

        def quota(key: str) -> SiteQuota:
            return SiteQuota(budget, key, priority, allowance=allowance, **attribution)

        bundled = None
        if uses_bundled(specs):
            bundled = quota(site.budget_key if site else budget_key_of(None, config=config))
        others = {
            spec.name: quota(budget_key_of(spec.site, config=config))
            for spec in specs
            if spec.transport != "bundled" and spec.site
        }
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

    def fit(self, budget: Budget | None, workflow: str) -> list[str]:
        """Fit the run's cap (`budget.max_calls`) to what the hourly budget has left on the sites it reaches;
        the notes that say so, for the report. A batch run that does not fit is not started to die halfway:
        `BudgetDeferred`, saying when it would fit."""
        allowance, notes = self.allowance, []
        if budget is None or allowance is None:
            return notes
        cap, priority = allowance.cap, self.quotas()[0].priority
        for site in sorted(self.sites()):
            available = budget.available(site, priority)
            paused = budget.ledger.paused_until(site, budget.clock())
            if priority == "batch" and (cap > available or paused):
                retry_at = budget.fits_at(site, cap, "batch")
                when = time.strftime("%H:%M", time.localtime(retry_at)) if retry_at != float("inf") else "never"
                raise BudgetDeferred(
                    f"deferred: {workflow} needs {cap} Atlassian requests and batch work may use {available} of "
                    f"{site}'s hourly budget now{' (the site is rate limited)' if paused else ''}; it would fit at "
                    f"{when}",
                    retry_at,
                )
            if available == 0:
                retry_at = budget.fits_at(site, 1, priority)
                notes.append(
                    f"The hourly budget of {site} is used up: this run could make no Atlassian request (room again "
                    f"at {time.strftime('%H:%M', time.localtime(retry_at))})."
                )
            elif available < allowance.cap:
                notes.append(
                    f"Started with {available} of its {cap} Atlassian requests: the hourly budget of {site} is nearly "
                    "used up."
                )
            if available:  # at 0 the site's ledger refuses each request itself, saying when room frees up
                allowance.cap = min(allowance.cap, available)
        return notes
