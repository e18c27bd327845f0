"""Restricted comments: stored, shown to the role or group they name and hidden from everyone else through
every endpoint, and refused in Jira's words when the role or group does not exist or the author is outside it."""

from __future__ import annotations

import sqlite3

import httpx2
import pytest

from agentflow.sandbox.site import Site, running

# PAY-429 carries a comment for the Developers role (dev, sre, lead, bot; not pm or sec); PAY-388 one for the
# jira-administrators group (lead and sec).
MERCHANT = "Halvorsen"
POSTMORTEM = "service credit"


def v(served) -> str:
    return "3" if served.site.flavor == "cloud" else "2"


def _bodies(served, user: str, key: str) -> list[str]:
    """Every way one user reads an issue's comments, as the text of each read."""
    client = served.client(user)
    version = v(served)
    issue = client.get(f"/rest/api/{version}/issue/{key}").json()
    rendered = client.get(f"/rest/api/{version}/issue/{key}", params={"expand": "renderedFields"}).json()
    listed = client.get(f"/rest/api/{version}/issue/{key}/comment").json()
    searched = client.post(
        f"/rest/api/{version}/search" + ("/jql" if version == "3" else ""),
        json={"jql": f"key = {key}", "fields": ["comment"]},
    ).json()
    return [str(issue["fields"]["comment"]), str(rendered["renderedFields"]["comment"]), str(listed), str(searched)]


@pytest.mark.parametrize(
    ("key", "secret", "readers", "others"),
    [
        ("PAY-429", MERCHANT, ("dev", "sre", "lead", "bot"), ("pm", "sec")),
        ("PAY-388", POSTMORTEM, ("lead", "sec"), ("dev", "pm", "sre", "bot")),
    ],
)
def test_a_restricted_comment_is_read_by_its_role_or_group_only(served, key, secret, readers, others):
    for user in readers:
        assert all(secret in body for body in _bodies(served, user, key)), user
    for user in others:
        assert not any(secret in body for body in _bodies(served, user, key)), user


def test_totals_count_only_the_comments_the_user_may_read(served):
    def total(user: str) -> int:
        return served.client(user).get(f"/rest/api/{v(served)}/issue/PAY-429/comment").json()["total"]

    assert (total("dev"), total("pm")) == (3, 2)


def test_the_visibility_shape_is_the_flavors(served):
    comments = served.client("dev").get(f"/rest/api/{v(served)}/issue/PAY-429/comment").json()["comments"]
    restricted = [c["visibility"] for c in comments if "visibility" in c]
    expected = {"type": "role", "value": "Developers"}
    if served.site.flavor == "cloud":
        expected["identifier"] = "Developers"
    assert restricted == [expected]
    group = [
        c["visibility"]
        for c in served.client("lead").get(f"/rest/api/{v(served)}/issue/PAY-388/comment").json()["comments"]
        if "visibility" in c
    ]
    assert group[0]["type"] == "group" and group[0]["value"] == "jira-administrators"
    assert ("identifier" in group[0]) == (served.site.flavor == "cloud")


def test_a_restricted_comment_by_id_is_not_found_for_others(served):
    comments = served.client("dev").get(f"/rest/api/{v(served)}/issue/PAY-429/comment").json()["comments"]
    [restricted] = [c["id"] for c in comments if "visibility" in c]
    assert served.client("dev").get(f"/rest/api/{v(served)}/issue/PAY-429/comment/{restricted}").status_code == 200
    hidden = served.client("pm").get(f"/rest/api/{v(served)}/issue/PAY-429/comment/{restricted}")
    assert hidden.status_code == 404
    assert hidden.json()["errorMessages"] == [f"Can not find a comment for the id: {restricted}."]


@pytest.mark.parametrize("clause", [f"comment ~ {MERCHANT}", f"text ~ {MERCHANT}"])
def test_jql_does_not_find_an_issue_by_a_comment_its_user_cannot_read(served, clause):
    def keys(user: str) -> list[str]:
        path = f"/rest/api/{v(served)}/search" + ("/jql" if served.site.flavor == "cloud" else "")
        issues = served.client(user).post(path, json={"jql": clause, "fields": ["summary"]}).json()["issues"]
        return [issue["key"] for issue in issues]

    assert keys("dev") == ["PAY-429"]
    assert keys("pm") == []


def test_the_html_view_leaves_out_what_the_viewer_may_not_read(served):
    with httpx2.Client(base_url=served.url) as web:
        dev = web.get("/browse/PAY-429", params={"token": served.site.user("dev").token}).text
        pm = web.get("/browse/PAY-429", params={"token": served.site.user("pm").token}).text
    assert MERCHANT in dev and "restricted to Developers" in dev
    assert MERCHANT not in pm and "Comments (2)" in pm


# --- writing a restricted comment ---------------------------------------------------------------------------


def _body(served, text: str):
    if served.site.flavor == "cloud":
        return {
            "type": "doc",
            "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
        }
    return text


def test_a_comment_written_for_a_role_is_stored_and_enforced(fresh):
    created = fresh.client("dev").post(
        f"/rest/api/{v(fresh)}/issue/PAY-431/comment",
        json={"body": _body(fresh, "rotate the sftp key"), "visibility": {"type": "role", "value": "Developers"}},
    )
    assert created.status_code == 201, created.text
    assert created.json()["visibility"]["value"] == "Developers"
    assert "rotate the sftp key" in str(_bodies(fresh, "sre", "PAY-431"))
    assert "rotate the sftp key" not in str(_bodies(fresh, "pm", "PAY-431"))


