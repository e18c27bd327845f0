"""Builders for ADF (Atlassian Document Format) nodes that are valid against the official schema by construction.

Every parser in the sandbox (wiki markup, storage XHTML, plain text) makes its nodes here, so that the schema's
rules live in one place: text is never empty, code text carries only link marks, a list item starts with a
paragraph, a container only holds the children the schema allows it (others are unwrapped or turned into text).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

Node = dict[str, Any]
Mark = dict[str, Any]

# Which block children each container accepts (from adf-schema.v1.json), so that parsers may nest freely.
_LIST_LIKE = {"bulletList", "orderedList", "taskList", "decisionList"}
_MEDIA = {"mediaSingle", "mediaGroup", "blockCard"}
# The blocks that wiki markup writes inline, in a paragraph (`!image.png!`, `[^file.txt]`).
_LIFTED = {"mediaSingle", "mediaGroup"}
ALLOWED: dict[str, set[str]] = {
    "doc": {"paragraph", "heading", "codeBlock", "rule", "panel", "blockquote", "table", "expand"}
    | _LIST_LIKE
    | _MEDIA,
    "panel": {"paragraph", "heading", "codeBlock", "rule"} | _LIST_LIKE | _MEDIA,
    "blockquote": {"paragraph", "bulletList", "orderedList", "codeBlock", "mediaSingle", "mediaGroup"},
    "listItem": {"paragraph", "bulletList", "orderedList", "taskList", "codeBlock", "mediaSingle"},
    "tableCell": {"paragraph", "heading", "codeBlock", "rule", "panel", "blockquote", "nestedExpand"}
    | _LIST_LIKE
    | _MEDIA,
    "expand": {"paragraph", "heading", "codeBlock", "rule", "panel", "blockquote", "table", "nestedExpand"}
    | _LIST_LIKE
    | _MEDIA,
    "nestedExpand": {"paragraph", "heading", "codeBlock", "rule", "panel", "blockquote"} | _LIST_LIKE | _MEDIA,
}
ALLOWED["tableHeader"] = ALLOWED["tableCell"]

# An expand inside a table cell must be a nestedExpand, and a nestedExpand at the top level an expand.
_EXPAND_SWAP = {"expand": "nestedExpand", "nestedExpand": "expand"}

# Marks that may sit next to a `code` mark; the schema forbids the rest on code text.
_CODE_COMPANIONS = {"code", "link", "annotation"}

# (wiki token, Confluence emoticon name, ADF shortName, ADF id, fallback text)
EMOTICONS: list[tuple[str, str, str, str, str]] = [
    (":)", "smile", ":slight_smile:", "1f642", "🙂"),
    (":(", "sad", ":disappointed:", "1f61e", "😞"),
    (":P", "cheeky", ":stuck_out_tongue:", "1f61b", "😛"),
    (":D", "laugh", ":smiley:", "1f603", "😃"),
    (";)", "wink", ":wink:", "1f609", "😉"),
    ("(y)", "thumbs-up", ":thumbsup:", "1f44d", "👍"),
    ("(n)", "thumbs-down", ":thumbsdown:", "1f44e", "👎"),
    ("(i)", "information", ":info:", "atlassian-info", ":info:"),
    ("(/)", "tick", ":check_mark:", "atlassian-check_mark", ":check_mark:"),
    ("(x)", "cross", ":cross_mark:", "atlassian-cross_mark", ":cross_mark:"),
    ("(!)", "warning", ":warning:", "atlassian-warning", ":warning:"),
    ("(+)", "plus", ":plus:", "atlassian-plus", ":plus:"),
    ("(-)", "minus", ":minus:", "atlassian-minus", ":minus:"),
    ("(?)", "question", ":question:", "atlassian-question_mark", ":question:"),
    ("(on)", "light-on", ":light_bulb_on:", "atlassian-light_bulb_on", ":light_bulb_on:"),
    ("(off)", "light-off", ":light_bulb_off:", "atlassian-light_bulb_off", ":light_bulb_off:"),
    ("(*)", "yellow-star", ":yellow_star:", "atlassian-yellow_star", ":yellow_star:"),
    ("(*r)", "red-star", ":red_star:", "atlassian-red_star", ":red_star:"),
    ("(*g)", "green-star", ":green_star:", "atlassian-green_star", ":green_star:"),
    ("(*b)", "blue-star", ":blue_star:", "atlassian-blue_star", ":blue_star:"),
    ("(flag)", "flag", ":flag_on:", "atlassian-flag_on", ":flag_on:"),
    ("(flagoff)", "flag-off", ":flag_off:", "atlassian-flag_off", ":flag_off:"),
]

# Named colours that wiki `{color:NAME}` and storage `style="color: NAME"` use; textColor wants #rrggbb.
NAMED_COLOURS = {
    "black": "#000000",
    "white": "#ffffff",
    "red": "#ff0000",
    "green": "#008000",
    "blue": "#0000ff",
    "yellow": "#ffff00",
    "orange": "#ffa500",
    "purple": "#800080",
    "gray": "#808080",
    "grey": "#808080",
    "brown": "#a52a2a",
    "pink": "#ffc0cb",
    "teal": "#008080",
    "navy": "#000080",
    "maroon": "#800000",
    "olive": "#808000",
    "silver": "#c0c0c0",
    "lime": "#00ff00",
    "cyan": "#00ffff",
    "magenta": "#ff00ff",
}


def hex_colour(value: str) -> str | None:
    """#rrggbb for a colour name, #rgb or #rrggbb; None when it is none of those."""
    value = value.strip().lower()
    if value in NAMED_COLOURS:
        return NAMED_COLOURS[value]
    digits = value.removeprefix("#")
    if len(digits) == 3 and all(c in "0123456789abcdef" for c in digits):
        digits = "".join(c * 2 for c in digits)
    if len(digits) == 6 and all(c in "0123456789abcdef" for c in digits):
        return "#" + digits
    return None


