"""Loopback fixtures for ChatOps: the app served by uvicorn on a free port, a receiver standing in for Slack's
`response_url`, and requests signed with slack_sdk's own signing code."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2
import pytest
import uvicorn
from slack_sdk.signature import SignatureVerifier

from agentflow.agent.scripted import ScriptedModel
from agentflow.chatops.app import create_app
from agentflow.chatops.executors import InThread
from agentflow.chatops.service import ChatOps
from agentflow.chatops.settings import ChatOpsSettings
from agentflow.cli import serving
from agentflow.runner import Runner
from tests.conftest import SLOW_MACHINE_SECONDS

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "api-token-for-tests-0123456789"
SCRIPTS = Path(__file__).resolve().parents[2] / "examples" / "scripts"


class Receiver:
    """A loopback HTTP endpoint recording every JSON body posted to it; `fail` first answers are 500."""

    def __init__(self, fail: int = 0) -> None:
        self.posts: list[dict[str, Any]] = []
        self.fail = fail
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.arrived:
                    failing = receiver.fail > 0
                    receiver.fail -= failing
                    if not failing:
                        receiver.posts.append(json.loads(body))
                    receiver.arrived.notify_all()
                self.send_response(500 if failing else 200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T1/B1/xyz"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int = 1, timeout: float = SLOW_MACHINE_SECONDS) -> list[dict[str, Any]]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.posts) >= count, timeout):
                raise AssertionError(f"expected {count} posts to response_url, got {len(self.posts)}")
            return list(self.posts)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiving = Receiver()
    yield receiving
    receiving.close()


def signed(form: dict[str, str], secret: str = SECRET, at: float | None = None) -> tuple[bytes, dict[str, str]]:
    """A slash-command body and the headers Slack would send with it."""
    body = urlencode(form)
    timestamp = str(int(time.time() if at is None else at))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature or "",
               "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
    return body.encode(), headers


def command(text: str, receiver: Receiver | None = None, user: str = "U_SRE", team: str = "T1",
            channel: str = "C_INC") -> dict[str, str]:  # fmt: skip
    form = {"token": "deprecated", "team_id": team, "channel_id": channel, "user_id": user,
            "command": "/agentflow", "text": text, "trigger_id": "1.2.3"}  # fmt: skip
    if receiver is not None:
        form["response_url"] = receiver.url
    return form


def scripted_runner() -> Runner:
    """The real runner, bundled server and sandbox; only the model is a script (of the incident workflow)."""
    return Runner(model=ScriptedModel(SCRIPTS / "incident.yaml"))


def settings(**overrides: Any) -> ChatOpsSettings:
    base: dict[str, Any] = {
        "workspaces": ["T1"],
        "default": {"workflows": ["bug-triage"]},
        "users": {"U_SRE": {"workflows": ["incident", "bug-triage"]}, "U_LEAD": {"workflows": ["*"], "apply": True}},
    }
    return ChatOpsSettings.model_validate({**base, **overrides})


@contextmanager
def served(app: Any) -> Iterator[str]:
    """`app` on a free loopback port, run by uvicorn as `agentflow serve` runs it; yields the base URL."""
    sock = serving.bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + SLOW_MACHINE_SECONDS
    while not server.started:  # uvicorn says so only with a flag
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(SLOW_MACHINE_SECONDS)


class Service:
    """A running `agentflow serve` app and a client for it."""

    def __init__(self, chatops: ChatOps, base_url: str) -> None:
        self.chatops = chatops
        self.http = httpx2.Client(base_url=base_url, timeout=SLOW_MACHINE_SECONDS)

    def slash(self, form: dict[str, str], secret: str = SECRET, at: float | None = None) -> httpx2.Response:
        body, headers = signed(form, secret, at)
        return self.http.post("/slack/commands", content=body, headers=headers)


@pytest.fixture
def serve() -> Iterator[Callable[..., Service]]:
    """`serve(settings, executor=...)` starts the app; everything started is stopped after the test."""
    with _Stack() as stack:
        yield stack.start


class _Stack:
    def __init__(self) -> None:
        self.exits: list[Any] = []
        self.services: list[Service] = []

    def start(self, chat_settings: ChatOpsSettings | None = None, **options: Any) -> Service:
        options.setdefault("executor", InThread(scripted_runner))
        chatops = ChatOps(chat_settings or settings(), **options)
        context = served(create_app(chatops, signing_secret=SECRET, api_token=TOKEN))
        base_url = context.__enter__()
        self.exits.append(context)
        self.services.append(service := Service(chatops, base_url))
        return service

    def __enter__(self) -> _Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        # Runs a test started end inside it: a record written later would land in the next test's state dir.
        deadline = time.monotonic() + SLOW_MACHINE_SECONDS
        while any(service.chatops.jobs for service in self.services) and time.monotonic() < deadline:
            time.sleep(0.05)
        for context in reversed(self.exits):
            context.__exit__(None, None, None)
