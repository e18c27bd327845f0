"""The sandbox's read-only HTML view: the links a report carries open on a served sandbox, for the people who
may see them and no one else."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx2
import mcp
import pytest

from agentflow.atlassian.testing import server_for
from agentflow.sandbox.site import Site, running

pytestmark = pytest.mark.anyio


async def _links(site: Site) -> tuple[str, str]:
    """The paths of an issue's and a page's `url` as the bundled server hands them to a report."""
    async with mcp.Client(server_for(site, user="sre")) as client:
        issue = (await client.call_tool("get_jira_issue", {"key": "OPS-141"})).structured_content
        found = (await client.call_tool("search_confluence_pages", {"cql": 'label = "runbook"'})).structured_content
    return urlsplit(issue["url"]).path, urlsplit(found["pages"][0]["url"]).path


@pytest.mark.parametrize("flavor", ["cloud", "dc"])
async def test_report_links_open_for_who_may_see_them(flavor):
    site = Site.open(flavor)
    issue_path, page_path = await _links(site)
    assert issue_path == "/browse/OPS-141" and page_path.startswith("/wiki/spaces/OPS/pages/")
    sre, dev = site.user("sre"), site.user("dev")
    with running(site) as base, httpx2.Client(base_url=base) as web:
        shown = web.get(issue_path, params={"token": sre.token})
        assert shown.status_code == 200 and shown.headers["content-type"].startswith("text/html")
        assert "OPS-141: Deploy payment-gateway 2.14.0" in shown.text
        page = web.get(page_path, params={"token": dev.token})
        assert page.status_code == 200 and "Runbook" in page.text
        anonymous = web.get(issue_path)
        assert anonymous.status_code == 401 and "?token=" in anonymous.text
        assert ("www-authenticate" in anonymous.headers) == (flavor == "cloud")  # a browser can answer Basic
        secret = site.store.query_one("SELECT key FROM issues WHERE project_id = 10003 LIMIT 1")["key"]
        assert web.get(f"/browse/{secret}", params={"token": sre.token}).status_code == 200
        hidden = web.get(f"/browse/{secret}", params={"token": dev.token})  # SEC is not dev's to see
        assert hidden.status_code == 404 and "does not exist, or you may not see it" in hidden.text
        assert web.get("/browse/OPS-141", params={"token": "not-a-token"}).status_code == 401
        if flavor == "cloud":
            basic = web.get(issue_path, auth=(sre.email, sre.token))
            assert basic.status_code == 200 and "OPS-141" in basic.text


async def test_the_view_escapes_what_people_wrote():
    site = Site.open("cloud")
    with site.store.transaction() as conn:
        conn.execute("UPDATE issues SET summary = '<script>alert(1)</script>' WHERE key = 'OPS-141'")
    with running(site) as base, httpx2.Client(base_url=base) as web:
        shown = web.get("/browse/OPS-141", params={"token": site.user("sre").token})
    assert "<script>alert(1)</script>" not in shown.text and "&lt;script&gt;" in shown.text
