"""A log of every request the sandbox receives, one JSON line each: what a counting proxy in front of a real
site would see, for checking that a client never sends more than its budget allows.

`{"at": epoch seconds, "method": "GET", "path": "/rest/api/3/issue/PAY-429", "status": 200}` — every request,
whatever answers it: the rate limit's and injected faults' 429s, a 401, a redirect.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentflow.sandbox.store import Clock


class RequestLog:
    """Pure ASGI middleware (the outermost layer): sees the status whichever layer answered."""

    def __init__(self, app: ASGIApp, path: Path, clock: Clock) -> None:
        self.app = app
        self.clock = clock
        self.lock = threading.Lock()
        self.file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives as long as the app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        line: dict[str, Any] = {"at": self.clock(), "method": scope["method"], "path": scope["path"], "status": None}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                line["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            with self.lock:
                self.file.write(json.dumps(line) + "\n")


def read(path: Path) -> list[dict[str, Any]]:
    """The requests logged in `path`, oldest first."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
