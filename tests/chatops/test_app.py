"""`agentflow serve` over loopback HTTP: signed slash commands are acked at once and their results posted to
`response_url`; anything unsigned, replayed, stale, oversized or unauthorized is refused and starts nothing."""

from __future__ import annotations

import threading
import time

import anyio
import pytest

from agentflow import audit, runs
from agentflow.agent.scripted import ScriptedModel
from agentflow.chatops.executors import InThread
from agentflow.runner import Runner, RunRequest
from tests.chatops.conftest import SCRIPTS, TOKEN, Service, command, scripted_runner, settings, signed
from tests.conftest import SLOW_MACHINE_SECONDS


def texts(payload: dict) -> str:
    """Every piece of text a Slack message shows."""
    parts = [payload.get("text", "")]
    for block in payload.get("blocks", []):
        parts.append(block.get("text", {}).get("text", ""))
        parts += [element.get("text", "") for element in block.get("elements", [])]
    return "\n".join(parts)


def no_runs() -> bool:
    return not runs.list_runs(limit=5)


def nothing_started(service: Service) -> bool:
    """No job held, queued or running, and no run recorded: what a refused command leaves, checked at once
    (a job is held from before its ack until after its result is posted)."""
    pool = service.http.get("/healthz").json()
    return not service.chatops.jobs and pool["running"] == pool["waiting"] == 0 and no_runs()


class Held(InThread):
    """Runs (and applies) wait until the test lets them go."""

    def __init__(self) -> None:
        super().__init__(scripted_runner)
        self.release = threading.Event()

    async def run(self, request):
        await anyio.to_thread.run_sync(self.release.wait, SLOW_MACHINE_SECONDS, abandon_on_cancel=True)
        return await super().run(request)

    async def apply(self, run_id, actor, only):
        await anyio.to_thread.run_sync(self.release.wait, SLOW_MACHINE_SECONDS, abandon_on_cancel=True)
        return await super().apply(run_id, actor, only)


# --- the full path ---------------------------------------------------------------------------------------


def test_a_signed_incident_command_is_acked_at_once_and_its_result_posted_to_the_channel(serve, receiver):
    held = Held()
    service = serve(executor=held)
    try:
        response = service.slash(command("incident Database connection pool exhaustion", receiver))
        ack = response.json()
        run_id = ack["text"].split("as `")[1].split("`")[0]
        # Acked while the run cannot have finished (Slack wants an answer within 3 s, whatever the run takes).
        assert service.chatops.jobs[run_id].state == "running" and no_runs()
    finally:
        held.release.set()

    assert response.status_code == 200 and ack["response_type"] == "ephemeral"
    assert "Running `incident` as `" in ack["text"] and "starting now" in ack["text"]
    (result,) = receiver.wait(1)
    assert result["response_type"] == "in_channel"
    assert result["blocks"][0]["type"] == "header" and "incident" in result["blocks"][0]["text"]["text"]
    shown = texts(result)
    assert "Runbook: Database connection pool exhaustion" in shown and "OPS-141" in shown
    assert "**" not in shown  # Markdown was turned into Slack's mrkdwn

    record = runs.load(run_id)
    assert (record.actor, record.trigger, record.priority) == ("U_SRE", "chatops", "interactive")
    assert record.inputs["alert"] == "Database connection pool exhaustion" and record.succeeded
    calls = list(audit.read(run_id=run_id))
    assert calls and {line["actor"] for line in calls} == {"U_SRE"}


def test_slack_entities_in_the_text_reach_the_workflow_as_typed(serve, receiver):
    service = serve()
    ack = service.slash(command("incident pool &lt; 5 free &amp; p99 &gt; 2s", receiver)).json()
    run_id = ack["text"].split("as `")[1].split("`")[0]
    receiver.wait(1)
    assert runs.load(run_id).inputs["alert"] == "pool < 5 free & p99 > 2s"


