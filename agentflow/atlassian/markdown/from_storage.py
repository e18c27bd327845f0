"""Confluence storage format (XHTML with ac:/ri: elements) to Markdown.

The Confluence-specific elements are first rewritten into plain HTML (code macro to <pre><code>, panels to
quotes opening with a bold label, task lists to `[ ]`/`[x]` items, page and user links to text), then
markdownify turns the HTML into Markdown with ATX headings, `-` bullets, fenced code and GFM tables.
"""

from __future__ import annotations

import html
import re

from bs4 import BeautifulSoup, NavigableString, Tag
from markdownify import MarkdownConverter

from agentflow.atlassian.markdown import emoticons
from agentflow.atlassian.markdown import write as w

PANEL_LABELS = {"info": "Info", "note": "Note", "warning": "Warning", "tip": "Tip"}
# Macros that only decorate the page (or cannot be rendered without a server round trip).
DROPPED_MACROS = frozenset({"toc", "anchor", "children", "recently-updated", "pagetree", "livesearch"})
CELL_BREAK = "\ue000"  # a private-use character standing for a line break inside a table cell
# CDATA is turned into escaped text before parsing, since html.parser's CDATA handling differs across versions.
_CDATA = re.compile(r"<!\[CDATA\[(.*?)(?:\]\]>|$)", re.DOTALL)


