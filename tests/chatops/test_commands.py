"""Reading `/agentflow ...` text into a command."""

from __future__ import annotations

import pytest

from agentflow.chatops.commands import Command, parse, with_primary
from agentflow.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Command(kind="help")),
        ("help", Command(kind="help")),
        ("LIST", Command(kind="list")),
        ("status 20261126-093000-incident-1a2b", Command(kind="status", run_id="20261126-093000-incident-1a2b")),
        ("apply RUN", Command(kind="apply", run_id="RUN")),
        ("apply RUN 1,$3", Command(kind="apply", run_id="RUN", only={1, 3})),
        ("incident Database connection pool exhausted",
         Command(kind="run", workflow="incident", inputs={"__text__": "Database connection pool exhausted"})),
        ("bug-triage PAY-429 PAY-431",
         Command(kind="run", workflow="bug-triage", inputs={"__text__": "PAY-429 PAY-431"})),
        ('incident "pool exhausted" service=payment-gateway window=-2h',
         Command(kind="run", workflow="incident",
                 inputs={"__text__": "pool exhausted", "service": "payment-gateway", "window": "-2h"})),
        ("incident payments can't reach the DB",
         Command(kind="run", workflow="incident", inputs={"__text__": "payments can't reach the DB"})),
        ("incident a=b=c", Command(kind="run", workflow="incident", inputs={"a": "b=c"})),
    ],
)  # fmt: skip
def test_parse(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["status", "status a b", "apply", "apply a 1 2", "apply a one", "apply a ,"])
def test_malformed_commands_say_how_to_write_them(text):
    with pytest.raises(ConfigError):
        parse(text)


def test_free_text_goes_to_the_first_declared_input_unless_that_is_given_by_name():
    assert with_primary({"__text__": "DB down", "window": "-2h"}, ["alert", "window"]) == {
        "alert": "DB down",
        "window": "-2h",
    }
    assert with_primary({"alert": "x"}, ["alert"]) == {"alert": "x"}
    with pytest.raises(ConfigError, match="nowhere to go"):
        with_primary({"__text__": "DB down", "alert": "x"}, ["alert"])
    with pytest.raises(ConfigError, match="takes no inputs"):
        with_primary({"__text__": "DB down"}, [])
