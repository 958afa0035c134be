"""Sustained crawl under PeerTube's ``api`` rate limit: 429s received and budget used.

What is measured
----------------
Every strategy fetches the same fixed set of ``limit * windows`` pages,
``GET /api/v1/videos?start=i*5&count=5`` for ``i`` in ``0 .. limit*windows-1``, from a
:class:`~peertube_async.testing.FakeInstance` whose ``api`` limiter is compressed to
``limit`` requests per ``window`` seconds (default 50 per 1.0 s over 10 windows; with
``--quick`` 20 per 1.0 s over 3 windows). All calls are launched at once with
``asyncio.gather``; a call answered 429 is retried until its page is fetched:

* ``peertube_async-burst`` / ``peertube_async-smooth``: ``PeerTube(url,
  rate_limits={"api": RateLimit(limit, window)}, pacing=...)`` and ``pt.videos.list``;
  the scheduler paces the calls, honours ``Retry-After`` itself and retries a 429 up to
  ``rate_limit_retries`` times; a :class:`~peertube_async.RateLimited` that still comes
  out is caught and the call is made again. The client is given its ``aiohttp`` session
  (``session=``; 100 connections like its own default) so that the trace hook below sees
  its requests.
* ``aiohttp-gather``: plain ``aiohttp``; on a 429 it sleeps ``Retry-After`` seconds,
  then sends again.
* ``aiohttp-aiolimiter``: the same, with ``aiolimiter.AsyncLimiter(limit, window)``
  acquired before every attempt.

Each strategy gets a fresh server, in a separate process (``multiprocessing``, spawn;
warmed up under another client address, see ``_common.ServerProcess``), so no two
strategies share a budget and the server's work never competes with the client's event
loop.

Reported per strategy: pages fetched (``succeeded``), 429 answers received
(``rate_limited``, counted at the client with an ``aiohttp`` trace hook on every HTTP
exchange, and cross-checked with the server's own ``stats.rate_limited``), ``elapsed``
seconds from the launch of the first call to the last page, and::

    utilization = succeeded / allowed,   allowed = limit * ceil(elapsed / window)

``allowed`` is what the server would have let through in the windows the run touched
(the first window opens at the first request; a run lasting ``elapsed`` seconds touches
``ceil(elapsed / window)`` consecutive fixed windows at best). Since every page is
fetched in the end, utilization only drops when the run needed more windows than the
ideal ``windows``. The goal for ``peertube_async`` is no 429 and utilization >= 0.98
in both pacing modes.

To explain a miss, the JSON output holds, per strategy, the server windows rebuilt from
the client's send times with the server's rule (a window opens at the first request
sent at least ``window`` seconds after the previous opening): opening time relative to
the run's start, requests sent in it, and how many were answered 200 or 429.

Run: ``python benchmarks/throughput.py [--json FILE] [--quick] [--windows N]
[--window S] [--limit L]``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from _common import ServerProcess, format_table, write_json
from aiolimiter import AsyncLimiter

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from peertube_async import PeerTube, RateLimit, RateLimited  # noqa: E402

PAGE_SIZE = 5
CONNECTIONS = 100
STRATEGIES = (
    "peertube_async-burst",
    "peertube_async-smooth",
    "aiohttp-gather",
    "aiohttp-aiolimiter",
)
GOAL_UTILIZATION = 0.98


@dataclass(frozen=True)
class Plan:
    """The crawl every strategy performs."""

    url: str
    pages: int
    limit: int
    window: float

    def params(self, page: int) -> dict[str, int]:
        """Query of page number ``page``."""
        return {"start": page * PAGE_SIZE, "count": PAGE_SIZE}


@dataclass(frozen=True)
class Exchange:
    """One HTTP exchange seen by the client (seconds from the run's start)."""

    sent: float
    received: float
    status: int


class Recorder:
    """Records every HTTP exchange of a session through ``aiohttp`` trace hooks."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.exchanges: list[Exchange] = []
        self.errors = 0

    def start(self) -> None:
        """Make now the run's time origin and forget earlier exchanges."""
        self.t0 = time.perf_counter()
        self.exchanges.clear()
        self.errors = 0

    def trace_config(self) -> aiohttp.TraceConfig:
        """A trace configuration feeding this recorder."""
        config = aiohttp.TraceConfig()

        async def on_start(
            session: aiohttp.ClientSession,
            ctx: SimpleNamespace,
            params: aiohttp.TraceRequestStartParams,
        ) -> None:
            ctx.sent = time.perf_counter() - self.t0

        async def on_end(
            session: aiohttp.ClientSession,
            ctx: SimpleNamespace,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            received = time.perf_counter() - self.t0
            self.exchanges.append(Exchange(ctx.sent, received, params.response.status))

        async def on_error(
            session: aiohttp.ClientSession,
            ctx: SimpleNamespace,
            params: aiohttp.TraceRequestExceptionParams,
        ) -> None:
            self.errors += 1

        config.on_request_start.append(on_start)
        config.on_request_end.append(on_end)
        config.on_request_exception.append(on_error)
        return config

    def session(self) -> aiohttp.ClientSession:
        """A session like the SDK's default one (100 connections), traced."""
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=CONNECTIONS),
            trace_configs=[self.trace_config()],
        )


