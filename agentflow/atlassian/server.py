"""The bundled Atlassian MCP server: thirteen Jira, Confluence and Compass tools, none of which deletes.

Each result has compact Markdown `content` for the model, `structured_content` (the `models` data) for gather
steps and templates, and `_meta["agentflow/requests"]`, the number of HTTP requests the call made. A failure
the model can act on (bad JQL, unknown key, missing permission, rate limit) is an `is_error` result quoting
the site's own message; a 429 also says in `_meta["agentflow/retry_after"]` how long the site asked to wait. In
read-only mode the write tools are not listed and are refused by name.

Given a `Quota` (see `quota.py`), the server reserves every HTTP request it sends from it; a request that
does not fit is not sent, and the call is an `is_error` result saying so, with `_meta["agentflow/budget"]` =
`"exhausted"` so a host can tell it from the site's own refusals. A write tool reserves all the requests it
may need (`catalog.WRITES`) before it starts. A metered result names the ledger its requests were
reserved in (`_meta["agentflow/metered"]`, the quota's `ledger`), so a host sharing that ledger never counts
them a second time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools.base import Tool
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from agentflow.atlassian import catalog, render
from agentflow.atlassian.backend import Backend, connect
from agentflow.atlassian.errors import AtlassianError, ToolInputError
from agentflow.atlassian.models import Issue, IssueSearch
from agentflow.atlassian.quota import Quota, QuotaExhausted, request_scope
from agentflow.atlassian.sites import SiteConfig

logger = logging.getLogger(__name__)
READ_ONLY_VAR = "AGENTFLOW_READ_ONLY"
# Longer queries are a paste gone wrong; Atlassian answers them slowly or not at all (URL limits on GET).
MAX_QUERY_CHARS = 10_000
REQUESTS_META = "agentflow/requests"
RETRY_AFTER_META = "agentflow/retry_after"
BUDGET_META = "agentflow/budget"
METERED_META = "agentflow/metered"
EXHAUSTED = "exhausted"
READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
INSTRUCTIONS = (
    "Jira, Confluence and Compass tools. Results are Markdown; keys like PAY-429 and page ids from one result "
    "can be passed to the next tool. Nothing here deletes."
)


def _write(idempotent: bool) -> ToolAnnotations:
    return ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=idempotent, open_world_hint=True
    )


def _fault(error: BaseException, sent: int | None) -> str:
    """What an `is_error` result says of an exception no rule foresaw (`sent`: the call's requests, when
    known); the traceback goes to the log (stderr)."""
    logger.error("tool call failed", exc_info=error)
    detail = " ".join(str(error).split())[:300]
    said = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
    text = f"agentflow's Atlassian server failed on this call ({said}). This is a fault in agentflow, not the site's"
    text += " answer"
    return text + (f"; {sent} request(s) of this call had been sent." if sent is not None else ".")


def read_only_from_env() -> bool:
    return os.environ.get(READ_ONLY_VAR, "").strip().lower() in ("1", "true", "yes", "on")


class AtlassianServer(MCPServer):
    """An MCPServer bound to one site; `connect` may be replaced to inject a transport in tests, and `quota`
    (None: unmetered) meters every HTTP request it sends. `withhold_restricted` leaves comments restricted to a
    project role or group out of what `get_jira_issue` and `search_jira_issues` (a `comment` field asked for by
    name) return: for runs whose report is read by people outside that role or group."""

    def __init__(
        self,
        site: SiteConfig,
        *,
        read_only: bool = False,
        max_chars: int = 6000,
        connector: Callable[[SiteConfig], Backend] | None = None,
        quota: Quota | None = None,
        withhold_restricted: bool = False,
    ) -> None:
        self.site = site
        self.quota = quota
        self.read_only = read_only
        self.withhold_restricted = withhold_restricted
        self.max_chars = max_chars
        self._connector = connector or (lambda s: connect(s, max_body_chars=max_chars))
        self._backend: Backend | None = None
        tools = [tool for tool in _tools(self) if not (read_only and tool.name in catalog.WRITE_TOOLS)]
        super().__init__(
            name="agentflow-atlassian",
            instructions=INSTRUCTIONS,
            tools=tools,
            log_level="WARNING",
            lifespan=self._lifespan,
        )

    @asynccontextmanager
    async def _lifespan(self, server: MCPServer) -> AsyncIterator[None]:
        # HTTP clients belong to the event loop that serves the session, so they live as long as it does.
        self._backend = self._connector(self.site)
        try:
            yield
        finally:
            backend, self._backend = self._backend, None
            await backend.aclose()

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            raise ToolError("the Atlassian connection is not open (the server is not serving a session)")
        return self._backend

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        if self.read_only and name in catalog.WRITE_TOOLS:
            raise ToolError(f"{name} is a write tool and this server is read-only ({READ_ONLY_VAR}=1 or --read-only)")
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError as error:  # the SDK's text would say only "Error executing tool NAME"
            cause = error.__cause__ or error
            return self._result(f"{name}: {_fault(cause, None)}", None, 0, error=True)

    async def run_call(
        self, work: Callable[[], Awaitable[BaseModel]], markdown: Callable[[Any], str], prepay: int = 0
    ) -> CallToolResult:
        """Run one tool call: reserve and count its requests (`prepay` of them at once, for a write), render its
        result, or turn a site's refusal or a spent budget into an is_error result."""
        with request_scope(self.quota) as scope:
            scope.prepay(prepay)
            try:
                result = await work()
            except QuotaExhausted as exhausted:
                text = f"Not sent to {self.site.budget_key}: {exhausted.message}."
                if scope.sent:
                    text += f" {scope.sent} request(s) of this call were sent before."
                failed = self._result(text, None, scope.sent, error=True)
                failed.meta[BUDGET_META] = EXHAUSTED
                return failed
            except AtlassianError as error:
                text = error.message if error.status == 0 else f"{self.site.name} said: {error.message}"
                failed = self._result(text, None, scope.sent, error=True)
                if error.status == 429 and error.retry_after is not None:
                    failed.meta[RETRY_AFTER_META] = error.retry_after
                return failed
            except ToolInputError as error:
                return self._result(str(error), None, scope.sent, error=True)
            except Exception as error:  # a fault of ours: the model and the record must still learn what failed
                return self._result(_fault(error, scope.sent), None, scope.sent, error=True)
        return self._result(markdown(result), result.model_dump(mode="json"), scope.sent)

    async def run_write(self, tool: str, work: Callable[[], Awaitable[BaseModel]]) -> CallToolResult:
        """A write: every request it may need reserved before it starts (`catalog.WRITES`)."""
        return await self.run_call(work, render.written, prepay=catalog.WRITES[tool].requests)

    def _result(
        self, text: str, structured: dict[str, Any] | None, requests: int, error: bool = False
    ) -> CallToolResult:
        return CallToolResult(
            content=[TextContent(type="text", text=text)],
            structured_content=structured,
            is_error=error,
            meta={REQUESTS_META: requests, **({METERED_META: self.quota.ledger} if self.quota else {})},
        )

    def product(self, name: str) -> Any:
        api = getattr(self.backend, name)
        if api is None:
            label = {"jira": "Jira", "confluence": "Confluence", "compass": "Compass"}[name]
            raise ToolError(f"{label} is not configured for the site '{self.site.name}'")
        return api


