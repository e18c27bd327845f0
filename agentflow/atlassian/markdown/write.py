"""Helpers that write Markdown text; shared by the ADF, storage and wiki readers.

Escaping is deliberately light: the output is read by an LLM, so only characters that would silently turn
into markup when the Markdown is written back are escaped (not every ASCII punctuation mark).
"""

from __future__ import annotations

import re

_PUNCT_AFTER_BACKSLASH = re.compile(r"\\(?=[!-/:-@\[-`{-~])")
_INLINE_SPECIALS = re.compile(r"[*`]|(?<!\w)_|_(?!\w)|~(?=~)|(?<=~)~")
# Line starts that Markdown would read as a heading, quote, list item or thematic break.
# What may stand between < and > as a Markdown autolink.
_AUTOLINK = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^\s<>]*$")
_BLOCK_START = re.compile(r"^(\s*)(#{1,6}(?=\s|$)|>|[-+](?=\s|$)|\d{1,9}(?=[.)](?:\s|$)))", re.MULTILINE)


def escape_text(text: str) -> str:
    """Escape plain text so that it stays plain inside a Markdown paragraph."""
    text = _PUNCT_AFTER_BACKSLASH.sub(r"\\\\", text)
    return _INLINE_SPECIALS.sub(lambda m: "\\" + m.group(0), text)


def escape_block_starts(text: str) -> str:
    """Escape line starts of a rendered paragraph that would otherwise open a block construct."""

    def fix(match: re.Match[str]) -> str:
        lead, mark = match.group(1), match.group(2)
        if mark[0].isdigit():
            # "1." must become "1\." - the backslash goes after the number.
            return lead + mark + "\\"
        return lead + "\\" + mark

    return _BLOCK_START.sub(fix, text)


def code_span(text: str) -> str:
    """A code span whose backtick fence is longer than any backtick run inside."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence(code: str, language: str = "") -> str:
    """A fenced code block; the fence outgrows any backtick run in the code."""
    longest = max((len(run) for run in re.findall(r"`{3,}", code)), default=0)
    ticks = "`" * max(3, longest + 1)
    language = re.sub(r"\s+", "", language)
    body = code.rstrip("\n")
    return f"{ticks}{language}\n{body}\n{ticks}" if body else f"{ticks}{language}\n{ticks}"


def table_cell(text: str) -> str:
    """Fit rendered Markdown into one GFM table cell: one line, pipes escaped."""
    text = re.sub(r"(?:[ \t]*\\?\n[ \t]*)+", "<br>", text.strip())
    return re.sub(r"(?<!\\)\|", r"\\|", text)


def gfm_table(rows: list[list[str]]) -> str:
    """A GFM pipe table; the first row is the header. Cells must already be passed through table_cell."""
    rows = [row for row in rows if row]
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    padded = [row + [""] * (width - len(row)) for row in rows]
    lines = ["| " + " | ".join(padded[0]) + " |", "|" + " --- |" * width]
    lines += ["| " + " | ".join(row) + " |" for row in padded[1:]]
    return "\n".join(lines)


def indent(text: str, first: str, rest: str | None = None) -> str:
    """Prefix the first line with `first` and later non-empty lines with `rest` (default: spaces as wide)."""
    rest = " " * len(first) if rest is None else rest
    lines = text.split("\n")
    out = [first + lines[0]]
    out += [rest + line if line else "" for line in lines[1:]]
    return "\n".join(out)


def blockquote(text: str) -> str:
    """Quote every line of a block of Markdown."""
    return "\n".join("> " + line if line else ">" for line in text.split("\n"))


def join_blocks(blocks: list[str]) -> str:
    """Separate non-empty blocks with blank lines."""
    return "\n\n".join(block for block in blocks if block.strip())


def wrap_inline(inner: str, open_: str, close: str | None = None) -> str:
    """Wrap inline Markdown in delimiters, keeping surrounding whitespace outside so emphasis stays valid."""
    close = open_ if close is None else close
    stripped = inner.strip()
    if not stripped:
        return inner
    lead = inner[: len(inner) - len(inner.lstrip())]
    trail = inner[len(inner.rstrip()) :]
    return f"{lead}{open_}{stripped}{close}{trail}"


def link(label: str, href: str) -> str:
    """A link around already-rendered label Markdown; `<href>` when the label is the address itself. Spaces
    and parentheses in the address are percent-encoded so that it cannot end the link early."""
    if not href or not label.strip():
        return label
    if label == escape_text(href) and _AUTOLINK.match(href):
        return f"<{href}>"
    safe = href.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    return wrap_inline(label, "[", f"]({safe})")
