"""CQL (Confluence) compiled to a SQLite WHERE expression and ORDER BY list over `pages p`.

Only pages exist, so `type = page` matches every page and other content types match none. `~` is Confluence's
relevance-ranked full text: a page matches when any query word occurs (after the same light stemming as JQL), and a
query with `~` and no ORDER BY is ordered by relevance: distinct query words matched, then matches in the title, then
the most recently modified. Unknown spaces, users and page ids simply match nothing, as in Confluence; syntax
errors, and an unquoted reserved word (reserved.py), are Confluence's bare "Could not parse cql : <query>".
"""

from __future__ import annotations

from collections.abc import Callable

from agentflow.sandbox.query.common import (
    DATE_FUNCTIONS,
    EMPTINESS,
    BadOffset,
    Clause,
    CompiledQuery,
    Empty,
    Function,
    Operand,
    QueryContext,
    QueryError,
    Sort,
    Sql,
    SyntaxProblem,
    compile_node,
    date_function,
    member_clause,
    parse,
    parse_date,
    set_clause,
    sql_string,
)
from agentflow.sandbox.query.reserved import CQL_RESERVED_WORDS, first_reserved_word

_EQUALITY = frozenset({"=", "!=", "in", "not in"})
_ORDERING = frozenset({"<", "<=", ">", ">="})
_TEXT = frozenset({"~", "!~"})
_PAGE_TEXT = "p.title || ' ' || p.body_text"
DEFAULT_ORDER = "p.updated DESC, p.id DESC"


def compile_cql(text: str, ctx: QueryContext) -> CompiledQuery:
    """Compile CQL for `SELECT ... FROM pages p WHERE (<where>) ORDER BY <order_by>`; raises QueryError."""
    try:
        query = parse(text)
    except SyntaxProblem:
        raise QueryError(f"Could not parse cql : {text}") from None
    if first_reserved_word(query.words, CQL_RESERVED_WORDS) is not None:
        raise QueryError(f"Could not parse cql : {text}")
    compiler = _Compiler(ctx)
    where, params = compile_node(query.where, compiler.clause) if query.where else ("1", [])
    return CompiledQuery(where, params, _order_by(query.order, compiler.searches), bounded=query.where is not None)


class _Compiler:
    def __init__(self, ctx: QueryContext) -> None:
        self.ctx = ctx
        self.searches: list[tuple[str, str]] = []  # (haystack, query) of each `~` that ranks results

    def clause(self, clause: Clause, negated: bool) -> Sql:
        field = _FIELDS.get(clause.key)
        if field is None:
            raise QueryError(f"Could not find field '{clause.field}'")
        ops, compile_ = field
        if clause.op in ("=", "!=") and isinstance(clause.operands[0], Empty):
            clause = Clause(clause.field, "is" if clause.op == "=" else "is not", ())
        if clause.op not in ops:
            raise QueryError(f"The operator '{clause.op}' is not supported by the field '{clause.field}'")
        if clause.op == "~" and not negated:
            self.searches.append((_HAYSTACKS.get(clause.key, _PAGE_TEXT), self.literal(clause, clause.operands[0])))
        return compile_(self, clause)

    def rows(self, sql: str, *params: object) -> list:
        return [row[0] for row in self.ctx.conn.execute(sql, params)]

    def literal(self, clause: Clause, operand: Operand) -> str:
        if isinstance(operand, Function):
            known = operand.name.lower() in DATE_FUNCTIONS | {"currentuser"}
            raise QueryError(
                f"The function '{operand.name}' is not supported by the field '{clause.field}'"
                if known
                else f"Could not find function '{operand}'"
            )
        if isinstance(operand, Empty):
            raise QueryError(f"The operator '{clause.op}' does not support EMPTY for the field '{clause.field}'")
        return operand.text

    def values(self, clause: Clause, resolve: Callable[[Operand], list]) -> list:
        return [value for operand in clause.operands if not isinstance(operand, Empty) for value in resolve(operand)]

    def compile_type(self, clause: Clause) -> Sql:
        named = any(value.lower() == "page" for value in self.values(clause, lambda o: [self.literal(clause, o)]))
        return ("1" if named == (clause.op in ("=", "in")) else "0"), []

    def compile_space(self, clause: Clause) -> Sql:
        ids = self.values(
            clause, lambda o: self.rows("SELECT id FROM spaces WHERE key = ? COLLATE NOCASE", self.literal(clause, o))
        )
        return set_clause(clause.op, "p.space_id", ids, False)

    def compile_title(self, clause: Clause) -> Sql:
        if clause.op in _TEXT:
            return self.words(clause, "p.title")
        titles = self.values(clause, lambda o: [self.literal(clause, o)])
        return set_clause(clause.op, "p.title", titles, False, collate=" COLLATE NOCASE")

    def compile_text(self, clause: Clause) -> Sql:
        return self.words(clause, _PAGE_TEXT)

    def words(self, clause: Clause, haystack: str) -> Sql:
        """Any word of the query matches (`!~`: none does)."""
        query = self.literal(clause, clause.operands[0])
        return f"af_score({haystack}, ?) {'>' if clause.op == '~' else '='} 0", [query]

    def compile_label(self, clause: Clause) -> Sql:
        labels = self.values(clause, lambda o: [self.literal(clause, o)])
        has_empty = any(isinstance(o, Empty) for o in clause.operands)
        return member_clause(clause.op, "p.id", "page_labels", "page_id", "label COLLATE NOCASE", labels, has_empty)

    def compile_creator(self, clause: Clause) -> Sql:
        def resolve(operand: Operand) -> list[int]:
            if isinstance(operand, Function) and operand.name.lower() == "currentuser" and not operand.args:
                return [self.ctx.user_id]
            text = self.literal(clause, operand)
            return self.rows(
                "SELECT id FROM users WHERE account_id = ? OR username = ? COLLATE NOCASE OR email = ? COLLATE NOCASE "
                "OR display_name = ? COLLATE NOCASE",
                text,
                text,
                text,
                text,
            )

        return set_clause(clause.op, "p.author_id", self.values(clause, resolve), False)

    def compile_ancestor(self, clause: Clause) -> Sql:
        roots = [int(text) for text in self.values(clause, lambda o: [self.literal(clause, o)]) if text.isdigit()]
        below = self.rows(
            "WITH RECURSIVE below(id) AS (SELECT id FROM pages WHERE parent_id IN (SELECT value FROM json_each(?)) "
            "UNION SELECT c.id FROM pages c JOIN below b ON c.parent_id = b.id) SELECT id FROM below ORDER BY id",
            str(roots),
        )
        return set_clause(clause.op, "p.id", below, False)

    def compile_parent(self, clause: Clause) -> Sql:
        parents = [int(text) for text in self.values(clause, lambda o: [self.literal(clause, o)]) if text.isdigit()]
        return set_clause(clause.op, "p.parent_id", parents, False)

    def compile_id(self, clause: Clause) -> Sql:
        ids = [int(text) for text in self.values(clause, lambda o: [self.literal(clause, o)]) if text.isdigit()]
        if clause.op in _ORDERING:
            return (f"p.id {clause.op} ?", ids) if ids else ("0", [])
        return set_clause(clause.op, "p.id", ids, False)

    def date(self, clause: Clause, operand: Operand) -> float:
        if isinstance(operand, Function) and operand.name.lower() in DATE_FUNCTIONS:
            try:
                return date_function(operand, self.ctx.now)
            except BadOffset:
                raise QueryError(f"Could not parse cql : invalid argument to {operand}") from None
        text = self.literal(clause, operand)
        moment = parse_date(text, self.ctx.now)
        if moment is None:
            raise QueryError(f"Could not parse date '{text}' for field '{clause.field}'")
        return moment


