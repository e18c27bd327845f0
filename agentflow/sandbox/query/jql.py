"""JQL compiled to a SQLite WHERE expression and ORDER BY list over `issues i`.

Names are resolved to ids at compile time (a project, status or user that does not exist, or that sits in a
project the caller cannot see, is Jira's "does not exist" error), so the SQL compares indexed integer columns.
Semantics follow Jira where they matter to a client: `!=` and `NOT IN` never match an empty field, unknown keys
inside `key IN (...)` are ignored, `~` is a word search with light stemming (see textsearch.py).
With no ORDER BY, issues come newest first (`created DESC`, then id).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from agentflow.sandbox.query.common import (
    DATE_FUNCTIONS,
    BadOffset,
    Clause,
    CompiledQuery,
    Empty,
    Function,
    Literal,
    Operand,
    QueryContext,
    QueryError,
    Sort,
    Sql,
    SyntaxProblem,
    compile_node,
    date_function,
    jql_syntax_message,
    lex,
    member_clause,
    parse,
    parse_date,
    set_clause,
)
from agentflow.sandbox.query.common import (
    EMPTINESS as _EMPTINESS,
)
from agentflow.sandbox.query.reserved import JQL_RESERVED_WORDS, first_reserved_word
from agentflow.sandbox.query.textindex import COLUMNS, narrowing
from agentflow.sandbox.query.textsearch import parse_text_query
from agentflow.sandbox.visibility import readable_sql

_EQUALITY = frozenset({"=", "!=", "in", "not in"})
_ORDERING = frozenset({"<", "<=", ">", ">="})
_TEXT = frozenset({"~", "!~"})
_KEY = re.compile(r"([A-Za-z][A-Za-z0-9_]*)-(\d+)")
_CATEGORIES = {
    "to do": "new",
    "new": "new",
    "2": "new",
    "in progress": "indeterminate",
    "indeterminate": "indeterminate",
    "4": "indeterminate",
    "done": "done",
    "complete": "done",
    "3": "done",
}
# `{readable}`: the comments the searching user may read (visibility.readable_sql); a search must not find an
# issue by words of a comment its user cannot see.
_COMMENTS_TEXT = (
    "COALESCE((SELECT group_concat(c.body_text, ' ') FROM comments c WHERE c.issue_id = i.id AND {readable}), '')"
)
_EPIC = (
    "SELECT e.id FROM issues e JOIN issue_types et ON et.id = e.issue_type_id "
    "WHERE e.id = {parent} AND et.hierarchy_level = 1"
)
_EPIC_OF_ISSUE = "(" + _EPIC.format(parent="i.parent_id") + ")"  # NULL unless the issue's parent is an epic
_DATE_FORMATS_HINT = (
    "Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', "
    "or a period format e.g. '-5d', '4w 2d'."
)
DEFAULT_ORDER = "i.created DESC, i.id DESC"


def compile_jql(text: str, ctx: QueryContext) -> CompiledQuery:
    """Compile JQL for `SELECT ... FROM issues i WHERE (<where>) ORDER BY <order_by>`; raises QueryError."""
    reserved = first_reserved_word(lex(text), JQL_RESERVED_WORDS)
    try:
        query = parse(text)
    except SyntaxProblem as problem:
        if reserved is not None and (reserved.line, reserved.column) < (problem.line, problem.column):
            raise QueryError(reserved.jql_message()) from None
        raise QueryError(jql_syntax_message(text, problem)) from None
    if reserved is not None:
        raise QueryError(reserved.jql_message())
    compiler = _Compiler(ctx)
    where, params = compile_node(query.where, compiler.clause) if query.where else ("1", [])
    return CompiledQuery(where, params, _order_by(query.order, ctx), bounded=query.where is not None)


# --- fields --------------------------------------------------------------------------------------------------

_ALIASES = {
    "issuekey": "key",
    "issue": "key",
    "id": "key",
    "type": "issuetype",
    "createddate": "created",
    "updateddate": "updated",
    "resolutiondate": "resolved",
}


def _canonical(field: str) -> str:
    name = field.lower()
    return _ALIASES.get(name, name)


def _field(name: str, ctx: QueryContext) -> _Field | None:
    """The field a clause names: a system field by name or alias, else a custom field the site knows by that
    clause name (its name as shown, or `cf[N]`) and whose type the sandbox can search."""
    system = _FIELDS.get(_canonical(name))
    if system is not None:
        return system
    custom_type = ctx.custom_clauses.get(name.lower())
    return _CUSTOM_FIELDS.get(custom_type) if custom_type else None


class _Compiler:
    def __init__(self, ctx: QueryContext) -> None:
        self.ctx = ctx

    def clause(self, clause: Clause, _negated: bool) -> Sql:
        field = _field(clause.field, self.ctx)
        if field is None:
            raise QueryError(f"Field '{clause.field}' does not exist or you do not have permission to view it.")
        clause = _empty_as_is(clause)
        if clause.op not in field.ops:
            raise QueryError(f"The operator '{clause.op}' is not supported by the '{clause.field}' field.")
        return field.compile(self, clause)

    # --- operand resolution --------------------------------------------------------------------------------

    def rows(self, sql: str, *params: object) -> list[int]:
        return [row[0] for row in self.ctx.conn.execute(sql, params)]

    def resolved(self, clause: Clause, resolve: Callable[[Operand], list]) -> tuple[list, bool]:
        """The values of all operands (each operand may name several rows) and whether EMPTY was among them."""
        values: list = []
        for operand in clause.operands:
            if not isinstance(operand, Empty):
                values.extend(v for v in resolve(operand) if v not in values)
        return values, any(isinstance(operand, Empty) for operand in clause.operands)

    def literal(self, clause: Clause, operand: Operand) -> str:
        if isinstance(operand, Function):
            raise _function_error(operand, clause.field)
        if isinstance(operand, Empty):  # e.g. "created > EMPTY"; "= EMPTY" became "IS EMPTY" before this
            raise QueryError(f"The operator '{clause.op}' does not support searching for EMPTY values.")
        return operand.text

    def by_name(self, clause: Clause, table: str, extra: str = "") -> Callable[[Operand], list[int]]:
        """Resolve names (or ids) in a lookup table whose `name` column is NOCASE; unknown names are errors."""

        def resolve(operand: Operand) -> list[int]:
            text = self.literal(clause, operand)
            ids = self.rows(f"SELECT id FROM {table} WHERE (name = ? OR CAST(id AS TEXT) = ?){extra}", text, text)
            if not ids:
                raise _no_value(text, clause.field)
            return ids

        return resolve

    def project(self, clause: Clause, operand: Operand) -> list[int]:
        text = self.literal(clause, operand)
        rows = self.rows(
            "SELECT id FROM projects WHERE key = ? COLLATE NOCASE OR name = ? COLLATE NOCASE OR CAST(id AS TEXT) = ?",
            text,
            text,
            text,
        )
        visible = [row for row in rows if row in self.ctx.visible_project_ids]
        if not visible:
            raise _no_value(text, clause.field)
        return visible

    def user(self, clause: Clause, operand: Operand) -> list[int]:
        if isinstance(operand, Function) and operand.name.lower() == "currentuser":
            _check_arity(operand, 0)
            return [self.ctx.user_id]
        text = self.literal(clause, operand)
        ids = self.rows(
            "SELECT id FROM users WHERE account_id = ? OR username = ? COLLATE NOCASE OR email = ? COLLATE NOCASE "
            "OR display_name = ? COLLATE NOCASE ORDER BY id",
            text,
            text,
            text,
            text,
        )
        if not ids:
            raise _no_value(text, clause.field)
        return ids

    def issue(self, clause: Clause, operand: Operand, strict: bool) -> list[int]:
        """An issue by key or id in a visible project; unknown ones are an error only when `strict`."""
        text = self.literal(clause, operand)
        column = "id" if text.isdigit() else "key"
        row = self.ctx.conn.execute(f"SELECT id, project_id FROM issues WHERE {column} = ?", (text.upper(),)).fetchone()
        if row is not None and row[1] in self.ctx.visible_project_ids:
            return [row[0]]
        if strict:
            raise QueryError(f"An issue with key '{text}' does not exist for field '{clause.field}'.")
        return []

    def date(self, clause: Clause, operand: Operand) -> float:
        if isinstance(operand, Function):
            name = operand.name.lower()
            if name not in DATE_FUNCTIONS:
                raise _function_error(operand, clause.field)
            _check_arity(operand, 0 if name == "now" else 1)  # the others take one optional offset
            try:
                return date_function(operand, self.ctx.now)
            except BadOffset:
                raise QueryError(
                    f"Duration for function '{operand.name}' should have the format (+/-)n(yMwdm), "
                    "e.g -1M for 1 month earlier."
                ) from None
        text = self.literal(clause, operand)
        moment = parse_date(text, self.ctx.now)
        if moment is None:
            raise QueryError(f"Date value '{text}' for field '{clause.field}' is invalid. {_DATE_FORMATS_HINT}")
        return moment

    # --- clause shapes ---------------------------------------------------------------------------------------

    def compile_project(self, clause: Clause) -> Sql:
        values, empty = self.resolved(clause, lambda o: self.project(clause, o))
        return set_clause(clause.op, "i.project_id", values, empty)

    def compile_issuetype(self, clause: Clause) -> Sql:
        values, empty = self.resolved(clause, self.by_name(clause, "issue_types"))
        return set_clause(clause.op, "i.issue_type_id", values, empty)

    def compile_status(self, clause: Clause) -> Sql:
        values, empty = self.resolved(clause, self.by_name(clause, "statuses"))
        return set_clause(clause.op, "i.status_id", values, empty)

    def compile_status_category(self, clause: Clause) -> Sql:
        def resolve(operand: Operand) -> list[int]:
            text = self.literal(clause, operand)
            category = _CATEGORIES.get(text.lower())
            if category is None:
                raise _no_value(text, clause.field)
            return self.rows("SELECT id FROM statuses WHERE category = ?", category)

        values, empty = self.resolved(clause, resolve)
        return set_clause(clause.op, "i.status_id", values, empty)

    def compile_priority(self, clause: Clause) -> Sql:
        resolve = self.by_name(clause, "priorities")
        if clause.op in _ORDERING:  # "priority > Medium" is the priorities more urgent than Medium (rank 1 is highest)
            [rank] = self.rows("SELECT rank FROM priorities WHERE id = ?", resolve(clause.operands[0])[0])
            flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}[clause.op]
            ids = self.rows(f"SELECT id FROM priorities WHERE rank {flipped} ?", rank)
            return set_clause("in", "i.priority_id", ids, False)
        values, empty = self.resolved(clause, resolve)
        return set_clause(clause.op, "i.priority_id", values, empty)

    def compile_labels(self, clause: Clause) -> Sql:
        values, empty = self.resolved(clause, lambda o: [self.literal(clause, o)])
        return member_clause(clause.op, "i.id", "issue_labels", "issue_id", "label COLLATE NOCASE", values, empty)

    def compile_component(self, clause: Clause) -> Sql:
        visible = ", ".join(str(int(pid)) for pid in sorted(self.ctx.visible_project_ids)) or "NULL"
        values, empty = self.resolved(clause, self.by_name(clause, "components", f" AND project_id IN ({visible})"))
        return member_clause(clause.op, "i.id", "issue_components", "issue_id", "component_id", values, empty)

    def compile_key(self, clause: Clause) -> Sql:
        if clause.op in _ORDERING:
            text = self.literal(clause, clause.operands[0])
            if text.isdigit():
                return f"i.id {clause.op} ?", [int(text)]
            match = _KEY.fullmatch(text)
            projects = match and self.rows("SELECT id FROM projects WHERE key = ?", match.group(1).upper())
            if not projects or projects[0] not in self.ctx.visible_project_ids:
                raise QueryError(f"An issue with key '{text}' does not exist for field '{clause.field}'.")
            return f"(i.project_id = ? AND i.number {clause.op} ?)", [projects[0], int(match.group(2))]
        strict = clause.op in ("=", "!=")  # Jira skips unknown keys inside IN lists
        values, _ = self.resolved(clause, lambda o: self.issue(clause, o, strict))
        return set_clause(clause.op, "i.id", values, False)

    def compile_parent(self, clause: Clause) -> Sql:
        values, empty = self.resolved(clause, lambda o: self.issue(clause, o, strict=True))
        return set_clause(clause.op, "i.parent_id", values, empty)

    def compile_epic_link(self, clause: Clause) -> Sql:
        def resolve(operand: Operand) -> list[int]:
            [issue] = self.issue(clause, operand, strict=True)
            if not self.rows(_EPIC.format(parent="?"), issue):
                raise _no_value(self.literal(clause, operand), clause.field)
            return [issue]

        values, empty = self.resolved(clause, resolve)
        # A positive match on the (indexed) parent column is exact because every value was checked to be an epic.
        column = "i.parent_id" if clause.op in ("=", "in") and not empty else _EPIC_OF_ISSUE
        return set_clause(clause.op, column, values, empty)


def _users(column: str) -> Callable[[_Compiler, Clause], Sql]:
    def compile_(c: _Compiler, clause: Clause) -> Sql:
        values, empty = c.resolved(clause, lambda o: c.user(clause, o))
        return set_clause(clause.op, column, values, empty)

    return compile_


def _text_column(column: str, unresolved_is_empty: bool = False) -> Callable[[_Compiler, Clause], Sql]:
    """A free-text column compared whole and case-insensitively (resolution, sprint)."""

    def compile_(c: _Compiler, clause: Clause) -> Sql:
        if unresolved_is_empty:  # "resolution = Unresolved" means no resolution
            operands = tuple(
                Empty() if isinstance(o, Literal) and o.text.lower() == "unresolved" else o for o in clause.operands
            )
            clause = _empty_as_is(Clause(clause.field, clause.op, operands))
        values, empty = c.resolved(clause, lambda o: [c.literal(clause, o)])
        return set_clause(clause.op, column, values, empty, collate=" COLLATE NOCASE")

    return compile_


def _dates(column: str) -> Callable[[_Compiler, Clause], Sql]:
    def compile_(c: _Compiler, clause: Clause) -> Sql:
        if clause.op in _EMPTINESS:
            return set_clause(clause.op, column, [], False)
        if clause.op in _ORDERING:
            return f"{column} {clause.op} ?", [c.date(clause, clause.operands[0])]
        # Equality is to the minute, the precision of Jira's date values.
        moments, empty = c.resolved(clause, lambda o: [c.date(clause, o)])
        windows = [f"({column} >= ? AND {column} < ?)" for _ in moments]
        params = [bound for moment in moments for bound in (moment, moment + 60)]
        if clause.op in ("=", "in"):
            parts = windows + ([f"{column} IS NULL"] if empty else [])
            return "(" + " OR ".join(parts) + ")", params
        parts = [f"NOT {window}" for window in windows] + ([f"{column} IS NOT NULL"] if empty else [])
        return "(" + " AND ".join(parts) + ")", params

    return compile_


def _words(haystack: str, indexed: tuple[str, ...]) -> Callable[[_Compiler, Clause], Sql]:
    """`~` and `!~`: every word of the query must occur (see textsearch.py); IS EMPTY tests for no text. `~` first
    narrows to the issues whose `indexed` columns of the index hold the query's words (see textindex.py)."""

    def compile_(c: _Compiler, clause: Clause) -> Sql:
        text = haystack.format(readable=readable_sql("c", "i", c.ctx.user_id))
        if clause.op in _EMPTINESS:
            return f"({text}) {'=' if clause.op == 'is' else '!='} ''", []
        query = c.literal(clause, clause.operands[0])
        if not parse_text_query(query):
            raise QueryError(f"The field '{clause.field}' does not support searching for an empty string.")
        if clause.op == "!~":
            return f"af_match({text}, ?) = 0", [query]
        narrow, params = narrowing("i.id", query, indexed)
        return f"({narrow}af_match({text}, ?) = 1)", [*params, query]

    return compile_


