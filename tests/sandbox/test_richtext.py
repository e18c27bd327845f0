"""Rich text conversions of the sandbox: wiki markup, ADF, HTML, Confluence storage and plain text."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from jsonschema import Draft4Validator

from agentflow.sandbox.richtext import (
    adf_to_html,
    adf_to_text,
    adf_to_wiki,
    is_adf,
    storage_to_adf,
    storage_to_text,
    text_to_adf,
    wiki_to_adf,
)

_HERE = Path(__file__).resolve()
_SCHEMA_CANDIDATES = [_HERE.parents[3] / "shared" / "specs", _HERE.parents[2] / "shared" / "specs"]
_SPECS = next((path for path in _SCHEMA_CANDIDATES if (path / "adf-schema.v1.json").is_file()), None)


@pytest.fixture(scope="module")
def validator() -> Draft4Validator:
    if _SPECS is None:
        pytest.skip(f"the ADF schema is not at any of {[str(p) for p in _SCHEMA_CANDIDATES]} (shared/ is absent)")
    return Draft4Validator(json.loads((_SPECS / "adf-schema.v1.json").read_text(encoding="utf-8")))


def assert_valid(validator: Draft4Validator, doc: dict) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(doc)]
    assert not errors, errors


def content(wiki: str) -> list[dict]:
    return wiki_to_adf(wiki)["content"]


def inline(wiki: str) -> list[dict]:
    """The inline nodes of a one-paragraph wiki text."""
    (paragraph,) = content(wiki)
    assert paragraph["type"] == "paragraph"
    return paragraph["content"]


def t(text: str, *marks: dict) -> dict:
    return {"type": "text", "text": text, "marks": list(marks)} if marks else {"type": "text", "text": text}


def p(*nodes: dict) -> dict:
    return {"type": "paragraph", "content": list(nodes)}


def doc(*blocks: dict) -> dict:
    return {"version": 1, "type": "doc", "content": list(blocks)}


STRONG, EM, CODE = {"type": "strong"}, {"type": "em"}, {"type": "code"}


def link(href: str) -> dict:
    return {"type": "link", "attrs": {"href": href}}


RICH_WIKI = """h1. Release plan

