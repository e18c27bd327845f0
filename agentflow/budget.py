"""The hourly rate budget every agentflow process on a machine shares, per Atlassian site.

Atlassian meters use per hour; when the quota is gone, the on-call engineer is locked out mid-incident. So
every HTTP request an Atlassian site receives is reserved against a sliding 3,600 s window before it is sent:
the bundled server's HTTP client reserves each one (first tries, retries, redirect hops) through a `SiteQuota`;
for other Atlassian MCP servers the gate reserves an estimate per call and commits what the server reports.
`interactive` work may use the whole window; `batch` work may not touch the last `reserve_interactive` share.
A 429 with Retry-After pauses the site for every process; a request that meets a pause waits it out for up to
`max_wait` seconds.

What each site was sent is kept in a ledger (`agentflow.ledger`): `SQLiteLedger` shares one machine through a
file in the state directory; a network store could implement the same `Ledger` methods to share a quota
between hosts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from agentflow.atlassian.quota import QuotaExhausted
from agentflow.errors import ConfigError
from agentflow.ledger import WINDOW, Grant, Ledger, SQLiteLedger

PRESETS = {"standard": 500, "premium": 1000}
PREMIUM_PER_USER = 20
BUDGET_KEYS = frozenset({"per_hour", "users", "reserve_interactive", "max_wait", "sites"})
Priority = Literal["interactive", "batch"]


@dataclass(frozen=True)
class Settings:
    """Limits per site: `per_hour` for every site unless `sites` says otherwise; `reserve_interactive` is the
    share of the window batch work may not use."""

    per_hour: int = PRESETS["standard"]
    sites: Mapping[str, int] | None = None
    reserve_interactive: float = 0.2
    max_wait: float = 60.0  # seconds a request may wait for a 429 pause to end or for room in the window

    def limit(self, site: str) -> int:
        return (self.sites or {}).get(site, self.per_hour)


def settings_from(config: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    """`[budget]` in the config (`per_hour` = "standard" | "premium" | a number, `users` for premium,
    `reserve_interactive`, `max_wait` in seconds, `[budget.sites]` per-site limits);
    `AGENTFLOW_BUDGET_PER_HOUR` overrides all limits."""
    table = config.get("budget") or {}
    if not isinstance(table, Mapping):
        raise ConfigError("[budget] in the config file must be a table")
    unknown = sorted(set(table) - BUDGET_KEYS)
    if unknown:
        raise ConfigError(f"[budget] has unknown keys: {', '.join(unknown)} (known: {', '.join(sorted(BUDGET_KEYS))})")
    per_hour = _limit(table.get("per_hour", "standard"), table.get("users", 0), "budget.per_hour")
    sites = {
        name: _limit(value, table.get("users", 0), f"budget.sites.{name}")
        for name, value in (table.get("sites") or {}).items()
    }
    override = env.get("AGENTFLOW_BUDGET_PER_HOUR")
    if override:
        per_hour = _limit(override, table.get("users", 0), "AGENTFLOW_BUDGET_PER_HOUR")
        sites = {}
    share = table.get("reserve_interactive", 0.2)
    if not isinstance(share, int | float) or not 0 <= share < 1:
        raise ConfigError(f"budget.reserve_interactive must be a fraction between 0 and 1, not {share!r}")
    max_wait = table.get("max_wait", 60)
    if isinstance(max_wait, bool) or not isinstance(max_wait, int | float) or not 0 <= max_wait <= 3600:
        raise ConfigError(f"budget.max_wait must be a number of seconds from 0 to 3600, not {max_wait!r}")
    return Settings(per_hour=per_hour, sites=sites, reserve_interactive=float(share), max_wait=float(max_wait))


def _limit(value: Any, users: Any, where: str) -> int:
    if isinstance(value, str) and value.strip().lower() in PRESETS:
        preset = value.strip().lower()
        if preset == "premium":
            if not isinstance(users, int) or users < 0:
                raise ConfigError(f"{where} = premium needs budget.users, the number of users (a whole number)")
            return PRESETS["premium"] + PREMIUM_PER_USER * users
        return PRESETS[preset]
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be standard, premium or a number of calls per hour, not {value!r}") from None
    if limit < 1:
        raise ConfigError(f"{where} must be at least 1, not {limit}")
    return limit


class BudgetExhausted(Exception):
    """No room for a call: the window is full for this priority, the run's cap is spent, or the site is paused.
    `retry_at`: when there may be room (epoch seconds), if known; `sent`: requests of the call that were sent
    before the budget said no (0: the call was not started)."""

    def __init__(self, message: str, retry_at: float | None = None, sent: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.retry_at = retry_at
        self.sent = sent


class Budget:
    """The policy over a ledger: limits, priorities, pauses, and when room frees up."""

    def __init__(self, ledger: Ledger, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.ledger = ledger
        self.settings = settings
        self.clock = clock

    def ceiling(self, site: str, priority: Priority) -> int:
        limit = self.settings.limit(site)
        if priority == "batch":
            return int(limit * (1 - self.settings.reserve_interactive))
        return limit

    def available(self, site: str, priority: Priority) -> int:
        return max(0, self.ceiling(site, priority) - self.ledger.used(site, self.clock()))

    def reserve(
        self, site: str, count: int, priority: Priority, *, run_id: str = "", workflow: str = "", actor: str = ""
    ) -> Grant:
        now = self.clock()
        grant = self.ledger.try_reserve(
            site, count, self.ceiling(site, priority), now, run_id=run_id, workflow=workflow, actor=actor
        )
        if grant is None:
            # Why, asked at the same `now`: a pause that refused it is still there (pauses outlive their end).
            paused = self.ledger.paused_until(site, now)
            if paused is not None:
                raise BudgetExhausted(f"{site} is rate limited: paused until {moment_text(paused)}", paused)
            retry_at = self.fits_at(site, count, priority)
            needs = f"; this needs {count}" if count > 1 else ""
            raise BudgetExhausted(
                f"the hourly budget for {site} is used up for {priority} work "
                f"({self.ledger.used(site, now)} of {self.settings.limit(site)}{needs}); room again at "
                f"{moment_text(retry_at)}",
                retry_at,
            )
        return grant

    def commit(self, grant: Grant, actual: int) -> None:
        self.ledger.commit(grant.id, actual, self.clock())

    def release(self, grant: Grant) -> None:
        self.ledger.release(grant.id)

    def pause(self, site: str, seconds: float) -> None:
        """A 429 said to wait: every process stops calling the site until then. At most one window (an hour):
        a site that asks for longer, or a bogus Retry-After, must not lock everyone out for days."""
        self.ledger.pause(site, self.clock() + min(max(0.0, seconds), WINDOW))

    def fits_at(self, site: str, count: int, priority: Priority) -> float:
        """When `count` more calls fit for `priority`: now, or as the oldest entries slide out of the window."""
        now = self.clock()
        ceiling = self.ceiling(site, priority)
        if count > ceiling:
            return float("inf")
        used = self.ledger.used(site, now)
        moment = now
        for at, entry in self.ledger.oldest(site, now):
            if used + count <= ceiling:
                break
            used -= entry
            moment = at + WINDOW
        paused = self.ledger.paused_until(site, now)
        return max(moment, paused or moment)

    def status(self, site: str) -> dict[str, Any]:
        now = self.clock()
        return {
            "site": site,
            "used": self.ledger.used(site, now),
            "limit": self.settings.limit(site),
            "batch_ceiling": self.ceiling(site, "batch"),
            "paused_until": self.ledger.paused_until(site, now),
            "consumers": self.ledger.consumers(site, now),
        }


def moment_text(moment: float) -> str:
    """A moment as people read it: the time of day, with the date when it is not today."""
    if moment == float("inf"):
        return "never (more than the limit)"
    local = time.localtime(moment)
    same_day = time.strftime("%Y-%m-%d", local) == time.strftime("%Y-%m-%d", time.localtime())
    return time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S", local)


class Allowance:
    """A run's own cap on Atlassian requests (`budget.max_calls`), shared by every site the run reaches."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.used = 0

    def left(self) -> int:
        return max(0, self.cap - self.used)


