"""A federation-wide crawl: 50 instances side by side against the same crawl one by one.

What is measured
----------------
``INSTANCES`` (50) :class:`~peertube_async.testing.FakeInstance` servers holding 20,000
videos in all (400 each), served by ``PROCESSES`` (2) separate processes (``spawn``), so
that the client's CPU is its own. Each instance's ``api`` limiter keeps PeerTube's
``LIMIT`` (50) requests with the window compressed from 10 s to ``WINDOW`` (4 s; 1 s with
``--quick``): 625 requests/s for the 50 instances together, within what one client core
can decode and write while the servers use the other (about 1,000 requests/s here). The
crawl is
``peertube_async.crawl.Crawler`` with its defaults (64 connections, 4 requests
outstanding per instance, a commit every 0.5 s with fsync) and kinds videos and comments:
4 pages of 100 videos per instance, then one request per video for its comment threads,
404 requests per instance, 20,200 in all, ``LIMIT * INSTANCES`` per window allowed. The
client is told the instances' budget (``rate_limits=``).

Two runs, each against fresh servers (no budget carried over):

* ``concurrent``: one ``Crawler`` over all instances;
* ``sequential``: one ``Crawler`` per instance, one after another, on ``SAMPLE`` (2) of
  the instances; its time is scaled to all of them (instances are identical), and
  marked so in the table.

Utilization
-----------
The requests of each instance are put into the server's fixed windows, rebuilt from the
client's send times (aiohttp trace hook) with the server's rule: a window opens at the
first request sent at least ``WINDOW`` after the previous opening. An instance's last
window is where it ran out of work, not of budget, so it is left out::

    utilization = sum over instances and their windows but the last, of requests sent
                  / (LIMIT * number of those windows)

i.e. how full the client kept every window it could have filled. The whole-crawl figure
is also shown: ``requests / (sum of limits * ceil(elapsed / WINDOW))`` and, beside it,
its best possible value for this workload (every instance done in ``ceil(404 / LIMIT)``
windows), so the two can be compared. Goal: utilization >= 0.95 and no 429.

Also reported: 429 answers received (trace hook, cross-checked with the servers' own
counters), elapsed time, requests per second, and the client's peak resident memory
(``ru_maxrss``) with its value before the crawl.

Run: ``python benchmarks/crawl.py [--json FILE] [--quick]`` (``--quick``: 10 instances
of 100 videos, 1 s windows).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from _common import format_table, write_json

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from peertube_async import RateLimit  # noqa: E402
from peertube_async.crawl import Crawler  # noqa: E402

INSTANCES = 50
VIDEOS = 400
PROCESSES = 2
LIMIT = 50
WINDOW = 4.0
SAMPLE = 2
KINDS = ("videos", "comments")
_WARM_UP_ADDRESS = "192.0.2.1"


# -- servers ------------------------------------------------------------------------------


def _serve(conn: Connection, count: int, videos: int, limit: int, window: float) -> None:
    asyncio.run(_serve_async(conn, count, videos, limit, window))


async def _serve_async(
    conn: Connection, count: int, videos: int, limit: int, window: float
) -> None:
    from peertube_async.testing import FakeInstance

    loop = asyncio.get_running_loop()
    fakes = [FakeInstance(videos=videos, limits={"api": (limit, window)}) for _ in range(count)]
    for fake in fakes:
        await fake.start()
    try:
        # Warm the servers' code paths under another client address, then forget it.
        headers = {"X-Forwarded-For": _WARM_UP_ADDRESS}
        async with aiohttp.ClientSession(headers=headers) as session:
            for fake in fakes:
                for path in ("/api/v1/videos?count=100", "/api/v1/videos/1/comment-threads"):
                    async with session.get(str(fake.url) + path) as resp:
                        await resp.read()
        for fake in fakes:
            fake.reset_stats()
            fake.reset_limits()
        conn.send([str(fake.url) for fake in fakes])
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command == "stats":
                conn.send(
                    [{"requests": f.stats.requests, "429": f.stats.rate_limited} for f in fakes]
                )
            else:
                break
    finally:
        for fake in fakes:
            await fake.close()
    conn.send("stopped")


class Servers:
    """``count`` FakeInstances spread over ``processes`` child processes."""

    def __init__(self, count: int, processes: int, videos: int) -> None:
        self.count, self.processes, self.videos = count, processes, videos
        self.urls: list[str] = []
        self._children: list[tuple[Connection, Any]] = []

    def __enter__(self) -> Servers:
        ctx = multiprocessing.get_context("spawn")
        share = [self.count // self.processes] * self.processes
        for i in range(self.count % self.processes):
            share[i] += 1
        for n in share:
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=_serve, args=(child, n, self.videos, LIMIT, WINDOW), daemon=True
            )
            proc.start()
            child.close()
            self._children.append((parent, proc))
        for parent, _ in self._children:
            if not parent.poll(120):
                raise RuntimeError("a server process did not start")
            self.urls.extend(parent.recv())
        return self

    def stats(self) -> list[dict[str, int]]:
        out: list[dict[str, int]] = []
        for parent, _ in self._children:
            parent.send("stats")
            out.extend(parent.recv())
        return out

    def __exit__(self, *exc: object) -> None:
        for parent, proc in self._children:
            try:
                parent.send("stop")
                if parent.poll(10):
                    parent.recv()
            except (OSError, EOFError):
                pass
            proc.join(10)
            if proc.is_alive():
                proc.terminate()


# -- client -------------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    instances: int
    requests: int = 0
    records: int = 0
    elapsed: float = 0.0
    rate_limited: int = 0
    server_rate_limited: int = 0
    utilization: float = 0.0
    whole_crawl: float = 0.0
    whole_crawl_best: float = 0.0
    measured_instances: int = 0
    scaled: bool = False
    windows: dict[str, list[int]] = field(default_factory=dict)


def _windows(times: Sequence[float]) -> list[int]:
    """Requests per server window, from send times (the server's fixed-window rule)."""
    counts: list[int] = []
    opened = -math.inf
    for at in sorted(times):
        if at - opened >= WINDOW:
            opened = at
            counts.append(0)
        counts[-1] += 1
    return counts


async def crawl_once(urls: Sequence[str], out: Path) -> tuple[float, dict[str, list[float]], int]:
    """One Crawler over ``urls``; returns elapsed time, send times per origin, records."""
    sent: dict[str, list[float]] = {}

    async def on_start(session: aiohttp.ClientSession, ctx: SimpleNamespace, params: Any) -> None:
        sent.setdefault(str(params.url.origin()), []).append(time.monotonic())

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    limited = 0

    async def on_end(session: aiohttp.ClientSession, ctx: SimpleNamespace, params: Any) -> None:
        nonlocal limited
        if params.response.status == 429:
            limited += 1

    trace.on_request_end.append(on_end)
    # The crawl's defaults, plus the trace hook.
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=64),
        timeout=aiohttp.ClientTimeout(total=30),
        trace_configs=[trace],
    ) as session:
        crawler = Crawler(
            urls,
            out,
            kinds=KINDS,
            overwrite=True,
            session=session,
            rate_limits={"api": RateLimit(LIMIT, WINDOW)},
        )
        started = time.monotonic()
        report = await crawler.run()
        elapsed = time.monotonic() - started
    if not report.complete:
        raise RuntimeError(f"the crawl did not complete: {report.to_dict()}")
    first = min(min(t) for t in sent.values())
    rebased = {origin: [t - first for t in times] for origin, times in sent.items()}
    return elapsed, rebased | {"__429__": [float(limited)]}, report.records