def _compact(tool: Tool) -> Tool:
    """Drop the `title` keys pydantic adds to every schema: the model reads the tool list on every turn."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if not (k == "title" and isinstance(v, str))}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return tool.model_copy(update={"parameters": strip(tool.parameters)})


Key = Annotated[str, Field(description="Issue key, e.g. PAY-429")]


def _tools(server: AtlassianServer) -> list[Tool]:
    """The thirteen tools; their descriptions and argument schemas are the model's only manual."""

    async def search_jira_issues(
        jql: Annotated[
            str,
            Field(
                max_length=MAX_QUERY_CHARS,
                description="JQL, e.g. project = OPS AND created >= -24h ORDER BY created DESC",
            ),
        ],
        limit: Annotated[int, Field(ge=1, le=100, description="Issues per page")] = 20,
        page_token: Annotated[str | None, Field(description="From the previous page's result")] = None,
        fields: Annotated[list[str] | None, Field(description="Extra Jira field ids to fetch")] = None,
    ) -> CallToolResult:
        """Search Jira issues with JQL. Returns key, summary, type, status, priority, assignee, labels, epic."""
        jira = server.product("jira")

        async def search() -> IssueSearch:
            found = await jira.search(jql, limit, page_token, fields)
            return found.without_restricted() if server.withhold_restricted else found

        return await server.run_call(search, render.issue_search)

    async def get_jira_issue(
        key: Key,
        comment_limit: Annotated[int, Field(ge=0, le=100, description="Newest comments to include")] = 10,
        max_chars: Annotated[int | None, Field(ge=500, description="Cut long bodies at this many characters")] = None,
    ) -> CallToolResult:
        """Read one Jira issue: fields, description, links, epic and the newest comments, as Markdown."""
        jira = server.product("jira")
        limit = max_chars or server.max_chars

        async def read() -> Issue:
            issue = await jira.issue(key, comment_limit, limit)
            return issue.without_restricted() if server.withhold_restricted else issue

        return await server.run_call(read, lambda r: render.issue(r, limit))

    async def create_jira_issue(
        project: Annotated[str, Field(description="Project key, e.g. PROD")],
        issue_type: Annotated[str, Field(description="Story, Task, Bug, ...")],
        summary: str,
        description: Annotated[str, Field(description="Markdown")],
        labels: list[str] | None = None,
        priority: str | None = None,
        components: list[str] | None = None,
        epic: Annotated[str | None, Field(description="Epic key to put the issue under")] = None,
        parent: Annotated[str | None, Field(description="Parent key, for a sub-task")] = None,
        fields: Annotated[dict[str, Any] | None, Field(description="Other fields by id, raw")] = None,
    ) -> CallToolResult:
        """Create a Jira issue. Returns its key."""
        jira = server.product("jira")
        return await server.run_write(
            "create_jira_issue",
            lambda: jira.create(project, issue_type, summary, description, labels, priority, components, epic,
                                parent, fields),
        )  # fmt: skip

    async def update_jira_issue(
        key: Key,
        summary: str | None = None,
        description: Annotated[str | None, Field(description="Markdown; replaces the description")] = None,
        labels: Annotated[list[str] | None, Field(description="Replaces all labels")] = None,
        add_labels: list[str] | None = None,
        remove_labels: list[str] | None = None,
        priority: str | None = None,
        assignee: Annotated[str | None, Field(description='Name, email or account id; "" unassigns')] = None,
        components: list[str] | None = None,
        fields: Annotated[dict[str, Any] | None, Field(description="Other fields by id, raw")] = None,
    ) -> CallToolResult:
        """Change fields of a Jira issue; only the arguments given change."""
        jira = server.product("jira")
        return await server.run_write(
            "update_jira_issue",
            lambda: jira.update(key, summary, description, labels, add_labels, remove_labels, priority, assignee,
                                components, fields),
        )  # fmt: skip

    async def add_jira_comment(key: Key, body: Annotated[str, Field(description="Markdown")]) -> CallToolResult:
        """Add a comment to a Jira issue."""
        jira = server.product("jira")
        return await server.run_write("add_jira_comment", lambda: jira.comment(key, body))

    async def link_jira_issues(
        link_type: Annotated[str, Field(description="Blocks, Duplicate, Relates, Cloners (or a verb: blocks)")],
        inward: Annotated[str, Field(description="Issue that blocks/duplicates/relates to...")],
        outward: Annotated[str, Field(description="...this issue")],
    ) -> CallToolResult:
        """Link two Jira issues, e.g. Duplicate with inward=PROD-116, outward=PROD-115: PROD-116 duplicates PROD-115."""
        jira = server.product("jira")
        return await server.run_write("link_jira_issues", lambda: jira.link(link_type, inward, outward))

    async def link_to_epic(issue: Key, epic: Annotated[str, Field(description="Epic key")]) -> CallToolResult:
        """Put a Jira issue under an epic (Cloud: parent; Data Center: Epic Link)."""
        jira = server.product("jira")
        return await server.run_write("link_to_epic", lambda: jira.link_to_epic(issue, epic))

    async def transition_jira_issue(
        key: Key, status: Annotated[str, Field(description="Target status name, e.g. In Progress, Done")]
    ) -> CallToolResult:
        """Move a Jira issue to another status through its workflow."""
        jira = server.product("jira")
        return await server.run_write("transition_jira_issue", lambda: jira.transition(key, status))

    async def search_confluence_pages(
        cql: Annotated[
            str,
            Field(max_length=MAX_QUERY_CHARS, description='CQL, e.g. label = "runbook" AND text ~ "connection pool"'),
        ],
        limit: Annotated[int, Field(ge=1, le=50)] = 10,
        include_body: Annotated[
            bool, Field(description="Also return the best match in full, as get_confluence_page reads it")
        ] = False,
        max_chars: Annotated[
            int | None, Field(ge=500, description="With include_body: cut its body at this many characters")
        ] = None,
    ) -> CallToolResult:
        """Search Confluence pages with CQL. Returns id, title, space and an excerpt, best match first."""
        confluence = server.product("confluence")
        body_chars = max_chars or server.max_chars
        return await server.run_call(
            lambda: confluence.search(cql, limit, include_body, body_chars),
            lambda r: render.page_search(r, body_chars),
        )

    async def get_confluence_page(
        page_id: str | None = None,
        space: Annotated[str | None, Field(description="Space key, with title")] = None,
        title: str | None = None,
        max_chars: Annotated[int | None, Field(ge=500, description="Cut the body at this many characters")] = None,
    ) -> CallToolResult:
        """Read a Confluence page as Markdown, by page_id or by space and title."""
        confluence = server.product("confluence")
        limit = max_chars or server.max_chars
        return await server.run_call(
            lambda: confluence.page(page_id, space, title, limit), lambda r: render.page(r, limit)
        )

    async def create_confluence_page(
        space: Annotated[str, Field(description="Space key")],
        title: str,
        body: Annotated[str, Field(description="Markdown")],
        parent_id: Annotated[str | None, Field(description="Parent page id")] = None,
    ) -> CallToolResult:
        """Create a Confluence page. Returns its id."""
        confluence = server.product("confluence")
        return await server.run_write(
            "create_confluence_page", lambda: confluence.create(space, title, body, parent_id)
        )

    async def search_compass_components(
        query: Annotated[
            str, Field(max_length=1000, description="Words in the name, description, labels or owner team")
        ],
    ) -> CallToolResult:
        """Find Compass components (services, apps, databases)."""
        compass = server.product("compass")
        return await server.run_call(lambda: compass.search(query), render.component_search)

    async def get_compass_component(
        id_or_name: Annotated[str, Field(description="Component name or id")],
    ) -> CallToolResult:
        """Read a Compass component: owner team, on-call, links, what it depends on and what depends on it."""
        compass = server.product("compass")
        return await server.run_call(lambda: compass.component(id_or_name), render.component)

    functions = [
        (search_jira_issues, READ),
        (get_jira_issue, READ),
        (create_jira_issue, _write(idempotent=False)),
        (update_jira_issue, _write(idempotent=True)),
        (add_jira_comment, _write(idempotent=False)),
        (link_jira_issues, _write(idempotent=True)),
        (link_to_epic, _write(idempotent=True)),
        (transition_jira_issue, _write(idempotent=False)),
        (search_confluence_pages, READ),
        (get_confluence_page, READ),
        (create_confluence_page, _write(idempotent=False)),
        (search_compass_components, READ),
        (get_compass_component, READ),
    ]
    return [_compact(Tool.from_function(fn, annotations=notes, structured_output=False)) for fn, notes in functions]
