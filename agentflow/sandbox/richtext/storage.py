"""Confluence storage format (XHTML with `ac:`/`ri:` elements) -> ADF, for v2 `body-format=atlas_doc_format`.

Storage written by people or tools is often not well-formed XML (HTML entities, undeclared namespaces, unclosed
tags), so it is read with the tolerant `html.parser` into a small element tree, then mapped onto ADF nodes.
Unknown elements and macros keep their text; nothing here raises on bad markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import quote

from agentflow.sandbox.richtext import adf_build as b
from agentflow.sandbox.richtext.adf_build import Mark, Node

_VOID = {"br", "hr", "img", "col", "input", "meta", "link", "wbr", "source"}
_BLOCK_TAGS = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "blockquote", "hr", "pre", "div", "ac:task-list",
    "ac:layout", "ac:layout-section", "ac:layout-cell", "section", "tbody",
}  # fmt: skip
_MARK_TAGS: dict[str, Mark] = {
    "strong": {"type": "strong"},
    "b": {"type": "strong"},
    "em": {"type": "em"},
    "i": {"type": "em"},
    "u": {"type": "underline"},
    "s": {"type": "strike"},
    "del": {"type": "strike"},
    "strike": {"type": "strike"},
    "code": {"type": "code"},
    "tt": {"type": "code"},
    "sub": {"type": "subsup", "attrs": {"type": "sub"}},
    "sup": {"type": "subsup", "attrs": {"type": "sup"}},
}
_PANELS = {"info": "info", "note": "note", "warning": "warning", "tip": "success", "panel": "info"}
_BLOCK_MACROS = {"code", "noformat", "expand", *_PANELS}
_EMOTICONS = {name: short for _token, name, short, _id, _text in b.EMOTICONS}


@dataclass
class _Element:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[_Element | str] = field(default_factory=list)

    def find(self, tag: str) -> _Element | None:
        """The first descendant with this tag, depth first."""
        for child in self.children:
            if isinstance(child, _Element):
                if child.tag == tag:
                    return child
                if found := child.find(tag):
                    return found
        return None

    def text(self) -> str:
        return "".join(child if isinstance(child, str) else child.text() for child in self.children)

    def elements(self) -> list[_Element]:
        return [child for child in self.children if isinstance(child, _Element)]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Element("root")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = _Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(_Element(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        # A stray end tag is ignored; one that closes an outer element also closes what was left open inside it.
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)

    def unknown_decl(self, data: str) -> None:
        if data.startswith("CDATA["):
            self.stack[-1].children.append(data[len("CDATA[") :])


def _parse(xhtml: str) -> _Element:
    builder = _TreeBuilder()
    builder.feed(xhtml)
    builder.close()
    return builder.root


def storage_to_adf(xhtml: str) -> Node:
    """An ADF document for a Confluence storage-format body."""
    return b.doc(_Converter().blocks(_parse(xhtml)))


class _Converter:
    def __init__(self) -> None:
        self.ids = b.Ids("task")

    def blocks(self, element: _Element) -> list[Node]:
        """Block nodes for an element's children; runs of loose inline content become paragraphs."""
        out: list[Node] = []
        loose: list[Node] = []
        for child in element.children:
            if isinstance(child, _Element) and _is_block(child):
                if content := b.strip_inline(loose):
                    out.append(b.paragraph(content))
                loose = []
                out.extend(self.block(child))
            else:
                loose.extend(self.inline(child, []))
        if content := b.strip_inline(loose):
            out.append(b.paragraph(content))
        return out

    def block(self, element: _Element) -> list[Node]:
        tag = element.tag
        if tag == "p":
            # Not a plain paragraph: editors put block macros inside <p> too.
            return self.blocks(element)
        if re.fullmatch(r"h[1-6]", tag):
            return [b.heading(int(tag[1]), b.strip_inline(self.inlines(element, [])))]
        if tag in ("ul", "ol"):
            items = [b.list_item(self.blocks(li)) for li in element.elements() if li.tag == "li"]
            if not items:
                return []
            return [b.ordered_list(items) if tag == "ol" else b.bullet_list(items)]
        if tag == "table":
            return self.table(element)
        if tag == "blockquote":
            return [b.blockquote(self.blocks(element))]
        if tag == "hr":
            return [b.rule()]
        if tag == "pre":
            return [b.code_block(element.text())]
        if tag == "ac:task-list":
            return self.tasks(element)
        if tag == "ac:structured-macro":
            return self.macro(element)
        return self.blocks(element)

    def table(self, element: _Element) -> list[Node]:
        rows: list[list[tuple[bool, list[Node]]]] = []
        pending = [element]
        while pending:
            for child in pending.pop(0).elements():
                if child.tag == "tr":
                    rows.append(
                        [(cell.tag == "th", self.blocks(cell)) for cell in child.elements() if cell.tag in ("th", "td")]
                    )
                elif child.tag in ("thead", "tbody", "tfoot"):
                    pending.append(child)
        return b.table(rows)

    def tasks(self, element: _Element) -> list[Node]:
        list_id = self.ids.next()
        items: list[Node] = []
        for task in element.elements():
            if task.tag != "ac:task":
                continue
            status, body, task_id = task.find("ac:task-status"), task.find("ac:task-body"), task.find("ac:task-id")
            done = status is not None and status.text().strip() == "complete"
            local_id = task_id.text().strip() if task_id is not None and task_id.text().strip() else self.ids.next()
            content = b.strip_inline(self.inlines(body, [])) if body is not None else []
            items.append(
                {
                    "type": "taskItem",
                    "attrs": {"localId": local_id, "state": "DONE" if done else "TODO"},
                    "content": content,
                }
            )
        return [{"type": "taskList", "attrs": {"localId": list_id}, "content": items}] if items else []

    def macro(self, element: _Element) -> list[Node]:
        name = element.attrs.get("ac:name", "").lower()
        params = {
            p.attrs.get("ac:name", "").lower(): p.text().strip() for p in element.elements() if p.tag == "ac:parameter"
        }
        plain = element.find("ac:plain-text-body")
        rich = element.find("ac:rich-text-body")
        if name in ("code", "noformat"):
            body = plain.text() if plain is not None else element.text()
            return [b.code_block(body.strip("\n"), params.get("language") if name == "code" else None)]
        inner = self.blocks(rich) if rich is not None else []
        if name == "expand":
            return [b.expand(params.get("title", ""), inner)]
        if name in _PANELS:
            title = params.get("title", "")
            heading = [b.paragraph(b.text(title, [{"type": "strong"}]))] if title else []
            return [b.panel(_PANELS[name], heading + inner)]
        if rich is not None:
            return inner
        body = b.strip_inline(self.inline_macro(element, []))
        return [b.paragraph(body)] if body else []

    def inlines(self, element: _Element, marks: list[Mark]) -> list[Node]:
        return [node for child in element.children for node in self.inline(child, marks)]

    def inline(self, node: _Element | str, marks: list[Mark]) -> list[Node]:
        """Inline nodes for a piece of content; whitespace collapses as HTML rendering collapses it."""
        if isinstance(node, str):
            return b.text(re.sub(r"\s+", " ", node), marks)
        tag = node.tag
        if tag in _MARK_TAGS:
            return self.inlines(node, [*marks, _MARK_TAGS[tag]])
        if tag == "a" and node.attrs.get("href"):
            return self.inlines(node, [*marks, {"type": "link", "attrs": {"href": node.attrs["href"]}}])
        if tag == "span" and (colour := re.search(r"(?:^|;)\s*color:\s*([^;]+)", node.attrs.get("style", ""))):
            value = b.hex_colour(colour.group(1))
            return self.inlines(node, [*marks, {"type": "textColor", "attrs": {"color": value}}] if value else marks)
        if tag == "br":
            return [b.hard_break()]
        if tag == "time":
            return b.date(node.attrs.get("datetime", "")) or b.text(node.text(), marks)
        if tag == "ac:emoticon":
            name = node.attrs.get("ac:name", "")
            return [b.emoji(_EMOTICONS.get(name, f":{name}:"))] if name else []
        if tag == "ac:link":
            return self.link(node, marks)
        if tag == "ac:structured-macro":
            return self.inline_macro(node, marks)
        if tag == "ac:image":
            target = node.find("ri:attachment") or node.find("ri:url")
            name = target.attrs.get("ri:filename") or target.attrs.get("ri:value", "") if target else ""
            return b.text(f"[image: {name}]" if name else "", marks)
        if _is_block(node):
            return _flatten(self.block(node))
        return self.inlines(node, marks)

    def inline_macro(self, element: _Element, marks: list[Mark]) -> list[Node]:
        name = element.attrs.get("ac:name", "").lower()
        params = {
            p.attrs.get("ac:name", "").lower(): p.text().strip() for p in element.elements() if p.tag == "ac:parameter"
        }
        if name == "status":
            return b.status(params.get("title", ""), params.get("colour", params.get("color", "")))
        body = element.find("ac:rich-text-body") or element.find("ac:plain-text-body")
        if body is None:
            # Issue macros and the like show their key; macros without a body or key (toc, ...) show nothing.
            return b.text(params.get("key", ""), marks)
        return self.inlines(body, marks)

    def link(self, element: _Element, marks: list[Mark]) -> list[Node]:
        user = element.find("ri:user")
        if user is not None:
            account = user.attrs.get("ri:account-id") or user.attrs.get("ri:userkey") or user.attrs.get("ri:username")
            return [b.mention(account)] if account else []
        body = element.find("ac:link-body") or element.find("ac:plain-text-link-body")
        page, url = element.find("ri:page"), element.find("ri:url")
        label = body.text().strip() if body is not None else ""
        if page is not None:
            title = page.attrs.get("ri:content-title", "")
            space = page.attrs.get("ri:space-key", "")
            href = "/wiki/display/" + (quote(space) + "/" if space else "") + quote(title.replace(" ", "+"), safe="+")
            return b.text(label or title, [*marks, {"type": "link", "attrs": {"href": href}}])
        if url is not None and url.attrs.get("ri:value"):
            href = url.attrs["ri:value"]
            return b.text(label or href, [*marks, {"type": "link", "attrs": {"href": href}}])
        attachment = element.find("ri:attachment")
        name = label or (attachment.attrs.get("ri:filename", "") if attachment is not None else "")
        return b.text(name, marks)


def _flatten(blocks: list[Node]) -> list[Node]:
    """The inline content of blocks met where only inline content fits, hard breaks between them."""
    out: list[Node] = []
    for block in blocks:
        if block["type"] in ("paragraph", "heading", "taskItem", "codeBlock"):
            out.extend([b.hard_break(), *b.children(block)] if out else b.children(block))
        elif inner := _flatten(b.children(block)):
            out.extend([b.hard_break(), *inner] if out else inner)
    return out


def _is_block(element: _Element) -> bool:
    if element.tag == "ac:structured-macro":
        return element.attrs.get("ac:name", "").lower() in _BLOCK_MACROS
    return element.tag in _BLOCK_TAGS