@dataclass(frozen=True)
class _Field:
    ops: frozenset[str]
    compile: Callable[[_Compiler, Clause], Sql]


_FIELDS: dict[str, _Field] = {
    "project": _Field(_EQUALITY, _Compiler.compile_project),
    "key": _Field(_EQUALITY | _ORDERING, _Compiler.compile_key),
    "issuetype": _Field(_EQUALITY, _Compiler.compile_issuetype),
    "status": _Field(_EQUALITY, _Compiler.compile_status),
    "statuscategory": _Field(_EQUALITY, _Compiler.compile_status_category),
    "assignee": _Field(_EQUALITY | _EMPTINESS, _users("i.assignee_id")),
    "reporter": _Field(_EQUALITY | _EMPTINESS, _users("i.reporter_id")),
    "priority": _Field(_EQUALITY | _EMPTINESS | _ORDERING, _Compiler.compile_priority),
    "labels": _Field(_EQUALITY | _EMPTINESS, _Compiler.compile_labels),
    "component": _Field(_EQUALITY | _EMPTINESS, _Compiler.compile_component),
    "created": _Field(_EQUALITY | _EMPTINESS | _ORDERING, _dates("i.created")),
    "updated": _Field(_EQUALITY | _EMPTINESS | _ORDERING, _dates("i.updated")),
    "resolved": _Field(_EQUALITY | _EMPTINESS | _ORDERING, _dates("i.resolved")),
    "resolution": _Field(_EQUALITY | _EMPTINESS, _text_column("i.resolution", True)),
    "summary": _Field(_TEXT, _words("i.summary", ("summary",))),
    "description": _Field(_TEXT | _EMPTINESS, _words("i.description_text", ("description",))),
    "comment": _Field(_TEXT, _words(_COMMENTS_TEXT, ("comments",))),
    "text": _Field(
        _TEXT,
        _words(f"i.summary || ' ' || i.description_text || ' ' || {_COMMENTS_TEXT}", COLUMNS),
    ),
    "parent": _Field(_EQUALITY | _EMPTINESS, _Compiler.compile_parent),
}
# Custom fields by their type (`schema.custom`), which survives a site renaming them; their clause names come
# from the site (QueryContext.custom_clauses).
_CUSTOM_FIELDS: dict[str, _Field] = {
    "com.pyxis.greenhopper.jira:gh-epic-link": _Field(_EQUALITY | _EMPTINESS, _Compiler.compile_epic_link),
    "com.pyxis.greenhopper.jira:gh-sprint": _Field(_EQUALITY | _EMPTINESS, _text_column("i.sprint")),
}


