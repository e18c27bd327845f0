"""What JQL and CQL share: the public types, the parser (query.lark) and its syntax tree, boolean composition, dates.

A query is parsed once into small frozen dataclasses (`Clause`, `And`, `Or`, `Not`, `Sort`); each dialect then
compiles clauses to SQL fragments with positional parameters, resolving names to ids at compile time so that
SQLite can use its indexes.
"""

from __future__ import annotations

import calendar
import os
import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedInput, VisitError

from agentflow.sandbox.query.textsearch import register_text_functions


class QueryError(ValueError):
    """A query the site rejects; `message` is the text Atlassian would put in the error body."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class QueryContext:
    conn: sqlite3.Connection
    now: float
    user_id: int
    visible_project_ids: frozenset[int]
    # JQL only: the site's custom fields by clause name (lowercased: a field's name as the site shows it, and
    # `cf[N]`) -> its type (`schema.custom`). Renaming a field renames its clause: these come from the site.
    custom_clauses: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CompiledQuery:
    where: str
    params: list
    order_by: str
    bounded: bool


def register_functions(conn: sqlite3.Connection) -> None:
    """Register the SQLite functions compiled queries call (only the `~` matchers)."""
    register_text_functions(conn)


# --- syntax tree ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    text: str  # unquoted and unescaped


@dataclass(frozen=True)
class Function:
    name: str
    args: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.name}({', '.join(self.args)})"


@dataclass(frozen=True)
class Empty:
    pass


Operand = Literal | Function | Empty


@dataclass(frozen=True)
class Clause:
    field: str  # as written
    op: str  # "=", "!=", "<", "<=", ">", ">=", "~", "!~", "in", "not in", "is", "is not"
    operands: tuple[Operand, ...]  # one for comparisons, several for IN lists, none for IS

    @property
    def key(self) -> str:
        return self.field.lower()


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Clause | And | Or | Not


@dataclass(frozen=True)
class Sort:
    field: str
    descending: bool | None  # None: the field's default direction


@dataclass(frozen=True)
class Query:
    where: Node | None
    order: tuple[Sort, ...]
    words: tuple[Token, ...] = ()  # the unquoted words, where the parser read them: field, value or function names


class SyntaxProblem(Exception):
    """A syntax error before it is worded for a dialect: what was expected, what came, and where."""

    def __init__(self, expected: frozenset[str], got: str | None, line: int, column: int, note: str = "") -> None:
        super().__init__(note or f"expected {sorted(expected)}, got {got!r}")
        self.expected = expected
        self.got = got  # None at the end of the query
        self.line = line
        self.column = column
        self.note = note  # set when the lexer, not the grammar, found the problem: "unterminated", "reserved"
        self.in_order_by = False


_ESCAPES = {"'": "'", '"': '"', "t": "\t", "n": "\n", "r": "\r", "\\": "\\", " ": " "}


def _unquote(token: Token) -> str:
    return re.sub(
        r"\\(u[0-9a-fA-F]{4}|.)",
        lambda m: chr(int(m.group(1)[1:], 16)) if len(m.group(1)) == 5 else _ESCAPES.get(m.group(1), m.group(1)),
        token[1:-1],
    )


@v_args(inline=True)
class _ToTree(Transformer):
    def start(self, where: Node | None, order: tuple[Sort, ...] | None) -> Query:
        return Query(where, order or ())

    def or_(self, left: Node, _op: Token, right: Node) -> Or:
        return Or((*left.items, right) if isinstance(left, Or) else (left, right))

    def and_(self, left: Node, _op: Token, right: Node) -> And:
        return And((*left.items, right) if isinstance(left, And) else (left, right))

    def not_(self, _op: Token, item: Node) -> Not:
        return Not(item)

    def field(self, token: Token) -> str:
        name = _unquote(token) if token.type == "STRING" else str(token)
        if not name.strip():
            raise SyntaxProblem(frozenset(), None, token.line, token.column, "A field name cannot be empty.")
        return name

    def op(self, token: Token) -> str:
        return str(token)

    def word(self, token: Token) -> Literal:
        return Literal(str(token))

    def string(self, token: Token) -> Literal:
        return Literal(_unquote(token))

    def empty(self, _token: Token) -> Empty:
        return Empty()

    def argument(self, token: Token) -> str:
        return _unquote(token) if token.type == "STRING" else str(token)

    def function(self, name: Token, *args: str | None) -> Function:
        return Function(str(name), tuple(arg for arg in args if arg is not None))

    def list(self, *operands: Operand) -> tuple[Operand, ...]:
        return operands

    def compare(self, field: str, op: str, operand: Operand) -> Clause:
        return Clause(field, op, (operand,))

    def in_(self, field: str, _in: Token, operands: tuple[Operand, ...]) -> Clause:
        return Clause(field, "in", operands)

    def not_in(self, field: str, _not: Token, _in: Token, operands: tuple[Operand, ...]) -> Clause:
        return Clause(field, "not in", operands)

    def is_empty(self, field: str, _is: Token, _empty: Empty) -> Clause:
        return Clause(field, "is", ())

    def is_not_empty(self, field: str, _is: Token, _not: Token, _empty: Empty) -> Clause:
        return Clause(field, "is not", ())

    def order_by(self, _order: Token, _by: Token, *sorts: Sort) -> tuple[Sort, ...]:
        return sorts

    def sort(self, field: str, direction: Token | None) -> Sort:
        return Sort(field, None if direction is None else direction.type == "DESC")


# Where the built parser is kept between processes (see `keep_parser_in`); False: not kept.
_parser_file: str | bool = False


def keep_parser_in(directory: Path) -> None:
    """Keep the built parser in a file of `directory`, so that later processes load it rather than build it
    (about 50 ms of every run). Lark stores it as a pickle, which it loads again: only a directory this user
    owns and no one else may write to is used, and only a file there that this user owns and no one else may
    write (a site file in a shared directory such as /tmp builds its parser every time instead). Lark checks the
    file against the grammar, its options and versions, and rebuilds it when they differ or it cannot be read."""
    global _parser_file
    path = directory / "jql-cql-parser.lark-cache"
    try:
        if not _private(directory.stat()):
            return
        # Made owner-only now: Lark rewrites a file in place, which keeps its mode (state files are 0600).
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            if not _private(os.fstat(descriptor)):
                return
        finally:
            os.close(descriptor)
    except OSError:  # a symlink in its place, no permission: build the parser in memory as without a site file
        return
    _parser_file = str(path)


def _private(status: os.stat_result) -> bool:
    return status.st_uid == os.getuid() and not status.st_mode & 0o022


@cache
def _parser() -> Lark:
    """The LALR parser, built once per process on first use (building it takes tens of milliseconds)."""
    grammar = resources.files(__package__).joinpath("query.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", cache=_parser_file)


_TO_TREE = _ToTree()


def parse(text: str) -> Query:
    """The syntax tree of a JQL or CQL query; raises SyntaxProblem."""
    try:
        tree = _parser().parse(text)
        query = _TO_TREE.transform(tree)
    except VisitError as error:
        raise error.orig_exc from None
    except UnexpectedInput as error:
        raise _problem(text, error) from None
    # The contextual lexer reads a keyword where no keyword can stand ("label = and") as a word, so only the
    # tree tells which words stand as names; the lexer alone (`lex`) would call that one AND.
    return replace(query, words=tuple(tree.scan_values(lambda v: isinstance(v, Token) and v.type == "WORD")))


def lex(text: str) -> Iterator[Token]:
    """The tokens of a query, lazily: the lexer raises where no token matches (the parser then words it)."""
    return _parser().lex(text)


def _problem(text: str, error: UnexpectedInput) -> SyntaxProblem:
    interactive = getattr(error, "interactive_parser", None)
    expected = frozenset(interactive.accepts()) if interactive else frozenset()
    token = getattr(error, "token", None)
    if token is not None:
        got = None if token.type == "$END" else str(token)
        problem = SyntaxProblem(expected, got, error.line, error.column)
    else:  # no terminal matches here at all: an unterminated string or a stray character
        char = text[error.pos_in_stream]
        note = "unterminated" if char in "\"'" else "reserved" if char in _RESERVED else ""
        problem = SyntaxProblem(expected, char, error.line, error.column, note)
    if interactive:
        problem.in_order_by = any(getattr(v, "type", None) == "BY" for v in interactive.parser_state.value_stack)
    return problem


_RESERVED = set("{}*/%+^$#@?;[]|&")


def jql_syntax_message(text: str, problem: SyntaxProblem) -> str:
    """Word a syntax problem as Jira does (the texts come from Jira's own parser tests)."""
    where = f" (line {problem.line}, character {problem.column})"
    got, expected = problem.got, problem.expected
    if problem.note == "unterminated":
        offset = _offset(text, problem.line, problem.column)
        rest = text[offset + 1 :].replace("\n", " ")
        quoted = f" '{rest}'" if rest else ""
        return f"Error in the JQL Query: The quoted string{quoted} has not been completed.{where}"
    if problem.note == "reserved":
        return (
            f"Error in the JQL Query: The character '{got}' is a reserved JQL character. You must enclose it in a "
            f"string or use the escape '\\u{ord(got or ' '):04x}' instead.{where}"
        )
    if problem.note:
        return f"Error in the JQL Query: {problem.note}{where}"
    if "EQ" in expected:
        operators = "'=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'"
        head = (
            "Expecting operator before the end of the query" if got is None else f"Expecting operator but got '{got}'"
        )
        return f"Error in the JQL Query: {head}. The valid operators are {operators}.{'' if got is None else where}"
    words = {"WORD", "STRING"} <= expected
    if words and ("NOT" in expected or problem.in_order_by):
        what, role = "a field name", "a field name"
    elif words and "EMPTY" in expected:
        what, role = "either a value, list or function", "a value"
    elif words and "_RPAR" not in expected:
        what, role = "a function argument", "an argument"
    elif "AND" in expected and got is not None:
        return f"Error in the JQL Query: Expecting either 'OR' or 'AND' but got '{got}'.{where}"
    elif "_RPAR" in expected and got is None:
        return "Error in the JQL Query: Expecting ')' before the end of the query."
    elif "ASC" in expected and got is not None:
        return f"Error in the JQL Query: Expecting either 'ASC' or 'DESC' but got '{got}'.{where}"
    elif {"_RPAR", "_COMMA"} <= expected and got is not None:
        return f"Error in the JQL Query: Expecting ')' or ',' but got '{got}'.{where}"
    else:
        names = [
            _TERMINAL_TEXT.get(name, name)
            for name in sorted(expected)
            if name not in ("$END", "WORD", "STRING", "CUSTOM_FIELD")
        ]
        what = "either " + " or ".join(names) if len(names) > 1 else names[0] if names else "the end of the query"
        if got is None:
            return f"Error in the JQL Query: Expecting {what} before the end of the query."
        return f"Error in the JQL Query: Expecting {what} but got '{got}'.{where}"
    if got is None:
        preposition = "before" if role == "a value" else "at"
        return f"Error in the JQL Query: Expecting {what} {preposition} the end of the query."
    return (
        f"Error in the JQL Query: Expecting {what} but got '{got}'. You must surround '{got}' in quotation marks "
        f"to use it as {role}.{where}"
    )


_TERMINAL_TEXT = {
    "_RPAR": "')'",
    "_LPAR": "'('",
    "_COMMA": "','",
    "ASC": "'ASC'",
    "DESC": "'DESC'",
    "BY": "'by'",
    "IN": "'IN'",
    "NOT": "'NOT'",
    "EMPTY": "'EMPTY'",
    "NULL": "'NULL'",
    "AND": "'AND'",
    "OR": "'OR'",
    "ORDER": "'ORDER'",
}


def _offset(text: str, line: int, column: int) -> int:
    lines = text.split("\n")
    return sum(len(previous) + 1 for previous in lines[: line - 1]) + column - 1


# --- boolean composition -------------------------------------------------------------------------------------

Sql = tuple[str, list]
ClauseCompiler = Callable[[Clause, bool], Sql]  # (clause, negated: under an odd number of NOTs) -> SQL


def compile_node(node: Node, clause: ClauseCompiler, negated: bool = False) -> Sql:
    """SQL for a boolean tree; each clause is compiled by the dialect."""
    if isinstance(node, Clause):
        return clause(node, negated)
    if isinstance(node, Not):
        sql, params = compile_node(node.item, clause, not negated)
        return f"NOT ({sql})", params
    parts = [compile_node(item, clause, negated) for item in node.items]
    joiner = " AND " if isinstance(node, And) else " OR "
    return "(" + joiner.join(sql for sql, _ in parts) + ")", [p for _, params in parts for p in params]


EMPTINESS = frozenset({"is", "is not"})


def set_clause(op: str, column: str, values: list, has_empty: bool, collate: str = "") -> Sql:
    """`column` (in)equal to any of `values`, or (not) empty; `!=` never matches an empty column, as in Jira."""
    if op in EMPTINESS:
        return f"{column} IS {'NOT ' if op == 'is not' else ''}NULL", []
    positive = op in ("=", "in")
    parts: list[str] = []
    if len(values) == 1:
        parts.append(f"{column} {'=' if positive else '!='} ?{collate}")
    elif values:
        parts.append(f"{column}{collate} {'' if positive else 'NOT '}IN ({placeholders(values)})")
    if has_empty:
        parts.append(f"{column} IS {'' if positive else 'NOT '}NULL")
    if not parts:
        return ("0" if positive else "1"), []
    if len(parts) == 1:
        return parts[0], list(values)
    return "(" + (" OR " if positive else " AND ").join(parts) + ")", list(values)


def member_clause(op: str, row_id: str, table: str, owner: str, column: str, values: list, has_empty: bool) -> Sql:
    """Like set_clause for a many-valued field kept in `table` rows of (owner, column), e.g. labels."""
    has_any = f"{row_id} IN (SELECT {owner} FROM {table})"
    if op in EMPTINESS:
        return (has_any if op == "is not" else f"NOT {has_any}"), []
    matching = f"{row_id} IN (SELECT {owner} FROM {table} WHERE {column} IN ({placeholders(values)}))"
    if op in ("=", "in"):
        parts = ([matching] if values else []) + ([f"NOT {has_any}"] if has_empty else [])
        return ("(" + " OR ".join(parts) + ")" if parts else "0"), list(values)
    return (f"({has_any} AND NOT {matching})" if values else has_any), list(values)


def sql_string(value: str) -> str:
    """A SQL string literal, for the few places (ORDER BY) where a parameter cannot go."""
    return "'" + value.replace("'", "''") + "'"


def placeholders(values: list) -> str:
    return ", ".join("?" * len(values))


# --- dates ---------------------------------------------------------------------------------------------------

_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
_PERIOD = re.compile(r"\s*([+-])?\s*((?:\d+\s*[wdhm]\s*)+)")
_PERIOD_PART = re.compile(r"(\d+)\s*([wdhm])")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60}
_OFFSET = re.compile(r"\s*([+-]?)\s*(\d+)\s*([yMwdhm]?)\s*")


