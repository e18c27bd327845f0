"""Custom fields found by their type, not their English name: a Data Center site whose admin renamed or
translated "Epic Link" (same id, same `schema.custom`) still shows and sets epics."""

from __future__ import annotations

import mcp
import pytest

from agentflow.atlassian.testing import server_for
from agentflow.sandbox.site import Site

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("flavor", ["dc", "cloud"])
async def test_renamed_epic_link_and_estimate_fields_are_found_by_type(flavor):
    names = {"customfield_10014": "Lien d'epic", "customfield_10016": "Points d'histoire"}
    site = Site.open(flavor, field_names=names)
    async with mcp.Client(server_for(site, user="pm")) as client:
        story = (await client.call_tool("get_jira_issue", {"key": "PROD-101"})).structured_content
        assert "PROD-100" in (story["epic"], story["parent"])
        if flavor == "cloud":  # Data Center's Story Points is a plain number field: only its name tells it apart
            assert story["story_points"] == 5.0
        moved = await client.call_tool("link_to_epic", {"issue": "PROD-112", "epic": "PROD-100"})
        assert not moved.is_error, moved.content
        again = (await client.call_tool("get_jira_issue", {"key": "PROD-112"})).structured_content
        assert "PROD-100" in (again["epic"], again["parent"])
