"""Word-based text matching for JQL and CQL `~`, in the spirit of the Lucene indexes behind Jira and Confluence.

Text is split into lowercase words and lightly stemmed, so that "exhausted", "exhaustion" and "exhaust" are one
word. A query is a list of terms: plain words, words with `*`/`?` wildcards (matched against unstemmed words, as
Lucene does), and phrases in double quotes (consecutive stemmed words). English stop words in a query are ignored,
unless the query is nothing but stop words.

SQLite calls the matchers row by row through two UDFs registered by `register_text_functions`:
`af_match(haystack, query)` is 1 when every term matches (JQL), `af_score(haystack, query)` counts the distinct
terms that match (CQL relevance).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from functools import lru_cache

_WORD = re.compile(r"[^\W_]+")
_QUERY_PART = re.compile(r'"([^"]*)"?|([^\W_]|[*?])+')
_STOP_TEXT = (
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these they "
    "this to was will with"
)
_STOP_WORDS = frozenset(_STOP_TEXT.split())
# Longest first, so that "ations" wins over "s"; a suffix is stripped only when at least three letters remain.
_SUFFIXES = (
    "ational", "ations", "ation", "ments", "ment", "ness", "ings", "ions", "ures", "ing", "ion", "ies", "ied", "ure",
    "ers", "ed", "es", "er", "ly", "s", "e", "y",
)  # fmt: skip
_REPLACEMENTS = {"ational": "ate", "ies": "i", "ied": "i", "y": "i"}


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light English stemmer: one suffix off, then an undoubled final consonant ("stopped" -> "stop")."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word[-2] in "siu":  # "pass", "status", "analysis" are not plurals
                continue
            if suffix == "y" and word[-2] in "aeiou":  # "deploy" keeps its y, as "deployed" does
                continue
            base = word[: -len(suffix)] + _REPLACEMENTS.get(suffix, "")
            if len(base) >= 4 and base[-1] == base[-2] and base[-1] not in "aeiouslz" and not base[-1].isdigit():
                base = base[:-1]
            return base
    return word


@dataclass(frozen=True)
class Term:
    """One query term: a run of stems (a word is a one-stem phrase), or a wildcard pattern over raw words and the
    letters before its first wildcard (what an index can look up)."""

    stems: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    prefix: str = ""


@dataclass
class _Document:
    words: list[str]
    stems: list[str]
    stem_set: set[str]


def words(text: str | None) -> list[str]:
    """The lowercase words of a text, in order."""
    return _WORD.findall((text or "").lower())


def _document(text: str | None) -> _Document:
    found = words(text)
    stems = [stem(word) for word in found]
    return _Document(found, stems, set(stems))


def _matches(term: Term, doc: _Document) -> bool:
    if term.pattern is not None:
        return any(term.pattern.fullmatch(word) for word in doc.words)
    if len(term.stems) == 1:
        return term.stems[0] in doc.stem_set
    n = len(term.stems)
    first = term.stems[0]
    return any(
        doc.stems[i] == first and tuple(doc.stems[i : i + n]) == term.stems for i in range(len(doc.stems) - n + 1)
    )


@lru_cache(maxsize=1024)
def parse_text_query(query: str) -> tuple[Term, ...]:
    """The terms of a `~` query; empty when the query has no words at all."""
    terms: list[Term] = []
    stops: list[Term] = []
    for match in _QUERY_PART.finditer(query.lower()):
        phrase = match.group(1)
        if phrase is not None:
            stems = tuple(stem(word) for word in _WORD.findall(phrase))
            if stems:
                terms.append(Term(stems=stems))
            continue
        word = match.group(0)
        if "*" in word or "?" in word:
            regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in word)
            terms.append(Term(pattern=re.compile(regex), prefix=re.split(r"[*?]", word, maxsplit=1)[0]))
        else:
            (stops if word in _STOP_WORDS else terms).append(Term(stems=(stem(word),)))
    return tuple(terms) or tuple(stops)


def match_all(haystack: str | None, query: str) -> int:
    """1 when every term of the query occurs in the haystack (and the query has terms), else 0."""
    terms = parse_text_query(query)
    if not terms:
        return 0
    doc = _document(haystack)
    return int(all(_matches(term, doc) for term in terms))


def match_count(haystack: str | None, query: str) -> int:
    """How many distinct terms of the query occur in the haystack."""
    terms = parse_text_query(query)
    if not terms:
        return 0
    doc = _document(haystack)
    return sum(_matches(term, doc) for term in set(terms))


def register_text_functions(conn: sqlite3.Connection) -> None:
    conn.create_function("af_match", 2, match_all, deterministic=True)
    conn.create_function("af_score", 2, match_count, deterministic=True)
