"""ADF (Atlassian Document Format, Jira Cloud bodies) to compact Markdown.

Choices: underline, text colour and other purely visual marks are dropped (Markdown has no underline and the
LLM does not need it); sub/superscript become <sub>/<sup>; panels become quotes opening with a bold label
(`> **Warning:** ...`); media become `[attachment: name]` placeholders. Unknown nodes render their text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from agentflow.atlassian.markdown import emoticons
from agentflow.atlassian.markdown import write as w

# Malicious or broken input can nest without end; past this depth we stop descending instead of crashing.
MAX_DEPTH = 200
INLINE_TYPES = frozenset(
    {"text", "hardBreak", "mention", "emoji", "status", "date", "inlineCard", "placeholder", "mediaInline"}
    | {"inlineExtension"}
)
LIST_TYPES = frozenset({"bulletList", "orderedList", "taskList", "decisionList"})
PANEL_LABELS = {"info": "Info", "note": "Note", "tip": "Tip", "warning": "Warning", "error": "Error"}
PANEL_LABELS["success"] = "Success"
# Outermost first: a link wraps emphasis, so `[**x**](u)` rather than `**[x](u)**` when both span the same text.
MARK_ORDER = {"link": 0, "strong": 1, "em": 2, "strike": 3, "subsup": 4}
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^\s<>]*$")


def adf_to_markdown(doc: Any) -> str:
    """Render an ADF document (or any ADF node) as Markdown; anything unreadable renders as ""."""
    if not isinstance(doc, dict):
        return ""
    return _blocks(_children(doc), 0).strip() if doc.get("type") == "doc" else _block(doc, 0).strip()


def _children(node: dict[str, Any]) -> list[dict[str, Any]]:
    content = node.get("content")
    return [child for child in content if isinstance(child, dict)] if isinstance(content, list) else []


def _attrs(node: dict[str, Any]) -> dict[str, Any]:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _is_inline(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    if kind in INLINE_TYPES:
        return True
    # An unknown node is inline when it carries text or only inline children.
    return kind not in _BLOCKS and all(_is_inline(child) for child in _children(node))


def _blocks(nodes: list[dict[str, Any]], depth: int) -> str:
    """Render a sequence of blocks; stray inline nodes between them are gathered into paragraphs."""
    parts: list[str] = []
    run: list[dict[str, Any]] = []
    for node in nodes:
        if _is_inline(node):
            run.append(node)
            continue
        if run:
            parts.append(_paragraph_text(run, depth))
            run = []
        parts.append(_block(node, depth))
    if run:
        parts.append(_paragraph_text(run, depth))
    return w.join_blocks(parts)


def _block(node: dict[str, Any], depth: int) -> str:
    if depth > MAX_DEPTH:
        return ""
    handler = _BLOCKS.get(node.get("type"))
    if handler is not None:
        return handler(node, depth + 1)
    if _is_inline(node):
        return _paragraph_text([node], depth)
    return _blocks(_children(node), depth + 1)


def _paragraph_text(nodes: list[dict[str, Any]], depth: int) -> str:
    return w.escape_block_starts(_inlines(nodes, frozenset(), depth).strip())


def _paragraph(node: dict[str, Any], depth: int) -> str:
    return _paragraph_text(_children(node), depth)


def _heading(node: dict[str, Any], depth: int) -> str:
    level = _attrs(node).get("level")
    level = min(max(level, 1), 6) if isinstance(level, int) else 1
    text = _inlines(_children(node), frozenset(), depth, hard_break=" ").strip()
    return f"{'#' * level} {text}" if text else ""


def _item_body(nodes: list[dict[str, Any]], depth: int) -> str:
    """A list item's blocks; a nested list follows its paragraph directly so the list stays tight."""
    out = ""
    for node in nodes:
        text = _blocks([node], depth)
        if not text:
            continue
        glue = "\n" if node.get("type") in LIST_TYPES else "\n\n"
        out = f"{out}{glue}{text}" if out else text
    return out


