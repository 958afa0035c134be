"""The longest event-loop block while the client turns a hostile answer into an error.

What is measured
----------------
A :class:`~peertube_async.testing.HostileServer` in another process (``multiprocessing``,
spawn, so that its work never runs on the measured loop) serves, one path per body, the
worst error and garbage bodies this script can build: long runs of word characters in a
problem's ``detail`` and in plain text (what made the secret-redaction patterns
backtrack), strings shaped like secrets by the thousand, a hundred thousand
``invalid-params``, nesting too deep for the interpreter, HTML that has every tag opened
and none closed, huge bodies (an endless error page, a body announced at 5 GB, a gzip
bomb), and a few big answers that are not errors at all (a 20 MB page, a page of 100,000
items) to show they no longer block either.

For each body the client (``PeerTube(..., retries=0)``, local limiting off) sends one
``GET`` and waits for the exception (or the answer); meanwhile a ticker task on the same
loop sleeps 1 ms at a time and records the longest gap between two of its wake-ups, in
``time.perf_counter`` time. That gap, less the 1 ms asked for, is the longest stretch the
loop spent on something else: reading the body, parsing it, classifying and redacting
the error (garbage collection and freeing a big answer included: they stop every
thread). Each body is fetched ``repeat`` times (``--quick``: 2, else 5); the table
shows the worst block over the runs, the median time of a whole call, and what the call
raised. The goal is a block of at most 100 ms for every body, whatever its size or shape.

Run: ``python benchmarks/error_path.py [--json FILE] [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import logging
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common import format_table, write_json  # noqa: E402

from peertube_async import APIError, PeerTube, RateLimit  # noqa: E402
from peertube_async.testing import Answer, HostileServer, ReceivedRequest  # noqa: E402

GOAL_MS = 100.0
TICK = 0.001
PROBLEM = "application/problem+json; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
MIB = 1 << 20


def _word(n: int) -> str:
    return "a" * n


def _endless_html() -> Iterator[bytes]:
    piece = b"<p>Service Unavailable</p>" * 4096
    while True:
        yield piece


def _gzip_bomb() -> bytes:
    return gzip.compress(b" " * (200 * MIB), compresslevel=9)


def _page(items: int, item: dict[str, Any]) -> bytes:
    return json.dumps({"total": items, "data": [item] * items}).encode()


# name -> (what it is, a function building the answer in the server process)
BODIES: dict[str, tuple[str, Callable[[], Answer]]] = {
    "detail-24k-word": (
        "400 problem+json, detail: 24 KB of one word",
        lambda: Answer.json({"status": 400, "detail": _word(24_000)}, 400, content_type=PROBLEM),
    ),
    "detail-1m-word": (
        "400 problem+json, detail: 1 MB of one word",
        lambda: Answer.json({"status": 400, "detail": _word(MIB - 64)}, 400, content_type=PROBLEM),
    ),
    "text-8k-word": (
        "500 text/plain, 8 KB of one word",
        lambda: Answer.text(_word(8192), 500),
    ),
    "text-1m-word": (
        "500 text/plain, 1 MB of one word",
        lambda: Answer.text(_word(MIB), 500),
    ),
    "garbage-2xx-8k": (
        "200 under a JSON type, 8 KB of one word",
        lambda: Answer.text(_word(8192), 200, content_type=JSON_TYPE),
    ),
    "bearer-run": (
        "500 text, 'Bearer ' then 1 MB of token characters",
        lambda: Answer.text("Bearer " + _word(MIB), 500),
    ),
    "token-pairs": (
        "500 text, 'token token=' 80,000 times",
        lambda: Answer.text("token token=" * 80_000, 500),
    ),
    "quoted-tokens": (
        "500 text, '\"token\"' 140,000 times",
        lambda: Answer.text('"token"' * 140_000, 500),
    ),
    "secret-keys": (
        "400 JSON, 40,000 keys named like secrets",
        lambda: Answer.json({f"password_{i}": f"token={_word(8)}" for i in range(40_000)}, 400),
    ),
    "secret-strings": (
        "400 JSON array, 60,000 strings 'password=...'",
        lambda: Answer.json(["password=" + _word(8)] * 60_000, 400),
    ),
    "invalid-params": (
        "400 problem, 100,000 invalid-params",
        lambda: Answer.json(
            {
                "status": 400,
                "invalid-params": {f"f{i}": {"msg": "bad", "value": "x"} for i in range(100_000)},
            },
            400,
            content_type=PROBLEM,
        ),
    ),
    "deep-400": (
        "400 JSON, nesting 100,000 deep",
        lambda: Answer.json_body(b"[" * 100_000 + b"]" * 100_000, 400),
    ),
    "deep-200": (
        "200 JSON, nesting 100,000 deep",
        lambda: Answer.json_body(b"[" * 100_000 + b"]" * 100_000, 200),
    ),
    "html-unclosed": (
        "502 HTML, '<script' 140,000 times",
        lambda: Answer.text("<script" * 140_000, 502, content_type="text/html"),
    ),
    "html-comments": (
        "502 HTML, '<!--' 250,000 times",
        lambda: Answer.text("<!--" * 250_000, 502, content_type="text/html"),
    ),
    "html-brackets": (
        "502 HTML, 1 MB of '<'",
        lambda: Answer.text("<" * MIB, 502, content_type="text/html"),
    ),
    "endless-503": (
        "503 HTML that never ends",
        lambda: Answer(503, _endless_html, headers={"Content-Type": "text/html"}),
    ),
    "announced-5gb": (
        "200 announcing 5 GB",
        lambda: Answer(
            200,
            b"{}",
            headers={"Content-Type": JSON_TYPE, "Content-Length": str(5 << 30)},
            keep_alive=False,
        ),
    ),
    "gzip-bomb": (
        "200 gzip, 200 MB of spaces in 200 KB",
        lambda: Answer(
            200,
            _gzip_bomb(),
            headers={"Content-Type": JSON_TYPE, "Content-Encoding": "gzip"},
        ),
    ),
    "page-20mb": (
        "200 JSON, a 20 MB page (not an error)",
        lambda: Answer.json_body(_page(20_000, {"id": 1, "name": _word(1000)})),
    ),
    "page-100k-items": (
        "200 JSON, 100,000 items (not an error)",
        lambda: Answer.json_body(_page(100_000, {"id": 1})),
    ),
}


def _serve(conn: Connection, names: list[str]) -> None:
    """Child process: build the bodies, serve them, report the URL, stop on a message."""
    asyncio.run(_serve_async(conn, names))


async def _serve_async(conn: Connection, names: list[str]) -> None:
    answers = {name: BODIES[name][1]() for name in names}

    warm = Answer.json({"status": 400, "detail": "warm-up"}, 400, content_type=PROBLEM)

    def script(request: ReceivedRequest) -> Answer:
        if request.path == "/api/v1/videos":  # the typed call of page-100k-items
            return answers.get("page-100k-items", warm)
        return answers.get(request.path.rsplit("/", 1)[-1], warm)

    loop = asyncio.get_running_loop()
    async with HostileServer(script) as server:
        conn.send(str(server.url))
        await loop.run_in_executor(None, conn.recv)


@dataclass
class Row:
    body: str
    what: str
    outcome: str
    block_ms: float
    call_ms: float
    goal_ms: float
    within_goal: bool


async def _ticker(stop: asyncio.Event, worst: list[float]) -> None:
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(TICK)
        now = time.perf_counter()
        worst[0] = max(worst[0], now - last - TICK)
        last = now


async def measure(url: str, name: str) -> tuple[float, float, str]:
    """(longest block, whole call, outcome) of one fetch of ``name``."""
    limits = {"api": RateLimit(1_000_000, 1.0)}
    async with PeerTube(url, retries=0, rate_limiting=False, rate_limits=limits) as pt:
        # The connection, and the error path's code, once before measuring.
        with contextlib.suppress(APIError):
            await pt.request("GET", "/api/v1/bodies/warm-up")
        stop = asyncio.Event()
        worst = [0.0]
        ticker = asyncio.ensure_future(_ticker(stop, worst))
        await asyncio.sleep(0.02)
        worst[0] = 0.0
        started = time.perf_counter()
        try:
            if name == "page-100k-items":
                await pt.videos.list(count=100)
            else:
                await pt.request("GET", f"/api/v1/bodies/{name}")
            outcome = "answer"
        except Exception as exc:
            outcome = type(exc).__name__
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.01)  # let the ticker see the end of the last block
        stop.set()
        await ticker
    return worst[0] * 1000, elapsed * 1000, outcome


async def run(url: str, names: Sequence[str], repeat: int) -> list[Row]:
    rows = []
    for name in names:
        blocks, calls, outcome = [], [], ""
        for _ in range(repeat):
            block, call, outcome = await measure(url, name)
            blocks.append(block)
            calls.append(call)
        worst = max(blocks)
        rows.append(
            Row(
                body=name,
                what=BODIES[name][0],
                outcome=outcome,
                block_ms=round(worst, 1),
                call_ms=round(statistics.median(calls), 1),
                goal_ms=GOAL_MS,
                within_goal=worst <= GOAL_MS,
            )
        )
        print(f"  {name}: {worst:.1f} ms, {outcome}", file=sys.stderr, flush=True)
    return rows


def report(rows: Sequence[Row], repeat: int) -> str:
    table = [
        (
            r.body,
            r.outcome,
            f"{r.block_ms:.1f}",
            f"{r.call_ms:.1f}",
            "yes" if r.within_goal else "NO",
        )
        for r in rows
    ]
    footer = [
        f"block: the longest the event loop was held during one call (worst of {repeat}); "
        f"goal <= {GOAL_MS:.0f} ms.",
        "call: the median time of the whole call, reading the body included.",
        *(f"{r.body}: {r.what}" for r in rows),
    ]
    return format_table(["body", "raised", "block ms", "call ms", "goal"], table, footer)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--quick", action="store_true", help="small run for CI smoke tests")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # page-100k-items holds bare {"id": 1} items: one warning per missing field, not wanted.
    logging.getLogger("peertube_async.decode").setLevel(logging.ERROR)
    names = list(BODIES)
    repeat = 2 if args.quick else 5
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(child, names), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(120):
            raise RuntimeError("the HostileServer process did not start")
        url = parent.recv()
        rows = asyncio.run(run(url, names, repeat))
    finally:
        parent.send("stop")
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
    print(report(rows, repeat))
    if args.json:
        write_json(args.json, [asdict(r) for r in rows])
    return 0 if all(r.within_goal for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
