"""Atlassian's emoticons and the one Markdown string every reader writes for each.

The same emoticon is a token in Jira wiki markup (`(/)`), a named element in Confluence storage
(`<ac:emoticon ac:name="tick"/>`) and an emoji node in ADF (short name `:check_mark:`). The readers look it up
here so that the model reads the same text whichever flavor the content came from: the Unicode character for
the faces and thumbs (standard emoji, which ADF carries as text), the short name for Atlassian's own emoji
(they have no Unicode code point; their short name is also the text Jira Cloud falls back to).
"""

from __future__ import annotations

import re

# (wiki tokens, Confluence emoticon name, ADF short name, Markdown)
EMOTICONS: list[tuple[tuple[str, ...], str, str, str]] = [
    ((":)",), "smile", ":slight_smile:", "🙂"),
    ((":(",), "sad", ":disappointed:", "😞"),
    ((":P",), "cheeky", ":stuck_out_tongue:", "😛"),
    ((":D",), "laugh", ":smiley:", "😃"),
    ((";)",), "wink", ":wink:", "😉"),
    (("(y)",), "thumbs-up", ":thumbsup:", "👍"),
    (("(n)",), "thumbs-down", ":thumbsdown:", "👎"),
    (("(i)",), "information", ":info:", ":info:"),
    (("(/)",), "tick", ":check_mark:", ":check_mark:"),
    (("(x)",), "cross", ":cross_mark:", ":cross_mark:"),
    (("(!)",), "warning", ":warning:", ":warning:"),
    (("(+)",), "plus", ":plus:", ":plus:"),
    (("(-)",), "minus", ":minus:", ":minus:"),
    (("(?)",), "question", ":question:", ":question:"),
    (("(on)",), "light-on", ":light_bulb_on:", ":light_bulb_on:"),
    (("(off)",), "light-off", ":light_bulb_off:", ":light_bulb_off:"),
    (("(*)", "(*y)"), "yellow-star", ":yellow_star:", ":yellow_star:"),
    (("(*r)",), "red-star", ":red_star:", ":red_star:"),
    (("(*g)",), "green-star", ":green_star:", ":green_star:"),
    (("(*b)",), "blue-star", ":blue_star:", ":blue_star:"),
    (("(flag)",), "flag", ":flag_on:", ":flag_on:"),
    (("(flagoff)",), "flag-off", ":flag_off:", ":flag_off:"),
]

BY_TOKEN = {token: markdown for tokens, _name, _short, markdown in EMOTICONS for token in tokens}
BY_NAME = {name: markdown for _tokens, name, _short, markdown in EMOTICONS}
BY_SHORT_NAME = {short: markdown for _tokens, _name, short, markdown in EMOTICONS}

# Jira draws a token only when no letter or digit follows it (atlassian-renderer's VALID_END), and a backslash
# before it keeps it text. Jira does not look at what precedes, so `f(x)=1` gets an icon there; that is never
# what the writer meant, so here a letter or digit before a token keeps it text as well. Punctuation on either
# side does not: `Done (/).` and `"(y)"` are emoticons, as in Jira.
WIKI_TOKEN = re.compile(
    r"(?<![^\W_])(?<!\\)(" + "|".join(re.escape(t) for t in sorted(BY_TOKEN, key=len, reverse=True)) + r")(?![^\W_])"
)


def adf_emoji(short_name: str, text: str) -> str:
    """Markdown for an ADF emoji node: the shared rendering for Atlassian's emoticons, else its text."""
    return BY_SHORT_NAME.get(short_name) or text or short_name


def storage_emoticon(name: str, short_name: str, fallback: str) -> str:
    """Markdown for `<ac:emoticon>`. Confluence Cloud names the emoji by its short name and gives any emoji that
    is not one of the old emoticons a stand-in name (`blue-star`), so the short name wins; Data Center writes
    only the name."""
    if short_name:
        return BY_SHORT_NAME.get(short_name) or fallback or short_name
    return BY_NAME.get(name) or fallback or (f":{name}:" if name else "")
