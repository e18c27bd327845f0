"""Who is knocking: Slack's request signature (with a replay cache), the API's bearer token, body size limits,
and the per-user rate limit. Everything here fails closed: a request that cannot be verified starts nothing.
"""

from __future__ import annotations

import hmac
import re
import threading
import time
from collections import deque
from collections.abc import Callable

from slack_sdk.signature import SignatureVerifier
from starlette.requests import Request

# Slack's own bound: a signed request older (or newer) than this is refused, so the replay cache only needs
# to remember signatures for this long.
MAX_AGE_S = 5 * 60
_DIGITS = re.compile(r"[0-9]{1,15}")  # ASCII only: `str.isdigit` also takes "²", which `int` then refuses


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (before reading it all) anything over `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and (not _DIGITS.fullmatch(declared) or int(declared) > limit):
        raise BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


class _Clock:
    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now


class SlackGate:
    """slack_sdk's v0 HMAC-SHA256 check over the raw body, plus: each signed request is accepted once."""

    def __init__(self, signing_secret: str, clock: Callable[[], float] = time.time) -> None:
        self.verifier = SignatureVerifier(signing_secret, clock=_Clock(clock))
        self.clock = clock
        self.seen: dict[str, float] = {}
        self.lock = threading.Lock()

    def accept(self, body: bytes, timestamp: str | None, signature: str | None) -> bool:
        if not timestamp or not signature or not _DIGITS.fullmatch(timestamp):
            return False
        try:
            valid = self.verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
        except UnicodeDecodeError:
            return False
        if not valid:
            return False
        with self.lock:
            now = self.clock()
            for old in [s for s, at in self.seen.items() if at < now - 2 * MAX_AGE_S]:
                del self.seen[old]
            if signature in self.seen:
                return False
            self.seen[signature] = now
        return True


def bearer_ok(header: str | None, token: str | None) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time; no configured token means no API."""
    if not token or not header:
        return False
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


class RateLimit:
    """At most `limit` runs per actor in any `window_s` seconds."""

    def __init__(self, limit: int, window_s: float = 600, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self.recent: dict[str, deque[float]] = {}

    def take(self, actor: str) -> float | None:
        """Count a run for `actor`; None when allowed, else the seconds until the next would be."""
        now = self.clock()
        for idle in [a for a, t in self.recent.items() if not t or t[-1] <= now - self.window_s]:
            del self.recent[idle]  # a long-running server must not remember every user it ever saw
        times = self.recent.setdefault(actor, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if len(times) >= self.limit:
            return times[0] + self.window_s - now
        times.append(now)
        return None

    def give_back(self, actor: str) -> None:
        """Un-count the last run (it was never started, e.g. the queue was full)."""
        if self.recent.get(actor):
            self.recent[actor].pop()
