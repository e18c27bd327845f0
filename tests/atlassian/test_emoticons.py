"""Where a wiki emoticon token counts, and how each format's emoticon reads in Markdown."""

from __future__ import annotations

import pytest

from agentflow.atlassian.convert import adf_to_markdown, storage_to_markdown, wiki_to_markdown

WIKI = [
    (":)", "🙂"),
    ("(/) done", ":check_mark: done"),
    ("done (/)", "done :check_mark:"),
    ("a\n(x)\nb", "a\\\n:cross_mark:\\\nb"),
    ("(y), (n); (!)? ((i))", "👍, 👎; :warning:? (:info:)"),
    ("*(on)* _(y)_", "**:light_bulb_on:** *👍*"),
    ("(*y) (*) (*r)", ":yellow_star: :yellow_star: :red_star:"),
    ("word:) :)word (x)1 1(x) é(x) (x)é", "word:) :)word (x)1 1(x) é(x) (x)é"),
    ("\\:) \\(y)", ":) (y)"),
    ("{{:D}} ftp://x.example/:D [a|https://x.example/(y)]", "`:D` <ftp://x.example/:D> [a](https://x.example/%28y%29)"),
    ("{code:title=:)}\n(x)\n{code}", "**:)**\n\n```\n(x)\n```"),
    ("{info:title=Go (/)}\nx\n{info}", "> **Info:** **Go (/)**\n>\n> x"),
    ("!a(x).png!", "[attachment: a(x).png]"),
]


@pytest.mark.parametrize(("wiki", "expected"), WIKI)
def test_wiki_emoticons_stand_apart_from_words_and_other_markup(wiki: str, expected: str) -> None:
    assert wiki_to_markdown(wiki) == expected


def test_an_emoji_outside_the_shared_table_keeps_its_own_text() -> None:
    adf = {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "emoji", "attrs": {"shortName": ":grinning:", "text": "😀"}},
                    {"type": "emoji", "attrs": {"shortName": ":custom-party:"}},
                    {"type": "emoji", "attrs": {"shortName": ":info:", "text": ":info"}},
                ],
            }
        ],
    }
    assert adf_to_markdown(adf) == "😀:custom-party::info:"
    storage = (
        '<p><ac:emoticon ac:name="blue-star" ac:emoji-shortname=":grinning:" ac:emoji-fallback="😀"/>'
        '<ac:emoticon ac:name="heart"/>'
        '<ac:emoticon ac:name="emoji" ac:emoji-shortname=":grinning:" ac:emoji-fallback="😀"/>'
        '<ac:emoticon ac:name="emoji" ac:emoji-shortname=":check_mark:"/></p>'
    )
    assert storage_to_markdown(storage) == "😀:heart:😀:check_mark:"
