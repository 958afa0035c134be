"""Per-call overhead of peertube_async against raw aiohttp and the ``peertube`` package.

What is measured
----------------
``calls`` GETs (default 20,000; ``--quick`` 2,000) of ``/api/v1/videos/{id}`` (ids cycling
over 100 seeded videos, about 4 KB of JSON each), decoded, with ``concurrency`` workers
(default 50) pulling ids from one shared iterator. Rate limiting is off on both sides:
the :class:`~peertube_async.testing.FakeInstance` runs with ``rate_limit=False`` and the
SDK with ``rate_limiting=False``, so only the cost of the call path is compared.

Rows:

* ``aiohttp`` (baseline): ``session.get(url)`` then ``await resp.json()``, one
  ``ClientSession`` with a 100-connection ``TCPConnector``.
* ``peertube_async.request``: ``await pt.request("GET", "/api/v1/videos/{id}")``, the raw
  pipeline path (route lookup, scheduler bypass, send, header parsing, classification,
  JSON decoding).
* ``peertube_async.videos.get``: ``await pt.videos.get(id)``, the same plus decoding into
  the typed :class:`~peertube_async.Video` model with cattrs.
* ``peertube (httpx)``: the ``peertube`` PyPI package (openapi-python-client over httpx):
  ``peertube.api.video.get_video.asyncio_detailed(id, client=Client(base_url=...))``,
  whose ``parsed`` field is the decoded JSON. httpx keeps only 20 idle connections by
  default, which would reconnect constantly at concurrency 50; the client gets
  ``httpx.Limits(max_connections=100, max_keepalive_connections=100)`` so that it is
  measured at its best. Even so it costs milliseconds of CPU per call (httpcore's pool
  rescans every connection for every request event at this concurrency), so this row
  makes ``--httpx-calls`` calls (default: ``calls``, at most 2,000; quick 200) to stay in
  the time budget; its figures and ratios are per call, like every row's.

Every call's answer is checked (status 200 and the requested id), for all rows alike.

The server runs in a separate process (``multiprocessing``, spawn; see
``_common.ServerProcess``), so the client's CPU time, ``time.process_time()`` in this
process, holds only the client's work. On a 2-core machine the server takes about one
core: wall-clock calls/s can be capped by the server, which hides client overhead in the
time ratio; the CPU ratio shows it regardless.

Every strategy's client is opened once and warmed up (a pass of ``warmup`` calls, the
larger of ``4 * concurrency`` and ``calls / 10``: connections, cattrs' generated
structuring code). Each row then makes three timed runs of ``calls`` calls; the median
run is reported. Load from other processes on a shared machine comes and goes within
seconds, so runs are interleaved finely: every run is cut into ``BLOCKS`` (10) blocks
and the rows take turns block by block (block 1 of every row, then block 2...), a run's
figures being the sum of its blocks. Ratios are taken per call against the ``aiohttp``
row: ``time ratio`` = elapsed per call / aiohttp's, ``CPU ratio`` = client CPU seconds
per call / aiohttp's. The goals are on client CPU per call: ``pt.request`` within
1.10x of raw aiohttp, ``pt.videos.get`` (typed) within 1.30x. ``best CPU`` compares
the lowest CPU time of each row's runs, since load from other processes on the machine
only ever adds to a run.

``--profile`` then runs each peertube_async row once more under ``cProfile`` and prints
the hottest functions, with the package's own functions listed by file and line.

Run: ``python benchmarks/overhead.py [--json FILE] [--quick] [--calls N]
[--concurrency C] [--httpx-calls N] [--profile]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import pstats
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from _common import ServerProcess, format_table, median, write_json
from peertube import Client as PeerTubeClient  # type: ignore[import-untyped]
from peertube.api.video import get_video  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from peertube_async import PeerTube  # noqa: E402

VIDEOS = 100
CONNECTIONS = 100
RUNS = 3
BLOCKS = 10
BASELINE = "aiohttp"
STRATEGIES = (
    BASELINE,
    "peertube_async.request",
    "peertube_async.videos.get",
    "peertube (httpx)",
)
OURS = ("peertube_async.request", "peertube_async.videos.get")
#: Goals, client CPU per call against the aiohttp row: the raw pipeline adds almost
#: nothing; a typed call may add decoding into models.
GOALS = {"peertube_async.request": 1.10, "peertube_async.videos.get": 1.30}

Call = Callable[[int], Awaitable[None]]


def video_id(i: int) -> int:
    """The video fetched by call number ``i``."""
    return 1 + i % VIDEOS


def check(vid: int, got: Any) -> None:
    """Fail loudly if an answer is not the requested video."""
    if got != vid:
        raise RuntimeError(f"asked for video {vid}, got {got!r}")


@contextlib.asynccontextmanager
async def aiohttp_client(url: str) -> AsyncIterator[Call]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONNECTIONS)) as session:

        async def call(i: int) -> None:
            vid = video_id(i)
            async with session.get(f"{url}/api/v1/videos/{vid}") as resp:
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}")
                body = await resp.json()
            check(vid, body["id"])

        yield call


@contextlib.asynccontextmanager
async def ours_request(url: str) -> AsyncIterator[Call]:
    async with PeerTube(url, rate_limiting=False, connection_limit=CONNECTIONS) as pt:

        async def call(i: int) -> None:
            vid = video_id(i)
            body = await pt.request("GET", f"/api/v1/videos/{vid}")
            check(vid, body["id"])

        yield call


@contextlib.asynccontextmanager
async def ours_typed(url: str) -> AsyncIterator[Call]:
    async with PeerTube(url, rate_limiting=False, connection_limit=CONNECTIONS) as pt:

        async def call(i: int) -> None:
            vid = video_id(i)
            video = await pt.videos.get(vid)
            check(vid, video.id)

        yield call


@contextlib.asynccontextmanager
async def peertube_httpx(url: str) -> AsyncIterator[Call]:
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    client = PeerTubeClient(base_url=url, timeout=30.0, httpx_args={"limits": limits})
    async with client:

        async def call(i: int) -> None:
            vid = video_id(i)
            resp = await get_video.asyncio_detailed(vid, client=client)
            if resp.status_code != 200 or not isinstance(resp.parsed, dict):
                raise RuntimeError(f"HTTP {resp.status_code}")
            check(vid, resp.parsed["id"])

        yield call


CLIENTS: dict[str, Callable[[str], contextlib.AbstractAsyncContextManager[Call]]] = {
    BASELINE: aiohttp_client,
    "peertube_async.request": ours_request,
    "peertube_async.videos.get": ours_typed,
    "peertube (httpx)": peertube_httpx,
}


async def drive(call: Call, calls: int, concurrency: int) -> None:
    """``calls`` calls by ``concurrency`` workers sharing one iterator of call numbers."""
    numbers: Iterator[int] = iter(range(calls))

    async def worker() -> None:
        for i in numbers:
            await call(i)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


@dataclass(frozen=True)
class Run:
    """One timed run of one strategy."""

    elapsed: float
    cpu: float


async def interleaved_runs(
    url: str, counts: Mapping[str, int], concurrency: int, warmup: int, blocks: int
) -> dict[str, list[Run]]:
    """``RUNS`` runs of every strategy, cut into ``blocks`` blocks taken in turns."""
    runs: dict[str, list[Run]] = {name: [] for name in counts}
    async with contextlib.AsyncExitStack() as stack:
        clients = {name: await stack.enter_async_context(CLIENTS[name](url)) for name in counts}
        for name, call in clients.items():
            await drive(call, min(warmup, counts[name]), concurrency)
        for round_no in range(RUNS):
            spent = {name: [0.0, 0.0] for name in counts}
            for block in range(blocks):
                for name, call in clients.items():
                    size = counts[name] // blocks
                    if block == blocks - 1:
                        size = counts[name] - size * (blocks - 1)
                    cpu0, t0 = time.process_time(), time.perf_counter()
                    await drive(call, size, concurrency)
                    spent[name][0] += time.perf_counter() - t0
                    spent[name][1] += time.process_time() - cpu0
            for name, (elapsed, cpu) in spent.items():
                runs[name].append(Run(elapsed, cpu))
                print(
                    f"  run {round_no + 1}/{RUNS} {name}: {counts[name] / elapsed:,.0f} "
                    f"calls/s, {cpu:.2f} s CPU",
                    file=sys.stderr,
                    flush=True,
                )
    return runs


async def timed_run(
    name: str,
    url: str,
    calls: int,
    concurrency: int,
    warmup: int,
    profiler: cProfile.Profile | None = None,
) -> Run:
    """Open a fresh client, warm it up, then time ``calls`` calls (for profiling)."""
    async with CLIENTS[name](url) as call:
        await drive(call, warmup, concurrency)
        if profiler is not None:
            profiler.enable()
        cpu0, t0 = time.process_time(), time.perf_counter()
        await drive(call, calls, concurrency)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        if profiler is not None:
            profiler.disable()
    return Run(elapsed, cpu)


@dataclass
class Result:
    """The median of a strategy's runs and its ratios to the baseline."""

    strategy: str
    calls: int
    concurrency: int
    elapsed: float
    cpu: float
    calls_per_s: float
    us_per_call: float
    cpu_us_per_call: float
    time_ratio: float = 1.0
    cpu_ratio: float = 1.0
    best_cpu_us_per_call: float = 0.0
    best_cpu_ratio: float = 1.0
    runs: list[dict[str, float]] = field(default_factory=list)


