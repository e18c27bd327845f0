"""The sandbox's OAuth 2.1 authorization server, over real HTTP on loopback: discovery, registration, the
consent page, PKCE, RFC 8707 resource binding, RFC 9207 `iss`, rotation, expiry on the injected clock,
revocation, and the `mcp` SDK's own OAuth client signing in through it."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import pytest
from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentflow.sandbox.rovo.oauth import OAuthEndpoints, OAuthSettings, challenge, oauth_grant
from agentflow.sandbox.rovo.oauth_store import digest
from agentflow.sandbox.site import Site, running
from tests.conftest import SLOW_MACHINE_SECONDS
from tests.support.clock import Clock

CALLBACK = "http://127.0.0.1:9/callback"
ACCESS_TTL = 60.0
READ_AND_REFRESH = "read:jira-work read:confluence-content.all offline_access"


@dataclass
class AuthServer:
    site: Site
    url: str
    clock: Clock
    http: httpx2.Client

    @property
    def v1(self) -> str:
        return f"{self.url}/v1/mcp"

    def register(self, redirect_uri: str = CALLBACK, **metadata: object) -> httpx2.Response:
        body = {"redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none", "client_name": "test"}
        return self.http.post("/register", json=body | metadata)

    def client_id(self) -> str:
        response = self.register()
        assert response.status_code == 201, response.text
        return response.json()["client_id"]

    def authorize(self, client_id: str, challenge: str | None, **params: str) -> httpx2.Response:
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CALLBACK,
            "code_challenge_method": "S256",
            "state": "st-1",
            "scope": READ_AND_REFRESH,
            "resource": self.v1,
        }
        if challenge is not None:
            query["code_challenge"] = challenge
        return self.http.get("/authorize", params=query | params)

    def consent(self, authorize: httpx2.Response, decision: str = "approve", user: str = "sre") -> dict[str, str]:
        """Complete the consent page an /authorize response led to; the query of the redirect back."""
        assert authorize.status_code == 302, authorize.text
        page = self.http.get(authorize.headers["location"])
        assert page.status_code == 200 and "<form" in page.text
        request_id = parse_qs(urlsplit(authorize.headers["location"]).query)["request"][0]
        back = self.http.post("/authorize/consent", data={"request": request_id, "user": user, "decision": decision})
        assert back.status_code == 302 and back.headers["location"].startswith(CALLBACK)
        return redirect_params(back)

    def code(self, client_id: str, challenge: str, **params: str) -> str:
        return self.consent(self.authorize(client_id, challenge, **params))["code"]

    def token(self, **form: str) -> httpx2.Response:
        return self.http.post("/token", data=form)

    def exchange(self, client_id: str, code: str, verifier: str, **form: str) -> httpx2.Response:
        return self.token(
            grant_type="authorization_code",
            client_id=client_id,
            code=code,
            code_verifier=verifier,
            redirect_uri=CALLBACK,
            **({"resource": self.v1} | form),
        )

    def sign_in(self) -> tuple[str, dict[str, str]]:
        """A registered client and its first tokens, for user sre on /v1/mcp."""
        client_id = self.client_id()
        verifier, challenge = pkce()
        response = self.exchange(client_id, self.code(client_id, challenge), verifier)
        assert response.status_code == 200, response.text
        return client_id, response.json()

    def refresh(self, client_id: str, refresh_token: str) -> httpx2.Response:
        return self.token(grant_type="refresh_token", client_id=client_id, refresh_token=refresh_token)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def redirect_params(response: httpx2.Response) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(response.headers["location"]).query).items()}


@pytest.fixture
def server() -> Iterator[AuthServer]:
    clock = Clock()
    site = Site.open("cloud", clock=clock, oauth=OAuthSettings(access_ttl=ACCESS_TTL))
    with running(site) as url, httpx2.Client(base_url=url, timeout=SLOW_MACHINE_SECONDS) as http:
        yield AuthServer(site, url, clock, http)


def test_metadata_documents_describe_the_server_and_both_endpoints(server: AuthServer) -> None:
    metadata = server.http.get("/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == server.url
    assert metadata["authorization_endpoint"] == f"{server.url}/authorize"
    assert metadata["token_endpoint"] == f"{server.url}/token"
    assert metadata["registration_endpoint"] == f"{server.url}/register"
    assert metadata["revocation_endpoint"] == f"{server.url}/revoke"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert {"read:jira-work", "write:jira-work", "offline_access"} <= set(metadata["scopes_supported"])
    for path in ("/v1/mcp", "/v2/mcp"):
        resource = server.http.get(f"/.well-known/oauth-protected-resource{path}").json()
        assert resource["resource"] == f"{server.url}{path}"
        assert resource["authorization_servers"] == [server.url]


def test_registration_takes_https_and_loopback_redirects_only(server: AuthServer) -> None:
    assert server.register("https://app.example.com/cb").status_code == 201
    assert server.register("http://localhost:8765/cb").status_code == 201
    refused = server.register("http://app.example.com/cb")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_redirect_uri"
    basic = server.register(token_endpoint_auth_method="client_secret_basic")
    assert basic.status_code == 400 and basic.json()["error"] == "invalid_client_metadata"


def test_consent_approval_issues_a_code_bound_to_the_user_resource_and_scopes(server: AuthServer) -> None:
    client_id = server.client_id()
    verifier, challenge = pkce()
    authorize = server.authorize(client_id, challenge)
    page = server.http.get(authorize.headers["location"]).text
    for username in ("sre", "dev", "pm", "lead", "sec", "bot"):
        assert f'value="{username}"' in page
    back = server.consent(authorize, user="dev")
    assert back["state"] == "st-1" and back["iss"] == server.url

    tokens = server.exchange(client_id, back["code"], verifier).json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == ACCESS_TTL
    grant = oauth_grant(server.site.store, tokens["access_token"], server.v1)
    assert grant is not None and grant.user.username == "dev" and grant.client_id == client_id
    assert grant.scopes == frozenset(READ_AND_REFRESH.split())
    assert oauth_grant(server.site.store, tokens["access_token"], f"{server.url}/v2/mcp") is None
    again = server.exchange(client_id, back["code"], verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_deny_redirects_with_access_denied(server: AuthServer) -> None:
    _, challenge = pkce()
    back = server.consent(server.authorize(server.client_id(), challenge), decision="deny")
    assert back == {"error": "access_denied", "state": "st-1", "iss": server.url}


def test_a_consent_request_is_answered_once(server: AuthServer) -> None:
    _, challenge = pkce()
    authorize = server.authorize(server.client_id(), challenge)
    server.consent(authorize)
    request_id = parse_qs(urlsplit(authorize.headers["location"]).query)["request"][0]
    replay = server.http.post("/authorize/consent", data={"request": request_id, "user": "sre", "decision": "approve"})
    assert replay.status_code == 400
    assert server.http.get(authorize.headers["location"]).status_code == 400


@pytest.mark.parametrize("method", ["plain", None])
def test_pkce_s256_is_required(server: AuthServer, method: str | None) -> None:
    client_id = server.client_id()
    if method is None:
        refused = server.authorize(client_id, None)
    else:
        refused = server.authorize(client_id, "x" * 43, code_challenge_method=method)
    assert refused.status_code == 302 and redirect_params(refused)["error"] == "invalid_request"


def test_a_wrong_code_verifier_is_refused(server: AuthServer) -> None:
    client_id = server.client_id()
    _, challenge = pkce()
    wrong, _ = pkce()
    refused = server.exchange(client_id, server.code(client_id, challenge), wrong)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_a_resource_other_than_an_mcp_endpoint_is_refused(server: AuthServer) -> None:
    _, challenge = pkce()
    refused = server.authorize(server.client_id(), challenge, resource=f"{server.url}/elsewhere")
    assert redirect_params(refused)["error"] == "invalid_target"
    missing = server.http.get(
        "/authorize",
        params={"response_type": "code", "client_id": server.client_id(), "code_challenge": challenge},
    )
    assert redirect_params(missing)["error"] == "invalid_target"


def test_a_token_request_for_another_resource_than_the_code_is_refused(server: AuthServer) -> None:
    client_id = server.client_id()
    verifier, challenge = pkce()
    code = server.code(client_id, challenge)
    refused = server.exchange(client_id, code, verifier, resource=f"{server.url}/v2/mcp")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_target"
    assert server.exchange(client_id, code, verifier).status_code == 200


def test_refresh_rotates_and_a_spent_refresh_token_ends_the_sign_in(server: AuthServer) -> None:
    client_id, first = server.sign_in()
    rotated = server.refresh(client_id, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert oauth_grant(server.site.store, second["access_token"], server.v1) is not None

    reused = server.refresh(client_id, first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert oauth_grant(server.site.store, second["access_token"], server.v1) is None
    assert server.refresh(client_id, second["refresh_token"]).json()["error"] == "invalid_grant"


def test_access_tokens_expire_on_the_sites_clock_and_refresh_still_works(server: AuthServer) -> None:
    client_id, tokens = server.sign_in()
    server.clock.now += ACCESS_TTL - 1
    assert oauth_grant(server.site.store, tokens["access_token"], server.v1) is not None
    server.clock.now += 2
    assert oauth_grant(server.site.store, tokens["access_token"], server.v1) is None
    fresh = server.refresh(client_id, tokens["refresh_token"]).json()
    assert oauth_grant(server.site.store, fresh["access_token"], server.v1) is not None


def test_an_expired_code_is_refused(server: AuthServer) -> None:
    client_id = server.client_id()
    verifier, challenge = pkce()
    code = server.code(client_id, challenge)
    server.clock.now += OAuthSettings().code_ttl + 1
    refused = server.exchange(client_id, code, verifier)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_without_offline_access_there_is_no_refresh_token(server: AuthServer) -> None:
    client_id = server.client_id()
    verifier, challenge = pkce()
    tokens = server.exchange(client_id, server.code(client_id, challenge, scope="read:jira-work"), verifier).json()
    assert "refresh_token" not in tokens and tokens["scope"] == "read:jira-work"


@pytest.mark.parametrize("which", ["access_token", "refresh_token"])
def test_revoking_either_token_revokes_the_sign_in(server: AuthServer, which: str) -> None:
    client_id, tokens = server.sign_in()
    form = {"token": tokens[which], "client_id": client_id}  # a public client: no client_secret (RFC 7009 §2.1)
    revoked = server.http.post("/revoke", data=form)
    assert revoked.status_code == 200
    assert oauth_grant(server.site.store, tokens["access_token"], server.v1) is None
    assert server.refresh(client_id, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_tokens_are_stored_hashed(server: AuthServer) -> None:
    _, tokens = server.sign_in()
    rows = [dict(row) for row in server.site.store.query("SELECT * FROM oauth_tokens")]
    assert {row["token_hash"] for row in rows} == {digest(tokens["access_token"]), digest(tokens["refresh_token"])}
    stored = repr(rows)
    assert tokens["access_token"] not in stored and tokens["refresh_token"] not in stored


def test_challenge_names_the_resource_metadata_and_the_error() -> None:
    assert challenge("http://127.0.0.1:5/v1/mcp") == (
        'Bearer resource_metadata="http://127.0.0.1:5/.well-known/oauth-protected-resource/v1/mcp"'
    )
    assert challenge("http://127.0.0.1:5/v2/mcp", "invalid_token", "read:jira-work") == (
        'Bearer resource_metadata="http://127.0.0.1:5/.well-known/oauth-protected-resource/v2/mcp", '
        'error="invalid_token", scope="read:jira-work"'
    )


# --- the mcp SDK's OAuth client against a tiny endpoint protected by this server ---------------------------


class MemoryTokens:
    """The SDK client's TokenStorage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def _protected_site(clock: Clock) -> Site:
    """A site whose app is this authorization server and a `/v1/mcp` that answers who the token is for."""
    site = Site.open("cloud", clock=clock)

    async def whoami(request: Request) -> Response:
        resource = f"{str(request.base_url).rstrip('/')}/v1/mcp"
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        grant = oauth_grant(site.store, token, resource) if scheme.lower() == "bearer" else None
        if grant is None:
            header = challenge(resource, "invalid_token" if token else None)
            return JSONResponse({"error": "unauthorized"}, 401, headers={"WWW-Authenticate": header})
        return JSONResponse({"user": grant.user.username, "scopes": sorted(grant.scopes)})

    routes = [*OAuthEndpoints(site.store, OAuthSettings(access_ttl=ACCESS_TTL)).routes(), Route("/v1/mcp", whoami)]
    return Site(site.store, "cloud", Starlette(routes=routes))


