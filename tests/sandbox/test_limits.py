"""Rate limits and injected faults answer like Atlassian's throttling, reproducibly."""

import httpx2
import pytest

from agentflow.sandbox.limits import Faults, parse_rate_limit
from agentflow.sandbox.site import Site, running
from tests.conftest import SLOW_MACHINE_SECONDS


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_rate_limit_answers_429_with_retry_after_and_recovers_as_the_hour_slides():
    clock = Clock(1_800_000_000.0)
    site = Site.open("cloud", clock=clock, per_hour=3)
    with (
        running(site) as url,
        httpx2.Client(base_url=url, headers=site.auth_header("sre"), timeout=SLOW_MACHINE_SECONDS) as client,
    ):
        served = [client.get("/rest/api/3/myself") for _ in range(3)]
        assert [r.status_code for r in served] == [200, 200, 200]
        assert served[0].headers["X-RateLimit-Limit"] == "3"
        assert [r.headers["X-RateLimit-Remaining"] for r in served] == ["2", "1", "0"]
        clock.now += 600
        throttled = client.get("/rest/api/3/myself")
        assert throttled.status_code == 429
        assert throttled.headers["Retry-After"] == "3000"
        assert throttled.headers["X-RateLimit-Remaining"] == "0"
        assert throttled.headers["X-RateLimit-Reset"].endswith("Z")
        assert throttled.json() == {"errorMessages": ["Rate limit exceeded."], "errors": {}}
        wiki = client.get("/wiki/rest/api/space")
        assert wiki.status_code == 429 and wiki.json()["statusCode"] == 429
        clock.now += 3000
        assert client.get("/rest/api/3/myself").status_code == 200


def statuses(faults: Faults, count: int) -> list[int]:
    site = Site.open("dc", faults=faults)
    with (
        running(site) as url,
        httpx2.Client(base_url=url, headers=site.auth_header("dev"), timeout=SLOW_MACHINE_SECONDS) as client,
    ):
        return [client.get("/rest/api/2/myself").status_code for _ in range(count)]


def test_faults_are_injected_at_their_rates_and_reproducibly():
    faults = Faults.parse("429=0.3,503=0.2", seed=7)
    first = statuses(faults, 60)
    assert first == statuses(faults, 60)
    assert {200, 429, 503} == set(first)
    assert 8 <= first.count(429) <= 30 and 4 <= first.count(503) <= 22


def test_injected_429_and_503_carry_retry_after():
    site = Site.open("cloud", faults=Faults.parse("503=1"))
    with (
        running(site) as url,
        httpx2.Client(base_url=url, headers=site.auth_header("dev"), timeout=SLOW_MACHINE_SECONDS) as client,
    ):
        response = client.get("/rest/api/3/myself")
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert response.json()["errorMessages"] == ["Injected fault: HTTP 503"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("429=2", "the rate for 429 must be between 0 and 1, not 2.0"),
        ("429=lots", "the rate for 429 must be a number between 0 and 1, not 'lots'"),
        ("latency=fast", "latency must look like 50ms or 1s, not 'fast'"),
        ("418=0.1", "unknown fault '418' (use 429, 500, 502, 503, 504 or latency)"),
    ],
)
def test_bad_fault_specs_say_what_is_wrong(text, message):
    with pytest.raises(ValueError) as caught:
        Faults.parse(text)
    assert str(caught.value) == message


def test_fault_and_rate_limit_specs_parse():
    assert Faults.parse("429=0.2,503=0.05,latency=50ms") == Faults({429: 0.2, 503: 0.05}, 0.05)
    assert parse_rate_limit("500/h") == 500
    with pytest.raises(ValueError, match="rate limit must look like 500/h"):
        parse_rate_limit("500 per day")