def parse_date(text: str, now: float) -> float | None:
    """Epoch seconds for an absolute date ("2026-11-01", "2026/11/01 10:00", UTC) or a period ("-7d", "4w 2d")."""
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    match = _PERIOD.fullmatch(text)
    if not match:
        return None
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PERIOD_PART.findall(match.group(2)))
    return now - seconds if match.group(1) == "-" else now + seconds


_PERIOD_FUNCTIONS = {
    "startofday": ("d", False),
    "endofday": ("d", True),
    "startofweek": ("w", False),
    "endofweek": ("w", True),
    "startofmonth": ("M", False),
    "endofmonth": ("M", True),
    "startofyear": ("y", False),
    "endofyear": ("y", True),
}
DATE_FUNCTIONS = frozenset({"now", *_PERIOD_FUNCTIONS})


class BadOffset(ValueError):
    pass


def date_function(function: Function, now: float) -> float:
    """The moment a date function names, in UTC; weeks start on Monday. `now()` takes the offset only in CQL."""
    name = function.name.lower()
    if len(function.args) > 1:
        raise BadOffset(function.name)
    current = datetime.fromtimestamp(now, UTC)
    if name == "now":
        return _shift(current, function.args[0], "d").timestamp() if function.args else now
    unit, end = _PERIOD_FUNCTIONS[name]
    start = current.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "w":
        start -= timedelta(days=start.weekday())
    elif unit == "M":
        start = start.replace(day=1)
    elif unit == "y":
        start = start.replace(month=1, day=1)
    if function.args:
        start = _shift(start, function.args[0], unit)
    if end:
        start = _shift(start, "1", unit) - timedelta(milliseconds=1)
    return start.timestamp()


def _shift(moment: datetime, offset: str, default_unit: str) -> datetime:
    """`moment` moved by an offset like "-1d", "+2w", "-1M" (months) or "-1" (in the function's own unit)."""
    match = _OFFSET.fullmatch(offset)
    if not match:
        raise BadOffset(offset)
    amount = int(match.group(2)) * (-1 if match.group(1) == "-" else 1)
    unit = match.group(3) or default_unit
    if unit in ("M", "y"):
        months = moment.month - 1 + amount * (12 if unit == "y" else 1)
        year, month = moment.year + months // 12, months % 12 + 1
        return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))
    return moment + timedelta(seconds=amount * _UNIT_SECONDS[unit])