def _dates(column: str) -> Callable[[_Compiler, Clause], Sql]:
    def compile_(c: _Compiler, clause: Clause) -> Sql:
        if clause.op in _ORDERING:
            return f"{column} {clause.op} ?", [c.date(clause, clause.operands[0])]
        # Equality is to the minute, the precision of CQL date values.
        moments = c.values(clause, lambda o: [c.date(clause, o)])
        windows = [f"({column} >= ? AND {column} < ?)" for _ in moments]
        params = [bound for moment in moments for bound in (moment, moment + 60)]
        if clause.op in ("=", "in"):
            return "(" + " OR ".join(windows) + ")", params
        return "NOT (" + " OR ".join(windows) + ")", params

    return compile_


_FIELDS: dict[str, tuple[frozenset[str], Callable[[_Compiler, Clause], Sql]]] = {
    "type": (_EQUALITY, _Compiler.compile_type),
    "space": (_EQUALITY, _Compiler.compile_space),
    "space.key": (_EQUALITY, _Compiler.compile_space),
    "title": (_EQUALITY | _TEXT, _Compiler.compile_title),
    "text": (_TEXT, _Compiler.compile_text),
    "sitesearch": (_TEXT, _Compiler.compile_text),
    "label": (_EQUALITY | EMPTINESS, _Compiler.compile_label),
    "creator": (_EQUALITY, _Compiler.compile_creator),
    "created": (_EQUALITY | _ORDERING, _dates("p.created")),
    "lastmodified": (_EQUALITY | _ORDERING, _dates("p.updated")),
    "ancestor": (_EQUALITY, _Compiler.compile_ancestor),
    "parent": (_EQUALITY, _Compiler.compile_parent),
    "id": (_EQUALITY | _ORDERING, _Compiler.compile_id),
}
_HAYSTACKS = {"title": "p.title"}
_SORTS = {"created": "p.created", "lastmodified": "p.updated", "title": "p.title COLLATE NOCASE", "id": "p.id"}


def _order_by(sorts: tuple[Sort, ...], searches: list[tuple[str, str]]) -> str:
    if not sorts:
        if not searches:
            return DEFAULT_ORDER
        # The query text goes in as a literal: ORDER BY comes after the WHERE parameters and has none of its own.
        score = " + ".join(f"af_score({haystack}, {sql_string(query)})" for haystack, query in searches)
        in_title = " + ".join(f"af_score(p.title, {sql_string(query)})" for _, query in searches)
        return f"{score} DESC, {in_title} DESC, {DEFAULT_ORDER}"
    terms = []
    direction = "ASC"
    for sort in sorts:
        name = sort.field.lower()
        if name not in _SORTS:
            raise QueryError(
                f"Could not find field '{sort.field}'" if name not in _FIELDS else f"Cannot sort by '{sort.field}'"
            )
        direction = "DESC" if sort.descending else "ASC"
        terms.append(f"{_SORTS[name]} {direction}")
    if not any(term.startswith("p.id ") for term in terms):
        terms.append(f"p.id {direction}")
    return ", ".join(terms)
