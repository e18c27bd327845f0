"""Body conversions between Markdown (what the LLM reads and writes) and Atlassian formats.

Jira Cloud bodies are ADF, Jira Data Center bodies are wiki markup, Confluence bodies are storage XHTML.
Readers never raise: unknown or broken input degrades to its text. The work is done in the `markdown` package;
this module is their public face and adds truncation.
"""

from __future__ import annotations

import re
from typing import Any

from bs4 import BeautifulSoup

from agentflow.atlassian.markdown.from_adf import adf_to_markdown as _adf_to_markdown
from agentflow.atlassian.markdown.from_storage import storage_to_markdown as _storage_to_markdown
from agentflow.atlassian.markdown.from_wiki import wiki_to_markdown as _wiki_to_markdown

__all__ = [
    "adf_to_markdown",
    "markdown_to_adf",
    "markdown_to_storage",
    "markdown_to_wiki",
    "storage_to_markdown",
    "truncate_markdown",
    "wiki_to_markdown",
]

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})")


def adf_to_markdown(doc: dict[str, Any] | None) -> str:
    return _adf_to_markdown(doc) if doc else ""


def storage_to_markdown(xhtml: str | None) -> str:
    if not xhtml:
        return ""
    try:
        return _storage_to_markdown(xhtml)
    except RecursionError:
        # markdownify recurses once per nesting level; absurdly deep markup falls back to its text.
        return BeautifulSoup(xhtml, "html.parser").get_text(" ", strip=True)


def wiki_to_markdown(text: str | None) -> str:
    return _wiki_to_markdown(text) if text else ""


# The writers parse Markdown with markdown-it; a run that only reads never loads them.


def markdown_to_adf(markdown: str) -> dict[str, Any]:
    from agentflow.atlassian.markdown.to_adf import markdown_to_adf as to_adf

    return to_adf(markdown or "")


def markdown_to_storage(markdown: str) -> str:
    from agentflow.atlassian.markdown.to_storage import markdown_to_storage as to_storage

    return to_storage(markdown)


def markdown_to_wiki(markdown: str) -> str:
    from agentflow.atlassian.markdown.to_wiki import markdown_to_wiki as to_wiki

    return to_wiki(markdown)


def truncate_markdown(markdown: str, max_chars: int) -> tuple[str, bool]:
    """Shorten Markdown to at most max_chars, preferring the end of a block; a code fence left open by the
    cut is closed (within the budget). Returns the text and whether anything was cut."""
    if len(markdown) <= max_chars:
        return markdown, False
    if max_chars <= 0:
        return "", True
    lines = markdown.split("\n")
    block_end = 0  # the last cut point after a whole block, outside code
    line_end, closing = 0, ""  # the last cut point after a whole line, with the fence that then needs closing
    fence: tuple[str, str] | None = None  # (indent, marker) of the open fence
    position = 0
    for index, line in enumerate(lines):
        match = _FENCE.match(line)
        if match and fence is None:
            fence = (match.group(1), match.group(2))
        elif match and fence is not None and _closes(line, match, fence[1]):
            fence = None
        end = position + len(line)
        close = "" if fence is None else f"\n{fence[0]}{fence[1]}"
        if end > max_chars:
            break
        if end + len(close) <= max_chars and line.strip():
            line_end, closing = end, close
            next_blank = index + 1 < len(lines) and not lines[index + 1].strip()
            if fence is None and next_blank:
                block_end = end
        position = end + 1
    if block_end >= max_chars // 2:
        return markdown[:block_end].rstrip(), True
    if line_end:
        return markdown[:line_end].rstrip() + closing, True
    # A single overlong first line: cut at a word boundary if there is one in the second half.
    head = markdown[:max_chars]
    space = head.rfind(" ")
    return (head[:space] if space >= max_chars // 2 else head).rstrip(), True


def _closes(line: str, match: re.Match[str], opener: str) -> bool:
    marker = match.group(2)
    rest = line[match.end() :]
    return marker[0] == opener[0] and len(marker) >= len(opener) and not rest.strip()
