"""The endpoints' doors: Basic and service-account Bearer sign-ins, 401 challenges, OAuth scopes (403), Compass
for OAuth only, faults, and a Data Center-flavored site still speaking Cloud to its Rovo endpoints."""

from __future__ import annotations

import httpx2
import pytest

from agentflow.sandbox.limits import Faults
from agentflow.sandbox.rovo import identity
from agentflow.sandbox.rovo.identity import Identity
from agentflow.sandbox.site import Site, running
from tests.conftest import SLOW_MACHINE_SECONDS
from tests.sandbox.rovo.conftest import Rovo, data

pytestmark = pytest.mark.anyio
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
ACCEPT = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}


def post(url: str, headers: dict[str, str], body: dict) -> httpx2.Response:
    return httpx2.post(url, headers={**ACCEPT, **headers}, json=body, timeout=SLOW_MACHINE_SECONDS)


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Basic bm9ib2R5Om5vdGhpbmc="},
        {"Authorization": "x"},
    ],
)
def test_missing_or_wrong_credentials_get_401_with_a_bearer_challenge(rovo, version, headers):
    """The challenge names the endpoint's RFC 9728 metadata, so that an OAuth client discovers the authorization
    server from this 401; a Bearer value that proves nobody is an `invalid_token` (RFC 6750 §3.1)."""
    refused = post(f"{rovo.url}/{version}/mcp", headers, LIST)
    assert refused.status_code == 401
    metadata = f"{rovo.url}/.well-known/oauth-protected-resource/{version}/mcp"
    error = ', error="invalid_token"' if headers.get("Authorization", "").startswith("Bearer") else ""
    expected = f'Bearer realm="atlassian-rovo-sandbox", resource_metadata="{metadata}"{error}'
    assert refused.headers["WWW-Authenticate"] == expected
    assert refused.json()["error"] == "invalid_token"


def test_there_is_no_stream_to_listen_to(rovo):
    listen = httpx2.get(f"{rovo.url}/v1/mcp", headers={**ACCEPT, **rovo.basic("dev")}, timeout=SLOW_MACHINE_SECONDS)
    assert listen.status_code == 405


def test_a_users_api_token_is_not_a_service_account_key(rovo):
    user = rovo.site.user("dev")
    assert post(f"{rovo.url}/v1/mcp", {"Authorization": f"Bearer {user.token}"}, LIST).status_code == 401
    assert post(f"{rovo.url}/v1/mcp", rovo.bearer("dev"), LIST).status_code == 200


@pytest.fixture
def oauth_grant(monkeypatch):
    """Stand in for oauth.py: any `Bearer oauth-<username>` is an OAuth sign-in with read-only Jira scopes."""
    granted: dict[str, frozenset[str]] = {"scopes": frozenset({"read:jira-work"})}

    async def oauth(request, store) -> Identity | None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        user = store.find_user(value.removeprefix("oauth-")) if value.startswith("oauth-") else None
        return Identity(user, "oauth", granted["scopes"]) if scheme == "Bearer" and user else None

    monkeypatch.setattr(identity, "AUTHENTICATORS", [*identity.AUTHENTICATORS, oauth])
    return granted


def test_a_call_outside_the_grants_scopes_is_403_insufficient_scope(rovo, oauth_grant):
    headers = {"Authorization": "Bearer oauth-pm"}
    cloud = rovo.cloud_id

    def call(version: str, name: str, arguments: dict) -> httpx2.Response:
        body = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
        return post(f"{rovo.url}/{version}/mcp", headers, body)

    comments = "SELECT COUNT(*) FROM comments JOIN issues ON issues.id = comments.issue_id WHERE key = 'OPS-141'"
    before = rovo.site.store.query_one(comments)[0]
    write = call("v1", "addCommentToJiraIssue", {"cloudId": cloud, "issueIdOrKey": "OPS-141", "commentBody": "x"})
    catalogue_write = call("v2", "executeWrite", {"name": "createJiraIssueLink", "cloudId": cloud, "inputs": {}})
    read = call("v1", "getJiraIssue", {"cloudId": cloud, "issueIdOrKey": "OPS-141"})
    assert write.status_code == 403 and catalogue_write.status_code == 403
    assert write.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="write:jira-work"'
    assert write.json()["error"] == "insufficient_scope"
    assert read.status_code == 200 and "OPS-141" in read.text
    assert rovo.site.store.query_one(comments)[0] == before  # the refused call never reached the tool


async def test_oauth_sign_ins_see_compass(rovo, oauth_grant):
    oauth_grant["scopes"] = frozenset({"read:compass-component"})
    cloud = rovo.cloud_id
    async with rovo.client("v1", {"Authorization": "Bearer oauth-dev"}) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        found = data(await client.call_tool("getCompassComponents", {"cloudId": cloud, "searchString": "payment"}))
        ident = found["nodes"][0]["component"]["id"]
        one = data(await client.call_tool("getCompassComponent", {"cloudId": cloud, "componentId": ident}))
    async with rovo.client("v2", {"Authorization": "Bearer oauth-dev"}) as client:
        listed = data(await client.call_tool("discover", {"query": "compass"}))
        via_v2 = data(
            await client.call_tool(
                "executeRead", {"name": "getCompassComponent", "cloudId": cloud, "inputs": {"componentId": ident}}
            )
        )
    assert {"getCompassComponent", "getCompassComponents"} <= tools
    assert one["id"] == ident == via_v2["id"] and one["name"] == found["nodes"][0]["component"]["name"]
    assert {o["name"] for o in listed["operations"]} == {"getCompassComponent", "getCompassComponents"}


def test_injected_faults_reach_the_mcp_endpoints():
    site = Site.open("cloud", faults=Faults.parse("429=1"))
    with running(site) as url:
        throttled = [post(f"{url}/{version}/mcp", site.auth_header("dev"), LIST) for version in ("v1", "v2")]
    assert [r.status_code for r in throttled] == [429, 429]
    assert all(r.headers["Retry-After"] == "1" for r in throttled)


async def test_a_data_center_site_serves_rovo_over_its_data():
    site = Site.open("dc")
    with running(site) as url:
        rovo = Rovo(site, url)
        async with rovo.client("v1", rovo.basic("dev")) as client:
            found = data(
                await client.call_tool("searchJiraIssuesUsingJql", {"cloudId": rovo.cloud_id, "jql": "key = OPS-141"})
            )
    assert [i["key"] for i in found["issues"]] == ["OPS-141"]


def test_a_site_file_from_before_the_keys_gets_them(tmp_path):
    path = tmp_path / "old.db"
    Site.open("cloud", path).store.conn.execute("DROP TABLE service_account_keys")
    reopened = Site.open("cloud", path)
    keys = reopened.store.service_account_keys()
    assert set(keys) == {user.id for user in reopened.users()}
    assert reopened.store.user_by_service_account_key(keys[1]) == reopened.user("sre")


def test_serve_json_describes_the_endpoints_and_keys(rovo):
    described = rovo.site.describe(rovo.url)
    keys = {u["service_account_key"] for u in described["users"]}
    assert described["rovo"] == {"v1": f"{rovo.url}/v1/mcp", "v2": f"{rovo.url}/v2/mcp", "cloud_id": rovo.cloud_id}
    assert len(keys) == len(described["users"]) and all(k.startswith("sbx-sa-") for k in keys)
    assert {"url", "flavor", "users", "env"} <= set(described)
