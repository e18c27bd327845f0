"""Staging writes: what the model gets back, and every reason a write is refused."""

from agentflow.changes.plan import Stager, describe
from agentflow.workflow.schema import WritesSpec

SCHEMA = {
    "type": "object",
    "required": ["key", "body"],
    "properties": {"key": {"type": "string"}, "body": {"type": "string"}},
}
CREATE = {"type": "object", "required": ["summary"], "properties": {"summary": {"type": "string"}}}


def test_a_staged_write_gets_a_placeholder_and_is_described_for_review():
    stager = Stager(WritesSpec(mode="staged"))
    staged = stager.stage("add_jira_comment", "atlassian", SCHEMA, {"key": "PAY-429", "body": "Cause: null currency"})
    assert staged.change.placeholder == "$1"
    assert (staged.change.target, staged.change.summary) == ("PAY-429", "comment: Cause: null currency")
    assert staged.change.preview == "Cause: null currency"
    assert staged.message().startswith("Staged as change $1 (comment: Cause: null currency). Nothing is written")


def test_placeholders_must_name_earlier_changes():
    stager = Stager(WritesSpec())
    stager.stage("create_jira_issue", "atlassian", CREATE, {"summary": "Bulk edit"})
    link = stager.stage("link_to_epic", "atlassian", {"type": "object"}, {"issue": "$1", "epic": "PROD-100"})
    assert link.change.depends_on() == [1]
    for bad in ("$7", "$0", "$3"):
        refused = stager.stage("link_to_epic", "atlassian", {"type": "object"}, {"issue": bad, "epic": "PROD-100"})
        assert refused.change is None and f"{bad} is not a change staged before this one" in refused.message()
    money = stager.stage("add_jira_comment", "atlassian", SCHEMA, {"key": "PAY-1", "body": "costs $100 a month"})
    assert money.change is not None and money.change.depends_on() == []


def test_refusals_the_model_can_read():
    none = Stager(WritesSpec(mode="none")).stage("add_jira_comment", "atlassian", SCHEMA, {"key": "A-1", "body": "x"})
    assert none.message() == (
        "Refused: this workflow makes no changes (writes: none); describe the change in your answer"
    )
    invalid = Stager(WritesSpec()).stage("add_jira_comment", "atlassian", SCHEMA, {"key": 5})
    assert (
        "the input of add_jira_comment is invalid" in invalid.message() and "'body' is a required" in invalid.message()
    )
    limited = Stager(WritesSpec(limits={"add_jira_comment": 1}))
    limited.stage("add_jira_comment", "atlassian", SCHEMA, {"key": "A-1", "body": "one"})
    second = limited.stage("add_jira_comment", "atlassian", SCHEMA, {"key": "A-2", "body": "two"})
    assert "at most 1 add_jira_comment changes per run" in second.message()
    assert len(limited.plan) == 1


def test_descriptions():
    assert describe("transition_jira_issue", {"key": "PAY-1", "status": "Done"}) == ("PAY-1", "move to Done")
    assert describe("link_jira_issues", {"link_type": "Duplicate", "inward": "A-2", "outward": "A-1"}) == (
        "A-2",
        "A-2 Duplicate A-1",
    )
    target, summary = describe("some_other_tool", {"repo": "acme/app", "n": 3})
    assert target == "acme/app" and "repo" in summary
