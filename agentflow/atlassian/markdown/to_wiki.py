"""Markdown to Jira wiki markup for Jira Data Center writes: the inverse of from_wiki.

Wiki list items and table cells hold one line, so blocks nested in them are flattened onto that line with
`\\\\` breaks. Characters that would turn into wiki markup are backslash-escaped (Jira hides the backslash).
"""

from __future__ import annotations

import re

from markdown_it.tree import SyntaxTreeNode

from agentflow.atlassian.markdown import emoticons
from agentflow.atlassian.markdown import parse as p

# Jira wiki has four panel macros; the ADF-only types map to the closest one.
PANEL_MACROS = {"info": "info", "note": "note", "warning": "warning", "tip": "tip", "error": "warning"}
PANEL_MACROS["success"] = "tip"
DELIMITERS = {"strong": "*", "em": "_", "s": "-"}
TAG_DELIMITERS = {"sub": "~", "sup": "^", "u": "+", "ins": "+"}
_SPECIAL = re.compile(r"[\\{}\[\]|*^~+!]|(?<!\w)_|_(?!\w)|(?<!\w)-|-(?!\w)|\?(?=\?)|^#", re.MULTILINE)
_ACCOUNT_MENTION = re.compile(r"@(accountid:[\w:-]+)")


def markdown_to_wiki(markdown: str) -> str:
    return "\n\n".join(block for block in (_block(node) for node in p.parse(markdown).children) if block)


def escape(text: str) -> str:
    """Backslash-escape wiki markup characters and emoticon tokens; `@accountid:x` mentions become wiki mentions."""
    parts = _ACCOUNT_MENTION.split(text)
    # split() puts the captured account ids at the odd positions.
    return "".join(f"[~{part}]" if odd else _escape_text(part) for odd, part in _alternate(parts))


def _escape_text(text: str) -> str:
    return emoticons.WIKI_TOKEN.sub(r"\\\1", _SPECIAL.sub(r"\\\g<0>", text))


def _alternate(parts: list[str]) -> list[tuple[bool, str]]:
    return [(index % 2 == 1, part) for index, part in enumerate(parts)]


def _block(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind == "paragraph":
        return _inlines(p.inline_children(node), "\n")
    if kind == "heading":
        return f"h{node.tag[1]}. {_inlines(p.inline_children(node), ' ')}"
    if kind in ("bullet_list", "ordered_list"):
        return "\n".join(_list(node, ""))
    if kind in ("fence", "code_block"):
        language = p.fence_language(node)
        macro = f"code:{language}" if language else "noformat"
        return "{" + macro + "}\n" + p.code_text(node) + "\n{" + macro.split(":")[0] + "}"
    if kind == "blockquote":
        panel = p.panel_type(node)
        if panel is None:
            return "{quote}\n" + markdown_blocks(node.children) + "\n{quote}"
        first = _inlines(p.panel_body_inlines(node), "\n").strip()
        body = "\n\n".join(part for part in (first, markdown_blocks(node.children[1:])) if part)
        return "{" + PANEL_MACROS[panel] + "}\n" + body + "\n{" + PANEL_MACROS[panel] + "}"
    if kind == "hr":
        return "----"
    if kind == "table":
        return _table(node)
    return escape(p.plain_text(node).strip())


def markdown_blocks(nodes: list[SyntaxTreeNode]) -> str:
    return "\n\n".join(block for block in (_block(node) for node in nodes) if block)


def _list(node: SyntaxTreeNode, prefix: str) -> list[str]:
    marker = prefix + ("#" if node.type == "ordered_list" else "*")
    lines: list[str] = []
    for item in node.children:
        state = p.task_state(item) if p.is_task_list(node) else None
        texts: list[str] = []
        nested: list[str] = []
        for child in item.children:
            if child.type in ("bullet_list", "ordered_list"):
                nested += _list(child, marker)
            elif child.type == "paragraph":
                inlines = [n for n in p.inline_children(child) if state is None or not p.is_checkbox(n)]
                texts.append(_inlines(inlines, " ").strip())
            else:
                texts.append(_block(child).replace("\n", " \\\\ "))
        box = "" if state is None else ("\\[x\\] " if state else "\\[ \\] ")
        lines.append(f"{marker} {box}" + " \\\\ ".join(text for text in texts if text))
        lines += nested
    return lines


def _table(node: SyntaxTreeNode) -> str:
    lines = []
    for section in node.children:
        for row in section.children:
            bar = "||" if section.type == "thead" else "|"
            cells = [_inlines(p.inline_children(cell), " ").strip() or " " for cell in row.children]
            lines.append(bar + bar.join(cells) + bar)
    return "\n".join(lines)


def _inlines(nodes: list[SyntaxTreeNode], softbreak: str) -> str:
    # A hard break is a newline in a paragraph; elsewhere (one-line contexts) it is the wiki's `\\`.
    hard_break = "\n" if softbreak == "\n" else " \\\\ "
    out: list[str] = []
    for node in nodes:
        tag = p.html_tag(node)
        if tag is not None:
            out.append(hard_break if tag[0] == "br" else TAG_DELIMITERS[tag[0]])
        elif p.is_checkbox(node):
            out.append(escape(p.checkbox_text(node)))
        else:
            out.append(_inline(node, softbreak, hard_break))
    return "".join(out)


def _inline(node: SyntaxTreeNode, softbreak: str, hard_break: str) -> str:
    kind = node.type
    if kind == "text":
        return escape(node.content)
    if kind == "softbreak":
        return softbreak
    if kind == "hardbreak":
        return hard_break
    if kind == "code_inline":
        return "{{" + node.content.replace("}}", "} }") + "}}"
    if kind in DELIMITERS:
        inner = _inlines(node.children, softbreak)
        return f"{DELIMITERS[kind]}{inner}{DELIMITERS[kind]}" if inner.strip() else inner
    if kind == "link":
        href = str(node.attrs.get("href", "")).replace("|", "%7C").replace("]", "%5D")
        text = _inlines(node.children, softbreak)
        return f"[{href}]" if text in (href, escape(href)) else f"[{text}|{href}]"
    if kind == "image":
        return "!" + str(node.attrs.get("src", "")).replace("!", "%21") + "!"
    return escape(p.plain_text(node))
