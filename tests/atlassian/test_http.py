"""Retries, waits and error texts of the Atlassian HTTP client, with httpx2's MockTransport."""

import httpx2
import pytest

from agentflow.atlassian.errors import AtlassianError
from agentflow.atlassian.http import AtlassianHTTP, Auth, retry_after_seconds
from agentflow.atlassian.quota import QuotaExhausted, request_scope

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


NOW = 1_790_000_000.0  # 2026-09-21T14:13:20Z


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("Mon, 21 Sep 2026 14:14:00 GMT", 40.0),  # IMF-fixdate
        ("Monday, 21-Sep-26 14:14:00 GMT", 40.0),  # the obsolete RFC 850 form
        ("Mon Sep 21 14:14:00 2026", 40.0),  # asctime
        ("Mon, 21 Sep 2026 14:00:00 GMT", 0.0),  # a moment already past: no wait
        ("soon", None),
        ("120s", None),
        ("-5", None),
        ("1.5", None),
        ("inf", None),
        ("NaN", None),
        ("", None),
        ("Mon, 99 Sep 2026 14:14:00 GMT", None),
        ("١٢", None),  # Arabic-Indic digits are not DIGIT
        (None, None),
    ],
)
def test_retry_after_is_delay_seconds_or_an_http_date_and_nothing_else(value, seconds):
    """RFC 9110 §10.2.3: any other value is as if there were none (backoff), never an exception."""
    assert retry_after_seconds(value, NOW) == seconds


@pytest.mark.parametrize("value", ["soon", "120s", "Mon, 99 Sep 2026 14:14:00 GMT"])
async def test_a_malformed_retry_after_falls_back_to_backoff(value):
    transport, seen = scripted(
        httpx2.Response(429, headers={"Retry-After": value}, json={"errorMessages": ["Rate limit exceeded."]}),
        httpx2.Response(200, json={"ok": True}),
    )
    sleeps: list[float] = []
    assert await client(transport, sleeps).get("/rest/api/3/search/jql") == {"ok": True}
    assert len(seen) == 2 and len(sleeps) == 1 and 0.25 <= sleeps[0] <= 0.5  # the first backoff step


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


# --- the budget: every request on the wire reserved first ------------------------------------------------------


class Quota:
    """A quota double: `room` requests, an optional pause of `paused` seconds; it logs what it was asked."""

    def __init__(self, room: int = 100, paused: float = 0.0, max_wait: float = 60.0, log: list | None = None) -> None:
        self.room, self.paused, self.max_wait = room, paused, max_wait
        self.log = log if log is not None else []
        self.pauses: list[float] = []

    def reserve(self, count: int):
        if self.paused:
            wait, self.paused = self.paused, 0.0  # waiting it out ends it
            raise QuotaExhausted("the site is paused", wait)
        if count > self.room:
            raise QuotaExhausted(f"no room for {count}")
        self.room -= count
        self.log.append(("reserve", count))
        quota = self

        class Held:
            def __init__(self) -> None:
                self.count = count

            def settle(self, used: int) -> None:
                quota.room += count - used
                quota.log.append(("settle", used))

        return Held()

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)


def logging_transport(log: list, *responses: httpx2.Response):
    """Answers in order, logging each request it receives next to the quota's log."""
    queue = list(responses)

    def handler(request: httpx2.Request) -> httpx2.Response:
        log.append(("sent", request.method, request.url.path))
        return queue.pop(0)

    return httpx2.MockTransport(handler)


async def test_every_request_is_reserved_before_it_is_sent_retries_included():
    log: list = []
    transport = logging_transport(
        log,
        httpx2.Response(503, text="busy"),
        httpx2.Response(429, headers={"Retry-After": "2"}, json={"errorMessages": ["Rate limit exceeded."]}),
        httpx2.Response(200, json={"ok": True}),
    )
    quota = Quota(log=log)
    with request_scope(quota) as scope:
        assert await client(transport, []).get("/rest/api/3/myself") == {"ok": True}
    assert log == [("reserve", 1), ("sent", "GET", "/rest/api/3/myself")] * 3
    assert scope.sent == 3 and quota.room == 97
    assert quota.pauses == [2.0]  # the 429's Retry-After paused the site for every consumer


async def test_a_request_without_room_is_not_sent():
    log: list = []
    transport = logging_transport(log, httpx2.Response(200, json={}))
    with request_scope(Quota(room=0, log=log)) as scope, pytest.raises(QuotaExhausted, match="no room for 1"):
        await client(transport, []).get("/x")
    assert log == [] and scope.sent == 0


async def test_a_retry_without_room_stops_the_retries_and_says_how_many_were_sent():
    log: list = []
    transport = logging_transport(log, httpx2.Response(502, text="Bad Gateway"), httpx2.Response(200, json={}))
    with request_scope(Quota(room=1, log=log)) as scope, pytest.raises(QuotaExhausted):
        await client(transport, []).get("/x")
    assert [entry[0] for entry in log] == ["reserve", "sent"] and scope.sent == 1


async def test_a_pause_is_waited_out_within_max_wait_and_not_beyond():
    sleeps: list[float] = []
    transport, seen = scripted(httpx2.Response(200, json={"ok": True}))
    with request_scope(Quota(paused=5.0)):
        assert await client(transport, sleeps).get("/x") == {"ok": True}
    assert sleeps == [5.0] and len(seen) == 1

    sleeps.clear()
    transport, seen = scripted(httpx2.Response(200, json={"ok": True}))
    with request_scope(Quota(paused=120.0, max_wait=60.0)), pytest.raises(QuotaExhausted, match="paused"):
        await client(transport, sleeps).get("/x")
    assert sleeps == [] and seen == []


