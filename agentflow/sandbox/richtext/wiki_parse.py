"""Jira wiki markup -> ADF, the way Jira Cloud converts text that a REST v2 client writes.

Blocks are recognised line by line (headings, lists, tables, `{code}`-style macros, rules, quotes); the rest of a
run of lines is a paragraph whose line ends become hard breaks. Inline markup is parsed recursively so marks nest.
Markup that does not match a construct stays literal text: user input never makes this raise.
"""

from __future__ import annotations

import re

from agentflow.sandbox.richtext import adf_build as b
from agentflow.sandbox.richtext.adf_build import Mark, Node

_BLOCK_MACRO = re.compile(r"\s*\{(code|noformat|quote|panel|info|note|warning|tip|expand)(?::([^}]*))?\}", re.I)
_HEADING = re.compile(r"\s*h([1-6])\.(?:\s+|$)(.*)")
_BQ = re.compile(r"\s*bq\.\s+(.*)")
_RULE = re.compile(r"\s*-{4,}\s*$")
_LIST = re.compile(r"\s*([*#]+|-)\s+(\S.*)")
_TABLE = re.compile(r"\s*\|")

# {tip} is the green panel, which Jira Cloud calls success: the panel types it documents for ADF are info, note,
# warning, success and error, and its wiki converter took success for the colour it had for the older tip type.
PANEL_TYPES = {"info": "info", "note": "note", "warning": "warning", "tip": "success"}
# Jira Cloud types a plain {panel} by the colour nearest its bgColor, info without one (Atlassian's
# editor-wikimarkup-transformer, parser/utils/panel-type.ts).
_PANEL_COLOURS = {
    "info": (222, 235, 255),
    "note": (234, 230, 255),
    "success": (227, 252, 239),
    "warning": (255, 250, 230),
    "error": (255, 235, 230),
}

_URL = re.compile(r"(?:https?|ftp)://[^\s\[\]|<>\"{}]+")
_TARGET = re.compile(r"(?:(?:https?|ftp|sftp|mailto|file|tel):|/|#)\S*$", re.I)
_SIMPLE_MARKS: dict[str, Mark] = {
    "*": {"type": "strong"},
    "_": {"type": "em"},
    "-": {"type": "strike"},
    "+": {"type": "underline"},
    "^": {"type": "subsup", "attrs": {"type": "sup"}},
    "~": {"type": "subsup", "attrs": {"type": "sub"}},
}
_ESCAPABLE = set("*_-+^~?{}[]|!#\\")
# Characters that can start inline markup (marks, links, mentions, macros, emoticons).
_OPENERS = set("*_-+^~?{[:;(!")
_EMOTICONS = sorted(((token, short) for token, _n, short, _i, _t in b.EMOTICONS), key=lambda pair: -len(pair[0]))
_CARD_TITLES = {"smart-link", "smart-card", "smart-embed"}
# `!name!` or `!name|thumbnail!`: no space just inside the marks, no letter or digit just after (as Jira's parser).
_IMAGE = re.compile(r"!([^\s!|](?:[^!|\n]*[^\s!|])?)(?:\|[^!\n]*)?!(?![A-Za-z0-9])")
_ANCHOR = re.compile(r"\{anchor(?::[^}]*)?\}", re.I)
_OTHER_MACRO = re.compile(r"\{[a-zA-Z][\w-]*(?::[^{}\n]*)?\}")


def wiki_to_adf(text: str) -> Node:
    """An ADF document for Jira wiki markup."""
    return b.doc(_blocks(text.replace("\r\n", "\n").replace("\r", "\n").split("\n")))


def _blocks(lines: list[str]) -> list[Node]:
    lines = list(lines)
    out: list[Node] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            out.append(_paragraph(para))
            para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        macro = _BLOCK_MACRO.match(line)
        found = _macro(lines, i, macro) if macro else None
        if found is not None:
            flush()
            node, i = found
            out.extend(node)
        elif not line.strip():
            flush()
            i += 1
        elif heading := _HEADING.match(line):
            flush()
            out.append(b.heading(int(heading.group(1)), _inline(heading.group(2).strip())))
            i += 1
        elif quote := _BQ.match(line):
            flush()
            out.append(b.blockquote([b.paragraph(_inline(quote.group(1).strip()))]))
            i += 1
        elif _RULE.match(line):
            flush()
            out.append(b.rule())
            i += 1
        elif _LIST.match(line) or _TABLE.match(line):
            flush()
            pattern = _LIST if _LIST.match(line) else _TABLE
            start = i
            while i < len(lines) and pattern.match(lines[i]) and not _RULE.match(lines[i]):
                i += 1
            out.extend(_lists(lines[start:i]) if pattern is _LIST else _table(lines[start:i]))
        else:
            para.append(line)
            i += 1
    flush()
    return out


