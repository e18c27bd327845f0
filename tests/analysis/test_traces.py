"""Stack traces found in issue text: four languages, chains, Markdown wrappings, garbage, and the seeded bugs."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from agentflow.analysis.traces import Frame, parse_traces, traces_for_issues
from agentflow.atlassian.testing import server_for
from agentflow.sandbox.site import Site

JAVA = """\
java.lang.NullPointerException: Cannot invoke "java.util.Currency.getCurrencyCode()" because "amount.currency" is null
\tat com.acme.payments.api.serialization.PaymentResponseSerializer.writeAmount(PaymentResponseSerializer.java:88)
\tat com.fasterxml.jackson.databind.ser.DefaultSerializerProvider.serializeValue(DefaultSerializerProvider.java:480)
\tat com.acme.payments.api.RefundController.getRefund(RefundController.java:112)
\tat jdk.internal.reflect.GeneratedMethodAccessor212.invoke(Unknown Source)
"""

JAVA_CHAIN = """\
Exception in thread "main" org.springframework.web.util.NestedServletException: Request processing failed
\tat org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:1014) ~[webmvc.jar:5.3]
\tat com.acme.orders.OrderController.create(OrderController.java:40)
\tat java.base/java.lang.Thread.run(Thread.java:833)
\tSuppressed: java.io.IOException: stream closed
\t\tat com.acme.orders.Stream.close(Stream.java:9)
Caused by: java.lang.IllegalArgumentException: quantity must be positive
\tat com.acme.orders.Quantity.of(Quantity.java:17)
\tat app//com.acme.orders.OrderService.create(OrderService.java:31)
\t... 2 more
"""

PYTHON_CHAIN = """\
Traceback (most recent call last):
  File "/app/billing/rates.py", line 12, in rate_for
    return RATES[currency]
           ~~~~~^^^^^^^^^^
KeyError: 'XYZ'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/usr/lib/python3.11/runpy.py", line 198, in _run_module_as_main
    return _run_code(code, main_globals, None)
  File "/app/.venv/lib/python3.11/site-packages/click/core.py", line 1078, in main
    rv = self.invoke(ctx)
  File "/app/billing/cli.py", line 30, in charge
    rate = rate_for(currency)
billing.errors.UnknownCurrency: no rate for XYZ
"""

NODE = """\
Error [ERR_INVALID_ARG_TYPE]: The "path" argument must be of type string. Received undefined
    at new NodeError (node:internal/errors:405:5)
    at Object.join (node:path:1172:7)
    at loadConfig (/srv/api/src/config.js:14:22)
    at async Server.start (/srv/api/src/server.js:40:5)
    at async Promise.all (index 0)
    at /srv/api/node_modules/express/lib/router/layer.js:95:5
"""

TOP_APP_FRAME_429 = (
    "com.acme.payments.api.serialization.PaymentResponseSerializer.writeAmount (PaymentResponseSerializer.java:88)"
)

GO = """\
panic: assignment to entry in nil map