def _empty_as_is(clause: Clause) -> Clause:
    """`= EMPTY` and `!= EMPTY` are `IS EMPTY` and `IS NOT EMPTY`."""
    if clause.op in ("=", "!=") and isinstance(clause.operands[0], Empty):
        return Clause(clause.field, "is" if clause.op == "=" else "is not", ())
    return clause


def _no_value(text: str, field: str) -> QueryError:
    return QueryError(f"The value '{text}' does not exist for the field '{field}'.")


def _check_arity(function: Function, most: int) -> None:
    """Jira's words for a function given more arguments than it takes (none of ours requires one)."""
    received = len(function.args)
    if received > most:
        expected = "'0'" if most == 0 else f"between '0' and '{most}'"
        raise QueryError(f"Function '{function.name}' expected {expected} arguments but received '{received}'.")


def _function_error(function: Function, field: str) -> QueryError:
    if function.name.lower() in DATE_FUNCTIONS | {"currentuser"}:
        return QueryError(f"A value provided by the function '{function.name}' is invalid for the field '{field}'.")
    return QueryError(f"Unable to find JQL function '{function}'.")


# --- ORDER BY ------------------------------------------------------------------------------------------------

# field -> (SQL expressions, whether a NULL can occur, whether ascending means the expression descending)
_SORTS: dict[str, tuple[tuple[str, ...], bool, bool]] = {
    "created": (("i.created",), False, False),
    "updated": (("i.updated",), False, False),
    "resolved": (("i.resolved",), True, False),
    # Ascending priority is least urgent first, and rank 1 is the most urgent.
    "priority": (("(SELECT pr.rank FROM priorities pr WHERE pr.id = i.priority_id)",), True, True),
    "key": (("(SELECT pj.key FROM projects pj WHERE pj.id = i.project_id)", "i.number"), False, False),
    "project": (("(SELECT pj.key FROM projects pj WHERE pj.id = i.project_id)",), False, False),
    "summary": (("i.summary COLLATE NOCASE",), False, False),
    # Statuses and issue types sort in the order they were defined, like Jira's configured sequence.
    "status": (("i.status_id",), False, False),
    "issuetype": (("i.issue_type_id",), False, False),
    "assignee": (("(SELECT u.display_name FROM users u WHERE u.id = i.assignee_id) COLLATE NOCASE",), True, False),
    "reporter": (("(SELECT u.display_name FROM users u WHERE u.id = i.reporter_id) COLLATE NOCASE",), True, False),
    "resolution": (("i.resolution COLLATE NOCASE",), True, False),
    # The site keeps no board rank; creation order stands in for it so that boards' "ORDER BY Rank" works.
    "rank": (("i.id",), False, False),
}


def _order_by(sorts: tuple[Sort, ...], ctx: QueryContext) -> str:
    if not sorts:
        return DEFAULT_ORDER
    terms: list[str] = []
    direction = "ASC"
    for sort in sorts:
        name = _canonical(sort.field)
        if name == "key" and sort.field.lower() == "id":
            spec: tuple[tuple[str, ...], bool, bool] = _SORTS["rank"]
        elif name in _SORTS:
            spec = _SORTS[name]
        elif _field(sort.field, ctx) is not None:
            raise QueryError(f"Not able to sort using field '{sort.field}'.")
        else:
            raise QueryError(f"Field '{sort.field}' does not exist or you do not have permission to view it.")
        expressions, nullable, inverted = spec
        direction = "DESC" if bool(sort.descending) != inverted else "ASC"
        nulls = " NULLS LAST" if nullable else ""
        terms.extend(f"{expression} {direction}{nulls}" for expression in expressions)
    if not any(term.startswith("i.id ") for term in terms):
        terms.append(f"i.id {direction}")
    return ", ".join(terms)
