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

    max_wait: float  # the longest one tool call waits for pauses to end or for room, in seconds
    ledger: str  # the identity of the ledger it reserves in, reported with each result

    def reserve(self, count: int) -> Reservation:
        """Take `count` requests, all or none; `QuotaExhausted` when they do not fit."""

    def pause(self, seconds: float) -> None:
        """The site answered 429 with Retry-After: every consumer of this site waits `seconds` (RFC 9110 §10.2.3)."""


@dataclass
class RequestScope:
    """The requests of one tool call: how many were sent, how long it waited, and its prepaid block.

    A write says up front how many requests it may need (`prepay`); the block is reserved whole before its first
    request is sent, so the write is either wholly reserved or not started, and what it did not use is given
    back when the call ends (`settle`)."""

    quota: Quota | None
    sent: int = 0
    waited: float = 0.0  # seconds spent waiting (backoff, Retry-After, pauses): at most the quota's max_wait
    prepay_count: int = 0
    prepaid: Reservation | None = None
    prepaid_used: int = 0

    def prepay(self, count: int) -> None:
        """Reserve `count` requests together, before the first of them is sent."""
        self.prepay_count = count

    async def admit(self, sleep: Callable[[float], Awaitable[None]]) -> None:
        """Take one request: from the prepaid block (reserved now if it is not yet), else from the quota alone;
        waiting out a pause within `max_wait`. `QuotaExhausted` when there is no room: then nothing is sent."""
        if self.quota is None:
            return
        if self.prepay_count and self.prepaid is None:
            self.prepaid, self.waited = await reserve_waiting(self.quota, self.prepay_count, sleep, self.waited)
        if self.prepaid is not None and self.prepaid_used < self.prepaid.count:
            self.prepaid_used += 1
            return
        _, self.waited = await reserve_waiting(self.quota, 1, sleep, self.waited)

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


async def reserve_waiting(
    quota: Quota, count: int, sleep: Callable[[float], Awaitable[None]], waited: float = 0.0
) -> tuple[Reservation, float]:
    """`quota.reserve(count)`, waiting out a pause or a window about to slide while `waited` (the seconds this
    call has waited already) stays within the quota's `max_wait`; returns the reservation and the new `waited`.
    `QuotaExhausted` when there is no room within that."""
    while True:
        try:
            return quota.reserve(count), waited
        except QuotaExhausted as exhausted:
            # A floor on each step, so that a quota answering "wait 0 s" cannot spin the loop.
            step = max(exhausted.wait or 0.0, MIN_WAIT_STEP)
            if exhausted.wait is None or waited + step > quota.max_wait:
                raise
            await sleep(step)
            waited += step