goroutine 1 [running]:
main.(*Cache).Put(...)
\t/app/cache.go:21
main.main()
\t/app/main.go:9 +0x38
runtime.main()
\t/usr/local/go/src/runtime/proc.go:250 +0x207
created by main.start in goroutine 1
\t/app/main.go:3 +0x10
"""


def frame(function: str, file: str | None, line: int | None) -> dict[str, object]:
    return {"function": function, "file": file, "line": line}


def test_a_java_trace():
    [trace] = parse_traces(JAVA)
    assert trace.model_dump() == {
        "language": "java",
        "exception": "java.lang.NullPointerException",
        "short_type": "NullPointerException",
        "message": 'Cannot invoke "java.util.Currency.getCurrencyCode()" because "amount.currency" is null',
        "frames": [
            frame(
                "com.acme.payments.api.serialization.PaymentResponseSerializer.writeAmount",
                "PaymentResponseSerializer.java",
                88,
            ),
            frame(
                "com.fasterxml.jackson.databind.ser.DefaultSerializerProvider.serializeValue",
                "DefaultSerializerProvider.java",
                480,
            ),
            frame("com.acme.payments.api.RefundController.getRefund", "RefundController.java", 112),
            frame("jdk.internal.reflect.GeneratedMethodAccessor212.invoke", None, None),
        ],
        "app_frames": [
            frame(
                "com.acme.payments.api.serialization.PaymentResponseSerializer.writeAmount",
                "PaymentResponseSerializer.java",
                88,
            ),
            frame("com.acme.payments.api.RefundController.getRefund", "RefundController.java", 112),
        ],
        "top_app_frame": TOP_APP_FRAME_429,
        "chain": ["java.lang.NullPointerException"],
    }


def test_a_java_chain_is_reported_by_its_root_cause_with_the_frames_it_shares():
    [trace] = parse_traces(JAVA_CHAIN)
    assert (trace.exception, trace.short_type, trace.message) == (
        "java.lang.IllegalArgumentException",
        "IllegalArgumentException",
        "quantity must be positive",
    )
    assert trace.chain == ["org.springframework.web.util.NestedServletException", "java.lang.IllegalArgumentException"]
    # "... 2 more" are the wrapper's last two frames; the suppressed exception's frames belong to neither.
    assert [f.model_dump() for f in trace.frames] == [
        frame("com.acme.orders.Quantity.of", "Quantity.java", 17),
        frame("com.acme.orders.OrderService.create", "OrderService.java", 31),
        frame("com.acme.orders.OrderController.create", "OrderController.java", 40),
        frame("java.lang.Thread.run", "Thread.java", 833),
    ]
    assert [f.function for f in trace.app_frames] == [
        "com.acme.orders.Quantity.of",
        "com.acme.orders.OrderService.create",
        "com.acme.orders.OrderController.create",
    ]
    assert trace.top_app_frame == "com.acme.orders.Quantity.of (Quantity.java:17)"


@pytest.mark.parametrize(
    ("printed", "function", "app"),
    [
        ("java.base/java.lang.Thread.run(Thread.java:833)", "java.lang.Thread.run", False),
        ("app//com.acme.Job.run(Job.java:7)", "com.acme.Job.run", True),
        (
            "com.acme.Job$$Lambda$14/0x0000000800c03000.run(Unknown Source)",
            "com.acme.Job$$Lambda$14/0x0000000800c03000.run",
            False,
        ),
        ("com.acme.Job.lambda$run$0(Job.java:9)", "com.acme.Job.lambda$run$0", True),
    ],
)
def test_java_frames_without_module_prefixes_and_generated_classes(printed: str, function: str, app: bool):
    [trace] = parse_traces(f"java.lang.IllegalStateException: x\n\tat {printed}\n")
    assert [f.function for f in trace.frames] == [function]
    assert bool(trace.app_frames) is app


def test_a_python_chain_is_reported_by_its_original_exception():
    [trace] = parse_traces(PYTHON_CHAIN)
    assert trace.language == "python"
    assert (trace.exception, trace.short_type, trace.message) == ("KeyError", "KeyError", "'XYZ'")
    assert trace.chain == ["KeyError", "billing.errors.UnknownCurrency"]
    assert [f.model_dump() for f in trace.frames] == [frame("rate_for", "/app/billing/rates.py", 12)]
    assert trace.top_app_frame == "rate_for (/app/billing/rates.py:12)"


def test_python_frames_are_listed_innermost_first_without_stdlib_and_site_packages():
    [trace] = parse_traces(PYTHON_CHAIN[PYTHON_CHAIN.rindex("Traceback") :])
    assert (trace.exception, trace.short_type, trace.message) == (
        "billing.errors.UnknownCurrency",
        "UnknownCurrency",
        "no rate for XYZ",
    )
    assert [(f.function, f.line) for f in trace.frames] == [
        ("charge", 30),
        ("main", 1078),
        ("_run_module_as_main", 198),
    ]
    assert [f.model_dump() for f in trace.app_frames] == [frame("charge", "/app/billing/cli.py", 30)]


def test_a_node_trace():
    [trace] = parse_traces(NODE)
    assert (trace.language, trace.exception, trace.short_type) == ("javascript", "Error", "Error")
    assert trace.message == 'The "path" argument must be of type string. Received undefined'
    assert [f.model_dump() for f in trace.frames] == [
        frame("new NodeError", "node:internal/errors", 405),
        frame("Object.join", "node:path", 1172),
        frame("loadConfig", "/srv/api/src/config.js", 14),
        frame("Server.start", "/srv/api/src/server.js", 40),
        frame("Promise.all", None, None),
        frame("<anonymous>", "/srv/api/node_modules/express/lib/router/layer.js", 95),
    ]
    assert [f.function for f in trace.app_frames] == ["loadConfig", "Server.start"]
    assert trace.top_app_frame == "loadConfig (/srv/api/src/config.js:14)"


def test_a_go_panic():
    [trace] = parse_traces(GO)
    assert (trace.language, trace.exception, trace.short_type) == ("go", "panic", "panic")
    assert trace.message == "assignment to entry in nil map"
    assert [f.model_dump() for f in trace.frames] == [
        frame("main.(*Cache).Put", "/app/cache.go", 21),
        frame("main.main", "/app/main.go", 9),
        frame("runtime.main", "/usr/local/go/src/runtime/proc.go", 250),
    ]
    assert [f.function for f in trace.app_frames] == ["main.(*Cache).Put", "main.main"]
    assert trace.top_app_frame == "main.(*Cache).Put (/app/cache.go:21)"


@pytest.mark.parametrize(
    ("function", "file", "app"),
    [
        ("github.com/acme/pay/hooks.(*D).send", "/src/hooks/d.go", True),
        ("net/http.(*conn).serve", "/usr/local/go/src/net/http/server.go", False),
        ("github.com/gin-gonic/gin.(*Context).Next", "/go/pkg/mod/github.com/gin-gonic/gin@v1.9.1/context.go", False),
    ],
)
def test_go_app_frames_are_outside_the_standard_library_and_module_cache(function: str, file: str, app: bool):
    text = f"panic: boom\n\ngoroutine 7 [running]:\n{function}()\n\t{file}:1 +0x1\n"
    [trace] = parse_traces(text)
    assert trace.frames == [Frame(function=function, file=file, line=1)]
    assert bool(trace.app_frames) is app


def test_several_traces_in_fences_with_language_tags_in_order():
    text = f"First:\n\n```java\n{JAVA}```\n\nthen, later:\n\n```python\n{PYTHON_CHAIN}```\n\n~~~go\n{GO}~~~\n"
    assert [(t.language, t.short_type) for t in parse_traces(text)] == [
        ("java", "NullPointerException"),
        ("python", "KeyError"),
        ("go", "panic"),
    ]


def test_traces_in_wiki_remains_quotes_and_paragraphs():
    wiki = "{noformat}java.lang.IllegalStateException: closed\n\tat com.acme.Pool.get(Pool.java:5){noformat}"
    quoted = "> TypeError: x is not a function\n>     at run (/srv/app.js:3:9)\n"
    # A paragraph keeps no indentation and may end its lines with hard breaks.
    paragraph = 'Traceback (most recent call last):\\\nFile "/app/a.py", line 2, in f\\\nValueError: bad\\\n'
    found = [(t.exception, t.top_app_frame) for text in (wiki, quoted, paragraph) for t in parse_traces(text)]
    assert found == [
        ("java.lang.IllegalStateException", "com.acme.Pool.get (Pool.java:5)"),
        ("TypeError", "run (/srv/app.js:3)"),
        ("ValueError", "f (/app/a.py:2)"),
    ]


def test_frames_are_capped_at_ten():
    frames = "".join(f"\tat com.acme.Deep.level{n}(Deep.java:{n})\n" for n in range(15))
    [trace] = parse_traces("java.lang.StackOverflowError\n" + frames)
    assert [f.line for f in trace.frames] == list(range(10))
    assert len(trace.app_frames) == 10
    assert trace.message == ""


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n\n",
        "No trace here, just words: error: it broke at 3pm.",
        "Traceback (most recent call last):",
        'Traceback (most recent call last):\n  File "x.py", line 1, in f\n',
        "panic: out of cheese\nand nothing else",
        "java.lang.NullPointerException\nat the end of the day",
        "TypeError: x\n    at\n",
        "at com.acme.A.b(A.java:1)\nat com.acme.A.c(A.java:2)",
        "goroutine 1 [running]:\nmain.main()\n\t/app/main.go:3",
        "```\n" * 7,
        "[" * 5000 + "at (" * 5000,
        "\x00\x01\ufffd" * 100,
    ],
)
def test_text_without_a_whole_trace_gives_nothing(text: str):
    assert parse_traces(text) == []


def test_not_text_gives_nothing():
    assert parse_traces(None) == []  # type: ignore[arg-type]


def test_traces_for_issues_shape_without_duplicates():
    issues = [
        {"key": "X-1", "description": JAVA, "comments": [{"body": JAVA}, {"body": NODE}], "components": ["API"]},
        {"key": "X-2", "description": "", "comments": []},
    ]
    result = traces_for_issues(issues)
    json.dumps(result)
    assert [(entry["key"], len(entry["traces"])) for entry in result["issues"]] == [("X-1", 2), ("X-2", 0)]
    assert result["issues"][0]["exception_types"] == ["NullPointerException", "Error"]
    assert result["issues"][0]["components"] == ["API"]
    assert result["issues"][1] == {"key": "X-2", "traces": [], "exception_types": [], "components": []}
    assert result["exception_types"] == ["NullPointerException", "Error"]


async def fetch_issues(flavor: str, keys: list[str]) -> list[dict]:
    """Issues as a run's gather step gets them: the bundled server's structured results against the sandbox."""
    async with Client(server_for(Site.open(flavor))) as client:
        return [(await client.call_tool("get_jira_issue", {"key": key})).structured_content for key in keys]


SEEDED = {
    "PAY-429": (
        "java",
        "java.lang.NullPointerException",
        'Cannot invoke "java.util.Currency.getCurrencyCode()" because "amount.currency" is null',
        TOP_APP_FRAME_429,
    ),
    "PAY-431": (
        "python",
        "decimal.InvalidOperation",
        "[<class 'decimal.ConversionSyntax'>]",
        "summarize (/app/reconcile/summary.py:57)",
    ),
    "PAY-432": (
        "javascript",
        "TypeError",
        "Cannot read properties of undefined (reading 'map')",
        "renderWallets (/srv/checkout-web/src/components/Wallets.js:23)",
    ),
    "PAY-433": (
        "go",
        "panic",
        "runtime error: invalid memory address or nil pointer dereference",
        "github.com/acme/payments/webhooks.(*Dispatcher).send (/src/webhooks/dispatcher.go:87)",
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("flavor", ["cloud", "dc"])
async def test_the_seeded_bugs_as_the_server_renders_them(flavor: str):
    result = traces_for_issues(await fetch_issues(flavor, list(SEEDED)))
    json.dumps(result)
    found = {
        entry["key"]: [(t["language"], t["exception"], t["message"], t["top_app_frame"]) for t in entry["traces"]]
        for entry in result["issues"]
    }
    assert found == {key: [expected] for key, expected in SEEDED.items()}
    assert result["exception_types"] == ["NullPointerException", "InvalidOperation", "TypeError", "panic"]
    assert [entry["components"] for entry in result["issues"]] == [
        ["Payments API"],
        ["Reconciliation"],
        ["Checkout"],
        ["Webhooks"],
    ]
    [pay_429] = result["issues"][0]["traces"]
    assert [f["line"] for f in pay_429["frames"]] == [88, 54, 480, 112, None]
    assert [f["line"] for f in pay_429["app_frames"]] == [88, 54, 112]