class Ids:
    """Deterministic localIds for the nodes that require one (tasks, decisions), unique within one document."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}-{next(self._counter)}"


def doc(content: list[Node]) -> Node:
    return {"version": 1, "type": "doc", "content": fit(content, "doc", allow_empty=True)}


def text(value: str, marks: list[Mark] | None = None) -> list[Node]:
    """A text node as a list (empty for empty text), its marks filtered for what the schema allows."""
    if not value:
        return []
    node: Node = {"type": "text", "text": value}
    marks = _unique(marks or [])
    if any(m["type"] == "code" for m in marks):
        marks = [m for m in marks if m["type"] in _CODE_COMPANIONS]
    if marks:
        node["marks"] = marks
    return [node]


def _unique(marks: list[Mark]) -> list[Mark]:
    """One mark per type (the innermost wins for link and colour), as the schema's excludes rules require."""
    by_type: dict[str, Mark] = {}
    for mark in marks:
        by_type[mark["type"]] = mark
    return list(by_type.values())


def inline(nodes: list[Node]) -> list[Node]:
    """Merge neighbouring text nodes that carry the same marks."""
    merged: list[Node] = []
    for node in nodes:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and node["type"] == "text"
            and previous["type"] == "text"
            and previous.get("marks") == node.get("marks")
        ):
            merged[-1] = {**previous, "text": previous["text"] + node["text"]}
        else:
            merged.append(node)
    return merged


def strip_inline(nodes: list[Node]) -> list[Node]:
    """Trim whitespace at both ends of a run of inline nodes, dropping text that becomes empty."""
    nodes = inline(nodes)
    while nodes and nodes[0]["type"] in ("text", "hardBreak"):
        if nodes[0]["type"] == "hardBreak" or not nodes[0]["text"].lstrip():
            nodes = nodes[1:]
            continue
        nodes[0] = {**nodes[0], "text": nodes[0]["text"].lstrip()}
        break
    while nodes and nodes[-1]["type"] in ("text", "hardBreak"):
        if nodes[-1]["type"] == "hardBreak" or not nodes[-1]["text"].rstrip():
            nodes = nodes[:-1]
            continue
        nodes[-1] = {**nodes[-1], "text": nodes[-1]["text"].rstrip()}
        break
    return nodes


