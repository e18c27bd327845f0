"""What the bundled server asks before every HTTP request it sends to the site: the request budget seam.

The server knows nothing of agentflow's ledger, runs or priorities. Whoever starts it (the run's host, or
`agentflow mcp serve`) hands in a `Quota` bound to one site; the HTTP client (`http.py`) takes one request from
it before each request it sends — first tries, retries and redirect hops alike — so the budget counts every
request the site sees. A tool that needs several requests for one write reserves them all at once
(`RequestScope.prepay`), so a write is either wholly reserved or not started.

A `Quota` that has no room raises `QuotaExhausted`, saying when room frees up (`wait`, in seconds) if it knows;
the client waits that long when it is within the quota's `max_wait` (a 429 pause, a window about to slide) and
otherwise gives up without sending anything.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

MIN_WAIT_STEP = 0.1  # seconds


class QuotaExhausted(Exception):
    """No room for the request. `wait`: seconds until there may be room (None: not within this run)."""

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.wait = wait


class Reservation(Protocol):
    """`count` requests taken from the budget; `settle(used)` keeps `used` of them and gives back the rest."""

    count: int

    def settle(self, used: int) -> None: ...


class Quota(Protocol):
    """One site's request budget as the server sees it. Every method is cheap and synchronous."""

    max_wait: float  # the longest a request waits for a pause to end or for room, in seconds

    def reserve(self, count: int) -> Reservation:
        """Take `count` requests, all or none; `QuotaExhausted` when they do not fit."""

    def pause(self, seconds: float) -> None:
        """The site answered 429 with Retry-After: every consumer of this site waits `seconds` (RFC 9110 §10.2.3)."""


@dataclass
class RequestScope:
    """The requests of one tool call: how many were sent, and the part of a prepaid reservation not yet used."""

    quota: Quota | None
    sent: int = 0
    prepaid: Reservation | None = None
    prepaid_used: int = 0
    waited: float = 0.0  # seconds spent waiting (backoff, Retry-After, pauses): at most the quota's max_wait

    def prepay(self, count: int) -> None:
        """Reserve `count` requests at once (a multi-request write); `QuotaExhausted` if they do not fit."""
        if self.quota is not None and count > 0:
            self.prepaid = self.quota.reserve(count)

    def take_prepaid(self) -> bool:
        """Use one prepaid request, if any is left."""
        if self.prepaid is None or self.prepaid_used >= self.prepaid.count:
            return False
        self.prepaid_used += 1
        return True

    def settle(self) -> None:
        """Give back what was prepaid and not used."""
        if self.prepaid is not None:
            self.prepaid.settle(self.prepaid_used)
            self.prepaid = None


_scope: contextvars.ContextVar[RequestScope | None] = contextvars.ContextVar("atlassian_request_scope", default=None)


@contextmanager
def request_scope(quota: Quota | None) -> Iterator[RequestScope]:
    """The scope of one tool call: every request made inside it is counted and, with a quota, reserved."""
    scope = RequestScope(quota)
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)
        scope.settle()


def current_scope() -> RequestScope | None:
    return _scope.get()


async def reserve_waiting(scope: RequestScope, count: int, sleep: Callable[[float], Awaitable[None]]) -> Reservation:
    """`scope.quota.reserve(count)`, waiting out a pause or a window about to slide while the scope has waited
    less than the quota's `max_wait` in all; `QuotaExhausted` when there is no room within that."""
    quota = scope.quota
    if quota is None:
        raise ValueError("reserve_waiting needs a scope with a quota")
    while True:
        try:
            return quota.reserve(count)
        except QuotaExhausted as exhausted:
            # A floor on each step, so that a quota answering "wait 0 s" cannot spin the loop.
            step = max(exhausted.wait or 0.0, MIN_WAIT_STEP)
            if exhausted.wait is None or scope.waited + step > quota.max_wait:
                raise
            await sleep(step)
            scope.waited += step
