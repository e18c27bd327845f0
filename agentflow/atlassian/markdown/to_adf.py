"""Markdown to ADF (Atlassian Document Format) for Jira Cloud writes.

The output validates against the ADF JSON schema. Where Markdown nests something ADF does not allow (a heading
or table inside a quote or list item, a quote inside a list), the construct is flattened into what the
container accepts rather than dropped. `> **Warning:** ...` quotes become panels, images become linked text.
"""

from __future__ import annotations

import uuid
from typing import Any

from markdown_it.tree import SyntaxTreeNode

from agentflow.atlassian.markdown import parse as p

Node = dict[str, Any]

# The block types each container accepts (a subset of the schema: only what this writer produces).
ROOT = frozenset({"paragraph", "heading", "bulletList", "orderedList", "taskList", "codeBlock"} | {"blockquote"})
ROOT = ROOT | {"rule", "table", "panel"}
LIST_ITEM = frozenset({"paragraph", "bulletList", "orderedList", "taskList", "codeBlock"})
QUOTE = frozenset({"paragraph", "bulletList", "orderedList", "codeBlock"})
PANEL = frozenset({"paragraph", "heading", "bulletList", "orderedList", "codeBlock", "taskList", "rule"})
CELL = PANEL | {"panel", "blockquote"}
# ADF lets a code mark share text only with a link.
CODE_COMPANIONS = frozenset({"code", "link"})


def markdown_to_adf(markdown: str) -> Node:
    """A complete ADF document (version 1) for the Markdown."""
    return {"type": "doc", "version": 1, "content": _blocks(p.parse(markdown).children, ROOT)}


def _local_id() -> str:
    return str(uuid.uuid4())


def _blocks(nodes: list[SyntaxTreeNode], allowed: frozenset[str]) -> list[Node]:
    out: list[Node] = []
    for node in nodes:
        for block in _block(node):
            out += _fit(block, allowed)
    return out


def _paragraph(inlines: list[Node]) -> Node:
    return {"type": "paragraph", "content": inlines} if inlines else {"type": "paragraph"}


def _block(node: SyntaxTreeNode) -> list[Node]:
    kind = node.type
    if kind == "paragraph":
        inlines = _inlines(p.inline_children(node))
        return [_paragraph(inlines)] if inlines else []
    if kind == "heading":
        inlines = _inlines(p.inline_children(node))
        return [{"type": "heading", "attrs": {"level": int(node.tag[1])}, "content": inlines}] if inlines else []
    if kind == "bullet_list":
        return [_task_list(node)] if p.is_task_list(node) else [_list("bulletList", node, {})]
    if kind == "ordered_list":
        start = node.attrs.get("start", 1)
        return [_list("orderedList", node, {"order": int(start)} if start != 1 else {})]
    if kind in ("fence", "code_block"):
        return [_code_block(p.code_text(node), p.fence_language(node))]
    if kind == "blockquote":
        return _quote(node)
    if kind == "hr":
        return [{"type": "rule"}]
    if kind == "table":
        return [_table(node)]
    text = p.plain_text(node).strip()
    return [_paragraph([{"type": "text", "text": text}])] if text else []


def _code_block(code: str, language: str) -> Node:
    block: Node = {"type": "codeBlock"}
    if language:
        block["attrs"] = {"language": language}
    if code:
        block["content"] = [{"type": "text", "text": code}]
    return block


def _list(kind: str, node: SyntaxTreeNode, attrs: dict[str, Any]) -> Node:
    items = []
    for item in node.children:
        content = _blocks(item.children, LIST_ITEM)
        # A list item must open with a paragraph.
        if not content or content[0]["type"] != "paragraph":
            content.insert(0, {"type": "paragraph"})
        items.append({"type": "listItem", "content": content})
    return {"type": kind, "attrs": attrs, "content": items} if attrs else {"type": kind, "content": items}


def _task_list(node: SyntaxTreeNode) -> Node:
    """Task items hold inline content only: nested task lists become sibling task lists (ADF's nesting),
    and any other blocks under an item are flattened onto new lines of the item's text."""
    content: list[Node] = []
    for item in node.children:
        first, rest = item.children[0], item.children[1:]
        # The plugin leaves the space that followed the checkbox.
        text = _lstrip(_inlines([n for n in p.inline_children(first) if not p.is_checkbox(n)]))
        nested = [child for child in rest if p.is_task_list(child)]
        for extra in (child for child in rest if not p.is_task_list(child)):
            for block in _block(extra):
                text += ([{"type": "hardBreak"}] if text else []) + _flatten(block)
        state = "DONE" if p.task_state(item) else "TODO"
        task: Node = {"type": "taskItem", "attrs": {"localId": _local_id(), "state": state}}
        if text:
            task["content"] = text
        content.append(task)
        content += [_task_list(child) for child in nested]
    return {"type": "taskList", "attrs": {"localId": _local_id()}, "content": content}


def _quote(node: SyntaxTreeNode) -> list[Node]:
    panel = p.panel_type(node)
    if panel is None:
        content = _blocks(node.children, QUOTE)
        return [{"type": "blockquote", "content": content}] if content else []
    first = _lstrip(_inlines(p.panel_body_inlines(node)))
    content = ([_paragraph(first)] if first else []) + _blocks(node.children[1:], PANEL)
    return [{"type": "panel", "attrs": {"panelType": panel}, "content": content or [_paragraph([])]}]


def _lstrip(inlines: list[Node]) -> list[Node]:
    """Drop leading whitespace (left behind by a removed checkbox or panel label)."""
    if inlines and inlines[0]["type"] == "text":
        inlines[0]["text"] = inlines[0]["text"].lstrip()
        return inlines if inlines[0]["text"] else inlines[1:]
    return inlines