def summarize(name: str, runs: Sequence[Run], calls: int, concurrency: int) -> Result:
    elapsed = median([r.elapsed for r in runs])
    cpu = median([r.cpu for r in runs])
    return Result(
        strategy=name,
        calls=calls,
        concurrency=concurrency,
        elapsed=elapsed,
        cpu=cpu,
        calls_per_s=calls / elapsed,
        us_per_call=elapsed / calls * 1e6,
        cpu_us_per_call=cpu / calls * 1e6,
        best_cpu_us_per_call=min(r.cpu for r in runs) / calls * 1e6,
        runs=[asdict(r) for r in runs],
    )


def _where(filename: str, line: int, func: str) -> str:
    """``path:line function`` with the path shortened to the repository or site-packages."""
    path = Path(filename)
    if path.is_relative_to(ROOT) and ".venv" not in path.parts:
        shown = str(path.relative_to(ROOT))
    elif "site-packages" in path.parts:
        shown = "/".join(path.parts[path.parts.index("site-packages") + 1 :])
    elif filename.startswith(("<", "~")):
        shown = filename
    else:
        shown = "/".join(path.parts[-2:])
    return f"{shown}:{line} {func}"


def profile_ours(url: str, calls: int, concurrency: int, warmup: int, top: int = 15) -> str:
    """cProfile one run of each peertube_async row: the hottest functions of the package
    and overall, in microseconds per API call (``entries`` counts coroutine resumptions
    as separate entries; the profiler inflates small functions)."""
    package = ROOT / "peertube_async"
    headers = ["function", "entries", "self us/call", "cum us/call"]
    parts = []
    for name in OURS:
        profiler = cProfile.Profile()
        asyncio.run(timed_run(name, url, calls, concurrency, warmup, profiler))
        stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
        every: list[tuple[float, float, int, str, bool]] = []
        for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.items():
            ours = Path(filename).is_relative_to(package)
            every.append((tottime, cumtime, ncalls, _where(filename, line, func), ours))
        every.sort(reverse=True)
        total = sum(e[0] for e in every)
        own = sum(e[0] for e in every if e[4])

        def rows(entries: list[tuple[float, float, int, str, bool]]) -> list[list[str]]:
            return [
                [where, f"{n:,}", f"{tt / calls * 1e6:.1f}", f"{ct / calls * 1e6:.1f}"]
                for tt, ct, n, where, _ in entries[:top]
            ]

        parts.append(
            f"{name} under cProfile: {own / calls * 1e6:.1f} of {total / calls * 1e6:.1f} us "
            f"self time per call ({own / total:.0%}) is in peertube_async. Its hottest "
            "functions:\n" + format_table(headers, rows([e for e in every if e[4]]))
        )
        parts.append(f"{name}: hottest functions overall\n" + format_table(headers, rows(every)))
    return "\n\n".join(parts)