def test_status_shows_a_finished_run_to_someone_who_may_run_its_workflow(serve, receiver):
    service = serve()
    ack = service.slash(command("incident DB pool exhausted", receiver)).json()
    run_id = ack["text"].split("as `")[1].split("`")[0]
    receiver.wait(1)

    status = service.slash(command(f"status {run_id}")).json()
    assert status["response_type"] == "ephemeral" and "Runbook" in texts(status)
    stranger = service.slash(command(f"status {run_id}", user="U_DEV")).json()
    assert "no run" in stranger["text"] and "Runbook" not in texts(stranger)
    for guess in (run_id[:8], "last", run_id[:-2]):  # no prefixes, no `last`: ids are not to be guessed
        reply = service.slash(command(f"status {guess}")).json()["text"]
        assert f"no run `{guess}` that you may see" in reply and "state" not in reply and run_id not in reply


# --- verification: 401/413 and nothing started ------------------------------------------------------------


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda form: signed(form, secret="not-the-signing-secret"), id="wrong-secret"),
        pytest.param(lambda form: signed(form, at=time.time() - 301), id="stale-timestamp"),
        pytest.param(lambda form: signed(form, at=time.time() + 301), id="future-timestamp"),
        pytest.param(lambda form: (signed(form)[0], {}), id="missing-headers"),
        pytest.param(
            lambda form: (signed(form)[0], {**signed(form)[1], "X-Slack-Request-Timestamp": "soon"}), id="bad-timestamp"
        ),
        pytest.param(lambda form: (signed(form)[0] + b"&user_id=U_LEAD", signed(form)[1]), id="body-changed"),
    ],
)
def test_a_request_that_is_not_correctly_signed_gets_401_and_starts_nothing(serve, receiver, tamper):
    service = serve()
    body, headers = tamper(command("incident DB pool exhausted", receiver))
    response = service.http.post("/slack/commands", content=body, headers=headers)
    assert response.status_code == 401
    assert "Running" not in response.text and no_runs() and not receiver.posts


def test_a_replayed_request_is_refused(serve, receiver):
    service = serve()
    body, headers = signed(command("help"))
    first = service.http.post("/slack/commands", content=body, headers=headers)
    again = service.http.post("/slack/commands", content=body, headers=headers)
    assert first.status_code == 200 and "Workflows you may run" in first.json()["text"]
    assert again.status_code == 401


def test_an_oversized_body_gets_413_even_when_signed(serve, receiver):
    service = serve()
    form = command("incident " + "x" * 20_000, receiver)
    body, headers = signed(form)
    response = service.http.post("/slack/commands", content=body, headers=headers)
    assert response.status_code == 413 and no_runs()
    chunked = service.http.post("/slack/commands", content=iter([body[:10_000], body[10_000:]]), headers=headers)
    assert chunked.status_code == 413 and no_runs()


def test_without_a_signing_secret_slack_commands_are_refused(serve):
    from agentflow.chatops.app import create_app
    from agentflow.chatops.service import ChatOps
    from tests.chatops.conftest import served

    with served(create_app(ChatOps(settings()), signing_secret=None, api_token=TOKEN)) as url:
        import httpx2

        body, headers = signed(command("help"))
        assert (
            httpx2.post(
                f"{url}/slack/commands", content=body, headers=headers, timeout=SLOW_MACHINE_SECONDS
            ).status_code
            == 401
        )


# --- who may do what ----------------------------------------------------------------------------------------


def test_a_user_may_run_only_the_workflows_granted_to_them(serve, receiver):
    service = serve()
    refused = service.slash(command("incident DB pool exhausted", receiver, user="U_DEV")).json()
    assert "You may not run `incident`" in refused["text"] and refused["response_type"] == "ephemeral"
    listing = service.slash(command("list", user="U_DEV")).json()["text"]
    assert "`bug-triage`" in listing and "`incident`" not in listing
    assert nothing_started(service) and not receiver.posts


def test_commands_from_another_workspace_or_channel_are_refused(serve, receiver):
    service = serve(settings(channels=["C_INC"]))
    elsewhere = service.slash(command("incident DB pool exhausted", receiver, team="T_OTHER")).json()
    other_channel = service.slash(command("incident DB pool exhausted", receiver, channel="C_RANDOM")).json()
    assert "not enabled" in elsewhere["text"] and "not enabled" in other_channel["text"]
    assert no_runs()


