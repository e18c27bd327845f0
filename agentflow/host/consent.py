"""How a person approves an OAuth sign-in (`host.auth.Consent`): in a browser that the authorization server
redirects back to a listener of ours on loopback (RFC 8252 §7.3: any free port, `http://127.0.0.1:PORT/callback`),
or, without a browser here, by pasting the address the browser was redirected to.
"""

from __future__ import annotations

import html
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from urllib.parse import parse_qs, urlsplit

import anyio
from anyio.abc import SocketStream
from mcp.shared.auth import AuthorizationCodeResult

from agentflow.errors import ConfigError
from agentflow.host.auth import redirect_result

CALLBACK_PATH = "/callback"
MAX_REQUEST_HEAD = 16 * 1024


class LoopbackConsent:
    """The browser shows the consent page; the authorization server sends it back to our loopback listener."""

    def __init__(self, port: int, open_url: Callable[[str], object], say: Callable[[str], None]) -> None:
        self.redirect_uri = f"http://127.0.0.1:{port}{CALLBACK_PATH}"
        self._open_url = open_url
        self._say = say
        self._arrived = anyio.Event()
        self._result: AuthorizationCodeResult | ConfigError | None = None
        self._state: str | None = None

    async def show(self, authorization_url: str) -> None:
        # Only the redirect that answers this request counts: anything else reaching the port (another process,
        # a web page that found it) is refused and the listener keeps waiting.
        self._state = (parse_qs(urlsplit(authorization_url).query).get("state") or [None])[0]
        self._say(f"Opening your browser to sign in. If it does not open, visit:\n  {authorization_url}")
        # Not awaited: `webbrowser` waits for a $BROWSER command to exit, and that browser must reach our listener.
        threading.Thread(target=self._open_url, args=(authorization_url,), daemon=True).start()

    async def answer(self) -> AuthorizationCodeResult:
        await self._arrived.wait()
        if isinstance(self._result, ConfigError):
            raise self._result
        assert self._result is not None
        return self._result

    async def handle(self, stream: SocketStream) -> None:
        """One HTTP request to the listener: the redirect back (its query), or anything else (404)."""
        async with stream:
            head = b""
            try:
                with anyio.fail_after(10):
                    while b"\r\n\r\n" not in head and len(head) < MAX_REQUEST_HEAD:
                        head += await stream.receive()
            except (TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                return
            method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
            target = rest.rsplit(" ", 1)[0]
            if method != "GET" or urlsplit(target).path != CALLBACK_PATH or self._arrived.is_set():
                await _respond(stream, 404, "Nothing here.")
                return
            state = (parse_qs(urlsplit(target).query).get("state") or [None])[0]
            if self._state is None or state != self._state:
                await _respond(stream, 400, "This is not the answer to the sign-in agentflow is waiting for.")
                return
            try:
                self._result = redirect_result(target)
                page = "Approved. Return to agentflow: it finishes signing in and says how it went."
            except ConfigError as refusal:
                self._result = refusal
                page = f"Not signed in: {refusal}"
            self._arrived.set()
            await _respond(stream, 200, page)


@asynccontextmanager
async def loopback(
    open_url: Callable[[str], object], say: Callable[[str], None], port: int = 0
) -> AsyncIterator[LoopbackConsent]:
    """A `LoopbackConsent` listening on 127.0.0.1 (`port`, or a free one when 0 or taken) while in use."""
    try:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=port)
    except OSError:
        if not port:
            raise
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    bound = listener.extra(anyio.abc.SocketAttribute.local_port)
    consent = LoopbackConsent(bound, open_url, say)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, consent.handle)
        try:
            yield consent
        finally:
            group.cancel_scope.cancel()


class PastedConsent:
    """No browser here: the person opens the URL anywhere and pastes the address it ends on (the loopback
    redirect, which fails to load on another machine, still carries the code in its query)."""

    def __init__(self, port: int, prompt: Callable[[str], str], say: Callable[[str], None]) -> None:
        self.redirect_uri = f"http://127.0.0.1:{port}{CALLBACK_PATH}"
        self._prompt = prompt
        self._say = say

    async def show(self, authorization_url: str) -> None:
        self._say(
            "Open this address in a browser and approve; the browser then goes to an address starting with "
            f"{self.redirect_uri} (it may fail to load: that is expected). Paste that whole address here.\n"
            f"  {authorization_url}"
        )

    async def answer(self) -> AuthorizationCodeResult:
        # Read in this thread, blocking the loop on purpose: nothing else runs while a person pastes, and Ctrl+C
        # then interrupts the prompt itself (in a worker thread it would leave the process waiting on stdin).
        pasted = self._prompt("Address the browser ended on")
        return redirect_result(pasted)


async def _respond(stream: SocketStream, status: int, text: str) -> None:
    body = f"<!doctype html><title>agentflow</title><p>{html.escape(text)}</p>".encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}[status]
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n"
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    with suppress(anyio.BrokenResourceError, OSError):
        await stream.send(head.encode() + body)