class SiteQuota:
    """One consumer's share of a site's budget, as the bundled server's `atlassian.quota.Quota`: a run (with its
    priority, its `Allowance`, its id, workflow and actor for attribution), an apply, or an `mcp serve` session.

    `reserve` takes requests from the shared ledger or raises `QuotaExhausted`, saying how long until there may
    be room (None when the run's own allowance is spent: that does not come back). `ledger` is the identity of
    the ledger it reserves in.
    """

    def __init__(
        self,
        budget: Budget,
        site: str,
        priority: Priority,
        *,
        run_id: str = "",
        workflow: str = "",
        actor: str = "",
        allowance: Allowance | None = None,
    ) -> None:
        self.budget = budget
        self.site = site
        self.priority = priority
        self.attribution = {"run_id": run_id, "workflow": workflow, "actor": actor}
        self.allowance = allowance
        self.max_wait = budget.settings.max_wait
        self.ledger = budget.ledger.identity()

    def check_allowance(self, count: int) -> None:
        """`QuotaExhausted` when the run's own cap has less than `count` requests left."""
        allowance = self.allowance
        if allowance is not None and count > allowance.left():
            spent = "is spent" if not allowance.left() else f"has {allowance.left()} left and this needs {count}"
            raise QuotaExhausted(f"this run's budget of {allowance.cap} Atlassian requests {spent}")

    def reserve(self, count: int) -> _Held:
        self.check_allowance(count)
        try:
            grant = self.budget.reserve(self.site, count, self.priority, **self.attribution)
        except BudgetExhausted as exhausted:
            retry_at = exhausted.retry_at
            wait = None if retry_at is None or retry_at == float("inf") else max(0.0, retry_at - self.budget.clock())
            raise QuotaExhausted(exhausted.message, wait) from None
        self._count(count)
        return _Held(self, grant)

    def pause(self, seconds: float) -> None:
        self.budget.pause(self.site, seconds)

    def hold(self, count: int) -> None:
        """Take `count` from the run's allowance alone, before a call to a server that reserves in the ledger
        itself; `charge` settles it. `QuotaExhausted` when the allowance has less left."""
        self.check_allowance(count)
        self._count(count)

    def charge(self, count: int, *, in_ledger: bool, held: int = 0) -> None:
        """Settle a call whose requests the gate did not reserve: `count` in the run's allowance (in place of
        the `held` estimate), and in the ledger too unless the server counted them there itself. After the
        fact nothing can be refused, so the ledger takes them even past the limit: it records what the site
        saw."""
        if in_ledger and count > 0:
            self.budget.ledger.record(self.site, count, self.budget.clock(), **self.attribution)
        self._count(count - held)

    def rebind(self, *, actor: str, allowance: Allowance | None) -> None:
        """Spend as someone else from now on: the run's approved changes are the approver's, outside its cap."""
        self.attribution["actor"] = actor
        self.allowance = allowance

    def _count(self, requests: int) -> None:
        if self.allowance is not None:
            self.allowance.used += requests


class _Held:
    """A `SiteQuota` reservation; never settled, it keeps its whole count (a single request sent at once)."""

    def __init__(self, quota: SiteQuota, grant: Grant) -> None:
        self.quota = quota
        self.grant = grant
        self.count = grant.count

    def settle(self, used: int) -> None:
        """Keep `used` requests. More than reserved is what a server that made more requests than its estimate
        reports: the ledger records what the site saw. Exactly what was reserved writes nothing: the ledger
        holds that count already, so the reservation alone was the request's one transaction."""
        used = max(0, used)
        if used == self.count:
            return
        if used:
            self.quota.budget.commit(self.grant, used)
        else:
            self.quota.budget.release(self.grant)
        self.quota._count(used - self.count)


def open_budget(config: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Budget:
    """The machine's budget: the ledger in the state directory and the limits from config and environment."""
    from agentflow.config import state_dir

    environment = os.environ if env is None else env
    settings = settings_from(config, environment)
    return Budget(SQLiteLedger(state_dir() / "budget.db"), settings)
