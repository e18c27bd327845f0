"""HTTP to an Atlassian site: auth, timeouts, bounded retries that honour Retry-After, and readable errors.

Retries cover 429, 502, 503 and 504 (and connection failures) with jittered exponential backoff, waiting what
`Retry-After` asks when the site says so, never longer than `max_wait`: a longer wait is returned to the
caller as an error that says when to come back, instead of blocking a run. Redirects are followed here, not
by httpx, so that each hop is a request like any other: within the site only, at most `MAX_REDIRECTS`.

Every request sent inside a tool call's `quota.request_scope` — first tries, retries and redirect hops — is
counted and, when the scope has a quota, reserved from it before it is sent; a 429 with Retry-After pauses the
quota's site for every consumer. Secrets never appear in errors or logs.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import random
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import httpx2
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from agentflow.atlassian.errors import AtlassianError
from agentflow.atlassian.quota import RequestScope, current_scope

RETRY_STATUSES = frozenset({429, 502, 503, 504})
_DELAY_SECONDS = re.compile(r"[0-9]+", re.ASCII)
MAX_REDIRECTS = 5
Sleep = Callable[[float], Awaitable[None]]


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
            base_url=self.base_url, headers=headers, timeout=timeout, follow_redirects=False, **options
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
        # What this call has waited (for backoff, Retry-After and budget pauses) is bounded by max_wait in all,
        # so that a tool call ends within its host's time box with a readable error rather than a time-out.
        scope = current_scope() or RequestScope(None)
        out_of_time = False

        async def sleep(seconds: float) -> None:
            await self.sleep(seconds)
            scope.waited += seconds

        def no_time_left(state: RetryCallState) -> bool:
            nonlocal out_of_time
            out_of_time = scope.waited + (state.upcoming_sleep or 0.0) > self._max_wait(scope)
            return out_of_time

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts) | no_time_left,
            wait=lambda state: self._wait(state, scope),
            retry=retry_if_exception(lambda exc: isinstance(exc, _Retryable)),
            sleep=sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._once(method, path, params, body, scope)
        except _Retryable as exc:
            if out_of_time:
                exc.error.message += f" (still refused after waiting {scope.waited:.3g} s, the most one call waits)"
            raise exc.error from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _once(self, method: str, path: str, params: dict[str, Any] | None, body: Any, scope: RequestScope) -> Any:
        try:
            request = self.client.build_request(method, path, params=params, json=body)
        except httpx2.InvalidURL as exc:  # e.g. a query too long for a URL: the site is never asked
            raise AtlassianError(0, f"the request cannot be sent: {exc}; ask for less") from None
        for hop in range(MAX_REDIRECTS + 1):
            response = await self._send(request, scope)
            if not response.has_redirect_location:
                break
            request = self._redirect(request, response, hop)
        if response.status_code < 400:
            return _json(response, self._host())
        error = AtlassianError(response.status_code, _message(response), _retry_after(response))
        if response.status_code in RETRY_STATUSES:
            if response.status_code == 429 and error.retry_after is not None and scope.quota is not None:
                scope.quota.pause(error.retry_after)
            if error.retry_after is not None and error.retry_after > self._max_wait(scope) - scope.waited:
                error.message += f" (the site asks to wait {error.retry_after:.0f} s before retrying)"
                raise error
            raise _Retryable(error)
        raise error

    async def _send(self, request: httpx2.Request, scope: RequestScope) -> httpx2.Response:
        """One request on the wire, reserved first; `QuotaExhausted` (nothing sent) when the budget says no."""
        await scope.admit(self.sleep)
        scope.sent += 1
        try:
            return await self.client.send(request)
        except httpx2.TimeoutException:
            raise _Retryable(AtlassianError(0, f"{self._host()} did not answer in time")) from None
        except httpx2.TransportError as exc:
            raise _Retryable(AtlassianError(0, f"cannot reach {self._host()}: {type(exc).__name__}")) from None

    def _redirect(self, request: httpx2.Request, response: httpx2.Response, hop: int) -> httpx2.Request:
        """The next hop, built by httpx (method and body as RFC 9110 §15.4 says); only within the site."""
        if hop == MAX_REDIRECTS:
            raise AtlassianError(0, f"{self._host()} redirected more than {MAX_REDIRECTS} times; not followed")
        following = response.next_request
        if following is None or following.url.origin != request.url.origin:
            where = following.url.copy_with(query=None) if following is not None else "an invalid location"
            raise AtlassianError(
                0,
                f"{self._host()} redirected to {where}, outside the site; agentflow follows redirects only within "
                "the site (check the site URL: its scheme, host and port)",
            )
        return following

    def _max_wait(self, scope: RequestScope) -> float:
        return scope.quota.max_wait if scope.quota is not None else self.max_wait

    def _wait(self, state: RetryCallState, scope: RequestScope) -> float:
        """Retry-After when the site gave one, else exponential backoff with jitter, capped at max_wait."""
        exception = state.outcome.exception() if state.outcome else None
        limit = self._max_wait(scope)
        if isinstance(exception, _Retryable) and exception.error.retry_after is not None:
            return min(exception.error.retry_after, limit)
        backoff = min(limit, 0.5 * 2 ** (state.attempt_number - 1))
        return backoff * self.rng.uniform(0.5, 1.0)

    def _host(self) -> str:
        return httpx2.URL(self.base_url).host or self.base_url


def _json(response: httpx2.Response, host: str) -> Any:
    """A success's JSON body (None when empty); a body that is not JSON is the site's fault, said plainly (an
    HTML login or proxy page where the API should be means the site URL points somewhere else)."""
    if not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type").split(";")[0]
        raise AtlassianError(
            response.status_code,
            f"{host} answered HTTP {response.status_code} with {kind}, not JSON: is the site URL right?",
        ) from None


def _retry_after(response: httpx2.Response) -> float | None:
    return retry_after_seconds(response.headers.get("Retry-After"), time.time())


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` value at `now` (epoch seconds): delay-seconds (digits only) or an
    HTTP-date, the only two forms RFC 9110 §10.2.3 allows; None for anything else (`soon`, `120s`, `-5`,
    `1.5`), which the caller treats as absent (backoff), never as an error."""
    if value is None:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # "-0000": an HTTP-date is always GMT
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - now)


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
