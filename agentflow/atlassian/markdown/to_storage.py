"""Markdown to Confluence storage format (well-formed XHTML) for Confluence writes.

Code fences become the code macro (language parameter, CDATA body), task lists become <ac:task-list>,
`> **Info:** ...` quotes become info/note/warning/tip panels. Raw HTML in the Markdown is written as text.
"""

from __future__ import annotations

import html
import re

from markdown_it.tree import SyntaxTreeNode

from agentflow.atlassian.markdown import parse as p

# Confluence has four panel macros; the ADF-only types map to the closest one.
PANEL_MACROS = {"info": "info", "note": "note", "warning": "warning", "tip": "tip", "error": "warning"}
PANEL_MACROS["success"] = "tip"
INLINE_TAGS = {"strong": "strong", "em": "em", "s": "s"}
# Characters XML 1.0 forbids; Confluence rejects a body containing them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def markdown_to_storage(markdown: str) -> str:
    return _Writer().blocks(p.parse(_XML_INVALID.sub("", markdown or "")).children)


def _text(text: str) -> str:
    return html.escape(text, quote=False)


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def _cdata(text: str) -> str:
    # "]]>" would end the section early, so it is split across two sections.
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


class _Writer:
    """Holds the task id counter: task ids must be unique within a page."""

    def __init__(self) -> None:
        self.task_id = 0

    def blocks(self, nodes: list[SyntaxTreeNode]) -> str:
        return "".join(self.block(node) for node in nodes)

    def block(self, node: SyntaxTreeNode) -> str:
        kind = node.type
        if kind == "paragraph":
            inner = self.inlines(p.inline_children(node))
            return inner if node.hidden else f"<p>{inner}</p>"
        if kind == "heading":
            return f"<{node.tag}>{self.inlines(p.inline_children(node))}</{node.tag}>"
        if kind == "bullet_list":
            return self.task_list(node) if p.is_task_list(node) else f"<ul>{self.items(node)}</ul>"
        if kind == "ordered_list":
            start = node.attrs.get("start", 1)
            opening = f'<ol start="{int(start)}">' if start != 1 else "<ol>"
            return f"{opening}{self.items(node)}</ol>"
        if kind in ("fence", "code_block"):
            return self.code(p.code_text(node), p.fence_language(node))
        if kind == "blockquote":
            return self.quote(node)
        if kind == "hr":
            return "<hr/>"
        if kind == "table":
            return self.table(node)
        text = p.plain_text(node).strip()
        return f"<p>{_text(text)}</p>" if text else ""

    def items(self, node: SyntaxTreeNode) -> str:
        return "".join(f"<li>{self.blocks(item.children)}</li>" for item in node.children)

    def code(self, code: str, language: str) -> str:
        parameter = f'<ac:parameter ac:name="language">{_text(language)}</ac:parameter>' if language else ""
        body = f"<ac:plain-text-body>{_cdata(code)}</ac:plain-text-body>"
        return f'<ac:structured-macro ac:name="code">{parameter}{body}</ac:structured-macro>'

    def task_list(self, node: SyntaxTreeNode) -> str:
        tasks = []
        for item in node.children:
            self.task_id += 1
            task_id = self.task_id
            status = "complete" if p.task_state(item) else "incomplete"
            first = [n for n in p.inline_children(item.children[0]) if not p.is_checkbox(n)]
            body = self.inlines(first).lstrip() + self.blocks(item.children[1:])
            tasks.append(
                f"<ac:task><ac:task-id>{task_id}</ac:task-id><ac:task-status>{status}</ac:task-status>"
                f"<ac:task-body>{body}</ac:task-body></ac:task>"
            )
        return "<ac:task-list>" + "".join(tasks) + "</ac:task-list>"

    def quote(self, node: SyntaxTreeNode) -> str:
        panel = p.panel_type(node)
        if panel is None:
            return f"<blockquote>{self.blocks(node.children)}</blockquote>"
        first = self.inlines(p.panel_body_inlines(node)).strip()
        body = (f"<p>{first}</p>" if first else "") + self.blocks(node.children[1:])
        return (
            f'<ac:structured-macro ac:name="{PANEL_MACROS[panel]}">'
            f"<ac:rich-text-body>{body}</ac:rich-text-body></ac:structured-macro>"
        )

    def table(self, node: SyntaxTreeNode) -> str:
        rows = []
        for section in node.children:
            for row in section.children:
                cells = "".join(
                    f"<{cell.tag}>{self.inlines(p.inline_children(cell))}</{cell.tag}>" for cell in row.children
                )
                rows.append(f"<tr>{cells}</tr>")
        return "<table><tbody>" + "".join(rows) + "</tbody></table>"

    def inlines(self, nodes: list[SyntaxTreeNode]) -> str:
        out: list[str] = []
        open_tags: list[str] = []  # <sub>/<sup>/<u> opened by raw HTML, closed only when balanced
        for node in nodes:
            tag = p.html_tag(node)
            if tag is not None:
                out.append(_html_tag(tag, open_tags))
            elif p.is_checkbox(node):
                out.append(p.checkbox_text(node))
            else:
                out.append(self.inline(node))
        out += [f"</{name}>" for name in reversed(open_tags)]
        return "".join(out)

    def inline(self, node: SyntaxTreeNode) -> str:
        kind = node.type
        if kind == "text":
            return _text(node.content)
        if kind == "softbreak":
            return " "
        if kind == "hardbreak":
            return "<br/>"
        if kind == "code_inline":
            return f"<code>{_text(node.content)}</code>"
        if kind in INLINE_TAGS:
            return f"<{INLINE_TAGS[kind]}>{self.inlines(node.children)}</{INLINE_TAGS[kind]}>"
        if kind == "link":
            return f'<a href="{_attr(str(node.attrs.get("href", "")))}">{self.inlines(node.children)}</a>'
        if kind == "image":
            alt = _attr(p.plain_text(node))
            src = _attr(str(node.attrs.get("src", "")))
            return f'<ac:image ac:alt="{alt}"><ri:url ri:value="{src}"/></ac:image>'
        return _text(p.plain_text(node))


def _html_tag(tag: tuple[str, bool], open_tags: list[str]) -> str:
    name, closing = tag
    if name == "br":
        return "<br/>"
    if not closing:
        open_tags.append(name)
        return f"<{name}>"
    if open_tags and open_tags[-1] == name:
        open_tags.pop()
        return f"</{name}>"
    return ""
