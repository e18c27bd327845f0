"""ADF -> Jira wiki markup, what REST v2 returns for rich text fields that are stored as ADF.

The output parses back (with `wiki_to_adf`) into the same text, structure, code, links, mentions and media, text that
would read as markup escaped. Nodes that wiki markup cannot express (tasks, decisions, cards) become their closest
readable form; unknown nodes give their text. Malformed input is tolerated: this never raises on a dict.
"""

from __future__ import annotations

from agentflow.sandbox.richtext.adf_build import EMOTICONS, NAMED_COLOURS, Node, attr, children, date_text, level
from agentflow.sandbox.richtext.wiki_parse import closes_mark, opens_markup

_PANEL_MACROS = {"info": "info", "note": "note", "warning": "warning", "error": "warning", "success": "tip"}
_MARK_DELIMITERS = {"strong": "*", "em": "_", "strike": "-", "underline": "+"}
_WIKI_EMOTICONS = {short: token for token, _name, short, _id, _text in EMOTICONS}
# A wiki line break, for hard breaks where a newline would end the construct (list items, table cells, headings).
_BREAK = " \\\\ "
_COLOUR_NAMES = {value: name for name, value in reversed(NAMED_COLOURS.items())}


def adf_to_wiki(doc: Node) -> str:
    """Jira wiki markup for an ADF document (or any ADF node)."""
    if not isinstance(doc, dict):
        return ""
    return _blocks(children(doc)) if doc.get("type") == "doc" else _block(doc)


def _blocks(nodes: list[Node]) -> str:
    return "\n\n".join(part for part in (_block(node) for node in nodes) if part)


def _block(node: Node) -> str:
    kind = node.get("type")
    content = children(node)
    if kind == "paragraph":
        return _inline(content, "\n")
    if kind == "heading":
        return f"h{level(node)}. {_inline(content)}"
    if kind in ("bulletList", "orderedList", "taskList", "decisionList"):
        return "\n".join(_list_lines(node, ""))
    if kind == "codeBlock":
        language = attr(node, "language")
        return f"{{code{':' + language if language else ''}}}\n{_plain(content)}\n{{code}}"
    if kind == "panel":
        macro = _PANEL_MACROS.get(attr(node, "panelType"), "panel")
        return f"{{{macro}}}\n{_blocks(content)}\n{{{macro}}}"
    if kind == "blockquote":
        return f"{{quote}}\n{_blocks(content)}\n{{quote}}"
    if kind in ("expand", "nestedExpand"):
        title = attr(node, "title").replace("}", ")").replace("|", "/")
        return f"{{expand{':' + title if title else ''}}}\n{_blocks(content)}\n{{expand}}"
    if kind == "rule":
        return "----"
    if kind == "table":
        return "\n".join(_row(row) for row in content)
    if kind == "mediaSingle":
        return " ".join(_inline([child]) for child in content)
    if kind == "mediaGroup":
        # A group is the files attached by link (`[^name]`), where a single media is an image shown in place.
        return " ".join(f"[^{name}]" for name in map(_media_name, content) if name)
    if kind in ("blockCard", "embedCard"):
        return f"[{attr(node, 'url')}|{attr(node, 'url')}|smart-card]" if attr(node, "url") else ""
    if content and all(child.get("type") in _BLOCK_TYPES for child in content):
        return _blocks(content)
    return _inline(content) if content else _inline([node])


_BLOCK_TYPES = {
    "paragraph",
    "heading",
    "bulletList",
    "orderedList",
    "taskList",
    "decisionList",
    "codeBlock",
    "panel",
    "blockquote",
    "expand",
    "nestedExpand",
    "rule",
    "table",
    "mediaSingle",
    "mediaGroup",
    "blockCard",
    "embedCard",
}


def _list_lines(node: Node, prefix: str) -> list[str]:
    kind = node.get("type")
    marker = prefix + ("#" if kind == "orderedList" else "*")
    lines: list[str] = []
    for item in children(node):
        if item.get("type") in ("taskList", "bulletList", "orderedList", "decisionList"):
            lines.extend(_list_lines(item, prefix))
        elif kind == "taskList":
            box = "[x]" if attr(item, "state") == "DONE" else "[]"
            lines.append(f"{box} {_inline(children(item))}")
        elif kind == "decisionList":
            lines.append(f"{marker} {_inline(children(item))}")
        else:
            lines.extend(_item_lines(item, marker))
    return lines