def paragraph(content: list[Node]) -> Node:
    return {"type": "paragraph", "content": inline(content)}


def heading(level: int, content: list[Node]) -> Node:
    return {"type": "heading", "attrs": {"level": min(max(level, 1), 6)}, "content": inline(content)}


def code_block(body: str, language: str | None = None) -> Node:
    node: Node = {"type": "codeBlock", "content": text(body)}
    if language:
        node["attrs"] = {"language": language}
    return node


def list_item(children: list[Node]) -> Node:
    children = fit(children, "listItem")
    if children[0]["type"] != "paragraph":
        children.insert(0, paragraph([]))
    return {"type": "listItem", "content": children}


def bullet_list(items: list[Node]) -> Node:
    return {"type": "bulletList", "content": items}


def ordered_list(items: list[Node], order: int = 1) -> Node:
    node: Node = {"type": "orderedList", "content": items}
    if order != 1:
        node["attrs"] = {"order": max(order, 0)}
    return node


def panel(panel_type: str, children: list[Node]) -> Node:
    return {"type": "panel", "attrs": {"panelType": panel_type}, "content": fit(children, "panel")}


def blockquote(children: list[Node]) -> Node:
    return {"type": "blockquote", "content": fit(children, "blockquote")}


def expand(title: str, children: list[Node]) -> Node:
    node: Node = {"type": "expand", "content": fit(children, "expand")}
    if title:
        node["attrs"] = {"title": title}
    return node


def table(rows: list[list[tuple[bool, list[Node]]]]) -> list[Node]:
    """A table from rows of (is_header, blocks) cells, rows without cells left out; none without any cell."""
    content = [
        {
            "type": "tableRow",
            "content": [
                {"type": "tableHeader" if header else "tableCell", "content": fit(blocks, "tableCell")}
                for header, blocks in row
            ],
        }
        for row in rows
        if row
    ]
    return [{"type": "table", "content": content}] if content else []


def rule() -> Node:
    return {"type": "rule"}


def hard_break() -> Node:
    return {"type": "hardBreak"}


def mention(account_id: str, display: str | None = None) -> Node:
    attrs = {"id": account_id}
    if display:
        attrs["text"] = display
    return {"type": "mention", "attrs": attrs}


def emoji(short_name: str) -> Node:
    for _token, _name, short, emoji_id, fallback in EMOTICONS:
        if short == short_name:
            return {"type": "emoji", "attrs": {"shortName": short, "id": emoji_id, "text": fallback}}
    return {"type": "emoji", "attrs": {"shortName": short_name}}


def media_single(name: str) -> Node:
    """An image (`!name!`) as Jira Cloud's wiki conversion makes it: a centred block holding one media node."""
    return _single(_media(name))