def test_only_a_user_allowed_to_apply_can_apply_and_the_writes_are_theirs(serve, receiver):
    transcript = str(SCRIPTS.parent / "transcripts" / "acme-finance-interview.md")
    runner = Runner(model=ScriptedModel(SCRIPTS / "transcript-to-stories.yaml"))
    request = RunRequest(workflow="transcript-to-stories", inputs={"transcript": transcript, "epic": "PROD-100"})
    record = anyio.run(runner.execute, request).record
    assert len(record.changes) == 8

    service = serve()
    refused = service.slash(command(f"apply {record.id}", receiver, user="U_SRE")).json()
    assert "You may not apply" in refused["text"]
    ack = service.slash(command(f"apply {record.id} 1,5", receiver, user="U_LEAD")).json()
    assert f"Applying 2 changes of `{record.id}`" in ack["text"]

    (posted,) = receiver.wait(1)
    assert "applied 2 of 2 changes" in texts(posted) and "<@U_LEAD>" in texts(posted)
    applied = [line for line in audit.read(run_id=record.id) if line["trigger"] == "apply"]
    assert applied and {line["actor"] for line in applied} == {"U_LEAD"}


def test_a_run_being_applied_cannot_be_applied_again_from_chat(serve, receiver):
    transcript = str(SCRIPTS.parent / "transcripts" / "acme-finance-interview.md")
    runner = Runner(model=ScriptedModel(SCRIPTS / "transcript-to-stories.yaml"))
    request = RunRequest(workflow="transcript-to-stories", inputs={"transcript": transcript, "epic": "PROD-100"})
    record = anyio.run(runner.execute, request).record
    held = Held()
    service = serve(executor=held)
    try:
        first = service.slash(command(f"apply {record.id}", receiver, user="U_LEAD")).json()["text"]
        again = service.slash(command(f"apply {record.id} 1,2", receiver, user="U_LEAD")).json()["text"]
    finally:
        held.release.set()
    assert "Applying 8 changes" in first and "apply it once that is done" in again
    (posted,) = receiver.wait(1)
    assert "applied 8 of 8 changes" in texts(posted)


def test_a_failure_inside_agentflow_is_still_reported_to_the_channel(serve, receiver):
    class Broken(InThread):
        async def run(self, request):
            raise OSError(24, "Too many open files")

    service = serve(executor=Broken())
    service.slash(command("incident DB pool exhausted", receiver))
    (posted,) = receiver.wait(1)
    assert "failed inside agentflow (OSError)" in posted["text"] and "/agentflow status" in posted["text"]


def test_stopping_the_server_tells_the_channels_of_runs_it_held(receiver):
    from agentflow.chatops.app import create_app
    from agentflow.chatops.service import ChatOps
    from tests.chatops.conftest import SECRET, served

    held = Held()
    # Stopping tells the channels within a short box; a loaded machine may need longer to post twice.
    chatops = ChatOps(settings(queue=2), executor=held, workers=1, stop_timeout_s=SLOW_MACHINE_SECONDS)
    try:
        with served(create_app(chatops, signing_secret=SECRET, api_token=TOKEN)) as url:
            import httpx2

            for text in ("incident first", "incident second"):
                body, headers = signed(command(text, receiver))
                posted = httpx2.post(
                    f"{url}/slack/commands", content=body, headers=headers, timeout=SLOW_MACHINE_SECONDS
                )
                assert posted.status_code == 200
    finally:
        held.release.set()
    posts = sorted(post["text"] for post in receiver.wait(2))
    assert "was not started: agentflow serve shut down" in posts[0] + posts[1]
    assert "was stopped while it ran" in posts[0] + posts[1]