def _table(node: SyntaxTreeNode) -> Node:
    rows = []
    for section in node.children:
        for row in section.children:
            cells = []
            for cell in row.children:
                kind = "tableHeader" if cell.type == "th" else "tableCell"
                cells.append({"type": kind, "content": [_paragraph(_inlines(p.inline_children(cell)))]})
            rows.append({"type": "tableRow", "content": cells})
    return {"type": "table", "content": rows}


def _fit(block: Node, allowed: frozenset[str]) -> list[Node]:
    """Turn a block into blocks the container accepts, keeping its text."""
    kind = block["type"]
    if kind in allowed:
        return [block]
    if kind in ("blockquote", "panel"):
        return [fitted for child in block["content"] for fitted in _fit(child, allowed)]
    if kind == "taskList" and "bulletList" in allowed:
        return [_task_to_bullets(block)]
    if kind == "rule":
        return []
    return [_paragraph(_flatten(block))]


def _task_to_bullets(task_list: Node) -> Node:
    """A task list as plain bullets with `[ ]`/`[x]` text, for containers that refuse task lists."""
    items: list[Node] = []
    for child in task_list["content"]:
        if child["type"] == "taskList" and items:
            items[-1]["content"].append(_task_to_bullets(child))
            continue
        box = "[x] " if child.get("attrs", {}).get("state") == "DONE" else "[ ] "
        inlines = [{"type": "text", "text": box}, *_flatten(child)]
        items.append({"type": "listItem", "content": [_paragraph(inlines)]})
    return {"type": "bulletList", "content": items or [{"type": "listItem", "content": [_paragraph([])]}]}


def _flatten(block: Node) -> list[Node]:
    """A block's inline content; its lines, rows and items are separated by hard breaks."""
    kind = block["type"]
    if kind == "heading":
        return [_add_mark(node, {"type": "strong"}) for node in block.get("content", [])]
    if kind in ("paragraph", "taskItem"):
        return list(block.get("content", []))
    if kind == "codeBlock":
        return [{**node, "marks": [{"type": "code"}]} for node in block.get("content", [])]
    if kind == "tableRow":
        out: list[Node] = []
        for cell in block["content"]:
            inline = [node for child in cell["content"] for node in _flatten(child)]
            out += ([{"type": "text", "text": " | "}] if out and inline else []) + inline
        return out
    out = []
    for child in block.get("content", []):
        inline = _flatten(child)
        out += ([{"type": "hardBreak"}] if out and inline else []) + inline
    return out


def _add_mark(node: Node, mark: Node) -> Node:
    marks = node.get("marks", [])
    if node.get("type") != "text" or any(m["type"] == "code" for m in marks):
        return node
    return {**node, "marks": [*marks, mark]}


def _inlines(nodes: list[SyntaxTreeNode], marks: tuple[Node, ...] = ()) -> list[Node]:
    out: list[Node] = []
    extra: list[Node] = []  # marks opened by inline HTML tags such as <sub>, closed by a later sibling
    for node in nodes:
        tag = p.html_tag(node)
        current = (*marks, *extra)
        if tag is not None:
            extra = _toggle_tag(tag, extra, out)
        elif p.is_checkbox(node):
            _append_text(out, p.checkbox_text(node), current)
        elif node.type == "text":
            _append_text(out, node.content, current)
        elif node.type == "softbreak":
            _append_text(out, " ", current)
        elif node.type == "hardbreak":
            out.append({"type": "hardBreak"})
        elif node.type == "code_inline":
            _append_text(out, node.content, (*current, {"type": "code"}))
        elif node.type in ("strong", "em", "s"):
            kind = {"strong": "strong", "em": "em", "s": "strike"}[node.type]
            out += _inlines(node.children, (*current, {"type": kind}))
        elif node.type == "link":
            out += _inlines(node.children, (*current, _link(str(node.attrs.get("href", "")))))
        elif node.type == "image":
            src = str(node.attrs.get("src", ""))
            _append_text(out, p.plain_text(node) or src or "image", (*current, _link(src)))
        else:
            _append_text(out, p.plain_text(node), current)
    return out


def _link(href: str) -> Node:
    return {"type": "link", "attrs": {"href": href}}


def _toggle_tag(tag: tuple[str, bool], extra: list[Node], out: list[Node]) -> list[Node]:
    name, closing = tag
    if name == "br":
        out.append({"type": "hardBreak"})
        return extra
    kind = p.INLINE_TAGS[name]
    mark: Node = {"type": "subsup", "attrs": {"type": kind}} if kind in ("sub", "sup") else {"type": kind}
    if closing:
        return [m for m in extra if m != mark]
    return [*extra, mark]


def _append_text(out: list[Node], text: str, marks: tuple[Node, ...]) -> None:
    """Add a text node with ADF-valid marks, merging it into the previous node when the marks match."""
    if not text:
        return
    clean: list[Node] = []
    for mark in marks:
        # One mark per type; an inner link overrides an outer one, and sub/sup replace each other.
        clean = [m for m in clean if m["type"] != mark["type"]] + [mark]
    if any(m["type"] == "code" for m in clean):
        clean = [m for m in clean if m["type"] in CODE_COMPANIONS]
    if out and out[-1].get("type") == "text" and out[-1].get("marks", []) == clean:
        out[-1]["text"] += text
        return
    out.append({"type": "text", "text": text, "marks": clean} if clean else {"type": "text", "text": text})
