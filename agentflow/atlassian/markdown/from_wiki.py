"""Jira wiki markup (Jira Data Center bodies) to Markdown, following Jira's text formatting notation.

A line-oriented block reader (headings, lists, tables, block macros such as {code} and {panel}) with a
regex-based inline pass. Everything renders the way the ADF and storage readers render the same content, so
the model reads one Markdown whichever flavor it came from: underline and colour are dropped; panels become
quotes with a bold label; a line end inside a paragraph is a line break, as Jira draws it; mentions become
`@name`; emoticons are looked up in `emoticons`. A macro Jira does not know is kept as the text it was written as.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from agentflow.atlassian.markdown import emoticons
from agentflow.atlassian.markdown import write as w

PANEL_LABELS = {"info": "Info", "note": "Note", "warning": "Warning", "tip": "Tip"}
_BLOCK_MACRO = re.compile(r"\{(code|noformat|quote|panel|info|note|warning|tip|expand)(?::([^}]*))?\}", re.IGNORECASE)
_HEADING = re.compile(r"^\s*h([1-6])\.\s*(.*)$")
_QUOTE_LINE = re.compile(r"^\s*bq\.\s*(.*)$")
_RULE = re.compile(r"^\s*-{4,}\s*$")
_LIST_ITEM = re.compile(r"^\s*([*#]+|-)\s+(.*)$")
_TABLE_ROW = re.compile(r"^\s*\|")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]{1,31}:\S*$")

# Inline markup. Wiki emphasis must start after a non-word character and end before one.
_MONO = re.compile(r"\{\{(.+?)\}\}")
_LINK = re.compile(r"(?<!\\)\[([^\[\]\n]+)\]")
_IMAGE = re.compile(r"!([^\s!|][^!|\n]*?\.[a-zA-Z0-9]{2,5}|https?://[^!|\s]+)(?:\|[^!\n]*)?!")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_DROPPED_MACRO = re.compile(r"\{(?:color(?::[^}]*)?|anchor(?::[^}]*)?)\}", re.IGNORECASE)
_STATUS = re.compile(r"\{status(?::([^}]*))?\}", re.IGNORECASE)
# Any other {name} or {name:params} is a macro this reader does not know; it stays as written.
_OTHER_MACRO = re.compile(r"\{[a-zA-Z][\w-]*(?::[^{}\n]*)?\}")
# Jira links a bare address on its own; the characters that end a sentence are not part of it.
_BARE_URL = re.compile(r"(?<![\w/])(?:https?|ftp)://[^\s\[\]|<>\"{}]+")
_HOLE = re.compile("\ue001(\\d+)\ue002")


def _emphasis(char: str) -> re.Pattern[str]:
    c = re.escape(char)
    return re.compile(rf"(?<![\w{c}]){c}(?=[^\s{c}])(.+?)(?<=[^\s{c}]){c}(?![\w{c}])")


_SPANS = [
    (_emphasis("*"), "**", "**"),
    (_emphasis("_"), "*", "*"),
    (re.compile(r"\?\?(?=\S)(.+?)(?<=\S)\?\?"), "*", "*"),
    (_emphasis("-"), "~~", "~~"),
    (_emphasis("+"), "", ""),
    # Sub- and superscript are used inside words (H~2~O), so they need no word boundary.
    (re.compile(r"\^([^\s^]+)\^"), "<sup>", "</sup>"),
    (re.compile(r"~([^\s~]+)~"), "<sub>", "</sub>"),
]


def wiki_to_markdown(text: str | None) -> str:
    if not text or not text.strip():
        return ""
    return w.join_blocks(_blocks(text.replace("\r\n", "\n").replace("\r", "\n")))


def _starts_block(line: str) -> bool:
    return bool(
        _HEADING.match(line)
        or _QUOTE_LINE.match(line)
        or _RULE.match(line)
        or _LIST_ITEM.match(line)
        or _TABLE_ROW.match(line)
        or _BLOCK_MACRO.match(line.strip())
    )


def _blocks(text: str) -> list[str]:
    out: list[str] = []
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        macro = _BLOCK_MACRO.match(line.strip())
        if not line.strip():
            index += 1
        elif macro:
            block, lines, index = _block_macro(macro, lines, index)
            out.append(block)
        elif match := _HEADING.match(line):
            title = _inline(match.group(2)).strip()
            out.append(f"{'#' * int(match.group(1))} {title}" if title else "")
            index += 1
        elif match := _QUOTE_LINE.match(line):
            out.append(w.blockquote(_inline(match.group(1))))
            index += 1
        elif _RULE.match(line):
            out.append("---")
            index += 1
        elif _LIST_ITEM.match(line):
            end = _run_end(lines, index, _LIST_ITEM)
            out.append(_list(lines[index:end]))
            index = end
        elif _TABLE_ROW.match(line):
            end = _run_end(lines, index, _TABLE_ROW)
            out.append(_table(lines[index:end]))
            index = end
        else:
            end = index + 1
            while end < len(lines) and lines[end].strip() and not _starts_block(lines[end]):
                end += 1
            paragraph = "\n".join(line.strip() for line in lines[index:end])
            out.append(w.escape_block_starts(_inline(paragraph)))
            index = end
    return out


def _run_end(lines: list[str], start: int, pattern: re.Pattern[str]) -> int:
    end = start + 1
    while end < len(lines) and pattern.match(lines[end]) and not _RULE.match(lines[end]):
        end += 1
    return end


def _block_macro(macro: re.Match[str], lines: list[str], index: int) -> tuple[str, list[str], int]:
    """Render a {code}/{quote}/{panel}-style macro starting on lines[index]; returns the Markdown and where
    to continue (text after the closing tag on its line is put back as a line of its own)."""
    name = macro.group(1).lower()
    rest = "\n".join(lines[index:]).strip()[macro.end() :]
    close = re.search(r"\{" + name + r"\}", rest, re.IGNORECASE)
    body, after = (rest[: close.start()], rest[close.end() :]) if close else (rest, "")
    remaining = after.split("\n") if after.strip() else []
    params = _params(macro.group(2) or "")
    # Parameters are plain text: no markup and no emoticons inside them.
    title = w.escape_text(params.get("title", ""))
    if name in ("code", "noformat"):
        language = params.get("language", params.get("", "")) if name == "code" else ""
        # The title is usually the file's name; it is said before the code.
        block = w.join_blocks([f"**{title}**" if title else "", w.fence(body.strip("\n"), language)])
    elif name == "expand":
        title = w.escape_text(params.get("title", params.get("", "")))
        block = w.join_blocks([f"**{title}**" if title else "", *_blocks(body)])
    else:
        inner = w.join_blocks(_blocks(body))
        label = f"{PANEL_LABELS[name]}:" if name in PANEL_LABELS else title
        if name in PANEL_LABELS and title:
            inner = w.join_blocks([f"**{title}**", inner])
        if label:
            # The label shares the first paragraph's line; a list or table below it starts a block of its own.
            glue = " " if (name in PANEL_LABELS and title) or _opens_with_paragraph(body) else "\n\n"
            inner = f"**{label}**{glue}{inner}".rstrip()
        block = w.blockquote(inner) if inner else ""
    return block, remaining, 0


def _opens_with_paragraph(body: str) -> bool:
    first = next((line for line in body.split("\n") if line.strip()), "")
    return bool(first) and not _starts_block(first)


def _params(text: str) -> dict[str, str]:
    """`java|title=x` -> {"": "java", "title": "x"}: a bare first value is the macro's default parameter."""
    params: dict[str, str] = {}
    for part in text.split("|"):
        key, sep, value = part.partition("=")
        if sep:
            params[key.strip().lower()] = value.strip()
        elif part.strip():
            params.setdefault("", part.strip())
    return params