Intro with *bold*, _italic_ and a [guide|https://example.com/guide].
Ping [~accountid:5b10ac8d82e05b22cc7d4ef5] please.

* first
** nested *one*
* second
# step one
## step two

||Name||Owner||
|api|[~accountid:abc]|
|web|{{ui}}|

{code:python}
def main():
    return "*not bold*"
{code}

{warning}
Do *not* deploy on Fridays.
{warning}"""


# --- wiki -> ADF ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wiki", "expected"),
    [
        ("*bold*", [t("bold", STRONG)]),
        ("_it_", [t("it", EM)]),
        ("-gone-", [t("gone", {"type": "strike"})]),
        ("+under+", [t("under", {"type": "underline"})]),
        ("{{a_b*c}}", [t("a_b*c", CODE)]),
        ("x^2^", [t("x"), t("2", {"type": "subsup", "attrs": {"type": "sup"}})]),
        ("H~2~O", [t("H"), t("2", {"type": "subsup", "attrs": {"type": "sub"}}), t("O")]),
        ("??Someone??", [t("Someone", EM)]),
        ("*bold _both_*", [t("bold ", STRONG), t("both", STRONG, EM)]),
        ("{color:red}alert{color}", [t("alert", {"type": "textColor", "attrs": {"color": "#ff0000"}})]),
        ("{color:#0A0}ok{color}", [t("ok", {"type": "textColor", "attrs": {"color": "#00aa00"}})]),
        ("[docs|https://d.io/x]", [t("docs", link("https://d.io/x"))]),
        ("[https://d.io]", [t("https://d.io", link("https://d.io"))]),
        ("[mail|mailto:a@b.c]", [t("mail", link("mailto:a@b.c"))]),
        ("see https://d.io/a.", [t("see "), t("https://d.io/a", link("https://d.io/a")), t(".")]),
        ("*[x|https://d.io]*", [t("x", STRONG, link("https://d.io"))]),
        ("[~accountid:557058:f0e]", [{"type": "mention", "attrs": {"id": "557058:f0e"}}]),
        ("[~jsmith]", [{"type": "mention", "attrs": {"id": "jsmith", "text": "@jsmith"}}]),
        ("a\\\\b", [t("a"), {"type": "hardBreak"}, t("b")]),
        ("\\*literal\\*", [t("*literal*")]),
        ("snake_case_name and 2*3*4", [t("snake_case_name and 2*3*4")]),
        ("well-known-thing", [t("well-known-thing")]),
        ("[not a link] {unknown} *open", [t("[not a link] {unknown} *open")]),
        ("f(x) and ID:D1", [t("f(x) and ID:D1")]),
        ("C:DE and ID:D1 and (/)A and f(x)=1", [t("C:DE and ID:D1 and (/)A and f(x)=1")]),
        ("\\(x) \\:)", [t("(x) :)")]),
        ("{status:colour=Green|title=DONE}", [{"type": "status", "attrs": {"text": "DONE", "color": "green"}}]),
        ("[https://d.io|https://d.io|smart-link]", [{"type": "inlineCard", "attrs": {"url": "https://d.io"}}]),
    ],
)
def test_wiki_inline_markup(wiki: str, expected: list[dict]) -> None:
    assert inline(wiki) == expected


@pytest.mark.parametrize(
    ("token", "short_name"),
    [
        (":)", ":slight_smile:"),
        ("(y)", ":thumbsup:"),
        ("(!)", ":warning:"),
        ("(/)", ":check_mark:"),
        ("(x)", ":cross_mark:"),
    ],
)
def test_wiki_emoticons_become_emoji(token: str, short_name: str) -> None:
    (before, emoji, after) = inline(f"a {token} b")
    assert (before, after) == (t("a "), t(" b"))
    assert emoji["type"] == "emoji" and emoji["attrs"]["shortName"] == short_name


@pytest.mark.parametrize(
    ("wiki", "short_name"),
    [("Done (/).", ":check_mark:"), ('"(y)"', ":thumbsup:"), ("(x):", ":cross_mark:"), ("x_(x)", ":cross_mark:")],
)
def test_wiki_emoticons_next_to_punctuation_become_emoji(wiki: str, short_name: str) -> None:
    assert [node["attrs"]["shortName"] for node in inline(wiki) if node["type"] == "emoji"] == [short_name]


def test_wiki_paragraphs_and_line_breaks() -> None:
    assert content("one\ntwo\n\nthree") == [p(t("one"), {"type": "hardBreak"}, t("two")), p(t("three"))]


def test_wiki_headings_rule_and_bq() -> None:
    assert content("h1. Top\nh6. *Low*\n----\nbq. quoted") == [
        {"type": "heading", "attrs": {"level": 1}, "content": [t("Top")]},
        {"type": "heading", "attrs": {"level": 6}, "content": [t("Low", STRONG)]},
        {"type": "rule"},
        {"type": "blockquote", "content": [p(t("quoted"))]},
    ]


def item(text: str, *nested: dict) -> dict:
    return {"type": "listItem", "content": [p(t(text)), *nested]}


def test_wiki_nested_and_mixed_lists() -> None:
    assert content("* a\n** b\n*** c\n* d\n- e") == [
        {
            "type": "bulletList",
            "content": [
                item(
                    "a", {"type": "bulletList", "content": [item("b", {"type": "bulletList", "content": [item("c")]})]}
                ),
                item("d"),
                item("e"),
            ],
        }
    ]
    assert content("# one\n#* bullet\n## two\n* other") == [
        {
            "type": "orderedList",
            "content": [
                item(
                    "one",
                    {"type": "bulletList", "content": [item("bullet")]},
                    {"type": "orderedList", "content": [item("two")]},
                )
            ],
        },
        {"type": "bulletList", "content": [item("other")]},
    ]


def test_wiki_list_deeper_than_its_parent_still_nests_one_level() -> None:
    assert content("** orphan") == [{"type": "bulletList", "content": [item("orphan")]}]


def test_wiki_table_with_headers_links_and_empty_cells() -> None:
    def cell(kind: str, *nodes: dict) -> dict:
        return {"type": kind, "content": [p(*nodes)]}

    assert content("||H1||H2||\n|[a|https://a.io]| |") == [
        {
            "type": "table",
            "content": [
                {"type": "tableRow", "content": [cell("tableHeader", t("H1")), cell("tableHeader", t("H2"))]},
                {"type": "tableRow", "content": [cell("tableCell", t("a", link("https://a.io"))), cell("tableCell")]},
            ],
        }
    ]


@pytest.mark.parametrize(
    ("wiki", "expected"),
    [
        ("{code:java}\nint x;\n{code}", {"type": "codeBlock", "attrs": {"language": "java"}, "content": [t("int x;")]}),
        (
            "{code:language=python}print(1){code}",
            {"type": "codeBlock", "attrs": {"language": "python"}, "content": [t("print(1)")]},
        ),
        ("{code}\n*a*\n\nb\n{code}", {"type": "codeBlock", "content": [t("*a*\n\nb")]}),
        ("{noformat}\n  raw _x_\n{noformat}", {"type": "codeBlock", "content": [t("  raw _x_")]}),
        ("{quote}\nsaid *this*\n{quote}", {"type": "blockquote", "content": [p(t("said "), t("this", STRONG))]}),
        ("{info}\nhi\n{info}", {"type": "panel", "attrs": {"panelType": "info"}, "content": [p(t("hi"))]}),
        ("{note}hi{note}", {"type": "panel", "attrs": {"panelType": "note"}, "content": [p(t("hi"))]}),
        ("{warning}hi{warning}", {"type": "panel", "attrs": {"panelType": "warning"}, "content": [p(t("hi"))]}),
        ("{tip}hi{tip}", {"type": "panel", "attrs": {"panelType": "success"}, "content": [p(t("hi"))]}),
        (
            "{panel:title=Head|borderStyle=dashed}\nbody\n{panel}",
            {"type": "panel", "attrs": {"panelType": "info"}, "content": [p(t("Head", STRONG)), p(t("body"))]},
        ),
        ("{expand:More}x{expand}", {"type": "expand", "attrs": {"title": "More"}, "content": [p(t("x"))]}),
    ],
)
def test_wiki_block_macros(wiki: str, expected: dict) -> None:
    assert content(wiki) == [expected]


def test_wiki_code_title_is_a_bold_paragraph_before_the_block_as_jira_cloud_writes_it() -> None:
    code = {"type": "codeBlock", "attrs": {"language": "java"}, "content": [t("class A {}")]}
    assert content("{code:title=A.java|language=java}\nclass A {}\n{code}") == [p(t("A.java", STRONG)), code]
    assert content("{code:java}\nclass A {}\n{code}") == [code]


@pytest.mark.parametrize(
    ("params", "panel_type"),
    [
        ("", "info"),
        (":bgColor=#deebff", "info"),
        (":bgColor=#eee", "success"),
        (":bgColor=#FFFAE6", "warning"),
        (":bgColor=red", "error"),
        (":bgColor=#eae6ff|title=T", "note"),
        (":bgColor=not-a-colour", "info"),
    ],
)
def test_wiki_panel_takes_the_type_nearest_its_colour_as_on_jira_cloud(params: str, panel_type: str) -> None:
    assert content(f"{{panel{params}}}x{{panel}}")[0]["attrs"] == {"panelType": panel_type}


def media(name: str) -> dict:
    return {"type": "media", "attrs": {"type": "file", "id": name, "collection": ""}}


def single(node: dict) -> dict:
    return {"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [node]}


def test_wiki_images_and_attachment_links_are_media_blocks_that_split_their_paragraph() -> None:
    external = {"type": "media", "attrs": {"type": "external", "url": "https://x.io/a.png"}}
    group = {"type": "mediaGroup", "content": [media("spec.pdf")]}
    assert content("!shot.png|thumbnail! !https://x.io/a.png!") == [
        single(media("shot.png")),
        p(t(" ")),
        single(external),
    ]
    assert content("See [^spec.pdf] and\\\\ more") == [
        p(t("See ")),
        group,
        p(t(" and"), {"type": "hardBreak"}, t(" more")),
    ]
    assert content("* see [^a.pdf]") == [
        {"type": "bulletList", "content": [{"type": "listItem", "content": [p(t("see ")), single(media("a.pdf"))]}]}
    ]


@pytest.mark.parametrize("wiki", ["wow! really!", "! a.png!", "!a.png !", "!a.png!s", "[^]", "[^ ]"])
def test_wiki_text_that_is_not_an_image_or_attachment_stays_text(wiki: str) -> None:
    assert content(wiki) == [p(t(wiki))]


def test_wiki_macro_text_after_closing_tag_goes_on() -> None:
    assert content("{code}x{code} after") == [{"type": "codeBlock", "content": [t("x")]}, p(t("after"))]


def test_wiki_unclosed_macro_stays_literal() -> None:
    assert content("{code:java}\nint x;") == [p(t("{code:java}"), {"type": "hardBreak"}, t("int x;"))]


def test_wiki_table_inside_panel_is_unwrapped_to_what_the_schema_allows() -> None:
    assert content("{info}\n|a|b|\n{info}") == [
        {"type": "panel", "attrs": {"panelType": "info"}, "content": [p(t("a")), p(t("b"))]}
    ]


# --- ADF -> wiki and HTML ------------------------------------------------------------------------------------------


def test_adf_to_wiki_small_documents() -> None:
    assert adf_to_wiki(doc(p(t("a "), t("b", STRONG, EM), t(" "), t("c", link("https://c.io"))))) == (
        "a *_b_* [c|https://c.io]"
    )
    assert adf_to_wiki(doc({"type": "heading", "attrs": {"level": 3}, "content": [t("T")]}, {"type": "rule"})) == (
        "h3. T\n\n----"
    )
    code = {"type": "codeBlock", "attrs": {"language": "sql"}, "content": [t("select 1;")]}
    assert adf_to_wiki(doc(code)) == "{code:sql}\nselect 1;\n{code}"
    panel = {"type": "panel", "attrs": {"panelType": "error"}, "content": [p(t("x"))]}
    assert adf_to_wiki(doc(panel)) == "{warning}\nx\n{warning}"


def test_adf_to_wiki_inline_nodes() -> None:
    nodes = [
        {"type": "mention", "attrs": {"id": "abc", "text": "@Ann"}},
        t(" "),
        {"type": "emoji", "attrs": {"shortName": ":thumbsup:"}},
        t(" "),
        {"type": "status", "attrs": {"text": "DONE", "color": "green"}},
        {"type": "hardBreak"},
        {"type": "date", "attrs": {"timestamp": "1767225600000"}},
        t(" "),
        {"type": "inlineCard", "attrs": {"url": "https://x.io"}},
        t(" "),
        t("x", {"type": "textColor", "attrs": {"color": "#ff0000"}}),
    ]
    assert adf_to_wiki(doc(p(*nodes))) == (
        "[~accountid:abc] (y) {status:colour=Green|title=DONE}\n2026-01-01 [https://x.io|https://x.io|smart-link] "
        "{color:red}x{color}"
    )


def test_adf_to_wiki_escapes_text_that_would_read_back_as_an_emoticon() -> None:
    body = doc(p(t("(x) not done, f(x) and "), t(":)", STRONG)))
    assert adf_to_wiki(body) == "\\(x) not done, f(x) and *\\:)*"
    assert wiki_to_adf(adf_to_wiki(body)) == body


@pytest.mark.parametrize(
    ("text", "wiki"),
    [
        ("*not bold* and _not em_", "\\*not bold* and \\_not em_"),
        ("-x- +y+ ^z^ ~w~ ??c??", "\\-x- \\+y+ \\^z^ \\~w~ \\??c??"),
        ("[~ann] [a|/browse/X-1] {{mono}} {color:red}r{color}", None),
        ("a|b", "a\\|b"),
        ("snake_case well-known 2 * 3 - 1 x^y", "snake_case well-known 2 * 3 - 1 x^y"),
        ("{unknown} and {panel} stay text", "\\{unknown} and \\{panel} stay text"),
        ("{panel}not a panel{panel}", None),
    ],
)
def test_adf_to_wiki_escapes_text_that_would_read_as_markup(text: str, wiki: str | None) -> None:
    body = doc(p(t(text)))
    if wiki is not None:
        assert adf_to_wiki(body) == wiki
    assert wiki_to_adf(adf_to_wiki(body)) == body


def test_adf_to_wiki_escapes_a_delimiter_that_would_close_its_mark_early() -> None:
    body = doc(p(t("a *b* c", STRONG), t(" "), t("x^2^", {"type": "subsup", "attrs": {"type": "sup"}})))
    assert adf_to_wiki(body) == "*a \\*b\\* c* ^x\\^2\\^^"
    assert wiki_to_adf(adf_to_wiki(body)) == body


def test_adf_to_wiki_writes_images_in_place_and_attachments_as_links() -> None:
    group = {"type": "mediaGroup", "content": [media("a.pdf"), media("b.txt")]}
    assert adf_to_wiki(doc(single(media("shot.png")), group)) == "!shot.png!\n\n[^a.pdf] [^b.txt]"
    body = doc(p(t("!shot.png! and [^a.pdf]")))
    assert adf_to_wiki(body) == "\\!shot.png! and \\[^a.pdf]"
    assert wiki_to_adf(adf_to_wiki(body)) == body


def test_adf_to_wiki_lists_tasks_and_tables() -> None:
    ordered = {
        "type": "orderedList",
        "attrs": {"order": 3},
        "content": [item("a", {"type": "bulletList", "content": [item("b")]})],
    }
    tasks = {
        "type": "taskList",
        "attrs": {"localId": "l"},
        "content": [
            {"type": "taskItem", "attrs": {"localId": "1", "state": "DONE"}, "content": [t("done")]},
            {"type": "taskItem", "attrs": {"localId": "2", "state": "TODO"}, "content": [t("todo")]},
        ],
    }
    table = {
        "type": "table",
        "content": [
            {"type": "tableRow", "content": [{"type": "tableHeader", "content": [p(t("H"))]}]},
            {"type": "tableRow", "content": [{"type": "tableCell", "content": [p(t("a")), p(t("b"))]}]},
        ],
    }
    assert adf_to_wiki(doc(ordered, tasks, table)) == "# a\n#* b\n\n[x] done\n[] todo\n\n||H||\n|a \\\\ b|"


def test_adf_to_wiki_media_expand_and_unknown_nodes() -> None:
    media = {
        "type": "mediaSingle",
        "attrs": {"layout": "center"},
        "content": [{"type": "media", "attrs": {"type": "file", "id": "f1", "collection": "c", "alt": "shot.png"}}],
    }
    expand = {"type": "expand", "attrs": {"title": "Details"}, "content": [p(t("inside"))]}
    unknown = {"type": "fancyNewThing", "content": [p(t("kept"))]}
    assert adf_to_wiki(doc(media, expand, unknown)) == "!shot.png!\n\n{expand:Details}\ninside\n{expand}\n\nkept"


def test_adf_to_html_small_documents() -> None:
    assert adf_to_html(doc(p(t("a<b "), t("c", STRONG, link("https://x.io?a=1&b=2"))))) == (
        '<p>a&lt;b <b><a href="https://x.io?a=1&amp;b=2">c</a></b></p>'
    )
    code = {"type": "codeBlock", "attrs": {"language": "java"}, "content": [t("if (a < b) {}")]}
    assert adf_to_html(doc(code)) == '<pre><code class="language-java">if (a &lt; b) {}</code></pre>'
    ordered = {"type": "orderedList", "attrs": {"order": 3}, "content": [item("x")]}
    assert adf_to_html(doc(ordered)) == '<ol start="3"><li><p>x</p></li></ol>'
    panel = {"type": "panel", "attrs": {"panelType": "note"}, "content": [p(t("n"))]}
    assert adf_to_html(doc(panel, {"type": "rule"})) == '<div class="panel panel-note"><p>n</p></div><hr/>'


def test_adf_to_html_atlassian_nodes() -> None:
    nodes = [
        {"type": "mention", "attrs": {"id": "abc", "text": "@Ann"}},
        {"type": "status", "attrs": {"text": "WIP", "color": "yellow"}},
        {"type": "date", "attrs": {"timestamp": "1767225600000"}},
        {"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}},
        {"type": "hardBreak"},
        t("s", {"type": "subsup", "attrs": {"type": "sub"}}),
    ]
    assert adf_to_html(doc(p(*nodes))) == (
        '<p><span class="user-mention" data-account-id="abc">@Ann</span>'
        '<span class="status-lozenge status-yellow">WIP</span><time datetime="2026-01-01">2026-01-01</time>'
        '<span class="emoji" data-emoji-short-name=":smile:">😄</span><br/><sub>s</sub></p>'
    )
    table = {
        "type": "table",
        "content": [{"type": "tableRow", "content": [{"type": "tableHeader", "content": [p(t("h"))]}]}],
    }
    assert adf_to_html(doc(table)) == "<table><tbody><tr><th><p>h</p></th></tr></tbody></table>"
    expand = {"type": "expand", "attrs": {"title": "More"}, "content": [p(t("x"))]}
    assert adf_to_html(doc(expand)) == "<details><summary>More</summary><p>x</p></details>"


def test_adf_to_html_tasks_and_media() -> None:
    tasks = {
        "type": "taskList",
        "attrs": {"localId": "l"},
        "content": [{"type": "taskItem", "attrs": {"localId": "1", "state": "DONE"}, "content": [t("ok")]}],
    }
    assert adf_to_html(doc(tasks)) == (
        '<ul class="task-list"><li data-task-state="DONE">'
        '<input type="checkbox" disabled="disabled" checked="checked"/> ok</li></ul>'
    )
    media = {
        "type": "mediaSingle",
        "attrs": {"layout": "center"},
        "content": [{"type": "media", "attrs": {"type": "external", "url": "https://i.io/a.png"}}],
    }
    assert (
        adf_to_html(doc(media))
        == '<div class="media-group"><span class="media-placeholder">[attachment: https://i.io/a.png]</span></div>'
    )


# --- round trips -----------------------------------------------------------------------------------------------------


def test_round_trip_keeps_what_a_reader_cares_about() -> None:
    adf = wiki_to_adf(RICH_WIKI)
    wiki = adf_to_wiki(adf)
    assert wiki_to_adf(wiki) == adf
    for fragment in [
        "h1. Release plan",
        "*bold*",
        "_italic_",
        "[guide|https://example.com/guide]",
        "[~accountid:5b10ac8d82e05b22cc7d4ef5]",
        "* first\n** nested *one*\n* second",
        "# step one\n## step two",
        "||Name||Owner||\n|api|[~accountid:abc]|\n|web|{{ui}}|",
        '{code:python}\ndef main():\n    return "*not bold*"\n{code}',
        "{warning}\nDo *not* deploy on Fridays.\n{warning}",
    ]:
        assert fragment in wiki


@pytest.mark.parametrize(
    "wiki",
    ["*a* _b_ -c- +d+ {{e}} x^2^", "[~jsmith] and [~accountid:x1]", "{color:blue}sky{color}", "h2. [link|/browse/X-1]"],
)
def test_round_trip_is_stable(wiki: str) -> None:
    assert adf_to_wiki(wiki_to_adf(wiki)) == wiki


# --- plain text ------------------------------------------------------------------------------------------------------


def test_text_to_adf_paragraphs_and_breaks() -> None:
    assert text_to_adf("one\ntwo\n\n\nthree\n") == doc(p(t("one"), {"type": "hardBreak"}, t("two")), p(t("three")))
    assert text_to_adf("") == doc()
    assert text_to_adf("*not markup*") == doc(p(t("*not markup*")))


def test_adf_to_text_keeps_words_code_and_cells() -> None:
    assert adf_to_text(wiki_to_adf(RICH_WIKI)) == (
        "Release plan\nIntro with bold, italic and a guide.\nPing @5b10ac8d82e05b22cc7d4ef5 please.\n"
        "first\nnested one\nsecond\nstep one\nstep two\nName\nOwner\napi\n@abc\nweb\nui\n"
        'def main():\n    return "*not bold*"\n'
        "Do not deploy on Fridays."
    )


def test_is_adf() -> None:
    assert is_adf(doc())
    assert is_adf(wiki_to_adf("x"))
    for value in [None, "doc", {}, {"type": "doc"}, {"type": "doc", "version": 2}, {"type": "paragraph", "version": 1}]:
        assert not is_adf(value)


# --- Confluence storage ----------------------------------------------------------------------------------------------

STORAGE = """<h2>Overview&nbsp;now</h2>
<p>Some <strong>bold</strong>, <em>em</em>, <code>x()</code> and <a
href="https://a.io">a link</a><br/>next &amp; more</p>
<ul><li>one<ul><li>nested</li></ul></li><li><p>two</p></li></ul>
<table><tbody><tr><th>Service</th><th>Owner</th></tr>
<tr><td>billing-api</td><td><p>payments team</p></td></tr></tbody></table>
<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">java</ac:parameter>
<ac:plain-text-body><![CDATA[int retries = 3 < max ? 3 : max;]]></ac:plain-text-body></ac:structured-macro>
<ac:structured-macro ac:name="warning"><ac:rich-text-body><p>Careful</p></ac:rich-text-body></ac:structured-macro>
<ac:structured-macro ac:name="expand"><ac:parameter ac:name="title">Details</ac:parameter>
<ac:rich-text-body><p>hidden text</p></ac:rich-text-body></ac:structured-macro>
<p>State <ac:structured-macro ac:name="status"><ac:parameter ac:name="title">Done</ac:parameter>
<ac:parameter ac:name="colour">Green</ac:parameter></ac:structured-macro> by <ac:link><ri:user
ri:account-id="acc-1"/></ac:link>,
see <ac:link><ri:page ri:content-title="Run Book" ri:space-key="OPS"/></ac:link> <ac:emoticon ac:name="tick"/>
due <time datetime="2026-01-01"/></p>
<ac:task-list><ac:task><ac:task-id>7</ac:task-id><ac:task-status>complete</ac:task-status>
<ac:task-body>ship it</ac:task-body></ac:task>
<ac:task><ac:task-status>incomplete</ac:task-status><ac:task-body>announce</ac:task-body></ac:task></ac:task-list>
<hr/><blockquote><p>quoted</p></blockquote>"""


def test_storage_to_adf_structure() -> None:
    blocks = storage_to_adf(STORAGE)["content"]
    assert [block["type"] for block in blocks] == [
        "heading", "paragraph", "bulletList", "table", "codeBlock", "panel", "expand", "paragraph", "taskList", "rule",
        "blockquote",
    ]  # fmt: skip
    heading, para, bullets, table, code, panel, expand, state, tasks, _rule, quote = blocks
    assert heading == {"type": "heading", "attrs": {"level": 2}, "content": [t("Overview now")]}
    assert para["content"] == [
        t("Some "), t("bold", STRONG), t(", "), t("em", EM), t(", "), t("x()", CODE), t(" and "),
        t("a link", link("https://a.io")), {"type": "hardBreak"}, t("next & more"),
    ]  # fmt: skip
    assert bullets == {
        "type": "bulletList",
        "content": [item("one", {"type": "bulletList", "content": [item("nested")]}), item("two")],
    }
    assert table["content"][0]["content"][0] == {"type": "tableHeader", "content": [p(t("Service"))]}
    assert table["content"][1]["content"][1] == {"type": "tableCell", "content": [p(t("payments team"))]}
    assert code == {
        "type": "codeBlock",
        "attrs": {"language": "java"},
        "content": [t("int retries = 3 < max ? 3 : max;")],
    }
    assert panel == {"type": "panel", "attrs": {"panelType": "warning"}, "content": [p(t("Careful"))]}
    assert expand == {"type": "expand", "attrs": {"title": "Details"}, "content": [p(t("hidden text"))]}
    assert state["content"] == [
        t("State "), {"type": "status", "attrs": {"text": "Done", "color": "green"}}, t(" by "),
        {"type": "mention", "attrs": {"id": "acc-1"}}, t(", see "),
        t("Run Book", link("/wiki/display/OPS/Run+Book")), t(" "),
        {"type": "emoji", "attrs": {"shortName": ":check_mark:", "id": "atlassian-check_mark", "text": ":check_mark:"}},
        t(" due "), {"type": "date", "attrs": {"timestamp": "1767225600000"}},
    ]  # fmt: skip
    assert tasks == {
        "type": "taskList",
        "attrs": {"localId": "task-1"},
        "content": [
            {"type": "taskItem", "attrs": {"localId": "7", "state": "DONE"}, "content": [t("ship it")]},
            {"type": "taskItem", "attrs": {"localId": "task-2", "state": "TODO"}, "content": [t("announce")]},
        ],
    }
    assert quote == {"type": "blockquote", "content": [p(t("quoted"))]}


def test_storage_to_text_includes_code_and_table_cells() -> None:
    text = storage_to_text(STORAGE)
    for expected in ["Overview now", "billing-api", "payments team", "int retries = 3 < max ? 3 : max;", "hidden text"]:
        assert expected in text.split("\n")
    assert "State Done by @acc-1, see Run Book :check_mark: due 2026-01-01" in text
    assert "<" not in text.replace("3 < max", "")


def test_storage_macro_inside_paragraph_and_unknown_macros() -> None:
    storage = (
        '<p><ac:structured-macro ac:name="code"><ac:plain-text-body><![CDATA[x = 1]]></ac:plain-text-body>'
        '</ac:structured-macro></p><ac:structured-macro ac:name="toc"/>'
        '<p><ac:structured-macro ac:name="jira"><ac:parameter ac:name="key">OPS-7</ac:parameter>'
        "</ac:structured-macro></p>"
    )
    assert storage_to_adf(storage)["content"] == [{"type": "codeBlock", "content": [t("x = 1")]}, p(t("OPS-7"))]


def test_storage_tolerates_broken_markup() -> None:
    assert storage_to_adf("<p>open <b>bold &nbsp;<i>both</p><p>next") == doc(
        p(t("open "), t("bold ", STRONG), t("both", STRONG, EM)), p(t("next"))
    )


# --- schema validity and robustness ----------------------------------------------------------------------------------

WIKI_SAMPLES = [
    RICH_WIKI,
    "",
    "   \n\n  ",
    "plain",
    "{info}\n|a|b|\n{quote}q{quote}\n{info}",
    "{quote}\n* a\n|t|\nh1. x\n{quote}",
    "{expand:x}\n||h||\n{expand}",
    "|{expand}x{expand}|",
    "* {code}x{code}",
    "# a\n#* b\n#*# c\n** d",
    "h1.\n||\n|",
    "{color:nonsense}x{color} {color:red}{color}",
    "{status:title=}",
    "[~] [~accountid:] [|] [a|] [|https://x.io]",
    "{{}} ** __ -- ++ ^^ ~~ ????",
    "\\\\ \\",
    "*_-+^~?? {{*}}",
    "h1. !a.png! x [^b]\n* !a.png! [^b]\n|!a.png![^b]|\nbq. [^b]\n{info}[^b]{info}",
]
STORAGE_SAMPLES = [
    STORAGE,
    "",
    "<",
    "<p>",
    "<<<>>>&&&",
    "<ac:structured-macro ac:name='code'>",
    "<table><tr></tr></table>",
    "<table><tr><td></td></tr></table>",
    "]]><![CDATA[",
    "<ul><li></li><li><ul><li>x</li></ul></li></ul>",
    "<ac:task-list><ac:task></ac:task></ac:task-list>",
    '<ac:structured-macro ac:name="status"><ac:parameter ac:name="colour">Red</ac:parameter></ac:structured-macro>',
    '<table><tr><td><ac:structured-macro ac:name="expand"><ac:rich-text-body><p>x</p></ac:rich-text-body>'
    "</ac:structured-macro></td></tr></table>",
    '<ac:structured-macro ac:name="info"><ac:rich-text-body><table><tr><td>a</td></tr></table>'
    "<blockquote>q</blockquote></ac:rich-text-body></ac:structured-macro>",
    '<ul><li><ac:structured-macro ac:name="code"><ac:plain-text-body>x</ac:plain-text-body>'
    "</ac:structured-macro></li></ul>",
    '<span style="color: rgb(1,2,3)">c</span><span style="color: #123456">d</span><a>no href</a><time datetime="x"/>',
]


@pytest.mark.parametrize("wiki", WIKI_SAMPLES)
def test_wiki_to_adf_is_schema_valid(validator: Draft4Validator, wiki: str) -> None:
    assert_valid(validator, wiki_to_adf(wiki))


@pytest.mark.parametrize("storage", STORAGE_SAMPLES)
def test_storage_to_adf_is_schema_valid(validator: Draft4Validator, storage: str) -> None:
    adf = storage_to_adf(storage)
    assert_valid(validator, adf)
    assert isinstance(storage_to_text(storage), str)


@pytest.mark.parametrize("text", ["", "a", "a\nb", "a\n\n\nb\r\nc", "  \n \n", "\t"])
def test_text_to_adf_is_schema_valid(validator: Draft4Validator, text: str) -> None:
    assert_valid(validator, text_to_adf(text))


def test_random_input_never_raises_and_stays_valid(validator: Draft4Validator) -> None:
    rng = random.Random(7)
    alphabet = [
        *"ab *_-+^~?{}[]|!#\\:()/xy\n",
        *["{code}", "{info}", "{{", "}}", "h1. ", "||", "[~", "http://a.b"],
        *["<p>", "</p>", "<ac:task>", "<![CDATA[", "&nbsp;", "<li>", "<td>", "<table>"],
    ]
    for _ in range(100):
        sample = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        for adf in (wiki_to_adf(sample), storage_to_adf(sample), text_to_adf(sample)):
            assert_valid(validator, adf)
            adf_to_wiki(adf), adf_to_html(adf), adf_to_text(adf)
        assert isinstance(storage_to_text(sample), str)


MALFORMED_ADF = [
    {},
    {"type": "doc"},
    {"type": "doc", "content": "x"},
    {"type": "doc", "content": [1, None, {"type": "heading", "attrs": {"level": 99}}]},
    {"type": "doc", "content": [p({"type": "text", "text": 5, "marks": "bad"}, {"type": "mention"})]},
    {
        "type": "doc",
        "content": [{"type": "table", "content": [{"type": "tableRow", "content": [{"type": "tableCell"}]}]}],
    },
]


@pytest.mark.parametrize("junk", MALFORMED_ADF)
def test_renderers_tolerate_malformed_adf(junk: dict) -> None:
    assert isinstance(adf_to_wiki(junk), str)
    assert isinstance(adf_to_html(junk), str)
    assert isinstance(adf_to_text(junk), str)
