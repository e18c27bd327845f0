"""A person at a browser, for sign-in tests: follows the authorization URL to the sandbox's consent page, picks a
user and approves (or denies), then follows the redirect back to agentflow's loopback listener — over real HTTP.

As a command (`BROWSER="python -m tests.support.browser %s"` makes Python's `webbrowser` run it) the user is
`$CONSENT_USER` (default sre) and the decision `$CONSENT_DECISION` (default approve)."""

from __future__ import annotations

import os
import sys
from contextlib import suppress
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx2

TIMEOUT = 120.0


def approve(authorization_url: str, user: str = "sre", decision: str = "approve", iss: str | None = None) -> str:
    """Approve as `user`; the redirect URL the browser was sent back to (after visiting it). `iss` replaces the
    authorization response's issuer, as a mix-up attacker's server would (RFC 9207)."""
    parts = urlsplit(authorization_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    with httpx2.Client(timeout=TIMEOUT) as http:
        page = http.get(authorization_url)
        assert page.status_code == 302, page.text
        query = parse_qs(urlsplit(page.headers["location"]).query)
        if "request" not in query:  # refused before any consent page: the browser lands back at the client
            _visit(http, page.headers["location"])
            return page.headers["location"]
        request_id = query["request"][0]
        back = http.post(
            f"{origin}/authorize/consent", data={"request": request_id, "user": user, "decision": decision}
        )
        assert back.status_code == 302, back.text
        location = back.headers["location"]
        if iss is not None:
            redirect = urlsplit(location)
            query = {key: values[0] for key, values in parse_qs(redirect.query).items()} | {"iss": iss}
            location = urlunsplit(redirect._replace(query=urlencode(query)))
        _visit(http, location)
    return location


def _visit(http: httpx2.Client, location: str) -> None:
    with suppress(httpx2.HTTPError):  # nothing listens there when the address is to be pasted: a browser errs too
        http.get(location)


if __name__ == "__main__":
    approve(sys.argv[1], os.environ.get("CONSENT_USER", "sre"), os.environ.get("CONSENT_DECISION", "approve"))