def _list(lines: list[str]) -> str:
    out: list[str] = []
    markers: list[str] = []  # the Markdown marker of each open level, for indentation
    counters: list[int] = []
    kinds: list[str] = []
    for line in lines:
        match = _LIST_ITEM.match(line)
        if match is None:
            continue
        symbols = "*" if match.group(1) == "-" else match.group(1)
        depth = len(symbols)
        del markers[depth:], counters[depth:], kinds[depth:]
        for level in range(depth):
            kind = "#" if symbols[level] == "#" else "*"
            if level >= len(kinds) or kinds[level] != kind:
                del markers[level:], counters[level:], kinds[level:]
                kinds.append(kind)
                counters.append(0)
                markers.append("1. " if kind == "#" else "- ")
        counters[-1] += 1
        markers[-1] = f"{counters[-1]}. " if kinds[-1] == "#" else "- "
        indent = "".join(" " * len(marker) for marker in markers[:-1])
        out.append(w.indent(_inline(match.group(2).strip()), indent + markers[-1]))
    return "\n".join(out)


def _split_row(line: str) -> list[tuple[str, bool]]:
    """A table row's cells as (text, is_header); pipes inside links, macros or escapes do not split."""
    cells: list[tuple[str, bool]] = []
    current, header, depth, index = "", False, 0, 0
    line = line.strip()
    while index < len(line):
        char = line[index]
        if char == "\\" and index + 1 < len(line):
            current += line[index : index + 2]
            index += 2
            continue
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(0, depth - 1)
        if char == "|" and depth == 0:
            if index > 0:
                cells.append((current, header))
            header = line.startswith("||", index)
            index += 2 if header else 1
            current = ""
            continue
        current += char
        index += 1
    if current.strip():
        cells.append((current, header))
    return cells


