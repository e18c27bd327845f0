"""ADF -> HTML, what Jira returns for `expand=renderedFields`.

Marks use the tags Jira's renderer uses (`<b>`, `<em>`, `<del>`, `<ins>`, `<tt>`); Atlassian-only nodes (panels,
status lozenges, mentions, tasks, media) become plain elements with descriptive classes. All text and attributes
are escaped. Unknown nodes render their content; malformed input never raises.
"""

from __future__ import annotations

from html import escape

from agentflow.sandbox.richtext.adf_build import Node, attr, children, date_text, level

_MARK_TAGS = {"strong": "b", "em": "em", "strike": "del", "underline": "ins", "code": "tt"}
_SIMPLE_BLOCKS = {"blockquote": "blockquote", "tableRow": "tr", "bulletList": "ul", "decisionList": "ul"}


def adf_to_html(doc: Node) -> str:
    """HTML for an ADF document (or any ADF node)."""
    if isinstance(doc, dict) and doc.get("type") == "doc":
        return _all(children(doc))
    return _node(doc) if isinstance(doc, dict) else ""


def _all(nodes: list[Node]) -> str:
    return "".join(_node(node) for node in nodes)


def _q(value: str) -> str:
    return escape(value, quote=True)


def _node(node: Node) -> str:
    kind = node.get("type")
    content = children(node)
    inner = _all(content)
    if kind == "text":
        return _marked(escape(str(node.get("text", "")), quote=False), node.get("marks"))
    if kind in _SIMPLE_BLOCKS:
        tag = _SIMPLE_BLOCKS[kind]
        css = ' class="decision-list"' if kind == "decisionList" else ""
        return f"<{tag}{css}>{inner}</{tag}>"
    if kind == "paragraph":
        return f"<p>{inner}</p>"
    if kind == "heading":
        return f"<h{level(node)}>{inner}</h{level(node)}>"
    if kind == "orderedList":
        order = attr(node, "order", "1")
        start = f' start="{_q(order)}"' if order not in ("1", "1.0") else ""
        return f"<ol{start}>{inner}</ol>"
    if kind in ("listItem", "decisionItem"):
        return f"<li>{inner}</li>"
    if kind == "taskList":
        return f'<ul class="task-list">{inner}</ul>'
    if kind == "taskItem":
        done = attr(node, "state") == "DONE"
        box = '<input type="checkbox" disabled="disabled"' + (' checked="checked"' if done else "") + "/>"
        return f'<li data-task-state="{"DONE" if done else "TODO"}">{box} {inner}</li>'
    if kind == "codeBlock":
        language = attr(node, "language")
        css = f' class="language-{_q(language)}"' if language else ""
        return f"<pre><code{css}>{escape(''.join(str(c.get('text', '')) for c in content), quote=False)}</code></pre>"
    if kind == "panel":
        return f'<div class="panel panel-{_q(attr(node, "panelType", "info"))}">{inner}</div>'
    if kind in ("expand", "nestedExpand"):
        return f"<details><summary>{escape(attr(node, 'title'), quote=False)}</summary>{inner}</details>"
    if kind == "table":
        return f"<table><tbody>{inner}</tbody></table>"
    if kind in ("tableHeader", "tableCell"):
        tag = "th" if kind == "tableHeader" else "td"
        spans = "".join(f' {name}="{_q(attr(node, name))}"' for name in ("colspan", "rowspan") if attr(node, name))
        return f"<{tag}{spans}>{inner}</{tag}>"
    if kind == "rule":
        return "<hr/>"
    if kind == "hardBreak":
        return "<br/>"
    if kind in ("mediaSingle", "mediaGroup"):
        return f'<div class="media-group">{inner}</div>'
    if kind in ("media", "mediaInline"):
        name = attr(node, "alt") or attr(node, "url") or attr(node, "id")
        return f'<span class="media-placeholder">[attachment: {escape(name, quote=False)}]</span>'
    return _inline_atom(node, kind, inner)


def _inline_atom(node: Node, kind: object, inner: str) -> str:
    if kind == "mention":
        account = attr(node, "id")
        label = attr(node, "text") or "@" + account
        return f'<span class="user-mention" data-account-id="{_q(account)}">{escape(label, quote=False)}</span>'
    if kind == "emoji":
        short, shown = _q(attr(node, "shortName")), escape(attr(node, "text") or attr(node, "shortName"), quote=False)
        return f'<span class="emoji" data-emoji-short-name="{short}">{shown}</span>'
    if kind == "status":
        colour, label = _q(attr(node, "color", "neutral")), escape(attr(node, "text"), quote=False)
        return f'<span class="status-lozenge status-{colour}">{label}</span>'
    if kind == "date":
        day = date_text(attr(node, "timestamp"))
        return f'<time datetime="{_q(day)}">{escape(day, quote=False)}</time>'
    if kind in ("inlineCard", "blockCard", "embedCard"):
        url = attr(node, "url")
        link = f'<a href="{_q(url)}" class="smart-link">{escape(url, quote=False)}</a>'
        return link if kind == "inlineCard" else f"<div>{link}</div>"
    if kind == "placeholder":
        return escape(attr(node, "text"), quote=False)
    return inner


def _marked(html: str, marks: object) -> str:
    """The escaped text wrapped in its marks, the first mark outermost."""
    if not isinstance(marks, list):
        return html
    for mark in reversed(marks):
        kind = mark.get("type") if isinstance(mark, dict) else None
        if kind in _MARK_TAGS:
            html = f"<{_MARK_TAGS[kind]}>{html}</{_MARK_TAGS[kind]}>"
        elif kind == "subsup":
            tag = "sub" if attr(mark, "type") == "sub" else "sup"
            html = f"<{tag}>{html}</{tag}>"
        elif kind == "link":
            html = f'<a href="{_q(attr(mark, "href"))}">{html}</a>'
        elif kind == "textColor":
            html = f'<span style="color: {_q(attr(mark, "color"))}">{html}</span>'
        elif kind == "backgroundColor":
            html = f'<span style="background-color: {_q(attr(mark, "color"))}">{html}</span>'
    return html
