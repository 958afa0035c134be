"""The asyncio scheduler on a fake clock with hand-fired timers (nothing sleeps)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

import attrs
import pytest

from peertube_async import RateLimit, RateLimited
from peertube_async._ratelimit import RateLimitHeaders
from peertube_async._scheduler import Priority, Scheduler, Ticket

from .sim import server_headers

ORIGIN = "http://127.0.0.1:9000"
EPOCH = 1_795_712_990.0


@attrs.define
class FakeTime:
    now: float = 0.0
    timers: list[tuple[float, Callable[[], None]]] = attrs.Factory(list)
    armed: int = 0

    def clock(self) -> float:
        return self.now

    def call_at(self, when: float, cb: Callable[[], None]) -> FakeTime.Handle:
        self.armed += 1
        entry = (when, cb)
        self.timers.append(entry)
        return FakeTime.Handle(self, entry)

    @attrs.define
    class Handle:
        owner: FakeTime
        entry: tuple[float, Callable[[], None]]

        def cancel(self) -> None:
            if self.entry in self.owner.timers:
                self.owner.timers.remove(self.entry)

    async def advance(self, to: float) -> None:
        self.now = to
        for entry in sorted(self.timers, key=lambda e: e[0]):
            if entry[0] <= to and entry in self.timers:
                self.timers.remove(entry)
                entry[1]()
        for _ in range(5):
            await asyncio.sleep(0)


def make(limit: int = 3, window: float = 10.0, **kw: object) -> tuple[Scheduler, FakeTime]:
    t = FakeTime()
    sched = Scheduler(
        {"api": RateLimit(limit, window)},
        clock=t.clock,
        call_at=t.call_at,
        **kw,  # type: ignore[arg-type]
    )
    return sched, t


def ok(sched: Scheduler, ticket: Ticket, t: FakeTime, remaining: int, end: float) -> None:
    limit = ticket.buckets[0].limit
    hdr = server_headers(limit, remaining, EPOCH + end, EPOCH + t.now, False)
    sched.complete(ticket, 200, RateLimitHeaders.parse(hdr))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_grants_in_fifo_order_and_waits_for_the_window() -> None:
    sched, t = make(limit=3)
    first = await sched.acquire(ORIGIN, ("api",))
    ok(sched, first, t, remaining=2, end=10.0)
    order: list[int] = []

    async def call(i: int) -> Ticket:
        ticket = await sched.acquire(ORIGIN, ("api",))
        order.append(i)
        return ticket

    tasks = [asyncio.ensure_future(call(i)) for i in range(5)]
    await settle()
    assert order == [0, 1]  # the window holds three; one was the first call
    assert sched.snapshot([ORIGIN])["api"].waiting == 3
    # One timer armed for the window's end, not one per waiter.
    assert len(t.timers) == 1
    for task in tasks[:2]:
        sched.complete(task.result(), 200, None)
    await t.advance(t.timers[0][0])
    assert order == [0, 1, 2, 3, 4]


async def test_calls_in_flight_at_the_window_end_count_in_the_next() -> None:
    sched, t = make(limit=3)
    first = await sched.acquire(ORIGIN, ("api",))
    ok(sched, first, t, remaining=2, end=10.0)
    slow = [await sched.acquire(ORIGIN, ("api",)) for _ in range(2)]
    waiting = [asyncio.ensure_future(sched.acquire(ORIGIN, ("api",))) for _ in range(3)]
    await settle()
    await t.advance(t.timers[0][0])
    # The two slow calls may land in the new window: only one place is left in it.
    assert [w.done() for w in waiting] == [True, False, False]
    for ticket in slow:
        sched.complete(ticket, 200, None)
    await settle()
    assert [w.done() for w in waiting] == [True, False, False]
    for w in waiting:
        w.cancel()
    await settle()


async def test_interactive_priority_goes_ahead_of_bulk() -> None:
    sched, t = make(limit=1)
    ticket = await sched.acquire(ORIGIN, ("api",))
    ok(sched, ticket, t, remaining=0, end=10.0)
    order: list[str] = []

    async def call(name: str, prio: int) -> None:
        await sched.acquire(ORIGIN, ("api",), priority=prio)
        order.append(name)

    bulk = [asyncio.ensure_future(call(f"bulk{i}", Priority.BULK)) for i in range(3)]
    await settle()
    urgent = asyncio.ensure_future(call("urgent", Priority.INTERACTIVE))
    await settle()
    await t.advance(t.timers[0][0])
    assert order == ["urgent"]
    for task in [*bulk, urgent]:
        task.cancel()
    await settle()


async def test_cancelled_waiter_releases_its_place() -> None:
    sched, t = make(limit=2)
    first = await sched.acquire(ORIGIN, ("api",))
    ok(sched, first, t, remaining=1, end=10.0)
    second = await sched.acquire(ORIGIN, ("api",))
    waiter = asyncio.ensure_future(sched.acquire(ORIGIN, ("api",)))
    await settle()
    assert not waiter.done()
    waiter.cancel()
    await settle()
    assert sched.snapshot([ORIGIN])["api"].waiting == 0 or waiter.cancelled()
    # The place the cancelled waiter would have had is still free for the next one.
    sched.complete(second, 200, None)
    await t.advance(t.timers[0][0] if t.timers else 10.1)
    late = await asyncio.wait_for(sched.acquire(ORIGIN, ("api",)), 1)
    assert late.reservations


async def test_ticket_granted_to_a_cancelled_caller_is_given_back() -> None:
    sched, t = make(limit=1)
    first = await sched.acquire(ORIGIN, ("api",))
    ok(sched, first, t, remaining=0, end=10.0)
    waiter = asyncio.ensure_future(sched.acquire(ORIGIN, ("api",)))
    await settle()
    # The grant and the cancellation land in the same loop iteration.
    t.now = t.timers[0][0]
    t.timers.pop()[1]()
    waiter.cancel()
    await settle()
    assert waiter.cancelled()
    assert sched.snapshot([ORIGIN])["api"].remaining == 1


async def test_max_wait_raises_before_anything_is_sent() -> None:
    sched, t = make(limit=1)
    first = await sched.acquire(ORIGIN, ("api",))
    ok(sched, first, t, remaining=0, end=10.0)
    with pytest.raises(RateLimited) as info:
        await sched.acquire(ORIGIN, ("api",), max_wait=2.0)
    assert info.value.sent is False
    assert info.value.bucket == "api"
    assert info.value.retry_after is not None and info.value.retry_after > 2.0


async def test_token_route_spends_api_and_login() -> None:
    t = FakeTime()
    sched = Scheduler(
        {"api": RateLimit(50, 10.0), "login": RateLimit(1, 300.0)},
        clock=t.clock,
        call_at=t.call_at,
    )
    ticket = await sched.acquire(ORIGIN, ("api", "login"))
    assert [b.name for b in ticket.buckets] == ["api", "login"]
    hdr = server_headers(1, 0, EPOCH + 300, EPOCH, False)
    sched.complete(ticket, 200, RateLimitHeaders.parse(hdr))
    snap = sched.snapshot([ORIGIN])
    # The headers described login; api kept its own count.
    assert snap["login"].remaining == 0
    assert snap["api"].remaining == 49
    # A login waits, plain API calls still go.
    login = asyncio.ensure_future(sched.acquire(ORIGIN, ("api", "login")))
    await settle()
    assert not login.done()
    api = await asyncio.wait_for(sched.acquire(ORIGIN, ("api",)), 1)
    assert api.reservations
    login.cancel()
    await settle()


async def test_429_from_the_api_limiter_on_the_token_route_frees_login() -> None:
    t = FakeTime()
    sched = Scheduler(
        {"api": RateLimit(50, 10.0), "login": RateLimit(15, 300.0)},
        clock=t.clock,
        call_at=t.call_at,
    )
    ticket = await sched.acquire(ORIGIN, ("api", "login"))
    hdr = server_headers(50, 0, EPOCH + 9, EPOCH, True)
    sched.complete(ticket, 429, RateLimitHeaders.parse(hdr))
    snap = sched.snapshot([ORIGIN])
    assert snap["login"].remaining == 15  # login never counted it
    assert snap["api"].remaining == 0


async def test_disabled_scheduler_grants_everything() -> None:
    sched, _ = make(limit=1, enabled=False)
    tickets = [await sched.acquire(ORIGIN, ("api",)) for _ in range(10)]
    assert all(not tk.reservations for tk in tickets)


async def test_cost_does_not_grow_with_waiters() -> None:
    # Each dispatch looks only at queue heads: 10,000 waiters, a handful of timer arms.
    sched, t = make(limit=5)
    first = await sched.acquire(ORIGIN, ("api",))
    ok(sched, first, t, remaining=4, end=10.0)
    tasks = [asyncio.ensure_future(sched.acquire(ORIGIN, ("api",))) for _ in range(10_000)]
    await settle()
    granted = sum(1 for task in tasks if task.done())
    assert granted == 4
    assert t.armed <= 2
    assert sched.snapshot([ORIGIN])["api"].waiting == 10_000 - 4
    for task in tasks:
        task.cancel()
    await settle()
    assert math.isfinite(t.timers[0][0]) if t.timers else True


async def test_an_answer_is_dated_by_its_arrival_not_by_a_busy_loop() -> None:
    """A window's end is bounded by when its first answer came in: an answer handled
    0.3 s later (a loop busy decoding, a body still arriving) must not push the next
    window 0.3 s later too."""
    sched, t = make(limit=2, window=1.0)
    first = await sched.acquire(ORIGIN, ("api",))
    t.now = 0.01
    sched.complete(first, 200, None)  # first contact: the window ends by 1.01
    second = await sched.acquire(ORIGIN, ("api",))
    t.now = 0.02
    sched.complete(second, 200, None)
    await t.advance(1.02)  # the first window is surely over: a new one may open
    opening = await sched.acquire(ORIGIN, ("api",))
    filling = await sched.acquire(ORIGIN, ("api",))
    # The opening request's answer came in at 1.03; the loop handles it at 1.33.
    t.now = 1.33
    sched.complete(opening, 200, None, at=1.03)
    sched.complete(filling, 200, None, at=1.031)
    ready = sched.bucket(ORIGIN, "api").ready_at(t.now)
    assert ready is not None
    # The window opened by 1.03 at the latest, so it ends by 2.03, not by 2.33.
    assert ready <= 2.03 + 0.002