@pytest.mark.anyio
async def test_the_mcp_sdk_oauth_client_signs_in_and_refreshes() -> None:
    clock = Clock()
    answers: list[AuthorizationCodeResult] = []
    sign_ins: list[str] = []
    with running(_protected_site(clock)) as url:
        async with httpx2.AsyncClient(timeout=SLOW_MACHINE_SECONDS) as browser:

            async def approve_as_pm(authorization_url: str) -> None:
                sign_ins.append(authorization_url)
                consent_page = await browser.get(authorization_url, follow_redirects=True)
                request_id = consent_page.url.params["request"]
                back = await browser.post(
                    f"{url}/authorize/consent", data={"request": request_id, "user": "pm", "decision": "approve"}
                )
                answers.append(AuthorizationCodeResult.model_validate(redirect_params(back)))

            async def callback() -> AuthorizationCodeResult:
                return answers.pop()

            storage = MemoryTokens()
            auth = OAuthClientProvider(
                server_url=f"{url}/v1/mcp",
                client_metadata=OAuthClientMetadata(
                    redirect_uris=[CALLBACK], token_endpoint_auth_method="none", scope=READ_AND_REFRESH
                ),
                storage=storage,
                redirect_handler=approve_as_pm,
                callback_handler=callback,
            )
            async with httpx2.AsyncClient(auth=auth, timeout=SLOW_MACHINE_SECONDS) as client:
                with anyio.fail_after(SLOW_MACHINE_SECONDS):
                    first = await client.get(f"{url}/v1/mcp")
                assert first.status_code == 200 and first.json()["user"] == "pm"
                assert storage.tokens is not None and storage.tokens.refresh_token is not None
                first_refresh = storage.tokens.refresh_token

                # The access token dies on the site's clock; the SDK client times it on the wall clock, so it is
                # told too. It must then rotate the refresh token, not sign in again.
                clock.now += ACCESS_TTL + 1
                auth.context.token_expiry_time = time.time() - 1
                with anyio.fail_after(SLOW_MACHINE_SECONDS):
                    second = await client.get(f"{url}/v1/mcp")
                assert second.status_code == 200 and second.json()["user"] == "pm"
                assert storage.tokens.refresh_token not in (None, first_refresh)
                assert len(sign_ins) == 1


