"""Signature checking with a replay cache, the bearer token, and the per-user rate limit, on injected clocks."""

from __future__ import annotations

from slack_sdk.signature import SignatureVerifier

from agentflow.chatops.verify import MAX_AGE_S, RateLimit, SlackGate, bearer_ok

SECRET = "signing-secret"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def sign(body: bytes, at: float, secret: str = SECRET) -> tuple[str, str]:
    timestamp = str(int(at))
    return timestamp, SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body) or ""


def test_a_signature_is_accepted_once_within_five_minutes():
    clock = Clock()
    gate = SlackGate(SECRET, clock=clock)
    body = b"text=help&user_id=U1"
    timestamp, signature = sign(body, clock.now)
    clock.now += MAX_AGE_S - 1
    assert gate.accept(body, timestamp, signature)
    assert not gate.accept(body, timestamp, signature)  # the same request again
    fresh = sign(body, clock.now)
    assert gate.accept(body, *fresh)  # the same text typed again is a new request
    clock.now += 2
    assert not gate.accept(body, *sign(body, clock.now - MAX_AGE_S - 1))


def test_the_replay_cache_forgets_what_the_clock_already_refuses():
    clock = Clock()
    gate = SlackGate(SECRET, clock=clock)
    for n in range(50):
        gate.accept(f"n={n}".encode(), *sign(f"n={n}".encode(), clock.now))
    assert len(gate.seen) == 50
    clock.now += 2 * MAX_AGE_S + 1
    gate.accept(b"n=last", *sign(b"n=last", clock.now))
    assert len(gate.seen) == 1


def test_malformed_signatures_and_bodies_are_refused_not_raised():
    clock = Clock()
    gate = SlackGate(SECRET, clock=clock)
    timestamp, signature = sign(b"x", clock.now)
    assert not gate.accept(b"x", None, signature)
    assert not gate.accept(b"x", timestamp, None)
    assert not gate.accept(b"x", "12:00", signature)
    assert not gate.accept(b"x", "\u00b2\u00b3", signature)  # digits to str.isdigit, not to int()
    assert not gate.accept(b"x", "9" * 5000, signature)
    assert not gate.accept(b"\xff\xfe", *sign(b"x", clock.now))
    assert not gate.accept(b"x", timestamp, signature.replace("v0=", "v1="))


def test_bearer_token():
    assert bearer_ok("Bearer s3cret", "s3cret") and bearer_ok("bearer s3cret", "s3cret")
    assert not bearer_ok("Bearer s3cre", "s3cret")
    assert not bearer_ok("Basic s3cret", "s3cret")
    assert not bearer_ok(None, "s3cret")
    assert not bearer_ok("Bearer ", None)  # no configured token: the API is closed


def test_rate_limit_per_user_over_a_sliding_window():
    clock = Clock(0)
    limit = RateLimit(2, window_s=600, clock=clock)
    assert limit.take("U1") is None and limit.take("U1") is None
    assert limit.take("U1") == 600
    assert limit.take("U2") is None  # someone else is not held back
    clock.now = 300
    limit.give_back("U2")
    assert limit.take("U1") == 300
    clock.now = 600
    assert limit.take("U1") is None
    clock.now = 5000
    limit.take("U3")
    assert set(limit.recent) == {"U3"}  # nobody idle is remembered
