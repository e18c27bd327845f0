"""Retries, waits and error texts of the Atlassian HTTP client, with httpx2's MockTransport."""

import httpx2
import pytest

from agentflow.atlassian.errors import AtlassianError
from agentflow.atlassian.http import AtlassianHTTP, Auth
from agentflow.atlassian.quota import request_scope

pytestmark = pytest.mark.anyio


def scripted(*responses: httpx2.Response | Exception):
    """A transport answering with `responses` in order; it records the requests it saw."""
    seen: list[httpx2.Request] = []
    queue = list(responses)

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx2.MockTransport(handler), seen


def client(transport, sleeps: list[float], **options) -> AtlassianHTTP:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return AtlassianHTTP("https://acme.atlassian.net", Auth("tok", "me@acme.com"), transport=transport, sleep=sleep,
                         **options)  # fmt: skip


async def test_retry_after_is_honoured_then_the_answer_returned():
    transport, seen = scripted(
        httpx2.Response(429, headers={"Retry-After": "7"}, json={"errorMessages": ["Rate limit exceeded."]}),
        httpx2.Response(200, json={"ok": True}),
    )
    sleeps: list[float] = []
    with request_scope(None) as scope:
        assert await client(transport, sleeps).get("/rest/api/3/myself") == {"ok": True}
    assert sleeps == [7.0] and scope.sent == 2 and len(seen) == 2
    assert seen[0].headers["Authorization"].startswith("Basic ")


async def test_backoff_without_retry_after_is_exponential_jittered_and_bounded():
    transport, seen = scripted(*[httpx2.Response(502, text="Bad Gateway")] * 4)
    sleeps: list[float] = []
    with pytest.raises(AtlassianError) as caught:
        await client(transport, sleeps, attempts=4).get("/x")
    assert len(seen) == 4 and len(sleeps) == 3
    for attempt, wait in enumerate(sleeps):
        assert 0.25 * 2**attempt <= wait <= 0.5 * 2**attempt
    assert caught.value.status == 502 and caught.value.message == "HTTP 502: Bad Gateway"


async def test_a_wait_longer_than_allowed_is_returned_as_an_error_at_once():
    transport, seen = scripted(
        httpx2.Response(429, headers={"Retry-After": "3600"}, json={"errorMessages": ["Slow down"]})
    )
    sleeps: list[float] = []
    with pytest.raises(AtlassianError) as caught:
        await client(transport, sleeps, max_wait=60).get("/x")
    assert sleeps == [] and len(seen) == 1
    assert caught.value.retry_after == 3600
    assert str(caught.value) == "HTTP 429: Slow down (the site asks to wait 3600 s before retrying)"


async def test_connection_failures_are_retried_and_named_without_secrets():
    transport, _ = scripted(*[httpx2.ConnectError("refused")] * 3)
    sleeps: list[float] = []
    with pytest.raises(AtlassianError) as caught:
        await client(transport, sleeps, attempts=3).get("/x")
    assert caught.value.message == "cannot reach acme.atlassian.net: ConnectError"
    assert "s3cr3t" not in repr(Auth("s3cr3t-value", "me@acme.com"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"errorMessages": [], "errors": {"summary": "You must specify a summary of the issue."}},
         "HTTP 400: summary: You must specify a summary of the issue."),
        ({"errorMessages": ["Error in the JQL Query: Expecting operator"], "errors": {}},
         "HTTP 400: Error in the JQL Query: Expecting operator"),
        ({"statusCode": 400, "message": "Could not parse cql : x"}, "HTTP 400: Could not parse cql : x"),
        ({"errors": [{"status": 400, "code": "INVALID", "title": "Bad", "detail": "spaceId is required"}]},
         "HTTP 400: spaceId is required"),
    ],
)  # fmt: skip
async def test_errors_quote_the_sites_own_words_in_every_shape(body, message):
    transport, _ = scripted(httpx2.Response(400, json=body))
    with pytest.raises(AtlassianError) as caught:
        await client(transport, []).post("/x", {"a": 1})
    assert caught.value.message == message
    assert caught.value.status == 400


async def test_data_center_uses_a_bearer_token_and_empty_bodies_are_none():
    transport, seen = scripted(httpx2.Response(204))
    http = AtlassianHTTP("https://jira.corp", Auth("pat"), transport=transport)
    assert await http.put("/rest/api/2/issue/X-1", {"fields": {}}) is None
    assert seen[0].headers["Authorization"] == "Bearer pat"