@dataclass
class Window:
    """A server window rebuilt from the client's send times.

    ``opened`` is the send time of its first request and ``first_received`` the moment
    that request's answer came back: the window surely ends by ``first_received +
    window``, the earliest a careful client may open the next one.
    """

    opened: float
    first_received: float
    sent: int = 0
    ok: int = 0
    limited: int = 0
    last_sent: float = 0.0


@dataclass
class Result:
    """One strategy's outcome."""

    strategy: str
    pages: int
    succeeded: int
    rate_limited: int
    server_rate_limited: int
    server_requests: int
    elapsed: float
    windows_touched: int
    allowed: int
    utilization: float
    limit: int
    window: float
    windows: list[dict[str, Any]] = field(default_factory=list)


def rebuild_windows(exchanges: Sequence[Exchange], window: float) -> list[Window]:
    """The server's fixed windows as the client's send times open them."""
    out: list[Window] = []
    for ex in sorted(exchanges, key=lambda e: e.sent):
        if not out or ex.sent >= out[-1].opened + window:
            out.append(Window(opened=ex.sent, first_received=ex.received))
        cur = out[-1]
        cur.sent += 1
        cur.last_sent = ex.sent
        if ex.status == 429:
            cur.limited += 1
        elif ex.status < 400:
            cur.ok += 1
    return out


def retry_after(headers: Any, default: float) -> float:
    """``Retry-After`` in seconds, or ``default`` when absent or not a number."""
    raw = headers.get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw is not None else default
    except ValueError:
        return default


Fetch = Callable[[int], Awaitable[int]]


async def crawl(plan: Plan, fetch: Fetch, recorder: Recorder) -> float:
    """Launch every page at once; the elapsed seconds once all are fetched."""
    recorder.start()
    sizes = await asyncio.gather(*(fetch(i) for i in range(plan.pages)))
    elapsed = time.perf_counter() - recorder.t0
    if any(size != PAGE_SIZE for size in sizes):
        raise RuntimeError("a page came back with the wrong number of videos")
    return elapsed


async def run_peertube_async(plan: Plan, pacing: str) -> tuple[float, Recorder]:
    """``pt.videos.list`` for every page, paced by the client's scheduler."""
    recorder = Recorder()
    async with (
        recorder.session() as session,
        PeerTube(
            plan.url,
            session=session,
            rate_limits={"api": RateLimit(plan.limit, plan.window)},
            pacing="smooth" if pacing == "smooth" else "burst",
        ) as pt,
    ):

        async def fetch(page: int) -> int:
            params = plan.params(page)
            while True:
                try:
                    result = await pt.videos.list(start=params["start"], count=params["count"])
                except RateLimited:
                    # The scheduler already waits out Retry-After: just ask again.
                    continue
                return len(result.data)

        elapsed = await crawl(plan, fetch, recorder)
    return elapsed, recorder