def _item_lines(item: Node, marker: str) -> list[str]:
    """One line for the item's paragraphs (joined by wiki line breaks), then its nested lists and other blocks."""
    texts: list[str] = []
    after: list[str] = []
    for child in children(item):
        if child.get("type") in ("bulletList", "orderedList", "taskList", "decisionList"):
            after.extend(_list_lines(child, marker))
        elif child.get("type") == "paragraph" and not after:
            texts.append(_inline(children(child)))
        else:
            after.append(_block(child))
    return [f"{marker} {_BREAK.join(texts)}".rstrip(), *after]


def _row(row: Node) -> str:
    parts: list[str] = []
    last = "|"
    for cell in children(row):
        last = "||" if cell.get("type") == "tableHeader" else "|"
        body = _BREAK.join(_block(block).replace("\n", _BREAK) for block in children(cell))
        parts.append(f"{last}{body or ' '}")
    return "".join(parts) + last if parts else ""


def _plain(nodes: list[Node]) -> str:
    return "".join(str(node.get("text", "")) for node in nodes)


def _inline(nodes: list[Node], line_break: str = _BREAK) -> str:
    """Wiki markup for inline nodes; neighbours that share a link are written as one `[label|href]`."""
    out: list[str] = []
    i = 0
    while i < len(nodes):
        href = _link(nodes[i])
        j = i + 1
        while href and j < len(nodes) and _link(nodes[j]) == href:
            j += 1
        label = "".join(_atom(node, line_break) for node in nodes[i:j])
        out.append(_link_markup(label, href) if href else label)
        i = j
    return "".join(out)


def _link(node: Node) -> str:
    for mark in _marks(node):
        if mark.get("type") == "link":
            return attr(mark, "href")
    return ""


def _link_markup(label: str, href: str) -> str:
    if label in (href, href.removeprefix("mailto:")):
        return f"[{href}]"
    return f"[{label}|{href}]"


def _marks(node: Node) -> list[Node]:
    marks = node.get("marks")
    return [mark for mark in marks if isinstance(mark, dict)] if isinstance(marks, list) else []


def _atom(node: Node, line_break: str) -> str:
    kind = node.get("type")
    if kind == "text":
        return _marked(str(node.get("text", "")), _marks(node))
    if kind == "hardBreak":
        return line_break
    if kind == "mention":
        account = attr(node, "id")
        return f"[~{account}]" if attr(node, "text") == "@" + account else f"[~accountid:{account}]"
    if kind == "emoji":
        short = attr(node, "shortName")
        return _WIKI_EMOTICONS.get(short) or attr(node, "text") or short
    if kind == "status":
        colour = attr(node, "color", "neutral").capitalize()
        return f"{{status:colour={colour}|title={attr(node, 'text')}}}"
    if kind == "date":
        return date_text(attr(node, "timestamp"))
    if kind == "inlineCard":
        return f"[{attr(node, 'url')}|{attr(node, 'url')}|smart-link]" if attr(node, "url") else ""
    if kind in ("media", "mediaInline"):
        name = _media_name(node)
        return f"!{name}!" if name else ""
    if kind == "placeholder":
        return attr(node, "text")
    return _inline(children(node), line_break)


def _media_name(node: Node) -> str:
    return attr(node, "alt") or attr(node, "url") or attr(node, "id")


def _marked(text: str, marks: list[Node]) -> str:
    """Text wrapped in its marks' delimiters (the first mark outermost), whitespace kept outside so it still parses."""
    core = text.strip()
    if not core:
        return text
    lead, trail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]
    if any(mark.get("type") == "code" for mark in marks):
        return f"{lead}{{{{{core}}}}}{trail}"
    core = _escape(core, "".join(_delimiter(mark) for mark in marks))
    for mark in reversed(marks):
        if delimiter := _delimiter(mark):
            core = f"{delimiter}{core}{delimiter}"
        elif mark.get("type") == "textColor":
            colour = attr(mark, "color")
            core = f"{{color:{_COLOUR_NAMES.get(colour.lower(), colour)}}}{core}{{color}}"
    return lead + core + trail


def _delimiter(mark: Node) -> str:
    """The wiki delimiter of a simple mark (`*` for strong, `~` for subscript), empty for the others."""
    if mark.get("type") == "subsup":
        return "~" if attr(mark, "type") == "sub" else "^"
    return _MARK_DELIMITERS.get(str(mark.get("type")), "")


def _escape(text: str, delimiters: str) -> str:
    """Text with Jira's backslash before what would otherwise read as markup, so that it reads back as the same text.

    That is a character starting a construct (`*not bold*`, `[~x]`, `(x)`), a `|` (it ends a table cell or a link's
    part), and a delimiter of the marks the text is wrapped in where it would close one early.
    """
    out: list[str] = []
    for i, ch in enumerate(text):
        if ch == "|" or opens_markup(text, i) or (ch in delimiters and closes_mark(text, i)):
            out.append("\\")
        out.append(ch)
    return "".join(out)
