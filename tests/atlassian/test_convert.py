"""Conversions between Markdown and ADF, Confluence storage and Jira wiki markup."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any
from xml.dom import minidom

import pytest

from agentflow.atlassian.convert import (
    adf_to_markdown,
    markdown_to_adf,
    markdown_to_storage,
    markdown_to_wiki,
    storage_to_markdown,
    truncate_markdown,
    wiki_to_markdown,
)

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "shared" / "specs" / "adf-schema.v1.json"


def text(value: str, *marks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "text", "text": value, "marks": list(marks)} if marks else {"type": "text", "text": value}


def para(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(content)}


def doc(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": list(content)}


def item(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "listItem", "content": list(content)}


STRONG, EM, CODE, STRIKE = {"type": "strong"}, {"type": "em"}, {"type": "code"}, {"type": "strike"}


def link(href: str) -> dict[str, Any]:
    return {"type": "link", "attrs": {"href": href}}


def without_ids(node: Any) -> Any:
    """The ADF with task localIds dropped (they are random), after checking they are present."""
    if isinstance(node, list):
        return [without_ids(child) for child in node]
    if not isinstance(node, dict):
        return node
    out = {key: without_ids(value) for key, value in node.items()}
    if node.get("type") in ("taskList", "taskItem"):
        assert node["attrs"]["localId"]
        out["attrs"] = {key: value for key, value in node["attrs"].items() if key != "localId"}
    return out


# --- ADF -> Markdown -------------------------------------------------------------------------------------

ADF_CASES = [
    (para(text("plain")), "plain"),
    ({"type": "heading", "attrs": {"level": 3}, "content": [text("Title")]}, "### Title"),
    (
        para(text("b", STRONG), text(" "), text("i", EM), text(" "), text("x", CODE), text(" "), text("s", STRIKE)),
        "**b** *i* `x` ~~s~~",
    ),
    (para(text("bold ", STRONG), text("both", STRONG, EM), text(" bold", STRONG)), "**bold *both* bold**"),
    (para(text("site", link("https://a.example"))), "[site](https://a.example)"),
    (para(text("https://a.example", link("https://a.example"))), "<https://a.example>"),
    (
        para(text("under", {"type": "underline"}), text(" red", {"type": "textColor", "attrs": {"color": "#f00"}})),
        "under red",
    ),
    (para(text("H"), text("2", {"type": "subsup", "attrs": {"type": "sub"}}), text("O")), "H<sub>2</sub>O"),
    (para(text("a"), {"type": "hardBreak"}, text("b")), "a\\\nb"),
    (para(text("2 * 3 and `x`")), "2 \\* 3 and \\`x\\`"),
    (para(text("1. not a list")), "1\\. not a list"),
    (
        {
            "type": "bulletList",
            "content": [
                item(para(text("a")), {"type": "bulletList", "content": [item(para(text("b")))]}),
                item(para(text("c"))),
            ],
        },
        "- a\n  - b\n- c",
    ),
    (
        {"type": "orderedList", "attrs": {"order": 3}, "content": [item(para(text("x"))), item(para(text("y")))]},
        "3. x\n4. y",
    ),
    (
        {
            "type": "taskList",
            "attrs": {"localId": "l"},
            "content": [
                {"type": "taskItem", "attrs": {"localId": "1", "state": "TODO"}, "content": [text("open")]},
                {"type": "taskItem", "attrs": {"localId": "2", "state": "DONE"}, "content": [text("done")]},
                {
                    "type": "taskList",
                    "attrs": {"localId": "m"},
                    "content": [
                        {"type": "taskItem", "attrs": {"localId": "3", "state": "TODO"}, "content": [text("sub")]}
                    ],
                },
            ],
        },
        "- [ ] open\n- [x] done\n  - [ ] sub",
    ),
    (
        {
            "type": "decisionList",
            "attrs": {"localId": "d"},
            "content": [
                {"type": "decisionItem", "attrs": {"localId": "1", "state": "DECIDED"}, "content": [text("Use ADF")]}
            ],
        },
        "- **Decision:** Use ADF",
    ),
    (
        {
            "type": "table",
            "content": [
                {
                    "type": "tableRow",
                    "content": [
                        {"type": "tableHeader", "content": [para(text("A|B"))]},
                        {"type": "tableHeader", "content": [para(text("C"))]},
                    ],
                },
                {
                    "type": "tableRow",
                    "content": [
                        {"type": "tableCell", "content": [para(text("one")), para(text("two"))]},
                        {"type": "tableCell", "content": [{"type": "paragraph"}]},
                    ],
                },
            ],
        },
        "| A\\|B | C |\n| --- | --- |\n| one<br>two |  |",
    ),
    (
        {"type": "codeBlock", "attrs": {"language": "java"}, "content": [text("int x = 1;\n")]},
        "```java\nint x = 1;\n```",
    ),
    ({"type": "codeBlock", "content": [text("has ``` inside")]}, "````\nhas ``` inside\n````"),
    (
        {"type": "panel", "attrs": {"panelType": "warning"}, "content": [para(text("Careful")), para(text("Really"))]},
        "> **Warning:** Careful\n>\n> Really",
    ),
    (
        {
            "type": "panel",
            "attrs": {"panelType": "info"},
            "content": [{"type": "bulletList", "content": [item(para(text("x")))]}],
        },
        "> **Info:**\n>\n> - x",
    ),
    ({"type": "blockquote", "content": [para(text("quoted"))]}, "> quoted"),
    ({"type": "rule"}, "---"),
    (
        para(
            {"type": "mention", "attrs": {"id": "1", "text": "@Jane Doe"}},
            text(" "),
            {"type": "mention", "attrs": {"id": "2"}},
        ),
        "@Jane Doe @user",
    ),
    (
        para(
            {"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}},
            {"type": "emoji", "attrs": {"shortName": ":x:"}},
        ),
        "😄:x:",
    ),
    (para({"type": "status", "attrs": {"text": "In progress", "color": "blue"}}), "[IN PROGRESS]"),
    (para({"type": "date", "attrs": {"timestamp": "1705276800000"}}), "2024-01-15"),
    (para({"type": "inlineCard", "attrs": {"url": "https://x.example/1"}}), "<https://x.example/1>"),
    ({"type": "blockCard", "attrs": {"url": "https://x.example/2"}}, "<https://x.example/2>"),
    (
        {
            "type": "mediaSingle",
            "content": [{"type": "media", "attrs": {"type": "file", "id": "f", "collection": "", "alt": "shot.png"}}],
        },
        "[attachment: shot.png]",
    ),
    (
        {
            "type": "mediaGroup",
            "content": [{"type": "media", "attrs": {"type": "file", "id": "abc", "collection": ""}}],
        },
        "[attachment: abc]",
    ),
    ({"type": "expand", "attrs": {"title": "More"}, "content": [para(text("hidden"))]}, "**More**\n\nhidden"),
    ({"type": "nestedExpand", "attrs": {}, "content": [para(text("inner"))]}, "inner"),
    ({"type": "futureNode", "content": [text("still readable")]}, "still readable"),
]


@pytest.mark.parametrize(("node", "expected"), ADF_CASES)
def test_adf_to_markdown_constructs(node: dict[str, Any], expected: str) -> None:
    assert adf_to_markdown(doc(node)) == expected


def test_adf_blocks_are_separated_by_blank_lines() -> None:
    body = doc({"type": "heading", "attrs": {"level": 1}, "content": [text("T")]}, para(text("p")), {"type": "rule"})
    assert adf_to_markdown(body) == "# T\n\np\n\n---"


@pytest.mark.parametrize("value", [None, {}, {"type": "doc"}, {"type": "doc", "content": "nope"}, [], "text", 3])
def test_adf_to_markdown_empty_or_odd_input(value: Any) -> None:
    assert adf_to_markdown(value) == ""


# --- Storage -> Markdown ---------------------------------------------------------------------------------

STORAGE_CASES = [
    (
        "<h2>Title</h2><p>A <strong>b</strong> <em>i</em> <code>c</code> snake_case</p>",
        "## Title\n\nA **b** *i* `c` snake_case",
    ),
    ('<p><a href="https://a.example">site</a></p>', "[site](https://a.example)"),
    (
        '<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">java</ac:parameter>'
        "<ac:plain-text-body><![CDATA[if (a < b && c) {\n  run();\n}]]></ac:plain-text-body></ac:structured-macro>",
        "```java\nif (a < b && c) {\n  run();\n}\n```",
    ),
    (
        '<ac:structured-macro ac:name="note"><ac:rich-text-body><p>Careful</p>'
        "</ac:rich-text-body></ac:structured-macro>",
        "> **Note:** Careful",
    ),
    (
        '<ac:structured-macro ac:name="expand"><ac:parameter ac:name="title">More</ac:parameter>'
        "<ac:rich-text-body><p>hidden</p></ac:rich-text-body></ac:structured-macro>",
        "**More**\n\nhidden",
    ),
    ('<p>See <ac:link><ri:page ri:content-title="Runbook"/></ac:link></p>', "See Runbook"),
    ('<p>Ask <ac:link><ri:user ri:account-id="5b10"/></ac:link></p>', "Ask @user"),
    (
        "<ac:task-list><ac:task><ac:task-id>1</ac:task-id><ac:task-status>incomplete</ac:task-status>"
        "<ac:task-body>open</ac:task-body></ac:task><ac:task><ac:task-id>2</ac:task-id>"
        "<ac:task-status>complete</ac:task-status><ac:task-body>done</ac:task-body></ac:task></ac:task-list>",
        "- [ ] open\n- [x] done",
    ),
    (
        '<p><ac:structured-macro ac:name="status"><ac:parameter ac:name="title">Done</ac:parameter>'
        "</ac:structured-macro></p>",
        "[DONE]",
    ),
    ('<p><ac:emoticon ac:name="smile" ac:emoji-fallback="🙂"/> <ac:emoticon ac:name="tick"/></p>', "🙂 :check_mark:"),
    ('<p>Due <time datetime="2024-01-15"/></p>', "Due 2024-01-15"),
    (
        "<table><tbody><tr><th>A|B</th><th>C</th></tr><tr><td><p>one</p><p>two</p></td><td>x</td></tr></tbody></table>",
        "| A\\|B | C |\n| --- | --- |\n| one<br>two | x |",
    ),
    ("<ul><li>a<ul><li>b</li></ul></li></ul><ol><li>x</li></ol>", "- a\n  - b\n\n1. x"),
    ('<ac:image><ri:attachment ri:filename="shot.png"/></ac:image>', "[attachment: shot.png]"),
    ("<p>a</p><hr/><blockquote><p>q</p></blockquote>", "a\n\n---\n\n> q"),
]


@pytest.mark.parametrize(("xhtml", "expected"), STORAGE_CASES)
def test_storage_to_markdown_constructs(xhtml: str, expected: str) -> None:
    assert storage_to_markdown(xhtml) == expected


# --- Wiki -> Markdown ------------------------------------------------------------------------------------

WIKI_CASES = [
    ("h2. Title", "## Title"),
    ("*b* _i_ -s- +u+ {{mono}} well-known snake_case", "**b** *i* ~~s~~ u `mono` well-known snake_case"),
    ("line one\nline two", "line one\\\nline two"),
    ("a\\\\b", "a\\\nb"),
    ("* a\n** b\n* c", "- a\n  - b\n- c"),
    ("# a\n## b\n#* c\n# d", "1. a\n   1. b\n   - c\n2. d"),
    (
        "||H1||H2||\n|a|[x|https://y.example]|\n|b\\|c| |",
        "| H1 | H2 |\n| --- | --- |\n| a | [x](https://y.example) |\n| b\\|c |  |",
    ),
    ("{code:java}\nint x; // *not bold*\n{code}", "```java\nint x; // *not bold*\n```"),
    ("{code:title=A.java|language=java}\nx\n{code}", "**A.java**\n\n```java\nx\n```"),
    ("{noformat}\nraw _text_\n{noformat}", "```\nraw _text_\n```"),
    ("{quote}\nquoted *text*\n{quote}", "> quoted **text**"),
    ("bq. short", "> short"),
    ("{warning}\nCareful\n{warning}", "> **Warning:** Careful"),
    ("{panel:title=Mine}\ninside\n{panel}", "> **Mine** inside"),
    ("a\n----\nb", "a\n\n---\n\nb"),
    ("[site|https://a.example] [https://b.example]", "[site](https://a.example) <https://b.example>"),
    ("[~accountid:5b10] and [~jsmith]", "@accountid:5b10 and @jsmith"),
    ("{color:red}red{color} text", "red text"),
    ("!shot.png|thumbnail! [^spec.pdf]", "[attachment: shot.png] [attachment: spec.pdf]"),
]


@pytest.mark.parametrize(("wiki", "expected"), WIKI_CASES)
def test_wiki_to_markdown_constructs(wiki: str, expected: str) -> None:
    assert wiki_to_markdown(wiki) == expected


# --- Markdown -> ADF -------------------------------------------------------------------------------------

MD_ADF_CASES = [
    ("", []),
    ("hello", [para(text("hello"))]),
    ("# Title", [{"type": "heading", "attrs": {"level": 1}, "content": [text("Title")]}]),
    (
        "**b** *i* ~~s~~ `c`",
        [para(text("b", STRONG), text(" "), text("i", EM), text(" "), text("s", STRIKE), text(" "), text("c", CODE))],
    ),
    ("**`x`**", [para(text("x", CODE))]),
    ("[`x`](https://a.example)", [para(text("x", link("https://a.example"), CODE))]),
    ("a  \nb", [para(text("a"), {"type": "hardBreak"}, text("b"))]),
    ("a\nb", [para(text("a b"))]),
    (
        "- a\n  - b",
        [
            {
                "type": "bulletList",
                "content": [item(para(text("a")), {"type": "bulletList", "content": [item(para(text("b")))]})],
            }
        ],
    ),
    (
        "3. a\n4. b",
        [{"type": "orderedList", "attrs": {"order": 3}, "content": [item(para(text("a"))), item(para(text("b")))]}],
    ),
    (
        "- [ ] a\n- [x] b",
        [
            {
                "type": "taskList",
                "attrs": {},
                "content": [
                    {"type": "taskItem", "attrs": {"state": "TODO"}, "content": [text("a")]},
                    {"type": "taskItem", "attrs": {"state": "DONE"}, "content": [text("b")]},
                ],
            }
        ],
    ),
    ("```py\nx = 1\n```", [{"type": "codeBlock", "attrs": {"language": "py"}, "content": [text("x = 1")]}]),
    ("> q", [{"type": "blockquote", "content": [para(text("q"))]}]),
    ("> **Tip:** t", [{"type": "panel", "attrs": {"panelType": "tip"}, "content": [para(text("t"))]}]),
    ("---", [{"type": "rule"}]),
    (
        "| a | b |\n|---|---|\n| 1 | |",
        [
            {
                "type": "table",
                "content": [
                    {
                        "type": "tableRow",
                        "content": [
                            {"type": "tableHeader", "content": [para(text("a"))]},
                            {"type": "tableHeader", "content": [para(text("b"))]},
                        ],
                    },
                    {
                        "type": "tableRow",
                        "content": [
                            {"type": "tableCell", "content": [para(text("1"))]},
                            {"type": "tableCell", "content": [{"type": "paragraph"}]},
                        ],
                    },
                ],
            }
        ],
    ),
    ("![diagram](https://a.example/d.png)", [para(text("diagram", link("https://a.example/d.png")))]),
    ("H<sub>2</sub>O", [para(text("H"), text("2", {"type": "subsup", "attrs": {"type": "sub"}}), text("O"))]),
]


@pytest.mark.parametrize(("markdown", "content"), MD_ADF_CASES)
def test_markdown_to_adf_structures(markdown: str, content: list[dict[str, Any]]) -> None:
    assert without_ids(markdown_to_adf(markdown)) == doc(*content)


RICH_MARKDOWN = """\
# Release plan