async def run_aiohttp(plan: Plan, *, use_limiter: bool) -> tuple[float, Recorder]:
    """A naive crawler: every call at once, sleeping ``Retry-After`` after a 429."""
    recorder = Recorder()
    limiter = AsyncLimiter(plan.limit, plan.window) if use_limiter else None
    url = f"{plan.url}/api/v1/videos"
    async with recorder.session() as session:

        async def fetch(page: int) -> int:
            params = plan.params(page)
            while True:
                if limiter is not None:
                    await limiter.acquire()
                async with session.get(url, params=params) as resp:
                    if resp.status == 429:
                        pause = retry_after(resp.headers, plan.window)
                        await resp.read()
                    else:
                        resp.raise_for_status()
                        body = await resp.json()
                        return len(body["data"])
                await asyncio.sleep(pause)

        elapsed = await crawl(plan, fetch, recorder)
    return elapsed, recorder


async def run_strategy(name: str, plan: Plan) -> tuple[float, Recorder]:
    """Dispatch to the strategy called ``name``."""
    if name == "peertube_async-burst":
        return await run_peertube_async(plan, "burst")
    if name == "peertube_async-smooth":
        return await run_peertube_async(plan, "smooth")
    if name == "aiohttp-gather":
        return await run_aiohttp(plan, use_limiter=False)
    if name == "aiohttp-aiolimiter":
        return await run_aiohttp(plan, use_limiter=True)
    raise ValueError(f"unknown strategy {name!r}")


def measure(name: str, limit: int, window: float, windows: int) -> Result:
    """Run one strategy against its own fresh server process."""
    pages = limit * windows
    options = {"videos": pages * PAGE_SIZE, "limits": {"api": (limit, window)}}
    with ServerProcess(**options) as server:
        plan = Plan(url=server.url, pages=pages, limit=limit, window=window)
        elapsed, recorder = asyncio.run(run_strategy(name, plan))
        stats = server.stats()
    if recorder.errors:
        raise RuntimeError(f"{name}: {recorder.errors} requests failed without an answer")
    succeeded = sum(1 for ex in recorder.exchanges if ex.status == 200)
    limited = sum(1 for ex in recorder.exchanges if ex.status == 429)
    touched = max(1, math.ceil(elapsed / window))
    allowed = limit * touched
    return Result(
        strategy=name,
        pages=pages,
        succeeded=succeeded,
        rate_limited=limited,
        server_rate_limited=int(stats["rate_limited"]),
        server_requests=int(stats["requests"]),
        elapsed=elapsed,
        windows_touched=touched,
        allowed=allowed,
        utilization=succeeded / allowed,
        limit=limit,
        window=window,
        windows=[asdict(w) for w in rebuild_windows(recorder.exchanges, window)],
    )


def goal_met(result: Result) -> bool:
    """No 429 and utilization at or above the goal."""
    return result.rate_limited == 0 and result.utilization >= GOAL_UTILIZATION