@pytest.mark.anyio
async def test_an_oauth_sign_in_reaches_the_rovo_endpoint_with_its_scopes(server: AuthServer) -> None:
    """Discovered from the endpoint's 401, signed in through consent, the token opens /v1/mcp as the user who
    approved, with the Compass tools OAuth brings; a write the token has no scope for is a 403
    insufficient_scope; the token dies on the site's clock."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    discovered = server.http.post("/v1/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert (
        f'resource_metadata="{server.url}/.well-known/oauth-protected-resource/v1/mcp"'
        in (discovered.headers["WWW-Authenticate"])
    )
    _, tokens = server.sign_in()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    async with (
        httpx2.AsyncClient(headers=bearer, timeout=SLOW_MACHINE_SECONDS) as http,
        Client(streamable_http_client(server.v1, http_client=http)) as client,
    ):
        names = {tool.name for tool in (await client.list_tools()).tools}
        me = await client.call_tool("atlassianUserInfo", {})
    assert "getCompassComponents" in names and "createJiraIssue" in names
    assert "Sam Rivera" in me.content[0].text
    write = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "createJiraIssue", "arguments": {}}}
    headers = {**bearer, "Accept": "application/json, text/event-stream"}
    refused = server.http.post("/v1/mcp", json=write, headers=headers)
    assert refused.status_code == 403 and 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    server.clock.now += ACCESS_TTL + 1
    expired = server.http.post("/v1/mcp", json=write, headers=headers)
    assert expired.status_code == 401 and 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
