"""Parsing of Markdown written by the LLM, shared by the ADF, storage and wiki writers.

CommonMark plus GFM tables, strikethrough and task lists. Raw HTML is not interpreted (it stays literal
text), except for the few inline tags the readers themselves emit: <sub>, <sup>, <u>, <ins> and <br>.
"""

from __future__ import annotations

import re
from functools import cache

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode
from mdit_py_plugins.tasklists import tasklists_plugin

# `> **Warning:** text` is how the readers render panels; writers turn it back into a panel.
PANEL_TYPES = {"info": "info", "note": "note", "tip": "tip", "warning": "warning", "error": "error"}
PANEL_TYPES["success"] = "success"
INLINE_TAGS = {"sub": "sub", "sup": "sup", "u": "underline", "ins": "underline"}
_TAG = re.compile(r"^<(/?)([a-z]+)\s*/?>$", re.IGNORECASE)


@cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).use(tasklists_plugin)


def parse(markdown: str) -> SyntaxTreeNode:
    """The Markdown as a syntax tree (the root node's children are the blocks)."""
    return SyntaxTreeNode(_parser().parse(markdown or ""))


def inline_children(block: SyntaxTreeNode) -> list[SyntaxTreeNode]:
    """The inline nodes of a paragraph, heading or table cell (without the parser's empty text nodes)."""
    nodes = [grandchild for child in block.children if child.type == "inline" for grandchild in child.children]
    return [node for node in nodes if node.type != "text" or node.content]


def task_state(item: SyntaxTreeNode) -> bool | None:
    """True/False for a checked/unchecked task list item, None for an ordinary item."""
    if "task-list-item" not in str(item.attrs.get("class", "")):
        return None
    first = item.children[0] if item.children else None
    inlines = inline_children(first) if first is not None and first.type == "paragraph" else []
    return bool(inlines) and inlines[0].type == "html_inline" and "checked" in inlines[0].content


def is_checkbox(node: SyntaxTreeNode) -> bool:
    """The checkbox the task list plugin injects at the start of a task item."""
    return node.type == "html_inline" and "task-list-item-checkbox" in node.content


def checkbox_text(node: SyntaxTreeNode) -> str:
    """A checkbox in a list that is not wholly a task list stays visible as `[ ]`/`[x]`."""
    return "[x]" if "checked" in node.content else "[ ]"


def is_task_list(node: SyntaxTreeNode) -> bool:
    return node.type == "bullet_list" and bool(node.children) and all(task_state(c) is not None for c in node.children)


def html_tag(node: SyntaxTreeNode) -> tuple[str, bool] | None:
    """(tag, is_closing) for a simple inline HTML tag we understand, else None."""
    match = _TAG.match(node.content.strip()) if node.type == "html_inline" else None
    if not match or match.group(2).lower() not in {*INLINE_TAGS, "br"}:
        return None
    return match.group(2).lower(), bool(match.group(1))


def fence_language(node: SyntaxTreeNode) -> str:
    info = node.info.strip() if node.type == "fence" else ""
    return info.split()[0] if info else ""


def code_text(node: SyntaxTreeNode) -> str:
    """A fence's or indented block's code without the final newline."""
    return node.content[:-1] if node.content.endswith("\n") else node.content


def panel_type(quote: SyntaxTreeNode) -> str | None:
    """The panel type of a `> **Label:** ...` blockquote, or None for a plain quote."""
    first = quote.children[0] if quote.children else None
    if first is None or first.type != "paragraph":
        return None
    inlines = inline_children(first)
    if not inlines or inlines[0].type != "strong":
        return None
    label = "".join(child.content for child in inlines[0].children if child.type == "text").strip()
    if not label.endswith(":"):
        return None
    return PANEL_TYPES.get(label[:-1].strip().lower())


def panel_body_inlines(quote: SyntaxTreeNode) -> list[SyntaxTreeNode]:
    """The first paragraph's inlines without the bold label (and the break or space after it)."""
    rest = inline_children(quote.children[0])[1:]
    while rest and rest[0].type in ("softbreak", "hardbreak"):
        rest = rest[1:]
    return rest


def plain_text(node: SyntaxTreeNode) -> str:
    """All text below a node, for places that can only hold plain text."""
    if node.type in ("text", "code_inline", "code_block", "fence", "html_inline", "html_block"):
        return node.content
    if node.type in ("softbreak", "hardbreak"):
        return " "
    return "".join(plain_text(child) for child in node.children)
