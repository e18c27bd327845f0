"""Slack rendering of a finished run: `to_mrkdwn` turns agentflow's Markdown into Slack's mrkdwn dialect, and
`blocks_for_run` builds the Block Kit message (header, the report in sections, the staged changes with the
command that applies them, the run's facts) inside Slack's size limits.

The Markdown is parsed (markdown-it-py: CommonMark with GFM tables and strikethrough) and the tree rendered,
so formatting characters inside code, links and escapes are never mistaken for markup.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

from agentflow.changes.plan import Change
from agentflow.report import describe_reason, footer_lines
from agentflow.runs import RunRecord

# Slack's documented limits: https://api.slack.com/reference/block-kit/blocks
HEADER_LIMIT = 150
SECTION_LIMIT = 3000
BLOCK_LIMIT = 50
TEXT_LIMIT = 3000  # the top-level `text`, which notifications show
# chat.postMessage refuses blocks holding more than about 12,000 characters of text in all (`msg_blocks_too_long`),
# a limit Slack does not document for sections (slackapi/bolt-js#2509): a long report is cut before that.
MESSAGE_TEXT_LIMIT = 12_000
CHANGES_SHOWN = 12
SUMMARY_CHARS = 150

INDENT = "    "
RULE = "―" * 24
# Raw HTML stays text: Slack would not render it, and escaping it keeps `<!channel>` and the like from pinging.
_PARSER = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_ABSOLUTE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
# Only `to_mrkdwn` writes ``` (text and code have theirs broken up), always alone on a line, maybe quoted or indented.
_FENCE = re.compile(r"^[> ]*```$")


# --- Markdown -> mrkdwn ---------------------------------------------------------------------------------------


def to_mrkdwn(markdown: str) -> str:
    """Slack mrkdwn for a Markdown text; constructs Slack lacks degrade to readable text rather than fail."""
    return "\n\n".join(_blocks(SyntaxTreeNode(_PARSER.parse(markdown or "")).children))


def _blocks(nodes: list[SyntaxTreeNode]) -> list[str]:
    return [text for node in nodes if (text := _block(node))]


def _block(node: SyntaxTreeNode) -> str:
    match node.type:
        case "heading":
            text = _inline(node.children[0], bold=True).strip() if node.children else ""
            return f"*{text}*" if text else ""
        case "paragraph":
            return _inline(node.children[0]) if node.children else ""
        case "fence" | "code_block":
            code = node.content.rstrip("\n")
            return f"```\n{_escape(code)}\n```"
        case "blockquote":
            lines = "\n\n".join(_blocks(node.children)).split("\n")
            return "\n".join(f"> {line}" if line else ">" for line in lines)
        case "bullet_list" | "ordered_list":
            return _list(node)
        case "table":
            return _table(node)
        case "hr":
            return RULE
        case _:
            return _escape(node.content)


def _list(node: SyntaxTreeNode) -> str:
    ordered = node.type == "ordered_list"
    start = _int(node.attrs.get("start"), 1) if ordered else 1
    items = []
    for number, item in enumerate(node.children, start):
        first, *rest = "\n".join(_blocks(item.children)).split("\n")
        marker = f"{number}." if ordered else "•"
        # Continuation lines, nested lists among them, sit one indent deeper than the marker.
        items.append("\n".join([f"{marker} {first}".rstrip(), *(INDENT + line if line else "" for line in rest)]))
    return "\n".join(items)


def _table(node: SyntaxTreeNode) -> str:
    """Slack has no tables: the cells as plain text, in aligned columns of a code block."""
    rows = [
        [(_plain(cell), str(cell.attrs.get("style", ""))) for cell in row.children]
        for part in node.children
        for row in part.children
    ]
    columns = max(len(row) for row in rows)
    widths = [max((_width(row[i][0]) for row in rows if i < len(row)), default=0) for i in range(columns)]
    lines = ["  ".join(_pad(text, widths[i], style) for i, (text, style) in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "```\n" + _escape("\n".join(lines)) + "\n```"


def _pad(text: str, width: int, style: str) -> str:
    space = width - _width(text)
    if "right" in style:
        return " " * space + text
    if "center" in style:
        return " " * (space // 2) + text + " " * (space - space // 2)
    return text + " " * space


def _width(text: str) -> int:
    """Columns a monospace font gives the text: wide (CJK, most emoji) characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _inline(node: SyntaxTreeNode, bold: bool = False) -> str:
    """`bold` inside a heading, already bold as a whole: Slack does not nest `*`, so inner strong adds none."""
    return "".join(_span(child, bold) for child in node.children)