def test_bad_input_is_answered_with_the_usage_and_starts_nothing(serve, receiver):
    service = serve()
    cases = {
        "incident": "missing required input 'alert'",
        "incident window=yesterday DB pool": "does not match the pattern",
        "nope PAY-1": "There is no workflow 'nope'",
        "../../etc/passwd x": "There is no workflow",
        "status": "status takes one run id",
        "apply 2026 1,x": "change numbers look like 1,3",
    }
    for text, expected in cases.items():
        reply = service.slash(command(text, receiver)).json()
        assert reply["response_type"] == "ephemeral" and expected in reply["text"], text
        assert "Usage: `/agentflow WORKFLOW" in reply["text"], text
    assert nothing_started(service) and not receiver.posts


def test_a_user_is_rate_limited(serve, receiver):
    service = serve(settings(per_user=1))
    service.slash(command("incident DB pool exhausted", receiver))
    second = service.slash(command("incident DB pool exhausted again", receiver)).json()
    assert "runs in the last 10 minutes" in second["text"]
    receiver.wait(1)
    assert len(runs.list_runs()) == 1


# --- the pool --------------------------------------------------------------------------------------------------


def test_when_the_queue_is_full_the_command_is_told_so_instead_of_being_accepted(serve, receiver):
    held = Held()  # holds the only worker until the test lets go
    service = serve(settings(queue=1), workers=1, executor=held)
    try:
        first = service.slash(command("incident first", receiver)).json()["text"]
        second = service.slash(command("incident second", receiver)).json()["text"]
        third = service.slash(command("incident third", receiver)).json()["text"]
        health = service.http.get("/healthz").json()
    finally:
        held.release.set()
    assert "starting now" in first and "queued, 1st in line" in second
    assert "agentflow is busy" in third and "nothing was started" in third
    assert health == {"ok": True, "running": 1, "waiting": 1, "workers": 1, "queue": 1}
    posts = receiver.wait(2)
    assert len(posts) == 2 and len(runs.list_runs()) == 2


# --- the API for other chat tools and scripts -------------------------------------------------------------------


def test_the_api_needs_the_bearer_token(serve):
    service = serve()
    body = {"workflow": "incident", "inputs": {"alert": "DB pool exhausted"}}
    assert service.http.post("/api/runs", json=body).status_code == 401
    wrong = service.http.post("/api/runs", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert service.http.get("/api/runs/whatever", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert no_runs()


def test_the_api_starts_a_run_and_reports_it(serve):
    service = serve()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    started = service.http.post(
        "/api/runs", json={"workflow": "incident", "inputs": {"alert": "DB pool exhausted"}, "actor": "pagerduty"},
        headers=auth,
    )  # fmt: skip
    assert started.status_code == 202
    run_id = started.json()["run_id"]
    deadline = time.monotonic() + SLOW_MACHINE_SECONDS
    while (status := service.http.get(f"/api/runs/{run_id}", headers=auth).json())["status"] != "finished":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status["terminal_reason"] == "completed" and "Runbook" in status["report"]
    assert runs.load(run_id).actor == "api:pagerduty"


def test_the_api_is_rate_limited_per_token_whatever_actor_it_names(serve):
    service = serve(settings(api_per_window=2))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    answers = [
        service.http.post(
            "/api/runs", json={"workflow": "incident", "inputs": {"alert": "x"}, "actor": f"bot{n}"}, headers=auth
        )
        for n in range(3)
    ]
    assert [a.status_code for a in answers] == [202, 202, 429]


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (
            b'{"workflow": "incident", "inputs": {"alert": "x"}, "response_url": "http://169.254.169.254/latest"}',
            400,
            "'response_url' must be an http(s) URL on hooks.slack.com",
        ),
        (b"[" * 10000, 400, "must be JSON"),
        (b"{not json", 400, "must be JSON"),
        (b'{"inputs": {}}', 400, "'workflow'"),
        (b'{"workflow": "incident", "inputs": []}', 400, "'inputs' must be an object"),
        (b'{"workflow": "incident", "inputs": {}}', 400, "missing required input 'alert'"),
        (b'{"workflow": "nope"}', 404, "There is no workflow 'nope'"),
    ],
)
def test_the_api_refuses_bad_requests_with_a_clear_error(serve, body, status, expected):
    service = serve()
    response = service.http.post("/api/runs", content=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == status and expected in response.json()["error"]
    assert no_runs()
