"""50 concurrent `/agentflow incident ...` slash commands against one `agentflow serve` process.

Run: `python benchmarks/chatops.py [--commands 50] [--workers 4] [--model script]`. Target: every ack under
1 s at p99 (Slack's own deadline is 3 s) and all results posted to `response_url`. Prints p50/p99 ack latency
and the total time until the last result arrived, next to those two deadlines. Each run is the real thing:
the incident workflow over the bundled server against a fresh sandbox, with the scripted model (`--model none`
for gather steps only).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import httpx2
from slack_sdk.signature import SignatureVerifier

SECRET = "benchmark-signing-secret"
ACK_TARGET_S = 1.0
SLACK_DEADLINE_S = 3.0
ROOT = Path(__file__).resolve().parent.parent


class Receiver:
    """Stands in for Slack's response_url: counts results as they arrive."""

    def __init__(self) -> None:
        self.count = 0
        self.last_at = 0.0
        self.done = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(200)
                self.end_headers()
                with receiver.done:
                    receiver.count += 1
                    receiver.last_at = time.perf_counter()
                    receiver.done.notify_all()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/commands/T1/1/x"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def start_server(home: Path, workers: int, commands: int, model: str) -> tuple[subprocess.Popen[str], str]:
    config = home / "config.toml"
    config.write_text(f"[chatops]\nworkers = {workers}\nqueue = {commands}\nper_user = {commands}\n")
    env = {**os.environ, "AGENTFLOW_CONFIG": str(config), "AGENTFLOW_STATE_DIR": str(home / "state"),
           "SLACK_SIGNING_SECRET": SECRET}  # fmt: skip
    env.pop("ANTHROPIC_API_KEY", None)
    spec = f"script:{ROOT / 'examples' / 'scripts' / 'incident.yaml'}" if model == "script" else "none"
    process = subprocess.Popen(
        [sys.executable, "-m", "agentflow", "serve", "--port", "0", "--model", spec],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    banner = process.stdout.readline() if process.stdout else ""
    found = re.search(r"at (http://[^ ]+:\d+)", banner)
    if not found:
        process.kill()
        raise SystemExit(f"agentflow serve did not start: {banner!r}")
    return process, found.group(1)


def slash(client: httpx2.Client, base_url: str, n: int, response_url: str) -> float:
    body = urlencode({"team_id": "T1", "channel_id": "C1", "user_id": f"U{n % 5}", "command": "/agentflow",
                      "text": f"incident Database connection pool exhaustion #{n}",
                      "response_url": response_url})  # fmt: skip
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body) or ""
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature,
               "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
    began = time.perf_counter()
    response = client.post(f"{base_url}/slack/commands", content=body, headers=headers)
    elapsed = time.perf_counter() - began
    if response.status_code != 200 or "Running `incident`" not in response.text:
        raise SystemExit(f"command {n} was not accepted: {response.status_code} {response.text[:200]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--model", choices=["script", "none"], default="script")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        receiver = Receiver()
        process, base_url = start_server(Path(folder), args.workers, args.commands, args.model)
        try:
            with httpx2.Client(timeout=30, limits=httpx2.Limits(max_connections=args.commands)) as client:
                slash(client, base_url, -1, receiver.url)  # one warm-up run: imports, sandbox seeding
                with receiver.done:
                    receiver.done.wait_for(lambda: receiver.count >= 1, 120)
                receiver.count = 0
                began = time.perf_counter()
                with concurrent.futures.ThreadPoolExecutor(args.commands) as pool:
                    acks = list(pool.map(lambda n: slash(client, base_url, n, receiver.url), range(args.commands)))
                with receiver.done:
                    all_posted = receiver.done.wait_for(lambda: receiver.count >= args.commands, 600)
                total = receiver.last_at - began
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(30)
    acks_ms = sorted(a * 1000 for a in acks)
    p50 = statistics.median(acks_ms)
    p99 = acks_ms[min(len(acks_ms) - 1, round(0.99 * len(acks_ms)) - 1)]
    print(f"{args.commands} concurrent slash commands, {args.workers} workers, model {args.model}")
    print(f"{'':<26}{'agentflow serve':>16}{'target':>10}{'Slack':>10}")
    print(f"{'ack p50':<26}{p50:>13.0f} ms{'':>10}")
    print(f"{'ack p99':<26}{p99:>13.0f} ms{ACK_TARGET_S * 1000:>7.0f} ms{SLACK_DEADLINE_S * 1000:>7.0f} ms")
    print(f"{'ack max':<26}{acks_ms[-1]:>13.0f} ms")
    print(f"{'results posted':<26}{receiver.count:>13} / {args.commands}")
    print(f"{'time to last result':<26}{total:>14.1f} s  ({total / args.commands * 1000:.0f} ms per run)")
    ok = p99 < ACK_TARGET_S * 1000 and all_posted
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