class _Converter(MarkdownConverter):
    """markdownify with table cells kept on one line (GFM tables cannot hold line breaks), and text, links and
    citations written the way the ADF and wiki readers write them."""

    def escape(self, text: str, parent_tags: set[str]) -> str:
        return w.escape_text(text)

    def convert_a(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "_noformat" in parent_tags:
            return text
        lead, core = text[: len(text) - len(text.lstrip())], text.strip()
        trail = text[len(text.rstrip()) :]
        return lead + w.link(core, str(el.get("href") or "")) + trail

    def convert_cite(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return self.convert_em(el, text, parent_tags)

    def convert_td(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        span = str(el.get("colspan", "1"))
        count = min(int(span), 50) if span.isdigit() and int(span) > 0 else 1
        return " " + w.table_cell(text.replace(CELL_BREAK, "\n")) + " |" * count

    convert_th = convert_td


def _code_language(el: Tag) -> str:
    code = el.find("code")
    classes = code.get("class") if isinstance(code, Tag) else None
    for name in [classes] if isinstance(classes, str) else classes or []:
        if name.startswith("language-"):
            return name.removeprefix("language-")
    return ""


_CONVERTER = _Converter(
    heading_style="ATX",
    bullets="-",
    escape_underscores=False,
    newline_style="BACKSLASH",
    code_language_callback=_code_language,
    table_infer_header=True,
    sub_symbol="<sub>",
    sup_symbol="<sup>",
)


def storage_to_markdown(xhtml: str | None) -> str:
    if not xhtml or not xhtml.strip():
        return ""
    soup = parse_storage(xhtml)
    markdown = _CONVERTER.convert_soup(soup)
    return re.sub(r"\n{3,}", "\n\n", markdown).strip()


def parse_storage(xhtml: str) -> BeautifulSoup:
    """The storage XHTML as a soup of plain HTML (the Confluence elements already rewritten)."""
    text = _CDATA.sub(lambda m: html.escape(m.group(1), quote=False), xhtml)
    soup = BeautifulSoup(text, "html.parser")
    # Innermost first, so a macro sees its body already rewritten.
    for el in reversed(soup.find_all(True)):
        handler = _HANDLERS.get(el.name)
        if handler is not None:
            handler(soup, el)
    # markdownify glues a cell's paragraphs and line breaks together with spaces; mark them so that
    # the converter can turn them into <br>.
    for cell in soup.find_all(["td", "th"]):
        for para in cell.find_all("p")[:-1]:
            para.insert_after(NavigableString(CELL_BREAK))
        for br in cell.find_all("br"):
            br.replace_with(NavigableString(CELL_BREAK))
    for el in soup.find_all(lambda tag: ":" in tag.name):
        if el.name.startswith("ri:") or el.name in ("ac:parameter", "ac:placeholder"):
            el.decompose()
        else:
            el.unwrap()
    return soup


def _child(el: Tag, name: str) -> Tag | None:
    found = el.find(name, recursive=False)
    return found if isinstance(found, Tag) else None


def _params(el: Tag) -> dict[str, str]:
    return {
        str(param.get("ac:name", "")): param.get_text().strip()
        for param in el.find_all("ac:parameter", recursive=False)
    }


def _macro(soup: BeautifulSoup, el: Tag) -> None:
    name = str(el.get("ac:name", "")).lower()
    params = _params(el)
    rich = _child(el, "ac:rich-text-body")
    plain = _child(el, "ac:plain-text-body")
    if name in ("code", "noformat") or (plain is not None and rich is None and name not in DROPPED_MACROS):
        pre, code = soup.new_tag("pre"), soup.new_tag("code")
        language = params.get("language", "") if name == "code" else ""
        if language:
            code["class"] = f"language-{language}"
        code.string = plain.get_text() if plain is not None else ""
        pre.append(code)
        el.replace_with(pre)
        if params.get("title"):
            # The title is usually the file's name; it is said before the code.
            pre.insert_before(_bold_paragraph(soup, params["title"]))
    elif name in PANEL_LABELS or name == "panel":
        title = params.get("title", "")
        if name in PANEL_LABELS and title and rich is not None:
            # The panel's own title becomes its first line, after the label.
            rich.insert(0, _bold_paragraph(soup, title))
        label = f"{PANEL_LABELS[name]}:" if name in PANEL_LABELS else title
        el.replace_with(_labelled_quote(soup, rich, label))
    elif name == "expand":
        div = soup.new_tag("div")
        title = params.get("title", "")
        if title:
            div.append(_bold_paragraph(soup, title))
        _move_children(rich, div)
        el.replace_with(div)
    elif name == "status":
        title = params.get("title", "").strip()
        el.replace_with(NavigableString(f"[{title.upper()}]" if title else ""))
    elif name == "jira":
        el.replace_with(NavigableString(params.get("key", "")))
    elif rich is not None and name not in DROPPED_MACROS:
        div = soup.new_tag("div")
        _move_children(rich, div)
        el.replace_with(div)
    else:
        el.decompose()


def _bold_paragraph(soup: BeautifulSoup, text: str) -> Tag:
    para, strong = soup.new_tag("p"), soup.new_tag("strong")
    strong.string = text
    para.append(strong)
    return para


def _move_children(source: Tag | None, target: Tag) -> None:
    for child in list(source.children) if source is not None else []:
        target.append(child.extract())


def _labelled_quote(soup: BeautifulSoup, body: Tag | None, label: str) -> Tag:
    """A blockquote whose first paragraph opens with the label in bold."""
    quote = soup.new_tag("blockquote")
    _move_children(body, quote)
    if not label:
        return quote
    strong = soup.new_tag("strong")
    strong.string = label
    first = next((child for child in quote.children if not (isinstance(child, str) and not child.strip())), None)
    if isinstance(first, Tag) and first.name == "p":
        first.insert(0, NavigableString(" "))
        first.insert(0, strong)
    else:
        para = soup.new_tag("p")
        para.append(strong)
        quote.insert(0, para)
    return quote


def _link(soup: BeautifulSoup, el: Tag) -> None:
    body = _child(el, "ac:link-body") or _child(el, "ac:plain-text-link-body")
    text = body.get_text().strip() if body is not None else ""
    user, page, attachment = _child(el, "ri:user"), _child(el, "ri:page"), _child(el, "ri:attachment")
    if user is not None:
        text = "@" + str(user.get("ri:username", "") or "user")
    elif not text and page is not None:
        text = str(page.get("ri:content-title", ""))
    elif not text and attachment is not None:
        text = f"[attachment: {attachment.get('ri:filename', '')}]"
    elif not text:
        text = str(el.get("ac:anchor", ""))
    el.replace_with(NavigableString(text))


def _image(soup: BeautifulSoup, el: Tag) -> None:
    url, attachment = _child(el, "ri:url"), _child(el, "ri:attachment")
    if url is not None:
        img = soup.new_tag("img", attrs={"src": str(url.get("ri:value", "")), "alt": str(el.get("ac:alt", ""))})
        el.replace_with(img)
        return
    name = str(attachment.get("ri:filename", "")) if attachment is not None else ""
    el.replace_with(NavigableString(f"[attachment: {name}]" if name else "[attachment]"))


def _emoticon(soup: BeautifulSoup, el: Tag) -> None:
    names = (str(el.get(key, "") or "") for key in ("ac:name", "ac:emoji-shortname", "ac:emoji-fallback"))
    el.replace_with(NavigableString(emoticons.storage_emoticon(*names)))


def _task_list(soup: BeautifulSoup, el: Tag) -> None:
    bullets = soup.new_tag("ul")
    for task in el.find_all("ac:task", recursive=False):
        status = _child(task, "ac:task-status")
        done = status is not None and status.get_text().strip() == "complete"
        item = soup.new_tag("li")
        item.append(NavigableString("[x] " if done else "[ ] "))
        body = _child(task, "ac:task-body")
        _move_children(body, item)
        bullets.append(item)
    el.replace_with(bullets)


def _span(soup: BeautifulSoup, el: Tag) -> None:
    # Confluence's editor writes strikethrough as a styled span rather than <del>.
    if "line-through" in str(el.get("style", "")):
        el.name = "del"


def _time(soup: BeautifulSoup, el: Tag) -> None:
    el.replace_with(NavigableString(str(el.get("datetime", "")) or el.get_text()))


_HANDLERS = {
    "ac:structured-macro": _macro,
    "ac:macro": _macro,
    "ac:link": _link,
    "ac:image": _image,
    "ac:emoticon": _emoticon,
    "ac:task-list": _task_list,
    "time": _time,
    "span": _span,
}
