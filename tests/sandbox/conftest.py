"""Sandbox fixtures: seeded sites of both flavors, served on loopback for real HTTP clients."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx2
import pytest

from agentflow.sandbox.site import Site, running
from tests.conftest import SLOW_MACHINE_SECONDS


@dataclass
class Served:
    """A seeded site listening on loopback, and an HTTP client for it authenticated as `as_user`."""

    site: Site
    url: str

    def client(self, as_user: str | None = "dev") -> httpx2.Client:
        headers = self.site.auth_header(as_user) if as_user else {}
        return httpx2.Client(base_url=self.url, headers=headers, timeout=SLOW_MACHINE_SECONDS)


@pytest.fixture(scope="session", params=["cloud", "dc"])
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    """A site per flavor shared by read-only tests; tests that write use `fresh` instead."""
    site = Site.open(request.param)
    with running(site) as url:
        yield Served(site, url)


@pytest.fixture(params=["cloud", "dc"])
def fresh(request: pytest.FixtureRequest) -> Iterator[Served]:
    """A new site per test, for tests that change it."""
    site = Site.open(request.param)
    with running(site) as url:
        yield Served(site, url)


@pytest.fixture(scope="session")
def cloud() -> Iterator[Served]:
    site = Site.open("cloud")
    with running(site) as url:
        yield Served(site, url)


@pytest.fixture(scope="session")
def dc() -> Iterator[Served]:
    site = Site.open("dc")
    with running(site) as url:
        yield Served(site, url)