def _paragraph(lines: list[str]) -> Node:
    content: list[Node] = []
    for n, line in enumerate(lines):
        if n:
            content.append(b.hard_break())
        content.extend(_inline(line.strip()))
    return b.paragraph(content)


def _macro(lines: list[str], i: int, opening: re.Match[str]) -> tuple[list[Node], int] | None:
    """The nodes of the macro opened on line i and the line to go on from; None when it is never closed.

    Text after the closing tag on its line is put back into `lines` to be parsed as the start of a new block.
    """
    name = opening.group(1).lower()
    closing = re.compile(r"\{" + name + r"\}", re.I)
    parts = [lines[i][opening.end() :]]
    j = i
    while (end := closing.search(parts[-1])) is None:
        j += 1
        if j >= len(lines):
            return None
        parts.append(lines[j])
    tail = parts[-1][end.end() :]
    parts[-1] = parts[-1][: end.start()]
    body = "\n".join(parts).removeprefix("\n").removesuffix("\n")
    if tail.strip():
        lines[j] = tail
    else:
        j += 1
    return _macro_nodes(name, _params(opening.group(2) or ""), body), j


def _params(raw: str) -> dict[str, str]:
    """`{code:java|title=x}` parameters; a bare first value is keyed by the empty string."""
    params: dict[str, str] = {}
    for part in raw.split("|"):
        key, sep, value = part.partition("=")
        if sep:
            params[key.strip().lower()] = value.strip()
        elif part.strip():
            params.setdefault("", part.strip())
    return params


def _macro_nodes(name: str, params: dict[str, str], body: str) -> list[Node]:
    title = params.get("title") or ("" if name == "code" else params.get("", ""))
    if name == "code":
        # Jira Cloud writes a code block's title as a bold paragraph before it: ADF code blocks have no title.
        return [*_title(title), b.code_block(body, params.get("language") or params.get("") or None)]
    if name == "noformat":
        return [b.code_block(body)]
    inner = _blocks(body.split("\n"))
    if name == "quote":
        return [b.blockquote(inner)]
    if name == "expand":
        return [b.expand(title, inner)]
    panel_type = _panel_type(params.get("bgcolor", "")) if name == "panel" else PANEL_TYPES[name]
    return [b.panel(panel_type, _title(title) + inner)]


def _title(title: str) -> list[Node]:
    """A macro's title as Jira Cloud writes it: a paragraph of bold text, no markup parsed in it."""
    return [b.paragraph(b.text(title, [{"type": "strong"}]))] if title else []


def _panel_type(bg_colour: str) -> str:
    colour = b.hex_colour(bg_colour)
    if colour is None:
        return "info"
    rgb = [int(colour[k : k + 2], 16) for k in (1, 3, 5)]
    return min(
        _PANEL_COLOURS, key=lambda kind: sum((a - c) ** 2 for a, c in zip(_PANEL_COLOURS[kind], rgb, strict=True))
    )


def _lists(lines: list[str]) -> list[Node]:
    """Top-level lists for consecutive list lines; `#*` style prefixes nest a list in the previous item."""
    roots: list[Node] = []
    stack: list[tuple[str, Node]] = []
    for line in lines:
        match = _LIST.match(line)
        assert match is not None
        kinds = ["#" if c == "#" else "*" for c in match.group(1)]
        keep = 0
        while keep < min(len(stack), len(kinds)) and stack[keep][0] == kinds[keep]:
            keep += 1
        item = b.list_item([b.paragraph(_inline(match.group(2).strip()))])
        if keep == len(kinds):
            del stack[keep:]
            stack[-1][1]["content"].append(item)
            continue
        del stack[keep:]
        # A level deeper than the one before opens one new level only: an item needs a parent item to nest in.
        kind = kinds[-1]
        new_list = b.ordered_list([item]) if kind == "#" else b.bullet_list([item])
        if stack:
            stack[-1][1]["content"][-1]["content"].append(new_list)
        else:
            roots.append(new_list)
        stack.append((kind, new_list))
    return roots


