"""HTTP to an Atlassian site: auth, timeouts, bounded retries that honour Retry-After, and readable errors.

Retries cover 429, 502, 503 and 504 (and connection failures) with jittered exponential backoff, waiting what
`Retry-After` asks when the site says so, never longer than `max_wait`: a longer wait is returned to the
caller as an error that says when to come back, instead of blocking a run. Every request made inside a tool
call is counted (`count_requests`) so the call can report it. Secrets never appear in errors or logs.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import email.utils
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from agentflow.atlassian.errors import AtlassianError

RETRY_STATUSES = frozenset({429, 502, 503, 504})
Sleep = Callable[[float], Awaitable[None]]

_requests: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("atlassian_requests", default=None)


@contextmanager
def count_requests() -> Iterator[list[int]]:
    """Count the HTTP requests made in this context (one tool call): `counter[0]` after the block."""
    counter = [0]
    token = _requests.set(counter)
    try:
        yield counter
    finally:
        _requests.reset(token)


class _Retryable(Exception):
    def __init__(self, error: AtlassianError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class Auth:
    """Cloud: HTTP Basic with an email and an API token. Data Center: a Bearer personal access token."""

    token: str
    email: str | None = None

    def header(self) -> str:
        if self.email is None:
            return f"Bearer {self.token}"
        return "Basic " + base64.b64encode(f"{self.email}:{self.token}".encode()).decode()

    def __repr__(self) -> str:  # keep tokens out of tracebacks and logs
        return f"Auth(email={self.email!r}, token='***')"


def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """The OS trust store (so intranet CAs the machine trusts work), plus a CA bundle when one is given."""
    import truststore

    context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_bundle:
        try:
            context.load_verify_locations(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise AtlassianError(0, f"cannot load the CA bundle {ca_bundle}: {exc}") from None
    return context


class AtlassianHTTP:
    """An async JSON client for one Atlassian base URL."""

    def __init__(
        self,
        base_url: str,
        auth: Auth | None,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        ca_bundle: str | None = None,
        timeout: float = 30.0,
        attempts: int = 4,
        max_wait: float = 60.0,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": "agentflow"}
        if auth is not None:
            headers["Authorization"] = auth.header()
        options: dict[str, Any] = {"transport": transport} if transport else {"verify": tls_context(ca_bundle)}
        self.base_url = base_url.rstrip("/")
        self.client = httpx2.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout, follow_redirects=True, **options
        )
        self.attempts = attempts
        self.max_wait = max_wait
        self.sleep = sleep
        self.rng = rng or random.Random()

    async def aclose(self) -> None:
        await self.client.aclose()

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, body: Any = None) -> Any:
        return await self.request("POST", path, body=body)

    async def put(self, path: str, body: Any = None) -> Any:
        return await self.request("PUT", path, body=body)

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """The response's JSON (None for an empty body); `AtlassianError` when the site says no."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda exc: isinstance(exc, _Retryable)),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._once(method, path, params, body)
        except _Retryable as exc:
            raise exc.error from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _once(self, method: str, path: str, params: dict[str, Any] | None, body: Any) -> Any:
        counter = _requests.get()
        if counter is not None:
            counter[0] += 1
        try:
            response = await self.client.request(method, path, params=params, json=body)
        except httpx2.TimeoutException:
            raise _Retryable(AtlassianError(0, f"{self._host()} did not answer in time")) from None
        except httpx2.TransportError as exc:
            raise _Retryable(AtlassianError(0, f"cannot reach {self._host()}: {type(exc).__name__}")) from None
        if response.status_code < 400:
            return response.json() if response.content.strip() else None
        error = AtlassianError(response.status_code, _message(response), _retry_after(response))
        if response.status_code in RETRY_STATUSES:
            if error.retry_after is not None and error.retry_after > self.max_wait:
                error.message += f" (the site asks to wait {error.retry_after:.0f} s before retrying)"
                raise error
            raise _Retryable(error)
        raise error

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the site gave one, else exponential backoff with jitter, capped at max_wait."""
        exception = state.outcome.exception() if state.outcome else None
        if isinstance(exception, _Retryable) and exception.error.retry_after is not None:
            return min(exception.error.retry_after, self.max_wait)
        backoff = min(self.max_wait, 0.5 * 2 ** (state.attempt_number - 1))
        return backoff * self.rng.uniform(0.5, 1.0)

    def _host(self) -> str:
        return httpx2.URL(self.base_url).host or self.base_url


def _retry_after(response: httpx2.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        moment = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, moment.timestamp() - time.time()) if moment else None


def _message(response: httpx2.Response) -> str:
    """The site's own explanation, from whichever error shape the API uses."""
    prefix = f"HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        text = " ".join(response.text.split())[:300]
        return f"{prefix}: {text}" if text else f"{prefix} {response.reason_phrase}"
    parts: list[str] = []
    if isinstance(body, dict):
        parts += [str(m) for m in body.get("errorMessages") or []]
        errors = body.get("errors")
        if isinstance(errors, dict):
            parts += [f"{field}: {message}" for field, message in errors.items()]
        elif isinstance(errors, list):
            parts += [str(e.get("detail") or e.get("title") or e.get("message") or e) for e in errors if e]
        if body.get("message"):
            parts.append(str(body["message"]))
    return f"{prefix}: {' '.join(parts)}" if parts else f"{prefix} {response.reason_phrase}"