async def test_a_retry_after_beyond_max_wait_pauses_the_site_and_is_reported_at_once():
    transport, seen = scripted(httpx2.Response(429, headers={"Retry-After": "600"}, json={"errorMessages": ["Slow"]}))
    quota = Quota(max_wait=30.0)
    sleeps: list[float] = []
    with request_scope(quota), pytest.raises(AtlassianError, match="asks to wait 600 s"):
        await client(transport, sleeps).get("/x")
    assert quota.pauses == [600.0] and sleeps == [] and len(seen) == 1


async def test_a_prepaid_write_draws_on_its_reservation_and_gives_back_the_rest():
    log: list = []
    transport = logging_transport(log, httpx2.Response(201, json={"id": "1"}))
    quota = Quota(room=2, log=log)
    with request_scope(quota) as scope:
        scope.prepay(2)
        await client(transport, []).post("/rest/api/3/issue", {"fields": {}})
    assert log == [("reserve", 2), ("sent", "POST", "/rest/api/3/issue"), ("settle", 1)]
    assert quota.room == 1


async def test_a_write_that_does_not_fit_whole_is_not_started():
    log: list = []
    transport = logging_transport(log, httpx2.Response(201, json={"id": "1"}))
    quota = Quota(room=1, log=log)
    with request_scope(quota) as scope, pytest.raises(QuotaExhausted, match="no room for 2"):
        scope.prepay(2)
        await client(transport, []).post("/rest/api/3/issue", {"fields": {}})
    assert log == [] and quota.room == 1 and scope.sent == 0


async def test_a_write_waits_out_a_pause_like_any_request():
    log: list = []
    transport = logging_transport(log, httpx2.Response(201, json={"id": "1"}))
    sleeps: list[float] = []
    with request_scope(Quota(paused=5.0, log=log)) as scope:
        scope.prepay(2)
        await client(transport, sleeps).post("/rest/api/3/issue", {"fields": {}})
    assert sleeps == [5.0] and log[:2] == [("reserve", 2), ("sent", "POST", "/rest/api/3/issue")]


# --- redirects: followed by us, within the site, each hop a reserved request ----------------------------------


async def test_a_redirect_within_the_site_is_followed_and_each_hop_reserved():
    log: list = []
    transport = logging_transport(
        log,
        httpx2.Response(307, headers={"Location": "https://acme.atlassian.net/gateway/api/graphql"}),
        httpx2.Response(200, json={"data": {}}),
    )
    with request_scope(Quota(log=log)) as scope:
        assert await client(transport, []).post("/gateway/api/graphql/", {"query": "{}"}) == {"data": {}}
    assert log == [
        ("reserve", 1), ("sent", "POST", "/gateway/api/graphql/"),
        ("reserve", 1), ("sent", "POST", "/gateway/api/graphql"),
    ]  # fmt: skip
    assert scope.sent == 2


async def test_redirects_are_bounded():
    hop = httpx2.Response(302, headers={"Location": "https://acme.atlassian.net/loop"})
    transport, seen = scripted(*[hop] * 10)
    with request_scope(Quota()) as scope, pytest.raises(AtlassianError, match="redirected more than 5 times"):
        await client(transport, []).get("/loop")
    assert len(seen) == 6 and scope.sent == 6


@pytest.mark.parametrize("location", ["https://evil.example/steal", "http://acme.atlassian.net/x"])
async def test_a_redirect_off_the_site_is_not_followed(location):
    transport, seen = scripted(httpx2.Response(301, headers={"Location": location}))
    with pytest.raises(AtlassianError, match="outside the site") as caught:
        await client(transport, []).get("/x")
    assert len(seen) == 1  # the credentials never left for the other origin
    assert location.split("/x")[0].split("/steal")[0] in caught.value.message


class NoJitter:
    def uniform(self, low: float, high: float) -> float:
        return high


async def test_what_one_call_waits_is_bounded_by_max_wait_in_all():
    throttled = httpx2.Response(429, headers={"Retry-After": "25"}, json={"errorMessages": ["Rate limit exceeded."]})
    transport, seen = scripted(*[throttled] * 4)
    sleeps: list[float] = []
    with request_scope(Quota(max_wait=60.0)) as scope, pytest.raises(AtlassianError) as caught:
        await client(transport, sleeps).get("/x")
    assert sleeps == [25.0, 25.0] and len(seen) == 3 and scope.waited == 50  # a third wait would pass 60 s
    assert caught.value.message == "HTTP 429: Rate limit exceeded. (the site asks to wait 25 s before retrying)"

    transport, seen = scripted(*[httpx2.Response(502, text="Bad Gateway")] * 4)
    sleeps.clear()
    with request_scope(Quota(max_wait=0.6)) as scope, pytest.raises(AtlassianError) as caught:
        await client(transport, sleeps, rng=NoJitter()).get("/y")  # backoff 0.5 s, then 0.6 s: over the 0.6 s
    assert len(seen) == 2 and sleeps == [0.5]
    assert (
        caught.value.message
        == f"HTTP 502: Bad Gateway (still refused after waiting {sleeps[0]:.3g} s, the most one call waits)"
    )


async def test_a_success_that_is_not_json_is_a_readable_error():
    transport, _ = scripted(httpx2.Response(200, html="<html>Log in to continue</html>"))
    with pytest.raises(AtlassianError) as caught:
        await client(transport, []).get("/rest/api/3/myself")
    assert (
        caught.value.message == "acme.atlassian.net answered HTTP 200 with text/html, not JSON: is the site URL right?"
    )