def _table(lines: list[str]) -> str:
    rows = [[w.table_cell(_inline(text.strip())) for text, _ in _split_row(line)] for line in lines]
    return w.gfm_table(rows)


def _inline(text: str) -> str:
    """Convert inline wiki markup. Code, links, macros, emoticons and escapes are swapped out for numbered holes
    first so that the emphasis and escaping passes cannot touch them, nor an emoticon the text of another."""
    holes: list[str] = []

    def hole(markdown: str) -> str:
        holes.append(markdown)
        return f"\ue001{len(holes) - 1}\ue002"

    text = _MONO.sub(lambda m: hole(w.code_span(m.group(1))), text)
    # A line end inside a paragraph is a line break in Jira, like the explicit `\\`.
    text = re.sub(r"\\\\\n?|\n", lambda m: hole("\\\n"), text)
    text = _ESCAPE.sub(lambda m: hole(w.escape_text(m.group(1))), text)
    text = _DROPPED_MACRO.sub("", text)
    text = _STATUS.sub(lambda m: hole(_status(m.group(1) or "")), text)
    text = _OTHER_MACRO.sub(lambda m: hole(w.escape_text(m.group(0))), text)
    text = _IMAGE.sub(lambda m: hole(_image(m.group(1))), text)
    text = _LINK.sub(lambda m: hole(_link(m.group(1))), text)
    text = _BARE_URL.sub(lambda m: _bare_url(m.group(0), hole), text)
    text = emoticons.WIKI_TOKEN.sub(lambda m: hole(emoticons.BY_TOKEN[m.group(1)]), text)
    for pattern, opening, closing in _SPANS:
        # Only the delimiters are holes: the text between them still gets escaped below.
        text = pattern.sub(lambda m, o=opening, c=closing: hole(o) + m.group(1) + hole(c), text)
    text = w.escape_text(text)
    while _HOLE.search(text):
        text = _HOLE.sub(lambda m: holes[int(m.group(1))], text)
    return text


def _bare_url(found: str, hole: Callable[[str], str]) -> str:
    url = found.rstrip(".,;:!?)'")
    return hole(w.link(w.escape_text(url), url)) + found[len(url) :]


def _status(params: str) -> str:
    """`{status:colour=Green|title=Done}` reads `[DONE]`, as a status lozenge does from ADF and storage."""
    title = _params(params).get("title", "").strip()
    return f"[{w.escape_text(title.upper())}]" if title else ""


def _image(target: str) -> str:
    return f"![]({target})" if _URL.match(target) else f"[attachment: {target}]"


def _link(body: str) -> str:
    if body.startswith("~"):
        return "@" + body[1:].strip()
    if body.startswith("^"):
        return f"[attachment: {body[1:].strip()}]"
    text, sep, target = body.partition("|")
    target = target.split("|")[0].strip() if sep else text.strip()
    if not _URL.match(target) and not target.startswith(("/", "#")):
        return w.escape_text(f"[{body}]") if not sep else _inline(text)
    if not sep:
        return w.link(w.escape_text(target), target) if _URL.match(target) else w.escape_text(target)
    return w.link(_inline(text.strip()) or w.escape_text(target), target)