def _span(node: SyntaxTreeNode, bold: bool) -> str:
    match node.type:
        case "text":
            return _escape(node.content)
        case "softbreak" | "hardbreak":
            # Slack keeps line breaks; reports put one fact per line (`**Owner:** ...`) and mean them.
            return "\n"
        case "code_inline":
            return f"`{_escape(node.content)}`"
        case "strong":
            inner = _inline(node, bold)
            return inner if bold else f"*{inner}*"
        case "em":
            return f"_{_inline(node, bold)}_"
        case "s":
            return f"~{_inline(node, bold)}~"
        case "link":
            return _link(str(node.attrs.get("href", "")), _plain(node))
        case "image":
            return _link(str(node.attrs.get("src", "")), _plain(node))
        case _:
            return _escape(node.content)


def _link(url: str, label: str) -> str:
    if not _ABSOLUTE.match(url):
        return _escape(label)  # a relative URL leads nowhere from Slack
    target = _escape(url).replace("|", "%7C")  # `|` would end the URL part of `<url|label>`
    if not label or label in (url, url.removeprefix("mailto:")):
        return f"<{target}>"
    return f"<{target}|{_escape(label)}>"


def _plain(node: SyntaxTreeNode) -> str:
    """The text of inline content without markup, for link labels and table cells (a link keeps its URL there)."""
    parts = []
    for child in node.children:
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "link" and node.type != "link":
            label, url = _plain(child), str(child.attrs.get("href", ""))
            parts.append(f"{label} ({url})" if _ABSOLUTE.match(url) and label != url else label)
        else:
            parts.append(_plain(child))
    return "".join(parts)


def _escape(text: str) -> str:
    """Slack's three escapes; and a zero-width space inside any run of backticks, which would open a code block."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"`(?=``)", "`\u200b", escaped)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


# --- splitting into sections ----------------------------------------------------------------------------------


def split_sections(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """mrkdwn in pieces of at most `limit` characters, cut between paragraphs where possible, else between lines
    (a line longer than a piece, at a space); a code block cut in two is closed and reopened."""
    lines = text.split("\n")
    reserve = max((len(line) + 1 for line in lines if _FENCE.match(line)), default=0)
    return _Packer(limit, reserve).pack(lines)


class _Packer:
    def __init__(self, limit: int, reserve: int) -> None:
        # Room is kept for the line closing a code block that a cut leaves open, and for reopening it.
        self.budget = max(limit - reserve, 1)
        self.width = max(limit - 2 * reserve, 1)
        self.chunks: list[str] = []
        self.lines: list[str] = []
        self.size = 0
        self.start = 0  # lines[:start] is the reopened fence, not content
        self.fence: str | None = None  # the line that opened the code block we are in, reused to close and reopen it

    def pack(self, lines: list[str]) -> list[str]:
        for paragraph in _paragraphs(lines):
            piece = ([""] if self.has_content() else []) + paragraph
            if not self.fits(piece) and self.has_content():
                self.flush()
                piece = paragraph
            if self.fits(piece):
                self.add(piece)
                continue
            for line in paragraph:
                for part in _cut(line, self.width):
                    if not self.fits([part]) and self.has_content():
                        self.flush()
                    self.add([part])
        self.flush()
        return self.chunks

    def has_content(self) -> bool:
        return len(self.lines) > self.start

    def cost(self, piece: list[str]) -> int:
        return sum(map(len, piece)) + len(piece) - (0 if self.lines else 1)

    def fits(self, piece: list[str]) -> bool:
        return self.size + self.cost(piece) <= self.budget

    def add(self, piece: list[str]) -> None:
        self.size += self.cost(piece)
        self.lines.extend(piece)
        for line in piece:
            if _FENCE.match(line):
                self.fence = None if self.fence else line

    def flush(self) -> None:
        chunk = "\n".join(self.lines + ([self.fence] if self.fence else [])).strip("\n")
        if self.has_content() and chunk.strip():
            self.chunks.append(chunk)
        self.lines = [self.fence] if self.fence else []
        self.size = len(self.fence) if self.fence else 0
        self.start = len(self.lines)


def _paragraphs(lines: list[str]) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    for line in lines:
        if line:
            groups[-1].append(line)
        elif groups[-1]:
            groups.append([])
    return [group for group in groups if group]


def _cut(line: str, width: int) -> list[str]:
    parts = []
    while len(line) > width:
        space = line.rfind(" ", width // 2, width)
        at = space if space > 0 else width
        parts.append(line[:at])
        line = line[at:].lstrip(" ") if space > 0 else line[at:]
    return [*parts, line]


# --- the message for a run --------------------------------------------------------------------------------------


def blocks_for_run(record: RunRecord, *, apply_allowed: bool = True) -> list[dict[str, Any]]:
    """Header, report sections, staged changes (with the apply command when `apply_allowed`), facts."""
    header = {"type": "header", "text": {"type": "plain_text", "text": _fit(_title(record), HEADER_LIMIT)}}
    pending = pending_changes(record)
    tail = [_section(_changes_text(record, pending, apply_allowed))] if pending else []
    tail.append(_context([to_mrkdwn(line) for line in footer_lines(record)]))
    report = _report_blocks(
        to_mrkdwn(record.report or ""),
        record.id,
        max_blocks=BLOCK_LIMIT - 1 - len(tail),
        max_chars=MESSAGE_TEXT_LIMIT - _chars([header, *tail]),
    )
    return [header, *report, *tail]


def text_fallback(record: RunRecord) -> str:
    """The message's top-level `text`: what a notification or a client without blocks shows."""
    pending = len(pending_changes(record))
    staged = f", {pending} staged change{'s' if pending != 1 else ''} to review" if pending else ""
    return _fit(_escape(f"{_title(record)}{staged} (run {record.id})"), TEXT_LIMIT)