def test_a_cloud_group_may_be_named_by_its_id(cloud):
    site = Site.open("cloud")
    group_id = site.store.query_one("SELECT group_id FROM groups WHERE name = 'security-team'")[0]
    with running(site) as url, httpx2.Client(base_url=url, headers=site.auth_header("sre")) as client:
        created = client.post(
            "/rest/api/3/issue/OPS-141/comment",
            json={"body": _body(cloud, "forensics"), "visibility": {"type": "group", "identifier": group_id}},
        )
    assert created.status_code == 201, created.text
    assert created.json()["visibility"] == {"type": "group", "value": "security-team", "identifier": group_id}


REFUSALS = [
    ("dev", {"type": "role", "value": "Nobody"}, "Role with id: Nobody does not exist."),
    ("pm", {"type": "role", "value": "Developers"}, "You are currently not a member of the project role: Developers."),
    ("dev", {"type": "group", "value": "no-such-group"}, "Group: no-such-group does not exist."),
    ("dev", {"type": "group", "value": "security-team"}, "You are currently not a member of the group: security-team."),
    ("dev", {"type": "team", "value": "x"}, "Visibility must be an object with 'type' of 'role' or 'group'."),
]


@pytest.mark.parametrize(("user", "visibility", "message"), REFUSALS)
def test_a_restriction_the_author_could_not_read_is_refused_on_every_write(fresh, user, visibility, message):
    """Add comment, edit's `update.comment`, a transition's comment and a link's comment refuse alike, and
    nothing of the refused write is kept."""
    version, client = v(fresh), fresh.client(user)
    comment = {"body": _body(fresh, "secret plan"), "visibility": visibility}
    expected = {"errorMessages": [], "errors": {"commentLevel": message}}
    writes = [
        client.post(f"/rest/api/{version}/issue/PAY-431/comment", json=comment),
        client.put(f"/rest/api/{version}/issue/PAY-431", json={"update": {"comment": [{"add": comment}]}}),
        client.post(
            f"/rest/api/{version}/issue/PAY-431/transitions",
            json={"transition": {"id": "41"}, "update": {"comment": [{"add": comment}]}},
        ),
        client.post(
            f"/rest/api/{version}/issueLink",
            json={
                "type": {"name": "Relates"},
                "inwardIssue": {"key": "PAY-431"},
                "outwardIssue": {"key": "PAY-429"},
                "comment": comment,
            },
        ),
    ]
    for response in writes:
        assert (response.status_code, response.json()) == (400, expected), response.request.url
    status = fresh.client("dev").get(f"/rest/api/{version}/issue/PAY-431").json()["fields"]["status"]["name"]
    assert status == "In Progress"
    assert "secret plan" not in str(_bodies(fresh, "lead", "PAY-431"))
    assert fresh.client("dev").get(f"/rest/api/{version}/issue/PAY-431").json()["fields"]["issuelinks"] == []


def test_comments_of_transitions_edits_and_links_carry_their_restriction(fresh):
    version, client = v(fresh), fresh.client("dev")
    restricted = {"type": "role", "value": "Developers"}

    def comment(text: str) -> dict:
        return {"body": _body(fresh, text), "visibility": restricted}

    edit = client.put(f"/rest/api/{version}/issue/PAY-431", json={"update": {"comment": [{"add": comment("e1")}]}})
    moved = client.post(
        f"/rest/api/{version}/issue/PAY-431/transitions",
        json={"transition": {"id": "31"}, "update": {"comment": [{"add": comment("t1")}]}},
    )
    linked = client.post(
        f"/rest/api/{version}/issueLink",
        json={
            "type": {"name": "Relates"},
            "inwardIssue": {"key": "PAY-431"},
            "outwardIssue": {"key": "PAY-429"},
            "comment": comment("l1"),
        },
    )
    assert (edit.status_code, moved.status_code, linked.status_code) == (204, 204, 201)
    dev_view, pm_view = str(_bodies(fresh, "dev", "PAY-431")), str(_bodies(fresh, "pm", "PAY-431"))
    assert all(text in dev_view for text in ("e1", "t1", "l1"))
    assert not any(text in pm_view for text in ("e1", "t1", "l1"))


# --- files made before visibility existed -------------------------------------------------------------------


def test_a_site_file_from_before_visibility_gets_the_columns_roles_and_groups(tmp_path):
    path = tmp_path / "old.db"
    Site.open("dc", path).store.close()
    with sqlite3.connect(path) as conn:  # as an older agentflow left it: no roles, no groups
        for table in ("role_members", "group_members", "project_roles", "groups"):
            conn.execute(f"DELETE FROM {table}")
        conn.execute("UPDATE comments SET visibility_role_id = NULL, visibility_group_id = NULL")
    reopened = Site.open("dc", path)
    assert reopened.store.query_one("SELECT COUNT(*) FROM project_roles")[0] == 3
    with running(reopened) as url:
        client = httpx2.Client(base_url=url, headers=reopened.auth_header("dev"))
        created = client.post(
            "/rest/api/2/issue/PAY-431/comment", json={"body": "x", "visibility": {"type": "role", "value": "Users"}}
        )
    assert created.status_code == 201, created.text


def test_an_old_comments_table_gets_the_visibility_columns(tmp_path):
    path = tmp_path / "older.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE comments (id INTEGER PRIMARY KEY, issue_id INTEGER NOT NULL, author_id INTEGER NOT NULL,"
            " body TEXT NOT NULL, body_text TEXT NOT NULL DEFAULT '', created REAL NOT NULL, updated REAL NOT NULL,"
            " seeded INTEGER NOT NULL DEFAULT 0)"
        )
    site = Site.open("cloud", path)
    columns = {row["name"] for row in site.store.query("PRAGMA table_info(comments)")}
    assert {"visibility_role_id", "visibility_group_id"} <= columns
    restricted = site.store.query_one("SELECT COUNT(*) FROM comments WHERE visibility_role_id IS NOT NULL")[0]
    assert restricted == 1