def _list(node: dict[str, Any], depth: int) -> str:
    start = _attrs(node).get("order", 1) if node.get("type") == "orderedList" else None
    if start is not None and (not isinstance(start, int | float) or start < 0):
        start = 1
    lines = []
    for number, item in enumerate(_children(node)):
        marker = "- " if start is None else f"{int(start) + number}. "
        body = _item_body(_children(item), depth)
        lines.append(w.indent(body, marker) if body else marker.rstrip())
    return "\n".join(lines)


def _task_list(node: dict[str, Any], depth: int) -> str:
    lines: list[str] = []
    for item in _children(node):
        kind = item.get("type")
        if kind == "taskList":
            lines.append(w.indent(_task_list(item, depth + 1), "  "))
        elif kind in ("taskItem", "blockTaskItem"):
            box = "[x]" if _attrs(item).get("state") == "DONE" else "[ ]"
            body = _item_body(_children(item), depth) if kind == "blockTaskItem" else _paragraph(item, depth)
            lines.append(w.indent(body, f"- {box} ", "  ") if body else f"- {box}")
        else:
            lines.append(w.indent(_block(item, depth), "- "))
    return "\n".join(lines)


def _decision_list(node: dict[str, Any], depth: int) -> str:
    items = [_paragraph(item, depth) for item in _children(node)]
    return "\n".join(f"- **Decision:** {text}".rstrip() for text in items)


def _table(node: dict[str, Any], depth: int) -> str:
    # GFM needs a header row, so the first row always plays that part (it is the header in almost every table).
    rows: list[list[str]] = []
    for row in _children(node):
        cells: list[str] = []
        for cell in _children(row):
            text = w.table_cell(_blocks(_children(cell), depth).replace("\n\n", "\n"))
            span = _attrs(cell).get("colspan")
            cells += [text] + [""] * (min(int(span), 50) - 1 if isinstance(span, int | float) and span > 1 else 0)
        rows.append(cells)
    return w.gfm_table(rows)


def _code_block(node: dict[str, Any], depth: int) -> str:
    code = "".join(_str(child.get("text")) for child in _children(node))
    return w.fence(code, _str(_attrs(node).get("language")))


def _panel(node: dict[str, Any], depth: int) -> str:
    label = PANEL_LABELS.get(_str(_attrs(node).get("panelType")), "Note")
    children = _children(node)
    body = _blocks(children, depth)
    glue = " " if children and children[0].get("type") == "paragraph" else "\n\n"
    return w.blockquote(f"**{label}:**{glue}{body}".rstrip())


def _quote(node: dict[str, Any], depth: int) -> str:
    body = _blocks(_children(node), depth)
    return w.blockquote(body) if body else ""


def _media(node: dict[str, Any], depth: int) -> str:
    attrs = _attrs(node)
    url = _str(attrs.get("url"))
    if attrs.get("type") == "external" and _URL.match(url):
        # An image from the web, shown the way the storage and wiki readers show one.
        return f"![{w.escape_text(_str(attrs.get('alt')))}]({url})"
    name = _str(attrs.get("alt")) or _str(attrs.get("url")) or _str(attrs.get("id"))
    return f"[attachment: {name}]" if name else "[attachment]"


def _media_container(node: dict[str, Any], depth: int) -> str:
    parts = [
        _media(child, depth) if child.get("type") == "media" else _block(child, depth) for child in _children(node)
    ]
    return "\n".join(part for part in parts if part)


def _expand(node: dict[str, Any], depth: int) -> str:
    title = _str(_attrs(node).get("title")).strip()
    body = _blocks(_children(node), depth)
    return w.join_blocks([f"**{w.escape_text(title)}**" if title else "", body])


def _card(node: dict[str, Any], depth: int) -> str:
    return _card_url(node)


def _card_url(node: dict[str, Any]) -> str:
    attrs = _attrs(node)
    data = attrs.get("data")
    url = _str(attrs.get("url")) or (_str(data.get("url")) if isinstance(data, dict) else "")
    if not url:
        return w.escape_text(_str(data.get("name"))) if isinstance(data, dict) else ""
    return f"<{url}>" if _URL.match(url) else w.escape_text(url)