Intro with **bold**, *italic*, ~~old~~, `code` and a [link](https://example.com/a).

## Steps

1. Prepare
   - check **CI**
   - notify team
2. Ship

- [ ] write notes
- [x] tag release

> **Warning:** do not deploy on Friday

> A plain quote

| Name | Value |
| --- | --- |
| `retries` | 3 |
| timeout | 30s |

```python
def main() -> None:
    print("hi")
```

---

The end.
"""

ADF_SAMPLES = [
    RICH_MARKDOWN,
    "",
    "plain",
    "***both***",
    "**bold `code` bold**",
    "[**bold link**](https://x.example)",
    "- a\n\n  para\n\n  ```\n  code\n  ```",
    "- ```\n  code first\n  ```",
    "-\n- empty item above",
    "> # heading in quote\n> > nested quote\n> - [ ] task in quote\n>\n> | a |\n> | - |\n> | 1 |\n>\n> ---",
    "- # heading in list\n- > quote in list\n- | a |\n  | - |\n  | 1 |",
    "- [ ] task\n  more text\n\n  - plain nested\n  - [x] nested task",
    "- mixed\n- [ ] task",
    "> **Note:**\n> # heading in panel\n> > quote in panel\n> | t |\n> | - |\n> | c |",
    "> **Note:**",
    "| h |\n| - |\n| **b** `c` [l](https://x.example) |",
    "<div>raw html</div>\n\ninline <b>html</b> <sup>x <sub>y</sup>",
    "`` ` `` and  \n\n\n",
    "0. zero start\n1. next",
    "[](https://empty.example)",
    "![](https://x.example/i.png)",
    "    indented code",
    "```\n```",
    "# \n\n**\n\n****",
    "Setext\n======",
    "\\* escaped \\_ text &amp; &copy;",
]


@pytest.fixture(scope="module")
def adf_validator() -> Any:
    if not SCHEMA_PATH.is_file():
        pytest.skip(f"ADF schema not found at {SCHEMA_PATH} (it lives in the shared specs checkout)")
    import jsonschema

    return jsonschema.Draft4Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


@pytest.mark.parametrize("markdown", ADF_SAMPLES)
def test_markdown_to_adf_validates_against_schema(markdown: str, adf_validator: Any) -> None:
    adf = markdown_to_adf(markdown)
    errors = [f"{list(error.absolute_path)}: {error.message[:200]}" for error in adf_validator.iter_errors(adf)]
    assert not errors, errors
    ids = [node["attrs"]["localId"] for node in _walk(adf) if node.get("type") in ("taskList", "taskItem")]
    assert len(ids) == len(set(ids))


def _walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(found for child in node.get("content", []) for found in _walk(child))]


def test_flattened_constructs_keep_their_text() -> None:
    out = adf_to_markdown(markdown_to_adf(ADF_SAMPLES[9]))
    for words in ("**heading in quote**", "nested quote", "- [ ] task in quote"):
        assert words in out
    table_in_list = adf_to_markdown(markdown_to_adf("- | a | b |\n  |---|---|\n  | 1 | 2 |"))
    assert table_in_list == "- a | b\\\n  1 | 2"


# --- Markdown -> storage and wiki ------------------------------------------------------------------------


def test_markdown_to_storage_is_well_formed_xhtml() -> None:
    for markdown in [*ADF_SAMPLES, "```\nend ]]> here\n```", "a < b & c \x01"]:
        xhtml = markdown_to_storage(markdown)
        minidom.parseString(f'<r xmlns:ac="urn:ac" xmlns:ri="urn:ri">{xhtml}</r>')


def test_markdown_to_storage_constructs() -> None:
    assert markdown_to_storage("# T\n\na <b> & **c**") == "<h1>T</h1><p>a &lt;b&gt; &amp; <strong>c</strong></p>"
    assert markdown_to_storage("```sh\necho ']]>'\n```") == (
        '<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">sh</ac:parameter>'
        "<ac:plain-text-body><![CDATA[echo ']]]]><![CDATA[>']]></ac:plain-text-body></ac:structured-macro>"
    )
    assert markdown_to_storage("- [x] done") == (
        "<ac:task-list><ac:task><ac:task-id>1</ac:task-id><ac:task-status>complete</ac:task-status>"
        "<ac:task-body>done</ac:task-body></ac:task></ac:task-list>"
    )
    assert markdown_to_storage("> **Info:** hi") == (
        '<ac:structured-macro ac:name="info"><ac:rich-text-body><p>hi</p></ac:rich-text-body></ac:structured-macro>'
    )
    assert (
        markdown_to_storage("| a |\n| - |\n| 1 |")
        == "<table><tbody><tr><th>a</th></tr><tr><td>1</td></tr></tbody></table>"
    )
    assert markdown_to_storage("2. x\n- [y](https://a.example?q=1&r=2)") == (
        '<ol start="2"><li>x</li></ol><ul><li><a href="https://a.example?q=1&amp;r=2">y</a></li></ul>'
    )


def test_markdown_to_wiki_constructs() -> None:
    assert markdown_to_wiki("## T") == "h2. T"
    assert markdown_to_wiki("**b** *i* ~~s~~ `c` [l](https://a.example)") == "*b* _i_ -s- {{c}} [l|https://a.example]"
    assert markdown_to_wiki("- a\n  1. b\n- c") == "* a\n*# b\n* c"
    assert markdown_to_wiki("```js\nx\n```\n\n```\ny\n```") == "{code:js}\nx\n{code}\n\n{noformat}\ny\n{noformat}"
    assert markdown_to_wiki("> q\n\n> **Note:** n\n\n---") == "{quote}\nq\n{quote}\n\n{note}\nn\n{note}\n\n----"
    assert markdown_to_wiki("| a | b |\n|---|---|\n| 1 | |") == "||a||b||\n|1| |"
    assert markdown_to_wiki("2 * 3 [x] {y} snake_case _a_b") == "2 \\* 3 \\[x\\] \\{y\\} snake_case \\_a_b"
    assert markdown_to_wiki("ping @accountid:5b10-ab") == "ping [~accountid:5b10-ab]"
    # Text the model wrote stays text on Data Center: emoticon tokens are escaped, `f(x)` needs no escape.
    assert markdown_to_wiki("(x) not done :) f(x)") == "\\(x) not done \\:) f(x)"


# --- Round trips -----------------------------------------------------------------------------------------

RICH_EXPECTED = """\
# Release plan

Intro with **bold**, *italic*, ~~old~~, `code` and a [link](https://example.com/a).

## Steps

1. Prepare
   - check **CI**
   - notify team
2. Ship

- [ ] write notes
- [x] tag release

> **Warning:** do not deploy on Friday

> A plain quote

| Name | Value |
| --- | --- |
| `retries` | 3 |
| timeout | 30s |

```python
def main() -> None:
    print("hi")
```

---

The end."""


@pytest.mark.parametrize(
    "round_trip",
    [
        lambda md: adf_to_markdown(markdown_to_adf(md)),
        lambda md: storage_to_markdown(markdown_to_storage(md)),
        lambda md: wiki_to_markdown(markdown_to_wiki(md)),
    ],
    ids=["adf", "storage", "wiki"],
)
def test_round_trip_keeps_what_a_reader_cares_about(round_trip: Any) -> None:
    assert round_trip(RICH_MARKDOWN) == RICH_EXPECTED


# --- Truncation ------------------------------------------------------------------------------------------

LONG = (
    "# Title\n\n"
    + "First paragraph here.\n\n"
    + "```python\n"
    + "".join(f"line_{n} = {n}\n" for n in range(40))
    + "```\n\nTail."
)


def test_truncate_leaves_short_text_alone() -> None:
    assert truncate_markdown("short", 100) == ("short", False)


def test_truncate_cuts_at_a_block_boundary() -> None:
    cut, was_cut = truncate_markdown("para one\n\npara two is long", 15)
    assert (cut, was_cut) == ("para one", True)


def test_truncate_closes_an_open_fence_within_budget() -> None:
    for limit in (80, 120, 200, 300):
        cut, was_cut = truncate_markdown(LONG, limit)
        assert was_cut
        assert len(cut) <= limit
        assert cut.count("```") % 2 == 0
        assert cut.endswith("```")


def test_truncate_single_long_line() -> None:
    cut, was_cut = truncate_markdown("word " * 50, 23)
    assert was_cut and len(cut) <= 23 and cut.endswith("word")
    assert truncate_markdown("abc", 0) == ("", True)


# --- Robustness ------------------------------------------------------------------------------------------


def _garbage_adf(rng: random.Random, depth: int = 0) -> Any:
    kinds = [
        "doc",
        "paragraph",
        "text",
        "table",
        "tableRow",
        "bulletList",
        "listItem",
        "panel",
        "codeBlock",
        "mention",
        "date",
        "status",
        "media",
        "expand",
        "heading",
        "taskList",
        None,
        7,
    ]
    choice = rng.random()
    if depth > 4 or choice < 0.1:
        return rng.choice([None, 1, "x", [], {}, {"type": "text", "text": None}])
    node: dict[str, Any] = {"type": rng.choice(kinds)}
    if rng.random() < 0.5:
        node["attrs"] = rng.choice([None, "bad", {"level": "x", "order": -2, "timestamp": "nan", "colspan": 99}])
    if rng.random() < 0.5:
        node["marks"] = rng.choice([None, ["bad"], [{"type": "link"}, {"type": "strong"}, {"type": "code"}]])
    node["text"] = rng.choice(["t", "", None, 5])
    node["content"] = [_garbage_adf(rng, depth + 1) for _ in range(rng.randint(0, 3))] if rng.random() < 0.8 else "x"
    return node


def test_garbage_never_raises() -> None:
    rng = random.Random(7)
    for _ in range(300):
        assert isinstance(adf_to_markdown(_garbage_adf(rng)), str)
    deep: dict[str, Any] = {"type": "text", "text": "x"}
    for _ in range(3000):
        deep = {"type": "blockquote", "content": [deep]}
    assert isinstance(adf_to_markdown(doc(deep)), str)
    for junk in [
        "<p><b>unclosed",
        "<ac:structured-macro ac:name='code'><![CDATA[x",
        "<<<>>>&&&",
        "<table><td>x",
        "<div>" * 3000,
        "\x00\x01",
        '<ac:link><ri:attachment ri:filename="f.pdf"/></ac:link>',
    ]:
        assert isinstance(storage_to_markdown(junk), str)
    for junk in ["{code}unclosed", "||", "|", "* ", "h7. x", "[|]", "{{", "{quote}{quote}{panel}", "-" * 3, "\\"]:
        assert isinstance(wiki_to_markdown(junk), str)
    for junk in ["[", "*" * 100, "> " * 200 + "x", "- " * 200 + "x", "|a|\n|-|\n" + "|b|\n" * 3, "\x00"]:
        assert isinstance(markdown_to_adf(junk), dict)
        assert isinstance(markdown_to_storage(junk), str)
        assert isinstance(markdown_to_wiki(junk), str)


@pytest.mark.parametrize("function", [adf_to_markdown, storage_to_markdown, wiki_to_markdown])
def test_none_and_empty_give_empty_string(function: Any) -> None:
    assert function(None) == ""
    assert function("" if function is not adf_to_markdown else {}) == ""