def ephemeral(text: str) -> dict[str, Any]:
    """A slash-command reply only the person who typed the command sees."""
    return {"response_type": "ephemeral", "text": text}


def in_channel(blocks: list[dict[str, Any]], text: str) -> dict[str, Any]:
    """A slash-command reply the whole channel sees."""
    return {"response_type": "in_channel", "blocks": blocks, "text": text}


def pending_changes(record: RunRecord) -> list[Change]:
    """Staged changes not applied yet (`writes: auto` may have applied some at the end of the run)."""
    done = {item.index for item in record.applied if item.state == "applied"}
    return [change for change in record.changes if change.index not in done]


def _title(record: RunRecord) -> str:
    return f"{record.workflow}: {describe_reason(record.terminal_reason)}"


def _report_blocks(text: str, run_id: str, *, max_blocks: int, max_chars: int) -> list[dict[str, Any]]:
    chunks = split_sections(text) or ["_(no report)_"]
    if len(chunks) <= max_blocks and sum(map(len, chunks)) <= max_chars:
        return [_section(chunk) for chunk in chunks]
    notice = _context(
        [f"_The report was cut to fit in Slack: `agentflow runs show {_escape(run_id)}` shows all of it._"]
    )
    kept: list[str] = []
    room = max_chars - _chars([notice])
    for chunk in chunks[: max_blocks - 1]:
        if len(chunk) > room:
            # Fill what room is left with the head of the next piece, cut at a paragraph or line as usual.
            kept.extend(split_sections(chunk, room)[:1] if room >= 200 else [])
            break
        kept.append(chunk)
        room -= len(chunk)
    return [*map(_section, kept), notice]


def _changes_text(record: RunRecord, pending: list[Change], apply_allowed: bool) -> str:
    lines = [f"*{len(pending)} staged change{'s' if len(pending) != 1 else ''}, not applied yet*"]
    for change in pending[:CHANGES_SHOWN]:
        summary = " ".join(to_mrkdwn(_fit(change.summary, SUMMARY_CHARS)).split("\n"))
        lines.append(f"`{change.placeholder}` {_escape(change.tool)} {_escape(change.target)}: {summary}")
    if len(pending) > CHANGES_SHOWN:
        lines.append(f"…and {len(pending) - CHANGES_SHOWN} more: `agentflow runs show {record.id} --changes`")
    if apply_allowed:
        lines.append(
            f"Apply them with `/agentflow apply {record.id}` (or `agentflow apply {record.id}` in a terminal)."
        )
    else:
        lines.append("Nothing is written until someone allowed to apply changes approves them.")
    return _fit("\n".join(lines), SECTION_LIMIT)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _fit(text, SECTION_LIMIT)}}


def _context(texts: list[str]) -> dict[str, Any]:
    # A context block holds at most 10 elements, each text at most 3000 characters.
    elements = [{"type": "mrkdwn", "text": _fit(text, SECTION_LIMIT)} for text in texts if text][:10]
    return {"type": "context", "elements": elements}


def _chars(blocks: list[dict[str, Any]]) -> int:
    texts = [block["text"]["text"] for block in blocks if "text" in block]
    return sum(map(len, texts)) + sum(len(e["text"]) for block in blocks for e in block.get("elements", []))


def _fit(text: str, limit: int) -> str:
    """The last guard on Slack's limits: an over-long text loses its end, marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
