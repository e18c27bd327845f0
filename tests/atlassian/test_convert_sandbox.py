"""The server's converters on the sandbox's rich bodies, cross-checked against the sandbox's own converters.

The two sides were written independently; the words a reader sees must survive both paths alike: ADF (Cloud
v3) and wiki markup (v2) of the same issue give the same Markdown words, and every page's Markdown keeps the
words of its storage body.
"""

import json
import re

import pytest

from agentflow.atlassian import convert
from agentflow.sandbox import richtext
from agentflow.sandbox.site import Site

WORD = re.compile(r"[A-Za-z0-9]{2,}")


def words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text)}


def mention_words(node) -> set[str]:
    """Names in mentions: wiki markup carries account ids where ADF carries display names."""
    if isinstance(node, list):
        return set().union(*(mention_words(n) for n in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    own = words(node.get("attrs", {}).get("text", "")) if node.get("type") == "mention" else set()
    return own | mention_words(node.get("content", []))


@pytest.fixture(scope="module")
def store():
    return Site.open("cloud").store


def test_adf_and_wiki_of_every_issue_give_the_same_markdown_words(store):
    bodies = [r[0] for r in store.query("SELECT description FROM issues WHERE description IS NOT NULL")]
    bodies += [r[0] for r in store.query("SELECT body FROM comments")]
    assert len(bodies) > 20
    for stored in bodies:
        doc = json.loads(stored)
        from_adf = convert.adf_to_markdown(doc)
        from_wiki = convert.wiki_to_markdown(richtext.adf_to_wiki(doc))
        expected = words(richtext.adf_to_text(doc))
        assert expected <= words(from_adf), from_adf
        assert words(from_adf) - mention_words(doc) <= words(from_wiki), from_wiki


def test_every_page_keeps_its_words_in_markdown(store):
    for title, body in store.query("SELECT title, body FROM pages"):
        markdown = convert.storage_to_markdown(body)
        # Storage names people by account id only; the Markdown says @user rather than an opaque id.
        account_ids = words(" ".join(re.findall(r'ri:account-id="([^"]+)"', body)))
        missing = words(richtext.storage_to_text(body)) - account_ids - words(markdown)
        assert not missing, (title, missing)


def test_markdown_written_back_reads_the_same(store):
    for (stored,) in store.query("SELECT description FROM issues WHERE description IS NOT NULL LIMIT 12"):
        markdown = convert.adf_to_markdown(json.loads(stored))
        assert words(convert.adf_to_markdown(convert.markdown_to_adf(markdown))) == words(markdown)
        assert words(convert.wiki_to_markdown(convert.markdown_to_wiki(markdown))) == words(markdown)
