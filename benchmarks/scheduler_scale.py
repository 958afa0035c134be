"""Cost of the rate-limit scheduler per waiting call, from ten waiters to a hundred thousand.

What is measured
----------------
:class:`peertube_async._scheduler.Scheduler` alone, on a fake clock (no network, nothing
sleeps): one ``api`` bucket of ``limit`` calls per ``window`` (50 per 10 s, PeerTube's
default) and ``n`` calls queued on it, for ``n`` = 10, 1,000 and 100,000 (``--quick``: 10,
1,000 and 10,000).

One round: the current window is first filled (``limit`` calls acquired and completed
with ``X-RateLimit-*`` headers, so the bucket knows its limit and holds no room), then
``n`` tasks call ``await sched.acquire(origin, ("api",))`` and all wait. Then, window
after window, the fake clock jumps to the scheduler's one armed timer and fires it: the
scheduler grants the next ``limit`` waiters, the granted tasks resume, and each ticket is
completed (``sched.complete(ticket, 200, headers)``) as if its answer had come back. The
round checks that every call is granted, in FIFO order, at most ``limit`` per window.

Per call, in microseconds (``time.perf_counter`` around each phase, garbage collection
paused while timing):

* ``enqueue``: creating the task and running it up to its wait (``asyncio`` task
  creation included);
* ``grant``: the timer callback, i.e. the scheduler's dispatch resolving the waiters'
  futures;
* ``wake``: the granted tasks resuming and returning their tickets (``asyncio``'s part);
* ``complete``: ``Scheduler.complete`` with the answer's headers, which re-runs dispatch;
* ``total``: their sum, the admission cost of one call.

Memory per waiting call (``tracemalloc``, in a separate untimed pass): bytes allocated
while ``n`` calls sit in the queue, divided by ``n``. This includes the waiting task and
its coroutine frames; ``bare task`` is the same figure for tasks that only await a
future of their own, so ``total - bare task`` is what the scheduler adds per waiter.

Small sizes are repeated (``reps``) so that every size times at least about 20,000 calls
(``--quick``: 5,000); per-call figures are medians over repetitions. Ratios are to the
10-waiter row: flat (about 1.0) is the goal.

Run: ``python benchmarks/scheduler_scale.py [--json FILE] [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from _common import format_table, median, write_json

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from peertube_async import RateLimit  # noqa: E402
from peertube_async._ratelimit import RateLimitHeaders  # noqa: E402
from peertube_async._scheduler import Scheduler, Ticket  # noqa: E402

ORIGIN = "http://127.0.0.1:9000"
API = ("api",)
LIMIT = 50
WINDOW = 10.0
SIZES = (10, 1_000, 100_000)
QUICK_SIZES = (10, 1_000, 10_000)


class FakeTimer:
    """A timer handle of :class:`FakeClock`."""

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A clock that moves only when told to, with timers fired by hand."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[FakeTimer] = []

    def clock(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(when, callback)
        self.timers.append(timer)
        return timer

    def next_due(self) -> float | None:
        """When the earliest live timer fires, if any."""
        live = [t.when for t in self.timers if not t.cancelled]
        return min(live) if live else None

    def fire_due(self) -> int:
        """Run every live timer due at ``now``; how many ran."""
        due = [t for t in self.timers if not t.cancelled and t.when <= self.now]
        self.timers = [t for t in self.timers if not t.cancelled and t.when > self.now]
        for timer in sorted(due, key=lambda t: t.when):
            timer.callback()
        return len(due)


@dataclass
class Phases:
    """Seconds spent in each phase of one round."""

    enqueue: float = 0.0
    grant: float = 0.0
    wake: float = 0.0
    complete: float = 0.0

    @property
    def total(self) -> float:
        return self.enqueue + self.grant + self.wake + self.complete


def window_headers(limit: int) -> list[RateLimitHeaders]:
    """The headers of the i-th answer of a window (``remaining`` counting down)."""
    return [RateLimitHeaders(limit=limit, remaining=limit - i - 1) for i in range(limit)]


async def filled_scheduler(
    limit: int, window: float, headers: Sequence[RateLimitHeaders]
) -> tuple[Scheduler, FakeClock]:
    """A scheduler whose current window is used up, on a fake clock."""
    clock = FakeClock()
    sched = Scheduler({"api": RateLimit(limit, window)}, clock=clock.clock, call_at=clock.call_at)
    for i in range(limit):
        ticket = await sched.acquire(ORIGIN, API)
        sched.complete(ticket, 200, headers[i])
    return sched, clock


async def one_round(n: int, limit: int, window: float) -> Phases:
    """Queue ``n`` calls on a full bucket and admit them all; the time of each phase."""
    headers = window_headers(limit)
    sched, clock = await filled_scheduler(limit, window, headers)
    loop = asyncio.get_running_loop()
    phases = Phases()
    perf = time.perf_counter

    t0 = perf()
    tasks = [loop.create_task(sched.acquire(ORIGIN, API)) for _ in range(n)]
    await asyncio.sleep(0)
    phases.enqueue = perf() - t0
    if sched.snapshot([ORIGIN])["api"].waiting != n:
        raise RuntimeError("the calls did not all wait: the window was not full")

    done = 0
    while done < n:
        due = clock.next_due()
        if due is None:
            raise RuntimeError(f"scheduler stalled: {n - done} calls wait and no timer is armed")
        clock.now = max(clock.now, due)
        t0 = perf()
        clock.fire_due()
        t1 = perf()
        await asyncio.sleep(0)
        t2 = perf()
        granted = 0
        while done + granted < n and tasks[done + granted].done():
            granted += 1
        if granted > limit:
            raise RuntimeError(f"{granted} calls granted in one window of {limit}")
        if any(t.done() for t in tasks[done + granted : done + granted + limit]):
            raise RuntimeError("calls were granted out of FIFO order")
        tickets: list[Ticket] = [t.result() for t in tasks[done : done + granted]]
        t3 = perf()
        for i, ticket in enumerate(tickets):
            sched.complete(ticket, 200, headers[i])
        t4 = perf()
        phases.grant += t1 - t0
        phases.wake += t2 - t1
        phases.complete += t4 - t3
        done += granted
    return phases


async def waiting_bytes(n: int, limit: int, window: float) -> tuple[float, float]:
    """Traced bytes per waiting call: queued on the scheduler, and as a bare task."""
    loop = asyncio.get_running_loop()
    headers = window_headers(limit)
    sched, _ = await filled_scheduler(limit, window, headers)

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tasks = [loop.create_task(sched.acquire(ORIGIN, API)) for _ in range(n)]
    await asyncio.sleep(0)
    queued = (tracemalloc.get_traced_memory()[0] - before) / n
    tracemalloc.stop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    del tasks

    async def bare(fut: asyncio.Future[None]) -> None:
        await fut

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    futures = [loop.create_future() for _ in range(n)]
    bare_tasks = [loop.create_task(bare(f)) for f in futures]
    await asyncio.sleep(0)
    plain = (tracemalloc.get_traced_memory()[0] - before) / n
    tracemalloc.stop()
    for fut in futures:
        fut.set_result(None)
    await asyncio.gather(*bare_tasks)
    return queued, plain


@dataclass
class Result:
    """Per-call costs at one queue size."""

    waiters: int
    reps: int
    enqueue_us: float
    grant_us: float
    wake_us: float
    complete_us: float
    total_us: float
    bytes_per_waiter: float
    bare_task_bytes: float
    scheduler_bytes: float
    total_ratio: float = 1.0
    bytes_ratio: float = 1.0
    limit: int = LIMIT
    window: float = WINDOW
    rounds_total_us: list[float] = field(default_factory=list)


async def measure(n: int, reps: int, limit: int, window: float) -> Result:
    rounds: list[Phases] = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(reps):
            rounds.append(await one_round(n, limit, window))
    finally:
        gc.enable()
    gc.collect()
    queued, plain = await waiting_bytes(n, limit, window)

    def per_call(values: list[float]) -> float:
        return median(values) / n * 1e6

    return Result(
        waiters=n,
        reps=reps,
        enqueue_us=per_call([p.enqueue for p in rounds]),
        grant_us=per_call([p.grant for p in rounds]),
        wake_us=per_call([p.wake for p in rounds]),
        complete_us=per_call([p.complete for p in rounds]),
        total_us=per_call([p.total for p in rounds]),
        bytes_per_waiter=queued,
        bare_task_bytes=plain,
        scheduler_bytes=queued - plain,
        limit=limit,
        window=window,
        rounds_total_us=[p.total / n * 1e6 for p in rounds],
    )


def report(results: Sequence[Result], min_calls: int) -> str:
    rows = [
        [
            f"{r.waiters:,}",
            r.reps,
            f"{r.enqueue_us:.2f}",
            f"{r.grant_us:.2f}",
            f"{r.wake_us:.2f}",
            f"{r.complete_us:.2f}",
            f"{r.total_us:.2f}",
            f"{r.total_ratio:.2f}x",
            f"{r.bytes_per_waiter:,.0f}",
            f"{r.bare_task_bytes:,.0f}",
            f"{r.scheduler_bytes:,.0f}",
            f"{r.bytes_ratio:.2f}x",
        ]
        for r in results
    ]
    footer = [
        f"One api bucket of {LIMIT} per {WINDOW:g} s on a fake clock; n calls queued on a full "
        "window, then admitted window after window (timer fired by hand).",
        "us per call, median over reps (each size times >= "
        f"{min_calls:,} calls); GC paused while timing. enqueue includes asyncio task creation, "
        "wake is asyncio resuming the granted tasks.",
        "bytes: tracemalloc while n calls wait (task and frames included); bare task: a task "
        "awaiting its own future; sched = bytes - bare task.",
        "Ratios to the 10-waiter row: flat (about 1.0x) is the goal.",
    ]
    headers = [
        "waiters",
        "reps",
        "enqueue us",
        "grant us",
        "wake us",
        "complete us",
        "total us",
        "ratio",
        "bytes",
        "bare task",
        "sched",
        "ratio",
    ]
    return format_table(headers, rows, footer)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--quick", action="store_true", help="small run for CI smoke tests")
    return parser.parse_args(argv)


async def run(sizes: Sequence[int], min_calls: int) -> list[Result]:
    results = []
    for n in sizes:
        reps = max(3, math.ceil(min_calls / n))
        result = await measure(n, reps, LIMIT, WINDOW)
        results.append(result)
        print(
            f"  {n:,} waiters: {result.total_us:.2f} us/call, "
            f"{result.bytes_per_waiter:,.0f} bytes/waiter",
            file=sys.stderr,
            flush=True,
        )
    base = results[0]
    for r in results:
        r.total_ratio = r.total_us / base.total_us
        r.bytes_ratio = r.bytes_per_waiter / base.bytes_per_waiter
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    min_calls = 5_000 if args.quick else 20_000
    results = asyncio.run(run(sizes, min_calls))
    print(report(results, min_calls))
    if args.json:
        write_json(args.json, [asdict(r) for r in results])
    return 0


if __name__ == "__main__":
    sys.exit(main())
