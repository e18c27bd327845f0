"""JQL's and CQL's reserved words: an unquoted one is refused, as Atlassian's parsers refuse it.

JQL. Source: Atlassian, "JQL: restricted words and characters" (Jira Cloud and Data Center documentation): a
field name, value or function name that is one of these words must be quoted, else the query fails with
`'WORD' is a reserved JQL word. You must surround it in quotation marks to use it in a query. (line L,
character C)`. The first problem by position wins, whether it is a reserved word or a syntax error.

CQL. Source: Atlassian, "CQL functions", section "Reserved words" (developer.atlassian.com/cloud/confluence/
cql-functions/#reserved-words; the same list in Data Center's "CQL function reference"). Confluence's parser
reads them as tokens of its grammar, so an unquoted one is a parse failure, which Confluence answers with its
bare `Could not parse cql : <query>` (its CQL search service words every parse failure so).

Each language's own keywords (AND, OR, NOT, IN, IS, EMPTY, NULL, ORDER BY, ...) are on its list too; in their
own places the grammar reads them as keywords, so only a word in a field, value or function position is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lark import Token
from lark.exceptions import LarkError

JQL_RESERVED_WORDS = frozenset(
    """
    a an abort access add after alias all alter and any are as asc at audit avg be before begin between boolean
    break by byte catch cf char character check checkpoint collate collation column commit connect continue count
    create current date decimal declare decrement default defaults define delete delimiter desc difference
    distinct divide do double drop else empty encoding end equals escape exclusive exec execute exists explain
    false fetch file field first float for from function go goto grant greater group having identified if
    immediate in increment index initial inner inout input insert int integer intersect intersection into is
    isempty isnull join last left less like limit lock long max min minus mode modify modulo more multiply next
    noaudit not notin nowait null number object of on option or order outer output power previous prior
    privileges public raise raw remainder rename resource return returns revoke right row rowid rownum rows
    select session set share size sqrt start strict string subtract sum synonym table then to trans transaction
    trigger true uid union unique update user validate values view when whenever where while with
    """.split()  # noqa: SIM905 - the list as Atlassian prints it, kept readable
)

CQL_RESERVED_WORDS = frozenset(
    """
    after and as avg before begin by commit contains count distinct else empty end explain from having if in
    inner insert into is isnull left like limit max min not null or order outer right select sum then was where
    update
    """.split()  # noqa: SIM905 - the list as Atlassian prints it, kept readable
)


@dataclass(frozen=True)
class ReservedWord:
    word: str  # as written
    line: int
    column: int  # 1-based, as Jira counts "character"

    def jql_message(self) -> str:
        """Jira's wording; Confluence words a reserved word as any other parse failure."""
        return (
            f"Error in the JQL Query: '{self.word}' is a reserved JQL word. You must surround it in quotation marks "
            f"to use it in a query. (line {self.line}, character {self.column})"
        )


def first_reserved_word(tokens: Iterable[Token], words: frozenset[str]) -> ReservedWord | None:
    """The first unquoted word of `words` among `tokens` (the lexer's, of a query), or None. A query the lexer
    cannot read to its end is scanned as far as it can be: the syntax error there is reported by position."""
    try:
        for token in tokens:
            if token.type == "WORD" and str(token).lower() in words:
                return ReservedWord(str(token), token.line, token.column)
    except LarkError:
        return None
    return None