def _single(media: Node) -> Node:
    return {"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [media]}


def media_group(name: str) -> Node:
    """An attachment link (`[^name]`) as Jira Cloud's wiki conversion makes it: a block of one media node."""
    return {"type": "mediaGroup", "content": [_media(name)]}


def _media(name: str) -> Node:
    """A URL is an external image; anything else a file whose id is its name, which Jira swaps for the attachment's
    media id when the issue has one (the sandbox keeps the name, so readers still see which file it is)."""
    if name.lower().startswith(("http://", "https://")):
        return {"type": "media", "attrs": {"type": "external", "url": name}}
    return {"type": "media", "attrs": {"type": "file", "id": name, "collection": ""}}


def status(label: str, colour: str) -> list[Node]:
    """A status lozenge; none for an empty label, which the schema forbids."""
    colours = {"green": "green", "red": "red", "yellow": "yellow", "blue": "blue", "purple": "purple"}
    if not label.strip():
        return []
    return [{"type": "status", "attrs": {"text": label.strip(), "color": colours.get(colour.lower(), "neutral")}}]


def fit(children: list[Node], container: str, allow_empty: bool = False) -> list[Node]:
    """Children reshaped into what `container` accepts: unknown blocks unwrapped, loose inline nodes wrapped."""
    allowed = ALLOWED[container]
    result: list[Node] = []
    loose: list[Node] = []
    children = [piece for child in children for piece in _lift_media(child)]

    def flush() -> None:
        if loose:
            result.append(paragraph(list(loose)))
            loose.clear()

    for child in children:
        kind = child.get("type")
        if kind in allowed:
            flush()
            result.append(child)
        elif kind in ("text", "hardBreak", "mention", "emoji", "status", "date", "inlineCard"):
            loose.append(child)
        elif kind in _EXPAND_SWAP and _EXPAND_SWAP[kind] in allowed:
            flush()
            result.append({**child, "type": _EXPAND_SWAP[kind], "attrs": child.get("attrs", {"title": ""})})
        elif kind == "mediaGroup" and "mediaSingle" in allowed:
            # A list item holds no media group; one block per file keeps the attachments.
            flush()
            result.extend(_single(media) for media in child["content"])
        elif kind == "heading" and "paragraph" in allowed:
            flush()
            result.append(paragraph(child.get("content", [])))
        elif kind == "table":
            flush()
            cells = [cell for row in child["content"] for cell in row["content"]]
            result.extend(fit([block for cell in cells for block in cell["content"]], container, allow_empty=True))
        elif isinstance(child.get("content"), list):
            flush()
            result.extend(fit(child["content"], container, allow_empty=True))
    flush()
    if not result and not allow_empty:
        result.append(paragraph([]))
    return result


def _lift_media(node: Node) -> list[Node]:
    """A paragraph or heading split around the images and attachment links in it, which are blocks in ADF.

    Jira Cloud's wiki conversion does the same: it ends the paragraph before the block and starts a new one after it,
    dropping line breaks at the cut (editor-wikimarkup-transformer, parser/utils/normalize.ts).
    """
    content = node.get("content")
    if node.get("type") not in ("paragraph", "heading") or not any(c.get("type") in _LIFTED for c in content or []):
        return [node]
    pieces: list[Node] = []
    run: list[Node] = []

    def flush() -> None:
        while run and run[0]["type"] == "hardBreak":
            run.pop(0)
        while run and run[-1]["type"] == "hardBreak":
            run.pop()
        if run:
            pieces.append({**node, "content": inline(run)})
        run.clear()

    for child in content:
        if child.get("type") in _LIFTED:
            flush()
            pieces.append(child)
        else:
            run.append(child)
    flush()
    return pieces


def children(node: object) -> list[Node]:
    """The child nodes of any value, tolerating the malformed ADF that clients may send."""
    content = node.get("content") if isinstance(node, dict) else None
    return [child for child in content if isinstance(child, dict)] if isinstance(content, list) else []


def attr(node: Node, name: str, default: str = "") -> str:
    attrs = node.get("attrs")
    value = attrs.get(name) if isinstance(attrs, dict) else None
    return default if value is None else str(value)


def level(node: Node) -> int:
    """A heading's level, 1 when it is missing or out of range."""
    try:
        value = int(float(attr(node, "level", "1")))
    except ValueError:
        return 1
    return value if 1 <= value <= 6 else 1


def date_text(timestamp: str) -> str:
    """YYYY-MM-DD (UTC) for an ADF date's millisecond timestamp; the raw value when it is not a number."""
    try:
        return datetime.fromtimestamp(int(float(timestamp)) / 1000, tz=UTC).date().isoformat()
    except (ValueError, OverflowError, OSError):
        return timestamp


def date(iso: str) -> list[Node]:
    """A date node for YYYY-MM-DD (time of day ignored); none when the value is not a date."""
    try:
        day = datetime.strptime(iso.strip()[:10], "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return []
    return [{"type": "date", "attrs": {"timestamp": str(int(day.timestamp() * 1000))}}]
