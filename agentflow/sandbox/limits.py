"""Rate limits and injected faults, for testing how clients cope with an unhappy Atlassian.

`--rate-limit N/h` answers 429 with `Retry-After` and `X-RateLimit-*` headers once N requests were served in
the sliding hour, as Cloud does. `--faults 429=0.2,503=0.05,latency=50ms` injects errors and delay at the
given rates, from a seeded random generator so that a test run is reproducible.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agentflow.sandbox.store import Clock

WINDOW = 3600.0


@dataclass(frozen=True)
class Faults:
    """Probabilities of injected statuses, and a fixed latency added to every request."""

    rates: dict[int, float]
    latency: float = 0.0
    seed: int = 0

    @classmethod
    def parse(cls, text: str, seed: int = 0) -> Faults:
        """`429=0.2,503=0.05,latency=50ms`; ValueError with a readable message otherwise."""
        rates: dict[int, float] = {}
        latency = 0.0
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition("=")
            if name == "latency":
                match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", value)
                if not match:
                    raise ValueError(f"latency must look like 50ms or 1s, not '{value}'")
                latency = float(match[1]) / (1000 if match[2] == "ms" else 1)
            elif name in ("429", "500", "502", "503", "504"):
                try:
                    rate = float(value)
                except ValueError:
                    raise ValueError(f"the rate for {name} must be a number between 0 and 1, not '{value}'") from None
                if not 0 <= rate <= 1:
                    raise ValueError(f"the rate for {name} must be between 0 and 1, not {rate}")
                rates[int(name)] = rate
            else:
                raise ValueError(f"unknown fault '{name}' (use 429, 500, 502, 503, 504 or latency)")
        return cls(rates, latency, seed)


def parse_rate_limit(text: str) -> int:
    """`500/h` -> 500."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*h(?:our)?\s*", text)
    if not match or int(match[1]) < 1:
        raise ValueError(f"rate limit must look like 500/h, not '{text}'")
    return int(match[1])


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class LimitsMiddleware(BaseHTTPMiddleware):
    """Applies the rate limit first (a throttled request is not served), then injected faults."""

    def __init__(self, app, clock: Clock, per_hour: int | None, faults: Faults | None) -> None:
        super().__init__(app)
        self.clock = clock
        self.per_hour = per_hour
        self.faults = faults
        self.served: deque[float] = deque()
        self.random = random.Random(faults.seed if faults else 0)

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        headers: dict[str, str] = {}
        if self.per_hour is not None:
            now = self.clock()
            while self.served and self.served[0] <= now - WINDOW:
                self.served.popleft()
            if len(self.served) >= self.per_hour:
                wait = max(1, int(self.served[0] + WINDOW - now + 0.999))
                return _error(
                    request,
                    429,
                    "Rate limit exceeded.",
                    {
                        "Retry-After": str(wait),
                        "X-RateLimit-Limit": str(self.per_hour),
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": _iso(now + wait),
                        "RateLimit-Reason": "jira-quota-based",
                    },
                )
            self.served.append(now)
            remaining = self.per_hour - len(self.served)
            headers = {"X-RateLimit-Limit": str(self.per_hour), "X-RateLimit-Remaining": str(remaining)}
            if remaining < self.per_hour * 0.2:
                headers["X-RateLimit-NearLimit"] = "true"
        if self.faults is not None:
            if self.faults.latency:
                await asyncio.sleep(self.faults.latency)
            roll = self.random.random()
            for status, rate in sorted(self.faults.rates.items()):
                if roll < rate:
                    extra = {"Retry-After": "1"} if status in (429, 503) else {}
                    return _error(request, status, f"Injected fault: HTTP {status}", {**headers, **extra})
                roll -= rate
        response = await call_next(request)
        response.headers.update(headers)
        return response


def _error(request: Request, status: int, message: str, headers: dict[str, str]) -> Response:
    if request.url.path.startswith("/wiki"):
        body = {"statusCode": status, "message": message}
    else:
        body = {"errorMessages": [message], "errors": {}}
    return JSONResponse(body, status_code=status, headers=headers)
