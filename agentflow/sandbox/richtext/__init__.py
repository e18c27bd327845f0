"""Rich text for the sandbox: conversions between Jira wiki markup, ADF, HTML, Confluence storage and plain text.

Jira rich text is stored as ADF and Confluence bodies as storage XHTML; each API answers in its own format, and
search indexes plain text. The parsers and renderers live in sibling modules (`wiki_parse`, `adf_wiki`, `adf_html`,
`storage`, with `adf_build` making schema-valid nodes); this module is the one the rest of the sandbox imports.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from agentflow.sandbox.richtext import adf_build as b
from agentflow.sandbox.richtext.adf_build import Node
from agentflow.sandbox.richtext.adf_html import adf_to_html
from agentflow.sandbox.richtext.adf_wiki import adf_to_wiki
from agentflow.sandbox.richtext.storage import storage_to_adf
from agentflow.sandbox.richtext.wiki_parse import wiki_to_adf

__all__ = [
    "adf_to_html",
    "adf_to_text",
    "adf_to_wiki",
    "is_adf",
    "map_mentions",
    "storage_to_adf",
    "storage_to_text",
    "text_to_adf",
    "wiki_to_adf",
]

# Inline nodes that stand for text a search should find.
_INLINE_TEXT = {
    "mention": lambda node: b.attr(node, "text") or "@" + b.attr(node, "id"),
    "emoji": lambda node: b.attr(node, "text") or b.attr(node, "shortName"),
    "status": lambda node: b.attr(node, "text"),
    "date": lambda node: b.date_text(b.attr(node, "timestamp")),
    "inlineCard": lambda node: b.attr(node, "url"),
    "blockCard": lambda node: b.attr(node, "url"),
    "placeholder": lambda node: b.attr(node, "text"),
    "hardBreak": lambda node: "\n",
}
_INLINE_PARENTS = {"paragraph", "heading", "taskItem", "decisionItem", "codeBlock"}


def map_mentions(doc: Node, mapper: Callable[[str], tuple[str, str] | None]) -> Node:
    """A copy of `doc` whose mentions `mapper` rewrote: id -> (new id, new text), or None to keep one as is.

    Cloud mentions carry account ids, Data Center ones usernames; the sandbox stores account ids and translates
    at the edges of the v2 API on Data Center.
    """
    if isinstance(doc, list):
        return [map_mentions(item, mapper) for item in doc]
    if not isinstance(doc, dict):
        return doc
    copy = {key: map_mentions(value, mapper) if key == "content" else value for key, value in doc.items()}
    if doc.get("type") == "mention" and isinstance(doc.get("attrs"), dict):
        mapped = mapper(str(doc["attrs"].get("id", "")))
        if mapped is not None:
            copy["attrs"] = {**doc["attrs"], "id": mapped[0], "text": mapped[1]}
    return copy


def is_adf(value: object) -> bool:
    """Whether a value looks like an ADF document (a dict of type "doc", version 1)."""
    return isinstance(value, dict) and value.get("type") == "doc" and value.get("version") == 1


def text_to_adf(text: str) -> Node:
    """ADF for plain text: a paragraph per blank-line-separated block, hard breaks for single newlines."""
    blocks = re.split(r"\n(?:[ \t]*\n)+", text.replace("\r\n", "\n").replace("\r", "\n").strip("\n"))
    paragraphs: list[Node] = []
    for block in blocks:
        if not block.strip():
            continue
        content: list[Node] = []
        for n, line in enumerate(block.split("\n")):
            if n:
                content.append(b.hard_break())
            content.extend(b.text(line))
        paragraphs.append(b.paragraph(content))
    return b.doc(paragraphs)


def adf_to_text(doc: Node) -> str:
    """Plain text of an ADF document for search: every word, code and table cell, a newline between blocks."""
    return "\n".join(_text_blocks(doc)).strip()


def storage_to_text(xhtml: str) -> str:
    """Plain text of a Confluence storage body for search, code macro bodies and table cells included."""
    return adf_to_text(storage_to_adf(xhtml))


def _text_blocks(node: object) -> list[str]:
    if not isinstance(node, dict):
        return []
    kind = node.get("type")
    if kind in _INLINE_PARENTS:
        line = "".join(_inline_text(child) for child in b.children(node))
        return [line] if line.strip() else []
    if kind == "text" or kind in _INLINE_TEXT:
        return [_inline_text(node)]
    lines = [b.attr(node, "title")] if kind in ("expand", "nestedExpand") and b.attr(node, "title") else []
    for child in b.children(node):
        lines.extend(_text_blocks(child))
    return lines


def _inline_text(node: Node) -> str:
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text", ""))
    if kind in _INLINE_TEXT:
        return _INLINE_TEXT[kind](node)
    if kind in ("media", "mediaInline"):
        return b.attr(node, "alt")
    return "".join(_inline_text(child) for child in b.children(node))