def _table(lines: list[str]) -> list[Node]:
    return b.table(
        [[(header, [b.paragraph(_inline(cell.strip()))]) for header, cell in _cells(line)] for line in lines]
    )


def _cells(line: str) -> list[tuple[bool, str]]:
    """(is_header, markup) per cell; separators inside links and macros (`[a|b]`, `{x:a|b}`) do not split."""
    cells: list[tuple[bool, str]] = []
    header: bool | None = None
    buf: list[str] = []
    line = line.strip()
    pos = 0
    while pos < len(line):
        if line[pos] == "|":
            if header is not None:
                cells.append((header, "".join(buf)))
            header = line.startswith("||", pos)
            buf = []
            pos += 2 if header else 1
            continue
        step = 1
        if line[pos] == "\\":
            step = 2
        elif line[pos] in "[{" and (end := line.find("]" if line[pos] == "[" else "}", pos)) != -1:
            step = end + 1 - pos
        buf.append(line[pos : pos + step])
        pos += step
    if header is not None and "".join(buf).strip():
        cells.append((header, "".join(buf)))
    return cells


def _inline(s: str, marks: list[Mark] | None = None) -> list[Node]:
    marks = marks or []
    out: list[Node] = []
    buf: list[str] = []
    i = 0
    while i < len(s):
        token = _token(s, i, marks)
        if token is None:
            buf.append(s[i])
            i += 1
            continue
        out.extend(b.text("".join(buf), marks))
        buf.clear()
        nodes, i = token
        out.extend(nodes)
    out.extend(b.text("".join(buf), marks))
    return b.inline(out)


def _token(s: str, i: int, marks: list[Mark]) -> tuple[list[Node], int] | None:
    """The nodes of an inline construct starting at s[i] and the index after it, or None for a literal char."""
    ch = s[i]
    if ch == "\\" and i + 1 < len(s):
        if s[i + 1] == "\\":
            return [b.hard_break()], i + 2
        if s[i + 1] in _ESCAPABLE:
            return b.text(s[i + 1], marks), i + 2
        # Jira drops the backslash before an emoticon and leaves the emoticon as text.
        for token, _short in _EMOTICONS:
            if s.startswith(token, i + 1):
                return b.text(token, marks), i + 1 + len(token)
    if ch == "{":
        return _brace(s, i, marks)
    if ch == "!" and (image := _IMAGE.match(s, i)):
        return [b.media_single(image.group(1))], image.end()
    if ch == "[" and (end := s.find("]", i + 1)) != -1:
        nodes = _bracket(s[i + 1 : end], marks)
        return None if nodes is None else (nodes, end + 1)
    if ch in "hf" and (i == 0 or not s[i - 1].isalnum()) and (url := _URL.match(s, i)):
        href = url.group().rstrip(".,;:!?)'")
        return b.text(href, [*marks, {"type": "link", "attrs": {"href": href}}]), i + len(href)
    if ch in ":;(":
        for token, short in _EMOTICONS:
            if s.startswith(token, i) and emoticon_fits(s, i, token):
                return [b.emoji(short)], i + len(token)
    if ch == "?" and s.startswith("??", i):
        end = _closing(s, i, "??")
        if end is not None:
            return _inline(s[i + 2 : end], [*marks, {"type": "em"}]), end + 2
    if ch in _SIMPLE_MARKS and (ch in "^~" or i == 0 or not s[i - 1].isalnum()):
        end = _closing(s, i, ch)
        if end is not None:
            return _inline(s[i + 1 : end], [*marks, _SIMPLE_MARKS[ch]]), end + 1
    return None


def opens_markup(s: str, i: int) -> bool:
    """Whether inline markup starts at s[i], so that text meaning the character literally must escape it."""
    if s[i] not in _OPENERS:
        return False
    token = _token(s, i, [])
    # A macro the sandbox keeps as text is still one to Jira (Data Center shows an unknown one as an error, and one at
    # a line's start may open a block), so any macro's brace is escaped.
    return token is not None and (s[i] == "{" or token[0] != b.text(s[i : token[1]]))