def report(results: Sequence[Result], limit: int, window: float, windows: int) -> str:
    """The results table, its footer, and a window breakdown for every missed goal."""
    rows = []
    for r in results:
        check = "" if r.rate_limited == r.server_rate_limited else " (!)"
        goal = ""
        if r.strategy.startswith("peertube_async"):
            goal = "met" if goal_met(r) else "MISSED"
        rows.append(
            [
                r.strategy,
                f"{r.succeeded}/{r.pages}",
                f"{r.rate_limited}{check}",
                r.server_rate_limited,
                f"{r.elapsed:.3f}",
                f"{r.windows_touched}",
                f"{r.utilization:.3f}",
                goal,
            ]
        )
    footer = [
        f"limit {limit} per {window:g} s, {windows} windows, {limit * windows} pages of "
        f"{PAGE_SIZE} videos; server in a separate process, fresh per strategy.",
        "utilization = succeeded / (limit * ceil(elapsed / window)): pages fetched over what "
        "the server allowed in the windows the run touched.",
        "429 client: counted by an aiohttp trace hook; (!) marks a mismatch with the "
        "server's count.",
        f"goal for peertube_async: 0 x 429 and utilization >= {GOAL_UTILIZATION}.",
    ]
    text = format_table(
        ["strategy", "ok", "429 client", "429 server", "elapsed s", "windows", "util", "goal"],
        rows,
        footer,
    )
    for r in results:
        if r.strategy.startswith("peertube_async") and not goal_met(r):
            text += "\n\n" + explain(r)
    return text


def explain(result: Result) -> str:
    """Where a run of ours lost time or drew 429s, window by window."""
    rows = []
    windows = result.windows
    for i, w in enumerate(windows):
        first_rtt = w["first_received"] - w["opened"]
        if i:
            prev = windows[i - 1]
            after = w["opened"] - (prev["first_received"] + result.window)
            shown = f"{after * 1000:+.1f}"
        else:
            shown = "-"
        rows.append(
            [
                i,
                f"{w['opened']:.4f}",
                f"{(w['opened'] - i * result.window) * 1000:+.1f}",
                f"{first_rtt * 1000:.1f}",
                shown,
                f"{w['last_sent']:.4f}",
                w["sent"],
                w["ok"],
                w["limited"],
            ]
        )
    last = windows[-1] if windows else None
    spill = result.elapsed - result.windows_touched * result.window + result.window
    lines = [
        f"{result.strategy} missed the goal: elapsed {result.elapsed:.4f} s touches "
        f"{result.windows_touched} windows of {result.window:g} s "
        f"({spill * 1000:.1f} ms into the last one).",
        "Windows rebuilt from the client's send times (late: opening minus i * window; "
        "first rtt: answer time of the window's first request; after bound: opening minus "
        "(previous first answer + window), the scheduler's margin plus timer delay):",
        format_table(
            [
                "window",
                "opened s",
                "late ms",
                "first rtt ms",
                "after bound ms",
                "last sent s",
                "sent",
                "200",
                "429",
            ],
            rows,
        ),
    ]
    if last is not None:
        lines.append(
            f"last request sent at {last['last_sent']:.4f} s, last page at {result.elapsed:.4f} s."
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--quick", action="store_true", help="small run for CI smoke tests")
    parser.add_argument("--windows", type=int, help="windows of budget to crawl (10; quick 3)")
    parser.add_argument("--window", type=float, help="api window in seconds (1.0)")
    parser.add_argument("--limit", type=int, help="api requests per window (50; quick 20)")
    parser.add_argument(
        "--strategy",
        action="append",
        choices=STRATEGIES,
        help="run only this strategy (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.windows is None:
        args.windows = 3 if args.quick else 10
    if args.window is None:
        args.window = 1.0
    if args.limit is None:
        args.limit = 20 if args.quick else 50
    if args.windows < 1 or args.limit < 1 or args.window <= 0:
        parser.error("--windows, --limit and --window must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.strategy or list(STRATEGIES)
    results = []
    for name in names:
        result = measure(name, args.limit, args.window, args.windows)
        results.append(result)
        print(
            f"  {name}: {result.elapsed:.2f} s, {result.rate_limited} x 429",
            file=sys.stderr,
            flush=True,
        )
    print(report(results, args.limit, args.window, args.windows))
    if args.json:
        write_json(args.json, [asdict(r) for r in results])
    return 0


if __name__ == "__main__":
    sys.exit(main())
