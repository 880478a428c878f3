"""Load and fault test of `qfocus serve` (issue 15): N concurrent clients on 127.0.0.1 send a seeded
mix of good and bad requests for a fixed time; every request must be answered or refused with the
status its kind expects (429 is an acceptable answer to any good request: the queue is bounded;
the client then waits as Retry-After says, at most 5 s).
Reports per kind: count, statuses, p50/p95 latency; for streamed requests the queue wait (from
the `queued` event to the first `progress`); the server's RSS over time; and that the server still
answers after clients were killed mid-stream.

    python benchmarks/serve_load.py --clients 8 --seconds 90 --out benchmarks/results/serve_load_cpu.json

The server is a separate `qfocus serve` process (the embedded model unless --model), bound to
127.0.0.1 only, with --queue 4 --max-bytes 200000 and a token.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

TOKEN = "load-test"
DOCUMENT = Path(__file__).resolve().parents[1] / "src/qfocus/examples/water_board_meeting.md"
GOOD = {200, 429}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def requests_of(url: str, text: str):
    """(kind, expected statuses, function(client) -> (status, extra)) for every kind of request."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    short = text[:3000]
    good = {"document": short, "query": "What did the board decide?", "options": {"max_new_tokens": 16}}

    def answer(response):
        return response.status_code, ({"retry_after": response.headers["retry-after"]} if response.status_code == 429 else {})

    def summarize(c):
        return answer(c.post(f"{url}/v1/summarize", json=good, headers=auth))

    def streamed(c, hang_up=False):
        sent, queued, first = time.monotonic(), None, None
        with c.stream("POST", f"{url}/v1/summarize?stream=true", json=good, headers=auth) as r:
            if r.status_code != 200:
                r.read()
                return answer(r)
            event = None
            for line in r.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                    now = time.monotonic()
                    if event == "queued":
                        queued = now
                    elif event in ("progress", "token") and first is None:
                        first = now
                        if hang_up:
                            return 200, {"hung_up": True}  # leaving the block closes the connection mid-stream
                    elif event in ("summary", "error"):
                        break
        wait = (first - queued) if queued and first else None
        return (200 if event == "summary" else 599), {"queue_wait": wait, "to_queued": queued - sent if queued else None}

    def chat(c):
        body = {"model": "smollm2", "max_tokens": 16, "messages": [{"role": "user", "content": short},
                                                                 {"role": "user", "content": "Who spoke first?"}]}
        return answer(c.post(f"{url}/v1/chat/completions", json=body, headers=auth))

    def post(body=None, content=None, headers=auth, path="/v1/summarize"):
        def send(c):
            kwargs = {"json": body} if content is None else {"content": content, "headers": {**headers, "content-type": "application/json"}}
            return c.post(f"{url}{path}", **({"headers": headers} | kwargs)).status_code, {}
        return send

    return [
        ("summarize", GOOD, summarize),
        ("stream", GOOD, streamed),
        ("chat", GOOD, chat),
        ("hang_up_mid_stream", GOOD, lambda c: streamed(c, hang_up=True)),
        ("empty_query", {400}, post({"document": short, "query": " "})),
        ("unknown_strategy", {400}, post({"document": short, "query": "q", "strategy": "magic"})),
        ("adapter_traversal", {400}, post({"document": short, "query": "q", "adapter": "../../etc/passwd"})),
        ("bad_json", {422}, post(content=b"{nope")),
        ("too_large", {413}, post({"document": "x " * 150_000, "query": "q"})),
        ("no_token", {401}, post(good, headers={})),
        ("bad_pdf", {400}, lambda c: (c.post(f"{url}/v1/summarize", headers=auth, data={"query": "q"},
                                             files={"file": ("x.pdf", b"%PDF-1.4 broken", "application/pdf")}).status_code, {})),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/serve_load_cpu.json")
    args = parser.parse_args()
    assert 1 <= args.clients <= 32 and args.seconds <= 600, "bounded: at most 32 clients for 10 minutes"

    port, qfocus = free_port(), str(Path(sys.executable).with_name("qfocus"))
    server = subprocess.Popen([qfocus, "serve", "--host", "127.0.0.1", "--port", str(port), "--model", args.model,
                               "--queue", "4", "--max-bytes", "200000", "--max-seconds", "120", "--token", TOKEN],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).json().get("status") == "ok":
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.5)
        kinds = requests_of(url, DOCUMENT.read_text())
        records, rss = [], [(0.0, rss_mb(server.pid))]
        start = time.monotonic()
        stop = threading.Event()

        def sample():
            while not stop.wait(1.0):
                rss.append((round(time.monotonic() - start, 1), round(rss_mb(server.pid), 1)))

        def client(i: int):
            rng = random.Random(args.seed * 1000 + i)
            with httpx.Client(timeout=180) as c:
                while time.monotonic() - start < args.seconds:
                    kind, expected, send = rng.choice(kinds)
                    t0 = time.monotonic()
                    try:
                        status, extra = send(c)
                    except httpx.HTTPError as error:
                        status, extra = -1, {"exception": type(error).__name__}
                    records.append({"kind": kind, "status": status, "ok": status in expected,
                                    "seconds": time.monotonic() - t0, **extra})
                    if status == 429:  # a polite client waits as told (capped, so the test keeps its pace)
                        time.sleep(min(float(extra.get("retry_after", 1)), 5.0))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(client, range(args.clients)))
        stop.set()
        wall = time.monotonic() - start
        after = httpx.post(f"{url}/v1/summarize", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=180,
                           json={"document": DOCUMENT.read_text()[:3000], "query": "What was decided?", "options": {"max_new_tokens": 16}})
        alive = server.poll() is None and after.status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)

    def pct(values, q):
        values = sorted(values)
        return round(values[min(len(values) - 1, int(q * len(values)))], 3) if values else None

    by_kind = {}
    for kind in sorted({r["kind"] for r in records}):
        rows = [r for r in records if r["kind"] == kind]
        answered = [r["seconds"] for r in rows if r["status"] == 200]
        waits = [r["queue_wait"] for r in rows if r.get("queue_wait") is not None]
        statuses = {}
        for r in rows:
            statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
        by_kind[kind] = {"requests": len(rows), "unexpected": sum(not r["ok"] for r in rows), "statuses": statuses,
                         "p50_s": pct([r["seconds"] for r in rows], 0.5), "p95_s": pct([r["seconds"] for r in rows], 0.95),
                         "p50_s_answered": pct(answered, 0.5), "p95_s_answered": pct(answered, 0.95),
                         **({"queue_wait_p50_s": pct(waits, 0.5), "queue_wait_p95_s": pct(waits, 0.95)} if waits else {})}
    rss_values = [v for _, v in rss]
    quarter = [v for t, v in rss if t >= wall / 4]
    result = {
        "command": "python benchmarks/serve_load.py " + " ".join(sys.argv[1:]),
        "clients": args.clients, "seconds": round(wall, 1), "model": args.model, "server": "--queue 4 --max-bytes 200000 --max-seconds 120 --token",
        "requests": len(records), "unexpected": sum(not r["ok"] for r in records),
        "server_alive_and_answering_after": alive,
        "rss_mb": {"at_start": rss_values[0], "after_first_quarter_min": min(quarter) if quarter else None,
                   "max": max(rss_values), "at_end": rss_values[-1],
                   "growth_after_first_quarter": round(rss_values[-1] - min(quarter), 1) if quarter else None},
        "by_kind": by_kind, "rss_series": rss,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"{'kind':<20} {'n':>4} {'unexpected':>10} {'p50 s':>7} {'p95 s':>7}  statuses")
    for kind, row in by_kind.items():
        print(f"{kind:<20} {row['requests']:>4} {row['unexpected']:>10} {row['p50_s']:>7} {row['p95_s']:>7}  {row['statuses']}")
    print(f"requests {len(records)}, unexpected {result['unexpected']}, RSS MB {result['rss_mb']}, alive after: {alive}")
    return 0 if result["unexpected"] == 0 and alive else 1


if __name__ == "__main__":
    sys.exit(main())
