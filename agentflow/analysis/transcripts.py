"""Feature requests out of a customer interview transcript, and which of them the backlog already has.

A transcript is Markdown with `**Name:** text` turns and an optional header (`- Interviewer: Priya Patel (PM)`).
The interviewer's turns are questions, not requests. A request starts at a sentence that asks for something
("I'd love ...", "if I could ...", "please ...") and runs on through the sentences that explain it, up to the
next request or the end of the turn.
"""

from __future__ import annotations

import re
from typing import Any

from agentflow.analysis.words import STOP_WORDS, content_stems, issues_of, stem, text_of, word_set, words

_TURN = re.compile(r"^\s*\*\*(?P<name>[^*:]+?):?\*\*:?\s*(?P<text>.*)$")
_HEADER = re.compile(r"^\s*[-*]\s*(?P<role>[\w ]+?):\s*(?P<people>.+)$")
_INTERVIEWER_ROLES = re.compile(r"\b(interviewer|pm|product manager|moderator|host)\b", re.I)
_REQUEST = re.compile(
    r"\b(i'?d love|i would love|we'?d love|would be (nice|great|helpful|useful)|if (i|we) could|i want|we want"
    r"|i need|we need|please|it would help|would help|being able to|(i|we) wish|should"
    r"|if (the|your|our) [\w ]{1,40}? (showed|posted|sent|had|kept|let|supported|could|would))\b",
    re.I,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
# A request runs on through at most this many explaining sentences.
MAX_FOLLOWING = 2
TOPIC_WORDS = 4
# Words that carry the asking or the talking, not the thing asked for.
_FILLER = word_set(
    "love nice great helpful useful like want need please help able wish should ideally just really basically "
    "honestly oh also small thing things bunch go come back end make made see get set open full day same one "
    "every each everyone everything something whatever otherwise actually maybe think lot system posted showed "
    "again keep select straight twice moving next quarter catch myself applied matters talk separately"
)


def feature_requests(text: str, existing: dict[str, Any] | None = None) -> dict[str, Any]:
    """The customer requests in `text` with speaker, quote and topic.

    `duplicate_of` is the key of the story in `existing` (an `IssueSearch` dump, e.g. the epic's children)
    that the request most likely repeats, else None.
    """
    turns = _turns(text_of(text))
    interviewers = _interviewers(text_of(text), turns)
    stories = [
        (issue["key"], content_stems(issue.get("summary")))
        for issue in issues_of(existing)
        if isinstance(issue.get("key"), str)
    ]
    requests = []
    for speaker, said in turns:
        if _is_interviewer(speaker, interviewers):
            continue
        for quote in _requests_in(said):
            duplicate = _duplicate_of(quote, stories)
            requests.append({"speaker": speaker, "quote": quote, "topic": _topic(quote), "duplicate_of": duplicate})
    return {
        "requests": requests,
        "duplicates": [r for r in requests if r["duplicate_of"]],
        "new": [r for r in requests if not r["duplicate_of"]],
    }


def _turns(text: str) -> list[tuple[str, str]]:
    """(speaker, what they said) in order; a turn runs on over wrapped lines until a blank line or rule."""
    turns: list[tuple[str, list[str]]] = []
    open_turn = False
    for line in text.splitlines():
        match = _TURN.match(line)
        if match:
            turns.append((match.group("name").strip(), [match.group("text").strip()]))
            open_turn = True
        elif open_turn and line.strip() and not re.match(r"^\s*(---|\*\*\*|#)", line):
            turns[-1][1].append(line.strip())
        else:
            open_turn = False
    return [(name, " ".join(part for part in lines if part)) for name, lines in turns]


def _interviewers(text: str, turns: list[tuple[str, str]]) -> set[str]:
    """Lowercased names (full and first) of whoever asks the questions: from the header, else the first speaker."""
    names: set[str] = set()
    for line in text.splitlines():
        header = _HEADER.match(line)
        if not header:
            continue
        for person in re.split(r",\s*(?![^()]*\))", header.group("people")):
            name, _, role = person.partition("(")
            if _INTERVIEWER_ROLES.search(header.group("role")) or _INTERVIEWER_ROLES.search(role):
                names |= {name.strip().lower(), name.strip().split(" ")[0].lower()}
    if not names and turns:
        names.add(turns[0][0].lower())
    return names - {""}


def _is_interviewer(speaker: str, interviewers: set[str]) -> bool:
    name = speaker.lower()
    return name in interviewers or name.split(" ")[0] in interviewers or _INTERVIEWER_ROLES.fullmatch(name) is not None


def _requests_in(said: str) -> list[str]:
    """The requests in one turn, each its asking sentence plus the sentences that explain it."""
    sentences = [s.strip() for s in _SENTENCE_END.split(said) if s.strip()]
    quotes: list[list[str]] = []
    following = 0
    for sentence in sentences:
        if _REQUEST.search(sentence.replace("\u2019", "'")):
            quotes.append([sentence])
            following = 0
        elif quotes and following < MAX_FOLLOWING:
            quotes[-1].append(sentence)
            following += 1
    return [" ".join(q) for q in quotes]


def _topic(quote: str) -> str:
    """A few words saying what is asked for: repeated words first, then in the order said."""
    seen: dict[str, tuple[str, int, int]] = {}  # stem -> (first spelling, count, first position)
    for position, word in enumerate(w for w in words(quote) if "'" not in w):
        if len(word) < 2 or word in _FILLER or word in STOP_WORDS:
            continue
        spelling, count, first = seen.get(stem(word), (word, 0, position))
        seen[stem(word)] = (spelling, count + 1, first)
    ranked = sorted(seen.values(), key=lambda entry: (-entry[1], entry[2]))
    return " ".join(spelling for spelling, _, _ in ranked[:TOPIC_WORDS])


def _duplicate_of(quote: str, stories: list[tuple[str, list[str]]]) -> str | None:
    """The story whose title the request repeats: most shared words, at least two and half the title's."""
    said = set(content_stems(quote, _FILLER))
    best: tuple[int, float, str] | None = None
    for key, title in stories:
        shared = len(said & set(title))
        if not title or shared < min(2, len(title)) or shared / len(title) < 0.5:
            continue
        candidate = (shared, shared / len(title), key)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return best[2] if best else None
