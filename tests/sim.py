"""A discrete-event simulation of a client bucket against PeerTube's limiter.

The server side follows express-rate-limit's memory store as PeerTube uses it: a window
per client that opens at the first request arriving after the previous one closed,
every arrival counted (rejected ones too), headers rounded to whole seconds. Time is
simulated: nothing sleeps.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from email.utils import formatdate

import attrs
from multidict import CIMultiDict

from peertube_async._ratelimit import Bucket, RateLimit, RateLimitHeaders, Reservation


@attrs.define
class ServerWindow:
    """The server's fixed window for one client."""

    limit: int
    window: float
    start: float = -math.inf
    count: int = 0
    #: Counts per window, for checking; keyed by the window's opening time.
    history: dict[float, int] = attrs.Factory(dict)

    def hit(self, t: float) -> tuple[int, int, float, bool]:
        """Count an arrival at server time ``t``; (limit, remaining, end, exceeded)."""
        if t >= self.start + self.window:
            self.start = t
            self.count = 0
        self.count += 1
        self.history[self.start] = self.count
        return (
            self.limit,
            max(0, self.limit - self.count),
            self.start + self.window,
            (self.count > self.limit),
        )


def server_headers(
    limit: int, remaining: int, end: float, now: float, exceeded: bool, *, with_date: bool = True
) -> CIMultiDict[str]:
    """Headers in the real server's format (epoch seconds, reset rounded up)."""
    h: CIMultiDict[str] = CIMultiDict()
    h["X-RateLimit-Limit"] = str(limit)
    h["X-RateLimit-Remaining"] = str(remaining)
    if with_date:
        h["Date"] = formatdate(now, usegmt=True)
    h["X-RateLimit-Reset"] = str(math.ceil(end))
    if exceeded:
        h["Retry-After"] = str(math.ceil(end - now))
    return h


@attrs.define
class SimResult:
    sent: int = 0
    succeeded: int = 0
    rejected: int = 0
    failed: int = 0
    finished_at: float = 0.0
    max_in_window: int = 0


def simulate(
    *,
    client_limit: int,
    server_limit: int,
    window: float,
    arrivals: list[float],
    latency: Callable[[int], tuple[float, float]],
    skew: float = 0.0,
    pacing: str = "burst",
    drop: Callable[[int], bool] = lambda i: False,
    with_date: Callable[[int], bool] = lambda i: True,
    prior_count: int = 0,
    horizon: float = 10_000.0,
    blocked: Sequence[tuple[float, float]] = (),
    write_delay: Callable[[int], float] = lambda i: 0.0,
    client_window: float | None = None,
    told: bool = True,
) -> SimResult:
    """Run ``len(arrivals)`` requests (wanted at those times) through a bucket.

    ``latency(i)`` gives request ``i``'s (up, down) delays; ``drop(i)`` loses its answer
    (the client sees a transport failure); ``skew`` is server clock minus client clock;
    ``prior_count`` requests of another process already sit in the first window.

    Event-loop lag: during each ``blocked`` interval ``(start, end)`` the client does
    nothing (timers, answers and wishes wait, in their order, until ``end``, and are then
    handled with the clock at ``end``); ``write_delay(i)`` separates request ``i``'s
    admission from the moment it is written (which a blocked loop delays further).
    The server runs elsewhere: it is never blocked. ``client_window``: the window the
    client is given, when it differs from the server's; ``told=False``: it is only a
    default, to be learned from the headers.
    """
    given = RateLimit(client_limit, client_window if client_window is not None else window)
    bucket = Bucket("api", given, pacing=pacing, told=told)  # type: ignore[arg-type]
    server = ServerWindow(server_limit, window)
    if prior_count:
        for _ in range(prior_count):
            server.hit(skew)
    events: list[tuple[float, int, str, int, object]] = []
    seq = 0

    def push(t: float, kind: str, i: int, payload: object = None) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (t, seq, kind, i, payload))

    for i, t in enumerate(arrivals):
        push(t, "want", i)
    queue: list[int] = []
    result = SimResult()
    reservations: dict[int, Reservation] = {}
    timer_at = math.inf

    def pump(now: float) -> None:
        nonlocal timer_at
        while queue:
            at = bucket.ready_at(now)
            if at is None:
                return
            if at > now:
                if at < timer_at:
                    timer_at = at
                    push(at, "timer", -1)
                return
            i = queue.pop(0)
            reservations[i] = bucket.acquire(now)
            result.sent += 1
            up, down = latency(i)
            push(unblocked(now + write_delay(i)) + up, "arrive", i, down)

    def unblocked(t: float) -> float:
        for start, end in blocked:
            if start <= t < end:
                return end
        return t

    while events:
        now, order, kind, i, payload = heapq.heappop(events)
        if now > horizon:
            break
        if kind != "arrive" and unblocked(now) > now:
            # The client's loop is busy: handle it when the loop is free, in order.
            heapq.heappush(events, (unblocked(now), order, kind, i, payload))
            continue
        if kind == "want":
            queue.append(i)
        elif kind == "timer":
            if now >= timer_at:
                timer_at = math.inf
        elif kind == "arrive":
            srv_now = now + skew
            limit, remaining, end, exceeded = server.hit(srv_now)
            hdr = server_headers(limit, remaining, end, srv_now, exceeded, with_date=with_date(i))
            assert isinstance(payload, float)
            push(now + payload, "answer", i, (429 if exceeded else 200, hdr))
        elif kind == "answer":
            assert isinstance(payload, tuple)
            status, hdr = payload
            res = reservations.pop(i)
            if drop(i):
                bucket.failed(res, now)
                result.failed += 1
            else:
                bucket.observe(res, now, RateLimitHeaders.parse(hdr), status)
                if status == 429:
                    result.rejected += 1
                else:
                    result.succeeded += 1
            result.finished_at = now
        pump(now)
    result.max_in_window = max(server.history.values(), default=0)
    return result
