"""Confluence through REST v1 (CQL search, pages by id or title, page creation), Cloud and Data Center alike.

Bodies travel as storage-format XHTML and are handed to the model as Markdown.
"""

from __future__ import annotations

import re
from typing import Any

from agentflow.atlassian import convert
from agentflow.atlassian.errors import ToolInputError
from agentflow.atlassian.http import AtlassianHTTP
from agentflow.atlassian.models import Page, PageHit, PageSearch, Written

PAGE_EXPAND = "body.storage,version,space,ancestors,metadata.labels"
_SPACE_IN_URL = re.compile(r"/(?:spaces|display)/([^/]+)/")
_HIGHLIGHT = re.compile(r"@@@(?:end)?hl@@@")


class ConfluenceAPI:
    def __init__(self, http: AtlassianHTTP, wiki_url: str, max_body_chars: int = 8000) -> None:
        self.http = http
        self.wiki_url = wiki_url.rstrip("/")
        self.max_body_chars = max_body_chars

    def _absolute(self, link: str) -> str:
        return link if link.startswith("http") else f"{self.wiki_url}{link}"

    async def search(
        self, cql: str, limit: int = 10, include_body: bool = False, max_chars: int | None = None
    ) -> PageSearch:
        """`GET /rest/api/search` (Confluence REST v1 "Search content"). With `include_body`, the same request
        expands every hit's content as `page` does (`expand=content.body.storage,...`), and the best match is
        returned in full as `top_page`: one request instead of a search and a page read."""
        params: dict[str, str | int] = {"cql": cql, "limit": limit}
        if include_body:
            params["expand"] = ",".join(f"content.{part}" for part in PAGE_EXPAND.split(","))
        found = await self.http.get("/rest/api/search", params)
        results = found.get("results", [])
        hits = []
        for result in results:
            content = result.get("content") or {}
            url = result.get("url") or (content.get("_links") or {}).get("webui", "")
            space = _SPACE_IN_URL.search(url)
            hits.append(
                PageHit(
                    id=str(content.get("id", "")),
                    title=result.get("title") or content.get("title", ""),
                    space=space.group(1) if space else "",
                    url=self._absolute(url),
                    excerpt=" ".join(_HIGHLIGHT.sub("", result.get("excerpt") or "").split())[:300],
                    last_modified=result.get("lastModified"),
                )
            )
        top = None
        if include_body and results and results[0].get("content"):
            top = self._page(results[0]["content"], max_chars or self.max_body_chars)
        return PageSearch(cql=cql, pages=hits, total=found.get("totalSize"), top_page=top)

    async def page(
        self,
        page_id: str | None = None,
        space: str | None = None,
        title: str | None = None,
        max_chars: int | None = None,
    ) -> Page:
        if page_id:
            raw = await self.http.get(f"/rest/api/content/{page_id}", {"expand": PAGE_EXPAND})
        elif space and title:
            listing = await self.http.get(
                "/rest/api/content", {"spaceKey": space, "title": title, "type": "page", "expand": PAGE_EXPAND}
            )
            if not listing.get("results"):
                raise ToolInputError(f"no page titled '{title}' in space {space}; search with search_confluence_pages")
            raw = listing["results"][0]
        else:
            raise ToolInputError("give page_id, or both space and title")
        return self._page(raw, max_chars or self.max_body_chars)

    def _page(self, raw: dict[str, Any], max_chars: int) -> Page:
        storage = ((raw.get("body") or {}).get("storage") or {}).get("value", "")
        body, cut = convert.truncate_markdown(convert.storage_to_markdown(storage), max_chars)
        version = raw.get("version") or {}
        labels = ((raw.get("metadata") or {}).get("labels") or {}).get("results", [])
        return Page(
            id=str(raw["id"]),
            title=raw.get("title", ""),
            space=(raw.get("space") or {}).get("key", ""),
            url=self._absolute((raw.get("_links") or {}).get("webui", "")),
            version=version.get("number", 1),
            updated=version.get("when"),
            author=((version.get("by") or {}).get("displayName")),
            labels=[label["name"] for label in labels],
            ancestors=[a.get("title", "") for a in raw.get("ancestors") or []],
            body=body,
            body_truncated=cut,
        )

    async def create(self, space: str, title: str, body: str, parent_id: str | None = None) -> Written:
        request: dict[str, Any] = {
            "type": "page",
            "title": title,
            "space": {"key": space},
            "body": {"storage": {"value": convert.markdown_to_storage(body), "representation": "storage"}},
        }
        if parent_id:
            request["ancestors"] = [{"id": str(parent_id)}]
        created = await self.http.post("/rest/api/content", request)
        url = self._absolute((created.get("_links") or {}).get("webui", ""))
        return Written(
            action="created page", id=str(created["id"]), url=url, detail=f"created page '{title}' in {space}"
        )