def closes_mark(s: str, i: int, delim: str = "") -> bool:
    """Whether the delimiter at s[i] (by default the character there) may close a mark opened before it.

    It must follow text that is neither space nor a backslash (an escaped `\\*` is text) and precede a character
    that is not a letter or digit; superscript and subscript sit inside words (`x^2^`, `H~2~O`), so they may close
    there too.
    """
    delim = delim or s[i]
    after = i + len(delim)
    return (
        i > 0
        and not s[i - 1].isspace()
        and s[i - 1] != "\\"
        and (delim in "^~" or after == len(s) or not s[after].isalnum())
    )


def emoticon_fits(s: str, i: int, token: str) -> bool:
    """Emoticons stand apart from words, so that `f(x)`, `ID:D1`, `(/)A` or `a:(b` stay text.

    Jira draws one only when no letter or digit follows (atlassian-renderer's VALID_END); it does not look at
    what precedes, but an icon in the middle of `f(x)=1` is never what the writer meant, so a letter or digit
    before keeps it text too. Punctuation on either side does not: `Done (/).` is an emoticon.
    """
    after = i + len(token)
    return (i == 0 or not s[i - 1].isalnum()) and (after == len(s) or not s[after].isalnum())


def _closing(s: str, i: int, delim: str) -> int | None:
    """Where the mark opened at s[i] closes: after non-space content, where `closes_mark` allows it."""
    start = i + len(delim)
    if start >= len(s) or s[start].isspace() or s.startswith(delim, start):
        return None
    end = s.find(delim, start + 1)
    while end != -1:
        if closes_mark(s, end, delim):
            return end
        end = s.find(delim, end + 1)
    return None


def _brace(s: str, i: int, marks: list[Mark]) -> tuple[list[Node], int] | None:
    if s.startswith("{{", i) and (end := s.find("}}", i + 3)) != -1:
        return b.text(s[i + 2 : end], [*marks, {"type": "code"}]), end + 2
    colour = re.compile(r"\{colou?r:([^}]*)\}", re.I).match(s, i)
    if colour and (end := s.lower().find("{color}", colour.end())) != -1:
        value = b.hex_colour(colour.group(1))
        inner = [*marks, {"type": "textColor", "attrs": {"color": value}}] if value else marks
        return _inline(s[colour.end() : end], inner), end + len("{color}")
    status = re.compile(r"\{status(?::([^}]*))?\}", re.I).match(s, i)
    if status:
        params = _params(status.group(1) or "")
        return b.status(params.get("title", ""), params.get("colour", params.get("color", ""))), status.end()
    if anchor := _ANCHOR.match(s, i):
        # An anchor is a link target with nothing to show; ADF has no node for it.
        return [], anchor.end()
    if other := _OTHER_MACRO.match(s, i):
        # A macro Jira Cloud does not convert stays the text it was written as, its parameters untouched.
        return b.text(other.group(), marks), other.end()
    return None


def _bracket(content: str, marks: list[Mark]) -> list[Node] | None:
    """A mention or a link for `[...]`; None when the brackets are just text."""
    if content.startswith("~"):
        user = content[1:].strip()
        if user.lower().startswith("accountid:") and user[10:]:
            return [b.mention(user[10:])]
        if user and not any(c.isspace() for c in user):
            return [b.mention(user, "@" + user)]
        return None
    if content.startswith("^"):
        return [b.media_group(content[1:].strip())] if content[1:].strip() else None
    label, _sep, rest = content.partition("|")
    target, _sep, title = rest.partition("|") if _sep else (label, "", "")
    target = target.strip()
    if not _TARGET.match(target):
        return None
    if title.strip() in _CARD_TITLES:
        return [{"type": "inlineCard", "attrs": {"url": target}}]
    attrs = {"href": target}
    if title.strip():
        attrs["title"] = title.strip()
    if not rest or not label.strip():
        label = target.removeprefix("mailto:")
    return _inline(label, [*marks, {"type": "link", "attrs": attrs}])
