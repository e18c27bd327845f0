"""The HTTP face of `agentflow serve`: `POST /slack/commands`, `POST /api/runs`, `GET /api/runs/{id}`, `GET /healthz`.

Every request is verified before it is read as a command: Slack's signature (and replay cache) or the API's
bearer token. A request that fails is answered 401 (413 when too large) and starts nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from urllib.parse import parse_qs, urlparse

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from agentflow import runs
from agentflow.chatops import slack_format
from agentflow.chatops.commands import USAGE, Command, parse
from agentflow.chatops.service import Caller, ChatOps, Reply
from agentflow.chatops.verify import BodyTooLarge, SlackGate, bearer_ok, read_body
from agentflow.errors import ConfigError

log = logging.getLogger(__name__)


def create_app(chatops: ChatOps, *, signing_secret: str | None, api_token: str | None,
               clock: Callable[[], float] | None = None) -> Starlette:  # fmt: skip
    gate = SlackGate(signing_secret, **({"clock": clock} if clock else {})) if signing_secret else None
    limit = chatops.settings.max_body

    async def slack_command(request: Request) -> Response:
        try:
            body = await read_body(request, limit)
        except BodyTooLarge:
            return PlainTextResponse("request body too large", status_code=413)
        headers = request.headers
        if gate is None or not gate.accept(body, headers.get("x-slack-request-timestamp"),
                                           headers.get("x-slack-signature")):  # fmt: skip
            return PlainTextResponse("invalid or missing Slack signature", status_code=401)
        form = {key: values[0] for key, values in parse_qs(body.decode(), keep_blank_values=True).items()}
        if form.get("ssl_check"):
            return Response(status_code=200)
        team, channel, user = form.get("team_id", ""), form.get("channel_id", ""), form.get("user_id", "")
        if not user:
            return PlainTextResponse("a slash command without a user_id", status_code=400)
        if not chatops.settings.place_allowed(team, channel):
            return _slack(Reply("agentflow is not enabled in this workspace or channel."))
        try:
            command = parse(_unescape(form.get("text", "")))
        except ConfigError as error:
            return _slack(Reply(str(error) if "Usage:" in str(error) else f"{error}\n{USAGE}"))
        log.info("%s in %s/%s: %s", user, team, channel, command.kind)
        caller = Caller(actor=user, response_url=form.get("response_url") or None, team=team, channel=channel)
        reply = await chatops.handle(command, caller)
        return _slack(reply)

    async def api_start(request: Request) -> Response:
        if not bearer_ok(request.headers.get("authorization"), api_token):
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
        try:
            body = json.loads(await read_body(request, limit))
        except BodyTooLarge:
            return JSONResponse({"error": f"the body is over {limit} bytes"}, status_code=413)
        except (ValueError, RecursionError):
            return JSONResponse({"error": 'the body must be JSON: {"workflow": ..., "inputs": {...}}'}, 400)
        problem = _api_problem(body, chatops.settings.api_response_hosts)
        if problem:
            return JSONResponse({"error": problem}, status_code=400)
        inputs = {str(key): value for key, value in (body.get("inputs") or {}).items()}
        command = Command(kind="run", workflow=body["workflow"], inputs=inputs)
        caller = Caller(actor=f"api:{body.get('actor') or 'token'}", response_url=body.get("response_url"),
                        via_api=True)  # fmt: skip
        reply = await chatops.handle(command, caller)
        if reply.status >= 400:
            return JSONResponse({"error": reply.text}, status_code=reply.status)
        return JSONResponse(
            {"run_id": reply.run_id, "position": reply.position, "status_url": f"/api/runs/{reply.run_id}"},
            status_code=202,
        )

    async def api_status(request: Request) -> Response:
        if not bearer_ok(request.headers.get("authorization"), api_token):
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
        run_id = request.path_params["run_id"]
        if run_id in chatops.jobs:
            return JSONResponse({"run_id": run_id, "status": chatops.jobs[run_id].state})
        try:
            record = chatops.record_for(run_id, chatops.settings.api)
        except ConfigError as error:
            return JSONResponse({"error": str(error)}, status_code=404)
        return JSONResponse(_summary(record))

    async def healthz(request: Request) -> Response:
        pool = chatops.pool
        return JSONResponse({"ok": True, "running": pool.running, "waiting": pool.queue.qsize(),
                             "workers": pool.workers, "queue": pool.capacity})  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        chatops.pool.start()
        try:
            yield
        finally:
            await chatops.stop()

    return Starlette(
        routes=[
            Route("/slack/commands", slack_command, methods=["POST"]),
            Route("/api/runs", api_start, methods=["POST"]),
            Route("/api/runs/{run_id}", api_status, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def _slack(reply: Reply) -> Response:
    """Slack shows a 200's body to the person who typed the command (ephemeral); anything else as an error."""
    return JSONResponse(reply.payload or slack_format.ephemeral(reply.text))


def _unescape(text: str) -> str:
    """Slack sends `&`, `<` and `>` in command text as HTML entities; the workflow should get what was typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _api_problem(body: object, response_hosts: list[str]) -> str | None:
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    if not isinstance(body.get("workflow"), str) or not body["workflow"]:
        return "'workflow' (a workflow name) is required"
    if not isinstance(body.get("inputs", {}), dict):
        return "'inputs' must be an object of input names to values"
    for key in ("actor", "response_url"):
        if body.get(key) is not None and not isinstance(body[key], str):
            return f"'{key}' must be a string"
    if body.get("response_url"):
        # The server posts the report there: only to the chat hosts the config names, never anywhere asked.
        url = urlparse(body["response_url"])
        if url.scheme not in ("http", "https") or url.hostname not in response_hosts:
            return f"'response_url' must be an http(s) URL on {', '.join(response_hosts) or 'no host (none allowed)'}"
    return None


def _summary(record: runs.RunRecord) -> dict[str, object]:
    return {
        "run_id": record.id,
        "workflow": record.workflow,
        "status": record.status,
        "terminal_reason": record.terminal_reason,
        "actor": record.actor,
        "report": record.report,
        "error": record.error,
        "changes": [{"index": c.index, "tool": c.tool, "summary": c.summary} for c in record.changes],
    }
