"""The asyncio layer over :mod:`peertube_async._ratelimit`: who waits, who goes next.

Every call names the limiter classes it spends (``("api",)``, ``("api", "login")``).
Waiting calls queue per (origin, classes) in FIFO order within a priority; the heads of
those few queues are the only ones ever looked at, so a grant costs the same with ten
waiters or a hundred thousand. One timer per scheduler, armed for the earliest moment a
blocked head could go, replaces any polling; answers to requests in flight re-run the
dispatch too, since they move window ends and counts.

A cancelled waiter is dropped lazily when it reaches the head; a reservation granted to a
caller that is cancelled before sending is given back.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from ._errors import RateLimited
from ._ratelimit import (
    DEFAULT_LIMITS,
    Bucket,
    BucketSnapshot,
    Pacing,
    RateLimit,
    RateLimitHeaders,
    Reservation,
)
from ._shared import RedisLimitStore, SharedGrant

__all__ = ["Priority", "Scheduler", "Ticket"]

logger = logging.getLogger("peertube_async.scheduler")

Clock = Callable[[], float]
#: ``call_at(when, callback)`` returning a handle with ``cancel()``.
CallAt = Callable[[float, Callable[[], None]], Any]


class Priority(enum.IntEnum):
    """Lower values go first; any ``int`` works."""

    INTERACTIVE = 0
    NORMAL = 10
    BULK = 20


@attrs.define(eq=False)
class Ticket:
    """The reservations one request holds, one per limiter class it spends."""

    origin: str
    names: tuple[str, ...]
    reservations: tuple[Reservation, ...]
    buckets: tuple[Bucket, ...]
    #: Places held in a shared store instead (see ``_shared``).
    shared: SharedGrant | None = None

    @property
    def holds(self) -> bool:
        """Whether the ticket holds places that the answer must be reported to."""
        return bool(self.reservations) or self.shared is not None


@attrs.define(eq=False)
class _Waiter:
    future: asyncio.Future[Ticket]
    priority: int
    seq: int


class _Queue:
    """Waiters for one (origin, classes) pair, FIFO within each priority."""

    def __init__(self, origin: str, names: tuple[str, ...], buckets: tuple[Bucket, ...]) -> None:
        self.origin = origin
        self.names = names
        self.buckets = buckets
        self.levels: dict[int, deque[_Waiter]] = {}
        self.size = 0

    def push(self, waiter: _Waiter) -> None:
        level = self.levels.get(waiter.priority)
        if level is None:
            level = self.levels[waiter.priority] = deque()
            self.levels = dict(sorted(self.levels.items()))
        level.append(waiter)
        self.size += 1

    def head(self) -> _Waiter | None:
        for prio, level in list(self.levels.items()):
            while level and level[0].future.done():
                level.popleft()
                self.size -= 1
            if level:
                return level[0]
            del self.levels[prio]
        return None

    def pop(self) -> None:
        for level in self.levels.values():
            if level:
                level.popleft()
                self.size -= 1
                return

    def ahead_of(self, priority: int) -> int:
        return sum(len(q) for p, q in self.levels.items() if p <= priority)


class Scheduler:
    """Rate-aware admission of requests for any number of instance origins."""

    def __init__(
        self,
        limits: Mapping[str, RateLimit] | None = None,
        *,
        pacing: Pacing = "burst",
        enabled: bool = True,
        clock: Clock | None = None,
        call_at: CallAt | None = None,
        store: RedisLimitStore | None = None,
    ) -> None:
        merged = dict(DEFAULT_LIMITS)
        if limits:
            merged.update(limits)
        self.limits = merged
        #: Limiter classes whose limits the user gave (trusted until the headers
        #: contradict them); the others start from PeerTube's defaults and are learned.
        self.told = frozenset(limits or ())
        self.pacing: Pacing = pacing
        self.enabled = enabled
        self._clock = clock
        self._call_at = call_at
        self._buckets: dict[tuple[str, str], Bucket] = {}
        self._queues: dict[tuple[str, tuple[str, ...]], _Queue] = {}
        self._seq = itertools.count()
        self._timer: Any = None
        self._timer_at = math.inf
        self._waiting = 0
        #: Shared buckets (several processes); None keeps every bucket in this process.
        self.store = store
        self._pumps: dict[_Queue, asyncio.Task[None]] = {}
        self._nudges: dict[str, asyncio.Event] = {}
        self._reports: set[asyncio.Task[None]] = set()

    # -- clock and timer ------------------------------------------------------------

    @property
    def on_loop_clock(self) -> bool:
        """Whether :meth:`now` is the event loop's clock (no clock was injected)."""
        return self._clock is None

    def now(self) -> float:
        """The scheduler's monotonic clock."""
        if self._clock is not None:
            return self._clock()
        return asyncio.get_running_loop().time()

    def _arm(self, when: float) -> None:
        if when >= self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        if self._call_at is not None:
            self._timer = self._call_at(when, self._on_timer)
        else:
            self._timer = asyncio.get_running_loop().call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = math.inf
        self.dispatch()

    # -- buckets --------------------------------------------------------------------

    def bucket(self, origin: str, name: str) -> Bucket:
        """The bucket of ``name`` at ``origin``, created from the seeded limits."""
        key = (origin, name)
        found = self._buckets.get(key)
        if found is None:
            spec = self.limits.get(name) or self.limits["api"]
            found = self._buckets[key] = Bucket(
                name, spec, pacing=self.pacing, told=name in self.told
            )
        return found

    def _queue(self, origin: str, names: tuple[str, ...]) -> _Queue:
        key = (origin, names)
        queue = self._queues.get(key)
        if queue is None:
            buckets = tuple(self.bucket(origin, n) for n in names)
            queue = self._queues[key] = _Queue(origin, names, buckets)
        return queue

    # -- admission ------------------------------------------------------------------

    async def acquire(
        self,
        origin: str,
        names: tuple[str, ...],
        *,
        priority: int = Priority.NORMAL,
        max_wait: float | None = None,
        bypass: bool = False,
    ) -> Ticket:
        """Wait for a place in every bucket of ``names`` and reserve it.

        Raises :class:`RateLimited` (nothing sent) when the wait would exceed
        ``max_wait`` seconds. ``bypass`` grants at once without reserving (callers the
        server exempts from its limits).
        """
        if not self.enabled or not names or bypass:
            return Ticket(origin, names, (), ())
        queue = self._queue(origin, names)
        if self.store is not None:
            return await self._wait(queue, int(priority), max_wait)
        now = self.now()
        if self._waiting == 0 and all(b.can_acquire(now) for b in queue.buckets):
            return self._grant(queue, now)
        if max_wait is not None:
            ahead = queue.ahead_of(priority)
            estimate = max(b.estimate_wait(now, ahead) for b in queue.buckets)
            if estimate > max_wait:
                raise self._too_long(queue, estimate, max_wait)
        return await self._wait(queue, int(priority), max_wait)

    async def _wait(self, queue: _Queue, priority: int, max_wait: float | None) -> Ticket:
        """Queue a waiter and wait for its grant, from local buckets or the shared store."""
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop.create_future(), priority, next(self._seq))
        queue.push(waiter)
        self._waiting += 1
        try:
            if self.store is None:
                self.dispatch()
            elif queue not in self._pumps:
                self._pumps[queue] = loop.create_task(self._pump(queue))
            if max_wait is None:
                return await waiter.future
            return await asyncio.wait_for(asyncio.shield(waiter.future), max_wait)
        except BaseException as exc:
            fut = waiter.future
            if fut.done() and not fut.cancelled():
                # Granted at the moment the caller went away: give the places back.
                self.release(fut.result())
            else:
                fut.cancel()
            if isinstance(exc, asyncio.TimeoutError):
                raise self._too_long(queue, max_wait or 0.0, max_wait or 0.0) from None
            raise
        finally:
            self._waiting -= 1

    # -- shared store ---------------------------------------------------------------

    async def _pump(self, queue: _Queue) -> None:
        """Serve one queue's waiters, in order, from the shared store."""
        assert self.store is not None
        specs = tuple(self.limits.get(n) or self.limits["api"] for n in queue.names)
        try:
            while queue.head() is not None:
                try:
                    result = await self.store.reserve(queue.origin, queue.names, specs)
                except Exception as exc:
                    # Not an outage the store can ride out (e.g. Redis out of memory):
                    # every waiter of the queue gets the error rather than hanging.
                    while (head := queue.head()) is not None:
                        queue.pop()
                        head.future.set_exception(exc)
                    return
                head = queue.head()
                if not isinstance(result, float):
                    ticket = Ticket(queue.origin, queue.names, (), (), shared=result)
                    if head is None:
                        self.release(ticket)
                        return
                    queue.pop()
                    head.future.set_result(ticket)
                    continue
                nudge = self._nudges.setdefault(queue.origin, asyncio.Event())
                nudge.clear()
                # Wake at the store's time, or earlier when an answer moved the window.
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(nudge.wait(), max(0.001, result))
        finally:
            self._pumps.pop(queue, None)

    def _report(
        self,
        ticket: Ticket,
        status: int | None,
        headers: RateLimitHeaders | None,
        described: int,
        *,
        released: bool = False,
    ) -> None:
        assert self.store is not None and ticket.shared is not None
        task = asyncio.get_running_loop().create_task(
            self.store.complete(ticket.shared, status, headers, described, released=released)
        )
        self._reports.add(task)
        task.add_done_callback(self._reported)
        nudge = self._nudges.get(ticket.origin)
        if nudge is not None:
            task.add_done_callback(lambda _: nudge.set())

    def _reported(self, task: asyncio.Task[None]) -> None:
        self._reports.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("reporting an answer to the shared store failed: %r", task.exception())

    async def aclose(self) -> None:
        """Wait for answers still being reported to the shared store; stop the pumps."""
        if self._reports:
            await asyncio.gather(*self._reports, return_exceptions=True)
        for task in list(self._pumps.values()):
            task.cancel()
        if self._pumps:
            await asyncio.gather(*self._pumps.values(), return_exceptions=True)

    def _too_long(self, queue: _Queue, estimate: float, max_wait: float) -> RateLimited:
        name = queue.names[-1]
        return RateLimited(
            f"{name} budget of {queue.origin} is spent: about {estimate:.1f} s to wait, "
            f"more than max_wait={max_wait:g} s",
            retry_after=estimate,
            bucket=name,
            limit=self.bucket(queue.origin, name).limit,
            sent=False,
        )

    def _grant(self, queue: _Queue, now: float) -> Ticket:
        reservations = tuple(b.acquire(now) for b in queue.buckets)
        return Ticket(queue.origin, queue.names, reservations, queue.buckets)

    def dispatch(self) -> None:
        """Grant every head that can go now; arm the timer for the rest."""
        if not self._queues:
            return
        now = self.now()
        wake = math.inf
        while True:
            heads: list[tuple[int, int, _Queue, _Waiter]] = []
            for queue in self._queues.values():
                if queue.size:
                    head = queue.head()
                    if head is not None:
                        heads.append((head.priority, head.seq, queue, head))
            if not heads:
                break
            heads.sort(key=lambda h: (h[0], h[1]))
            granted = False
            wake = math.inf
            for _, _, queue, head in heads:
                ready = [b.ready_at(now) for b in queue.buckets]
                if all(r is not None and r <= now for r in ready):
                    queue.pop()
                    head.future.set_result(self._grant(queue, now))
                    granted = True
                    break
                known = [r for r in ready if r is not None and r > now]
                if known and None not in ready:
                    wake = min(wake, max(known))
            if not granted:
                break
        if math.isfinite(wake):
            self._arm(wake)

    # -- outcomes -------------------------------------------------------------------

    def release(self, ticket: Ticket) -> None:
        """The request was not sent: give every place back."""
        if ticket.shared is not None:
            self._report(ticket, None, None, 0, released=True)
            return
        for bucket, res in zip(ticket.buckets, ticket.reservations, strict=True):
            bucket.release(res)
        if ticket.reservations:
            self.dispatch()

    def complete(
        self,
        ticket: Ticket,
        status: int | None,
        headers: RateLimitHeaders | None,
        *,
        at: float | None = None,
    ) -> None:
        """Record the answer (``status`` None: no answer) and correct the buckets.

        ``at``: when the answer came in (the transport's clock reading when its headers
        were read), if earlier than now: a loop busy with other work, or a body still
        being read, must not make the window look as if it had opened later.

        The headers describe the last limiter that ran on the server: the most specific
        class of the route, or, on a 429 whose ``X-RateLimit-Limit`` names the first
        class's budget, the first one (the later limiters then never counted it).
        """
        if not ticket.holds:
            return
        limits = (
            [b.limit for b in ticket.buckets]
            if ticket.reservations
            else [(self.limits.get(n) or self.limits["api"]).limit for n in ticket.names]
        )
        described = len(limits) - 1
        if (
            status == 429
            and headers is not None
            and len(limits) > 1
            and headers.limit is not None
            and headers.limit == limits[0]
            and headers.limit != limits[-1]
        ):
            described = 0
        if ticket.shared is not None:
            self._report(ticket, status, headers, described)
            return
        now = self.now()
        if at is not None:
            now = min(now, at)
        buckets = ticket.buckets
        for i, (bucket, res) in enumerate(zip(buckets, ticket.reservations, strict=True)):
            if status == 429 and i > described:
                bucket.release(res)
            elif status is None:
                bucket.failed(res, now)
            else:
                bucket.observe(res, now, headers if i == described else None, status)
        self.dispatch()

    # -- introspection --------------------------------------------------------------

    def snapshot(self, origins: Iterable[str] | None = None) -> dict[str, BucketSnapshot]:
        """A snapshot per bucket, keyed ``name`` (or ``origin name`` for other origins)."""
        now = self.now()
        wanted = set(origins) if origins is not None else None
        waiting: dict[tuple[str, str], int] = {}
        for (origin, names), queue in self._queues.items():
            for name in names:
                key = (origin, name)
                waiting[key] = waiting.get(key, 0) + queue.size
        out: dict[str, BucketSnapshot] = {}
        for (origin, name), bucket in sorted(self._buckets.items()):
            if wanted is not None and origin not in wanted:
                continue
            label = name if wanted is not None and len(wanted) == 1 else f"{origin} {name}"
            out[label] = bucket.snapshot(now, waiting.get((origin, name), 0))
        return out