def report(results: Sequence[Result], concurrency: int, warmup: int) -> str:
    rows = []
    for r in results:
        goal = ""
        if r.strategy in OURS:
            limit = GOALS[r.strategy]
            goal = f"<= {limit:.2f}x " + ("met" if r.cpu_ratio <= limit else "MISSED")
        rows.append(
            [
                r.strategy,
                f"{r.calls:,}",
                f"{r.calls_per_s:,.0f}",
                f"{r.elapsed:.3f}",
                f"{r.cpu:.3f}",
                f"{r.cpu_us_per_call:.1f}",
                f"{r.time_ratio:.2f}x",
                f"{r.cpu_ratio:.2f}x",
                f"{r.best_cpu_ratio:.2f}x",
                goal,
            ]
        )
    footer = [
        f"GET /api/v1/videos/{{id}} decoded, {concurrency} workers, a warm-up pass of "
        f"{warmup:,} calls, median of {RUNS} runs interleaved in {BLOCKS} blocks each; rate "
        "limiting off on both sides.",
        "Server in a separate process (spawn); CPU = time.process_time() of the client "
        "process only.",
        f"Ratios per call against {BASELINE}; goal: median CPU ratio (request <= "
        f"{GOALS['peertube_async.request']:.2f}x, typed <= "
        f"{GOALS['peertube_async.videos.get']:.2f}x).",
        "best CPU: lowest of the runs against the baseline's lowest, less sensitive to other "
        "load on the machine (noise only adds time).",
    ]
    headers = [
        "strategy",
        "calls",
        "calls/s",
        "elapsed s",
        "CPU s",
        "CPU us/call",
        "time",
        "CPU",
        "best CPU",
        "goal (CPU)",
    ]
    return format_table(headers, rows, footer)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--quick", action="store_true", help="small run for CI smoke tests")
    parser.add_argument("--calls", type=int, help="timed calls per run (20000; quick 2000)")
    parser.add_argument("--concurrency", type=int, default=50, help="workers (50)")
    parser.add_argument(
        "--httpx-calls", type=int, help="timed calls of the peertube (httpx) row (<= 2000)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile the peertube_async rows afterwards"
    )
    args = parser.parse_args(argv)
    if args.calls is None:
        args.calls = 2_000 if args.quick else 20_000
    if args.httpx_calls is None:
        args.httpx_calls = min(args.calls, 200 if args.quick else 2_000)
    if args.calls < 1 or args.concurrency < 1 or args.httpx_calls < 1:
        parser.error("--calls, --httpx-calls and --concurrency must be positive")
    args.warmup = max(args.concurrency * 4, args.calls // 10)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    counts = {name: args.calls for name in STRATEGIES}
    counts["peertube (httpx)"] = args.httpx_calls
    with ServerProcess(videos=VIDEOS, rate_limit=False) as server:
        runs = asyncio.run(
            interleaved_runs(server.url, counts, args.concurrency, args.warmup, BLOCKS)
        )
        profile = (
            profile_ours(server.url, args.calls, args.concurrency, args.warmup)
            if args.profile
            else ""
        )
    results = [summarize(n, runs[n], counts[n], args.concurrency) for n in STRATEGIES]
    base = results[0]
    for r in results:
        r.time_ratio = r.us_per_call / base.us_per_call
        r.cpu_ratio = r.cpu_us_per_call / base.cpu_us_per_call
        r.best_cpu_ratio = r.best_cpu_us_per_call / base.best_cpu_us_per_call
    print(report(results, args.concurrency, args.warmup))
    if profile:
        print()
        print(profile)
    if args.json:
        write_json(args.json, [asdict(r) for r in results])
    return 0


if __name__ == "__main__":
    sys.exit(main())
