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

Two more groups of rows test the scheduler's assumptions:

* ``peertube_async-lag10`` / ``-lag30``: as ``-burst``, while a task of the client's
  process blocks its event loop (``time.sleep``) at random for up to 10% / 30% of a
  window, every half window on average.
* ``peertube_async-learned``: the client is not told the server's limit: it starts
  from PeerTube's documented default (50 per 10 s) and learns the limit and the window
  from the headers. One row per window: 1 s (10 windows), 10 s (5), 60 s (4).

Run: ``python benchmarks/throughput.py [--json FILE] [--quick] [--windows N]
[--window S] [--limit L] [--strategy NAME ...]``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
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
#: Rows where the loop lags (random blocks up to 10% and 30% of a window).
LAG_STRATEGIES = ("peertube_async-lag10", "peertube_async-lag30")
#: Rows where the client is not told the server's limit: (window s, windows crawled).
LEARNED_WINDOWS = ((1.0, 10), (10.0, 5), (60.0, 4))
GOAL_UTILIZATION = 0.98
#: Goals where the scheduler works from less than it is told.
GOALS = {"peertube_async-lag10": 0.95, "peertube_async-learned": 0.9}


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
    #: Utilization from the fourth window on (what learning leaves once it had three),
    #: up to the last window, which the end of the work cuts short.
    after_three: float | None = None
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


async def lag(window: float, share: float, seed: int, stop: asyncio.Event) -> None:
    """Block the event loop for random stretches of up to ``share`` of a window, as a
    bot's other work would."""
    rnd = random.Random(seed)
    while not stop.is_set():
        await asyncio.sleep(rnd.uniform(0, window / 2))
        time.sleep(rnd.uniform(0, share * window))  # noqa: ASYNC251 - the lag under test


async def run_peertube_async(
    plan: Plan, pacing: str, *, told: bool = True, lag_share: float = 0.0
) -> tuple[float, Recorder]:
    """``pt.videos.list`` for every page, paced by the client's scheduler.

    ``told``: the client is given the server's limit; otherwise it starts from PeerTube's
    defaults and learns from the headers. ``lag_share``: the loop is blocked at random
    for up to that share of a window.
    """
    recorder = Recorder()
    limits = {"api": RateLimit(plan.limit, plan.window)} if told else None
    stop = asyncio.Event()
    lagging = asyncio.create_task(lag(plan.window, lag_share, 7, stop)) if lag_share > 0 else None
    async with (
        recorder.session() as session,
        PeerTube(
            plan.url,
            session=session,
            rate_limits=limits,
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

        try:
            elapsed = await crawl(plan, fetch, recorder)
        finally:
            stop.set()
            if lagging is not None:
                await lagging
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
    if name.startswith("peertube_async-lag"):
        return await run_peertube_async(plan, "burst", lag_share=int(name[18:]) / 100)
    if name == "peertube_async-learned":
        return await run_peertube_async(plan, "burst", told=False)
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
    rebuilt = rebuild_windows(recorder.exchanges, window)
    after_three = None
    if len(rebuilt) > 4:
        # From the fourth window's opening to the last one's: pages fetched over what the
        # server allowed in that time (the last, work-limited window left out).
        span = rebuilt[-1].opened - rebuilt[3].opened
        later = sum(w.ok for w in rebuilt[3:-1])
        after_three = later / (limit * span / window)
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
        after_three=after_three,
        windows=[asdict(w) for w in rebuilt],
    )


def goal_of(strategy: str) -> float | None:
    """The utilization goal of a row (None: no goal, e.g. 30% lag or a baseline)."""
    if strategy in GOALS:
        return GOALS[strategy]
    if strategy in ("peertube_async-burst", "peertube_async-smooth"):
        return GOAL_UTILIZATION
    return None


def measured(result: Result) -> float:
    """The utilization a row's goal is about: learning rows from their fourth window on
    ("0.9 within three windows"), the others over the whole run."""
    if result.strategy == "peertube_async-learned" and result.after_three is not None:
        return result.after_three
    return result.utilization


def goal_met(result: Result) -> bool:
    """No 429 and utilization at or above the row's goal."""
    goal = goal_of(result.strategy) or 0.0
    return result.rate_limited == 0 and measured(result) >= goal


def report(results: Sequence[Result], limit: int, window: float, windows: int) -> str:
    """The results table, its footer, and a window breakdown for every missed goal."""
    rows = []
    for r in results:
        check = "" if r.rate_limited == r.server_rate_limited else " (!)"
        goal = ""
        if r.strategy.startswith("peertube_async"):
            target = goal_of(r.strategy)
            verdict = "met" if goal_met(r) else "MISSED"
            goal = f">= {target:g} {verdict}" if target else f"0 x 429 {verdict}"
        rows.append(
            [
                r.strategy,
                f"{r.limit}/{r.window:g}s",
                f"{r.succeeded}/{r.pages}",
                f"{r.rate_limited}{check}",
                r.server_rate_limited,
                f"{r.elapsed:.3f}",
                f"{r.windows_touched}",
                f"{r.utilization:.3f}",
                "" if r.after_three is None else f"{r.after_three:.3f}",
                goal,
            ]
        )
    footer = [
        f"{windows} windows of budget per row ({limit * windows} pages of {PAGE_SIZE} videos) "
        "unless the row says otherwise; server in a separate process, fresh per row.",
        "utilization = succeeded / (limit * ceil(elapsed / window)): pages fetched over what "
        "the server allowed in the windows the run touched.",
        "429 client: counted by an aiohttp trace hook; (!) marks a mismatch with the "
        "server's count.",
        "lag10/lag30: the client's loop blocked at random for up to 10% / 30% of a window; "
        "learned: the client is not told the limit (it starts from PeerTube's 50 per 10 s); "
        "util after 3: from the fourth window's opening to the last's (work-limited) one, "
        "what its goal is about.",
        f"goals for peertube_async: 0 x 429 everywhere; utilization >= {GOAL_UTILIZATION} "
        "with the limit given, >= 0.95 under 10% lag, >= 0.9 with the limit learned (after "
        "three windows).",
    ]
    text = format_table(
        [
            "strategy",
            "server",
            "ok",
            "429 client",
            "429 server",
            "elapsed s",
            "windows",
            "util",
            "util after 3",
            "goal",
        ],
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
        choices=(*STRATEGIES, *LAG_STRATEGIES, "peertube_async-learned"),
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


def rows_of(args: argparse.Namespace) -> list[tuple[str, float, int]]:
    """(strategy, window, windows) of every row to run."""
    names = args.strategy or [*STRATEGIES, *LAG_STRATEGIES, "peertube_async-learned"]
    rows: list[tuple[str, float, int]] = []
    for name in names:
        if name == "peertube_async-learned":
            learned = LEARNED_WINDOWS[:1] if args.quick else LEARNED_WINDOWS
            rows.extend((name, window, count) for window, count in learned)
        else:
            rows.append((name, args.window, args.windows))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = []
    for name, window, windows in rows_of(args):
        result = measure(name, args.limit, window, windows)
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