_BLOCKS = {
    "paragraph": _paragraph,
    "heading": _heading,
    "bulletList": _list,
    "orderedList": _list,
    "taskList": _task_list,
    "decisionList": _decision_list,
    "table": _table,
    "codeBlock": _code_block,
    "panel": _panel,
    "blockquote": _quote,
    "rule": lambda node, depth: "---",
    "mediaSingle": _media_container,
    "mediaGroup": _media_container,
    "media": _media,
    "expand": _expand,
    "nestedExpand": _expand,
    "blockCard": _card,
    "embedCard": _card,
}


def _mark_key(mark: dict[str, Any]) -> tuple[str, str]:
    attrs = _attrs(mark)
    detail = _str(attrs.get("href")) if mark.get("type") == "link" else _str(attrs.get("type"))
    return _str(mark.get("type")), detail


def _marks(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The marks Markdown can show, outermost first; code is handled by the leaf itself."""
    marks = node.get("marks")
    if not isinstance(marks, list):
        return []
    shown = [mark for mark in marks if isinstance(mark, dict) and mark.get("type") in MARK_ORDER]
    return sorted(shown, key=lambda mark: MARK_ORDER[mark["type"]])


def _inlines(
    nodes: list[dict[str, Any]], active: frozenset[tuple[str, str]], depth: int, hard_break: str = "\\\n"
) -> str:
    """Render inline nodes. A mark is opened once over the longest run of nodes sharing it, so that
    `**bold *both* bold**` comes out nested instead of as fragments with spaces inside the delimiters."""
    out: list[str] = []
    index = 0
    while index < len(nodes):
        pending = [mark for mark in _marks(nodes[index]) if _mark_key(mark) not in active]
        if not pending:
            out.append(_leaf(nodes[index], depth, hard_break))
            index += 1
            continue
        best, best_end = pending[0], index + 1
        for mark in pending:
            end = index + 1
            while end < len(nodes) and _mark_key(mark) in {_mark_key(m) for m in _marks(nodes[end])}:
                end += 1
            if end > best_end:
                best, best_end = mark, end
        inner = _inlines(nodes[index:best_end], active | {_mark_key(best)}, depth, hard_break)
        out.append(_apply_mark(best, inner))
        index = best_end
    return "".join(out)


def _apply_mark(mark: dict[str, Any], inner: str) -> str:
    kind = mark.get("type")
    if kind == "strong":
        return w.wrap_inline(inner, "**")
    if kind == "em":
        return w.wrap_inline(inner, "*")
    if kind == "strike":
        return w.wrap_inline(inner, "~~")
    if kind == "subsup":
        tag = "sup" if _attrs(mark).get("type") == "sup" else "sub"
        return w.wrap_inline(inner, f"<{tag}>", f"</{tag}>")
    return w.link(inner, _str(_attrs(mark).get("href")))


def _leaf(node: dict[str, Any], depth: int, hard_break: str) -> str:
    kind = node.get("type")
    attrs = _attrs(node)
    if kind == "text":
        text = _str(node.get("text"))
        marks = node.get("marks") if isinstance(node.get("marks"), list) else []
        is_code = any(isinstance(mark, dict) and mark.get("type") == "code" for mark in marks)
        return w.code_span(text) if is_code and text else w.escape_text(text)
    if kind == "hardBreak":
        return hard_break
    if kind == "mention":
        name = _str(attrs.get("text")).strip().lstrip("@").strip()
        return f"@{name}" if name else "@user"
    if kind == "emoji":
        return emoticons.adf_emoji(_str(attrs.get("shortName")), _str(attrs.get("text")))
    if kind == "status":
        text = _str(attrs.get("text")).strip()
        return f"[{text.upper()}]" if text else ""
    if kind == "date":
        return _date(attrs.get("timestamp"))
    if kind == "inlineCard":
        return _card_url(node)
    if kind == "mediaInline":
        return _media(node, depth)
    if kind == "placeholder" or depth > MAX_DEPTH:
        return ""
    text = _str(node.get("text")) or _str(attrs.get("text"))
    return w.escape_text(text) if text else _inlines(_children(node), frozenset(), depth + 1, hard_break)


def _date(timestamp: Any) -> str:
    try:
        return datetime.fromtimestamp(int(timestamp) / 1000, UTC).date().isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        return _str(timestamp)