def _fill(run: Run, sent: dict[str, list[float]], elapsed_windows: int) -> None:
    run.rate_limited = int(sent.pop("__429__")[0])
    run.requests = sum(len(t) for t in sent.values())
    used = allowed = 0
    for origin, times in sent.items():
        counts = _windows(times)
        run.windows[origin] = counts
        used += sum(counts[:-1])
        allowed += LIMIT * (len(counts) - 1)
    run.utilization = used / allowed if allowed else 1.0
    per_instance = run.requests / len(sent)
    best_windows = math.ceil(per_instance / LIMIT)
    run.whole_crawl = run.requests / (LIMIT * len(sent) * elapsed_windows)
    run.whole_crawl_best = per_instance / (LIMIT * best_windows)


async def measure(quick: bool) -> tuple[list[Run], dict[str, int]]:
    global WINDOW
    if quick:
        WINDOW = 1.0
    count = 10 if quick else INSTANCES
    videos = 100 if quick else VIDEOS
    sample = 2 if quick else SAMPLE
    runs: list[Run] = []
    memory: dict[str, int] = {"before_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    with tempfile.TemporaryDirectory() as tmp:
        with Servers(count, PROCESSES, videos) as servers:
            print(f"concurrent crawl of {count} instances...", file=sys.stderr)
            elapsed, sent, records = await crawl_once(servers.urls, Path(tmp) / "all.jsonl")
            memory["peak_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            run = Run("concurrent", count, records=records, elapsed=elapsed)
            run.measured_instances = count
            _fill(run, sent, math.ceil(elapsed / WINDOW))
            run.server_rate_limited = sum(s["429"] for s in servers.stats())
            runs.append(run)
        with Servers(sample, 1, videos) as servers:
            print(f"sequential crawl of {sample} instances...", file=sys.stderr)
            total = 0.0
            merged: dict[str, list[float]] = {"__429__": [0.0]}
            records = 0
            for n, url in enumerate(servers.urls):
                elapsed, sent, got = await crawl_once([url], Path(tmp) / f"one-{n}.jsonl")
                merged["__429__"][0] += sent.pop("__429__")[0]
                merged.update(sent)
                total += elapsed
                records += got
            run = Run("sequential", count, scaled=sample != count)
            run.measured_instances = sample
            scale = count / sample
            run.elapsed = total * scale
            run.records = round(records * scale)
            _fill(run, merged, math.ceil(total / WINDOW))
            # Against the budget of all `count` instances, over the (scaled) time.
            windows = math.ceil(run.elapsed / WINDOW)
            run.whole_crawl = run.requests * scale / (LIMIT * count * windows)
            run.requests = round(run.requests * scale)
            run.server_rate_limited = sum(s["429"] for s in servers.stats())
            runs.append(run)
    return runs, memory


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--quick", action="store_true", help="a small run (CI smoke test)")
    args = parser.parse_args(argv)
    runs, memory = asyncio.run(measure(args.quick))
    rows = []
    for run in runs:
        rows.append(
            [
                run.name + (f" ({run.measured_instances} measured, scaled)" if run.scaled else ""),
                run.instances,
                f"{run.requests:,}",
                f"{run.records:,}",
                f"{run.elapsed:.1f}",
                f"{run.requests / run.elapsed:,.0f}",
                f"{run.utilization:.3f}",
                f"{run.whole_crawl:.3f} / {run.whole_crawl_best:.3f}",
                f"{run.rate_limited} / {run.server_rate_limited}",
            ]
        )
    concurrent, sequential = runs
    footer = [
        f"speed-up of the concurrent crawl: {sequential.elapsed / concurrent.elapsed:.1f}x",
        f"client peak RSS: {memory['peak_kib'] / 1024:.0f} MiB "
        f"(before the crawl: {memory['before_kib'] / 1024:.0f} MiB)",
        f"budget: {LIMIT} requests per {WINDOW:g} s per instance; utilization: requests per "
        "server window over the limit, each instance's last (work-limited) window left out",
    ]
    print(
        format_table(
            [
                "run",
                "instances",
                "requests",
                "records",
                "elapsed s",
                "req/s",
                "utilization",
                "whole crawl / best",
                "429s client / server",
            ],
            rows,
            footer,
        )
    )
    if args.json:
        payload = [
            {k: v for k, v in asdict(run).items() if k != "windows"}
            | {"windows_per_instance": [len(w) for w in run.windows.values()]}
            for run in runs
        ]
        payload.append({"name": "memory", **memory})
        write_json(args.json, payload)
    ok = concurrent.utilization >= 0.95 and concurrent.rate_limited == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
