"""Arguments a tool does not declare, found before the call: some servers drop an argument they do not know
without a word (Rovo's `/v2/mcp` does), so a misspelt `maxResult` would quietly search with the default. The
gate refuses such a call instead, naming the argument, the nearest declared one and what the tool takes.

A tool declares its arguments in its input schema's `properties` (JSON Schema); anything else is refused, even
where the schema leaves `additionalProperties` open — that is how a dropping server's schema reads (the sandbox's
`/v2/mcp`, like Rovo's, says `additionalProperties: true` and keeps nothing of it). A schema that declares no
properties at all is taken at its word.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any


def undeclared(input_schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> list[str]:
    """The names in `arguments` that `input_schema` does not declare, in the order given."""
    properties = input_schema.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        return []
    return [name for name in arguments if name not in properties]


def refusal(tool: str, input_schema: Mapping[str, Any], names: list[str]) -> str:
    """What the model (or the workflow's author) reads for a call with undeclared arguments."""
    declared = list((input_schema.get("properties") or {}).keys())
    parts = []
    for name in names:
        near = difflib.get_close_matches(name, declared, n=1, cutoff=0.6)
        parts.append(f"'{name}'" + (f" (did you mean '{near[0]}'?)" if near else ""))
    takes = ", ".join(declared) or "no arguments"
    return f"{tool} does not take {', '.join(parts)}; it takes: {takes}. Nothing was sent."
