"""The sandbox's query languages: JQL over issues and CQL over pages, compiled to SQLite SQL fragments.

The REST layer runs `SELECT i.* FROM issues i WHERE (<where>) AND <visibility> ORDER BY <order_by> LIMIT ? OFFSET ?`
(or the same over `pages p`) with `params` for the WHERE placeholders. The pieces live in common.py (types,
grammar in query.lark, dates), jql.py, cql.py and textsearch.py (the `~` matcher behind `af_match`/`af_score`).
"""

from agentflow.sandbox.query.common import CompiledQuery, QueryContext, QueryError, register_functions
from agentflow.sandbox.query.cql import compile_cql
from agentflow.sandbox.query.jql import compile_jql

__all__ = ["CompiledQuery", "QueryContext", "QueryError", "compile_cql", "compile_jql", "register_functions"]
