"""Sans-I/O model of PeerTube's rate limiters, as seen from one client.

PeerTube counts requests with express-rate-limit's memory store: per client IP and
limiter class, a fixed window opens at the first request that *arrives* after the
previous window closed and lasts ``window`` seconds; every request that arrives inside
it counts, rejected ones too. The client never sees arrival times, only its own send
and receive times, plus ``X-RateLimit-*`` headers rounded to whole seconds. A
:class:`Bucket` therefore keeps *bounds*:

* the end of the current server window lies in ``[end_lo, end_hi]`` on the local
  clock. ``end_hi`` shrinks with every answer to a request of the window (the window
  opened no later than that request arrived, so it ends no later than
  ``received + window``) and with the headers (``received + Reset - Date``).
* ``count`` is an upper bound of what the server has counted or will count in the
  window: reservations are taken before sending, requests still in flight when a window
  closes are carried into the next one (they may land there), and the headers can only
  raise it.

A new window's budget is spent only once the local clock has passed ``end_hi``, so a
request can never be counted by a window that already holds ``limit`` of ours.

Nothing here sleeps or touches asyncio: the caller passes ``now`` (a monotonic clock in
seconds) and schedules its own timers from :meth:`Bucket.ready_at`.
"""

from __future__ import annotations

import datetime
import email.utils
import functools
import math
from collections.abc import Mapping
from typing import Literal

import attrs

__all__ = [
    "DEFAULT_LIMITS",
    "Bucket",
    "BucketSnapshot",
    "Pacing",
    "RateLimit",
    "RateLimitHeaders",
    "Reservation",
]

Pacing = Literal["burst", "smooth"]

#: How far past the configured window a header-derived reset may lie before it is
#: treated as garbage (a reset "hours away" must not stall a 10 s bucket).
_HORIZON_WINDOWS = 3.0
#: ``Reset`` is rounded up and ``Date`` truncated to whole seconds.
_HEADER_SLACK = 2.0
#: Added to every window end: the two clocks tick at slightly different rates.
_MARGIN = 0.001
#: ``X-RateLimit-Reset`` is in whole seconds: it tells windows apart only when they last
#: at least this long.
_NAME_RESOLUTION = 1.0
#: A window learned from the headers is at most this factor of the configured one, or
#: ``_LONGEST_WINDOW`` seconds; longer ones are garbage (or another limiter's).
_LEARN_RANGE = 10.0
_LONGEST_WINDOW = 3600.0
#: Probing stops once the window's length is known within this share of it, or within
#: ``_PROBE_FLOOR`` seconds for short windows (a few round trips blur every probe).
_PROBE_PRECISION = 0.02
_PROBE_FLOOR = 0.05
#: In smooth pacing, how far behind its grid (as a share of the window) a bucket may
#: catch up with closer-spaced grants.
_CATCH_UP = 0.1


@attrs.frozen
class RateLimit:
    """A limiter's budget: at most ``limit`` requests per fixed ``window`` seconds."""

    limit: int = attrs.field(validator=attrs.validators.ge(1))
    window: float = attrs.field(converter=float, validator=attrs.validators.gt(0.0))
    #: Whether requests answered with an error status count (False for ``signup``,
    #: which the server counts only when the attempt succeeds).
    count_failed: bool = True


#: PeerTube's documented defaults; administrators may change them, and the headers of
#: every answer correct what the client believes.
DEFAULT_LIMITS: Mapping[str, RateLimit] = {
    "api": RateLimit(50, 10.0),
    "login": RateLimit(15, 300.0),
    "signup": RateLimit(2, 300.0, count_failed=False),
    "ask_send_email": RateLimit(3, 300.0),
    "feeds": RateLimit(50, 10.0),
    "client_logs": RateLimit(30, 60.0),
    "download_generate": RateLimit(5, 5.0),
}


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


def _seconds_header(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


def _date_header(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Date")
    if not raw:
        return None
    return _parse_http_date(raw)


@functools.lru_cache(maxsize=8)
def _parse_http_date(raw: str) -> float | None:
    # ``Date`` changes once a second while answers arrive by the thousand: parse it once.
    try:
        parsed = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


@attrs.frozen
class RateLimitHeaders:
    """The rate-limit facts of one response; every field is ``None`` when absent or bad."""

    limit: int | None = None
    remaining: int | None = None
    #: ``X-RateLimit-Reset``: end of the window, UNIX seconds rounded up.
    reset: int | None = None
    #: The response's ``Date``, UNIX seconds (truncated by HTTP's format).
    date: float | None = None
    retry_after: float | None = None

    @property
    def from_limiter(self) -> bool:
        """True when PeerTube's limiter produced these headers (not a proxy or CDN)."""
        return self.limit is not None or self.remaining is not None or self.reset is not None

    @property
    def reset_in(self) -> float | None:
        """Seconds from the response's ``Date`` to the window's end, if both are known."""
        if self.reset is None or self.date is None:
            return None
        return self.reset - self.date

    @classmethod
    def parse(cls, headers: Mapping[str, str]) -> RateLimitHeaders:
        """Read the ``X-RateLimit-*``, ``Retry-After`` and ``Date`` headers leniently.

        ``headers`` must be case-insensitive (aiohttp's ``CIMultiDictProxy``).
        """
        limit = _int_header(headers, "X-RateLimit-Limit")
        retry_after = _seconds_header(headers, "Retry-After")
        if retry_after is None and "Retry-After" in headers:
            retry_after = _retry_after_date(headers.get("Retry-After", ""), headers)
        return cls(
            limit=limit if limit else None,
            remaining=_int_header(headers, "X-RateLimit-Remaining"),
            reset=_int_header(headers, "X-RateLimit-Reset"),
            date=_date_header(headers),
            retry_after=retry_after,
        )


def _retry_after_date(raw: str, headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` as an HTTP-date, measured against the response's own ``Date``."""
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    date = _date_header(headers)
    if date is None:
        return None
    if when.tzinfo is None:
        # parsedate_to_datetime leaves "-0000" naive; HTTP-dates are always GMT.
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, when.timestamp() - date)


@attrs.define(eq=False)
class _Window:
    """One server window as the client believes it to be."""

    count: int = 0
    end_lo: float = -math.inf
    end_hi: float = math.inf
    #: ``X-RateLimit-Reset`` of the server's window, once an answer named it.
    server_id: int | None = None
    #: Whether a request known to be in it was sent (its bounds are meaningful).
    started: bool = False
    #: Own requests of this window still unanswered.
    in_flight: int = 0
    #: Requests that may have arrived after the end (answered without a usable
    #: ``Reset`` or not answered at all), and the latest ``received + window`` of them.
    late_unresolved: int = 0
    late_bound: float = -math.inf
    #: Requests of earlier windows, still unanswered, that may land in this one.
    carried_in_flight: int = 0
    #: Latest ``received + window`` of requests that may be in this window without one
    #: of its answers saying so; bounds the end when nothing better is known.
    maybe_bound: float = -math.inf
    #: Local times between which the request that opened it arrived, once known.
    opened_lo: float = -math.inf
    opened_hi: float = math.inf


@attrs.define(eq=False)
class Reservation:
    """One granted request of one bucket; hand it back with the outcome."""

    sent_at: float
    window: _Window
    carried_into: _Window | None = None
    #: How many window changes happened while it was in flight.
    hops: int = 0
    done: bool = False
    #: Sent on the last place of a window to test whether the window has ended.
    probe: bool = False


@attrs.frozen
class BucketSnapshot:
    """What a bucket believes now (see :attr:`peertube_async.PeerTube.rate_limits`)."""

    name: str
    limit: int
    window: float
    remaining: int
    in_flight: int
    #: Seconds until the current window is surely over (``None``: no window open, or its
    #: end is not known yet).
    reset_in: float | None
    blocked_for: float
    waiting: int = 0


class Bucket:
    """One limiter class of one instance, as counted for this client."""

    def __init__(
        self, name: str, spec: RateLimit, *, pacing: Pacing = "burst", told: bool = True
    ) -> None:
        self.name = name
        self.limit = spec.limit
        self.window = spec.window
        #: Whether ``spec`` is what the instance's administrator configured (the user said
        #: so), or only PeerTube's documented default, to be checked against the headers.
        self.told = told
        #: The window the bucket was configured with; ``window`` is what it believes now.
        self._configured_window = spec.window
        #: A probe is in flight (see ``_probe_at``).
        self._probe_out = False
        #: Bounds of the server's window length and of its clock's offset to ours.
        self._window_lo = 0.0
        self._window_hi = math.inf
        self._offset_lo = -math.inf
        self._offset_hi = math.inf
        self.count_failed = spec.count_failed
        self.pacing: Pacing = pacing
        self._cur = _Window()
        self._in_flight: set[Reservation] = set()
        self._blocked_until = -math.inf
        self._next_slot = -math.inf
        self._prev_end_lo = -math.inf
        self._answered = False

    @property
    def spacing(self) -> float:
        """Minimum gap between two grants in ``smooth`` pacing."""
        return self.window / self.limit

    # -- windows --------------------------------------------------------------------

    def _surely_over_at(self) -> float | None:
        """Local time after which the current window is over for sure (``None``:
        unknown until an answer arrives)."""
        cur = self._cur
        if not math.isinf(cur.end_hi):
            return cur.end_hi
        if cur.count == 0 or cur.in_flight or cur.carried_in_flight:
            return None
        return cur.maybe_bound

    def _roll(self, now: float) -> None:
        over_at = self._surely_over_at()
        if over_at is None or now < over_at:
            return
        cur = self._cur
        self._switch(_Window(count=cur.late_unresolved, maybe_bound=cur.late_bound))

    def _switch(self, nxt: _Window) -> None:
        """Make ``nxt`` current; requests still in flight may land in it."""
        for res in self._in_flight:
            res.carried_into = nxt
            res.hops += 1
        nxt.count += len(self._in_flight)
        nxt.carried_in_flight = len(self._in_flight)
        self._prev_end_lo = self._cur.end_lo
        self._cur = nxt

    # -- granting -------------------------------------------------------------------

    def ready_at(self, now: float) -> float | None:
        """When a grant may next be possible (``now`` or later), or ``None`` when only
        an answer to a request in flight can tell."""
        self._roll(now)
        at = max(now, self._blocked_until)
        if self.pacing == "smooth":
            at = max(at, self._next_slot)
        # Until a first answer, one request at a time: learn the server's real limit and
        # what it already counted (an earlier run, a neighbour) before spending.
        room = self.limit if self._answered else 1
        probe_at = self._probe_at()
        if self._answered and self._probing and not self._probe_out and self.limit >= 2:
            room -= 1  # the window's last place is kept for a probe
        if self._cur.count < room:
            return at
        over_at = self._surely_over_at()
        if (
            probe_at is not None
            and self._cur.count == room
            and (over_at is None or probe_at < over_at)
        ):
            return max(at, probe_at)
        return None if over_at is None else max(at, over_at)

    def _probe_at(self) -> float | None:
        """When to send a probe on the current window's last place, or None.

        Only while the window's length is uncertain (the headers contradict the window
        the bucket was given, see :meth:`_learn_window`): the probe goes at the middle of
        what the length may be, counted from the window's opening. Whether it opens a new
        window or lands in the old one halves the uncertainty; either way it is counted
        on a place the bucket kept free, so it cannot be refused.
        """
        cur = self._cur
        if (
            not self._probing
            or self._probe_out
            or self.limit < 2
            or math.isinf(cur.opened_hi)
            or math.isinf(self._window_hi)
        ):
            return None
        middle = (self._window_lo + self._window_hi) / 2
        return cur.opened_hi + middle

    @property
    def _probing(self) -> bool:
        """Whether the window's length is still being narrowed by probes."""
        if math.isinf(self._window_hi):
            return False
        width = self._window_hi - self._window_lo
        doubt = not self.told or not (self._window_lo < self._configured_window <= self._window_hi)
        return doubt and width > max(_PROBE_FLOOR, self._window_hi * _PROBE_PRECISION)

    def can_acquire(self, now: float) -> bool:
        """Whether :meth:`acquire` would succeed at ``now``."""
        at = self.ready_at(now)
        return at is not None and at <= now

    def acquire(self, now: float) -> Reservation:
        """Reserve one request; call only when :meth:`can_acquire` is true."""
        cur = self._cur
        if not cur.started:
            cur.started = True
            # A carried request may have opened the window as early as the last one ended.
            opened = min(now, self._prev_end_lo) if cur.count else now
            cur.end_lo = opened + self.window
        cur.count += 1
        cur.in_flight += 1
        # Smooth slots stay on one grid: a grant delayed a little by a window's opening
        # (or a late timer) is caught up by the next slots instead of pushing every later
        # one back. After a longer pause the grid starts again: no burst.
        late = now - self._next_slot
        base = self._next_slot if late <= self.window * _CATCH_UP else now
        self._next_slot = base + self.spacing
        res = Reservation(sent_at=now, window=cur)
        probe_at = self._probe_at()
        if probe_at is not None and cur.count == self.limit and now >= probe_at:
            res.probe = True
            self._probe_out = True
        self._in_flight.add(res)
        return res

    def estimate_wait(self, now: float, ahead: int) -> float:
        """Rough seconds until a request queued behind ``ahead`` others could go."""
        at = self.ready_at(now)
        start = (now + self.window if at is None else at) - now
        if self.pacing == "smooth":
            return start + ahead * self.spacing
        free = max(0, self.limit - self._cur.count)
        if ahead < free:
            return start
        return start + ((ahead - free) // self.limit) * self.window

    # -- outcomes -------------------------------------------------------------------

    def _settle(self, res: Reservation) -> bool:
        if res.done:
            return False
        res.done = True
        self._in_flight.discard(res)
        res.window.in_flight -= 1
        return True

    def _uncarry(self, res: Reservation, *, still_counted: bool = False) -> None:
        into = res.carried_into
        if into is None:
            return
        into.carried_in_flight -= 1
        if not still_counted:
            into.count = max(0, into.count - 1)
        res.carried_into = None

    def release(self, res: Reservation) -> None:
        """The request was never sent: give its place back."""
        if not self._settle(res):
            return
        res.window.count = max(0, res.window.count - 1)
        self._uncarry(res)

    def failed(self, res: Reservation, now: float) -> None:
        """The request may have reached the server but no answer came back."""
        self.observe(res, now, None, None)

    def observe(
        self, res: Reservation, now: float, hdr: RateLimitHeaders | None, status: int | None
    ) -> None:
        """Feed back the answer to ``res``: its status (``None``: no answer) and the
        rate-limit headers, when they describe this bucket."""
        if not self._settle(res):
            return
        if status is not None:
            self._answered = True
        if res.probe:
            self._probe_out = False
        if hdr is not None and status is not None:
            self._learn_clock(res, now, hdr)
            if status < 400:
                self._learn_window(res, now, hdr)
            if res.probe and status < 400 and self._probe_answered(res, now, hdr):
                return
        if (
            hdr is not None
            and hdr.reset_in is not None
            and hdr.reset_in > self.window * _HORIZON_WINDOWS + _HEADER_SLACK
        ):
            # Numbers of another limiter on the same route (newer servers add per-user
            # ones), or garbage: not this bucket's window.
            hdr = None
        if hdr is not None and hdr.limit is not None:
            self.limit = hdr.limit
        if status is not None and status >= 400 and status != 429 and not self.count_failed:
            # The server takes failed attempts off its counter again.
            res.window.count = max(0, res.window.count - 1)
            self._uncarry(res)
            return
        named = hdr.reset if hdr is not None and hdr.reset_in is not None else None
        # ``Reset`` names a window by the second it ends in: windows shorter than a
        # second can end in the same one, so then the name identifies nothing.
        server_id = named if self.window >= _NAME_RESOLUTION else None
        win = self._landing(res, now, server_id)
        if win is not self._cur:
            return
        cur = win
        if server_id is not None and cur.server_id is not None and server_id != cur.server_id:
            if server_id < cur.server_id:
                return
            # The server's window closed earlier than believed: a new one holds this one.
            # Requests that went unanswered after the old window may have ended are in
            # this one too.
            self._switch(_Window(count=1 + cur.late_unresolved, server_id=server_id, started=True))
            cur = self._cur
            proven = True
        else:
            # Counted in this window for sure: its name says so, or it was answered
            # before this window could have ended.
            proven = server_id is not None and server_id == cur.server_id
            if server_id is not None and cur.server_id is None:
                cur.server_id = server_id
        landed_here = proven or now <= cur.end_lo
        if not landed_here:
            # Perhaps it arrived after this window ended, opening the next one (a loop
            # that lagged between admission and sending, say): count it there too.
            cur.late_unresolved += 1
            cur.late_bound = max(cur.late_bound, now + self.window + _MARGIN)
        if status is None:
            # Perhaps never arrived, so it does not date the window's opening.
            cur.maybe_bound = max(cur.maybe_bound, now + self.window + _MARGIN)
            return
        # The window opened no later than this request arrived.
        cur.started = True
        cur.end_hi = min(cur.end_hi, now + self.window + _MARGIN)
        if hdr is not None:
            self._apply_headers(cur, res, now, hdr, landed_here=landed_here)
        if status == 429:
            from_limiter = hdr is not None and hdr.from_limiter
            if from_limiter:
                cur.count = max(cur.count, self.limit)
            retry = hdr.retry_after if hdr is not None else None
            if retry is not None:
                self._block(now, retry)
            elif not from_limiter:
                # A proxy's own limit, of unknown shape: pause, keep the window as is.
                self._block(now, self.spacing)

    def _learn_clock(self, res: Reservation, now: float, hdr: RateLimitHeaders) -> None:
        """Narrow the offset between the server's clock and ours (``server - local``).

        ``Date`` is the server's time, truncated to the second, when it answered, which
        happened between our sending and our receiving: each answer bounds the offset,
        and answers on both sides of a second's boundary pin it to about a round trip.
        """
        if hdr.date is None:
            return
        low = hdr.date - now
        high = hdr.date + 1.0 - res.sent_at
        if low > self._offset_hi or high < self._offset_lo:
            # The server's clock jumped: start over from this answer.
            self._offset_lo, self._offset_hi = low, high
            return
        self._offset_lo = max(self._offset_lo, low)
        self._offset_hi = min(self._offset_hi, high)

    def _learn_window(self, res: Reservation, now: float, hdr: RateLimitHeaders) -> None:
        """Learn the server's window length from an answer that opened a window.

        The first request counted in a window (``Remaining`` one below ``Limit``) opened
        it on arrival, between our sending and our receiving; ``Reset`` is the window's
        end rounded up to the second. With the clock offset known, each such answer
        bounds the length from above (end rounded up, minus the earliest arrival) and
        from below; the bounds of every window seen are intersected. The window the
        client believes in is kept an upper bound of the real one: shrunk to the upper
        bound, or set to it when the lower bound shows the window longer than believed.
        A bound beyond ten times the configured window and an hour is ignored (garbage,
        or another limiter), and the belief never goes below a tenth of the configured
        window: headers can neither stall a bucket for hours nor turn it into a flood.
        """
        if hdr.reset is None or hdr.limit is None or hdr.remaining != hdr.limit - 1:
            return
        if res.window is self._cur and res.carried_into is None and not res.probe:
            # The request that opened the current window (a probe opens the next one).
            self._cur.opened_lo = max(self._cur.opened_lo, res.sent_at)
            self._cur.opened_hi = min(self._cur.opened_hi, now)
        if math.isinf(self._offset_lo) or math.isinf(self._offset_hi):
            return
        upper = hdr.reset - (res.sent_at + self._offset_lo) + _MARGIN
        lower = hdr.reset - 1.0 - (now + self._offset_hi)
        if upper > max(self._configured_window * _LEARN_RANGE, _LONGEST_WINDOW) or upper <= 0:
            return  # garbage, or another limiter's much longer window: ignored
        self._window_hi = min(self._window_hi, upper)
        self._window_lo = max(self._window_lo, lower)
        if self._window_lo > self._window_hi:
            # Contradicting answers (a changed configuration): trust the latest.
            self._window_hi, self._window_lo = upper, lower
        # A window the client was told is kept until the headers contradict it; a
        # default one is replaced by what the headers prove at most.
        contradicted = self.window > self._window_hi or self.window <= self._window_lo
        if contradicted or not self.told:
            # Never below a floor: a longer belief is still an upper bound, so still safe.
            self.window = max(self._window_hi, self._configured_window / _LEARN_RANGE)

    def _probe_answered(self, res: Reservation, now: float, hdr: RateLimitHeaders) -> bool:
        """Narrow the window's length from a probe's answer; True when the probe opened
        a new window (which is then the current one, holding the probe)."""
        if hdr.limit is None or hdr.remaining is None or res.window is not self._cur:
            return False
        cur = self._cur
        if hdr.remaining == hdr.limit - 1:
            # It opened a window: the old one had ended when it arrived.
            self._window_hi = min(self._window_hi, now - cur.opened_lo + _MARGIN)
            self.window = max(self._window_hi, self._configured_window / _LEARN_RANGE)
            nxt = _Window(count=1, started=True, opened_lo=res.sent_at, opened_hi=now)
            nxt.end_lo = res.sent_at + self._window_lo
            nxt.end_hi = now + self.window + _MARGIN
            self._switch(nxt)
            return True
        # Counted in the old window, still open when the probe arrived.
        self._window_lo = max(self._window_lo, res.sent_at - cur.opened_hi)
        return False

    def _landing(self, res: Reservation, now: float, server_id: int | None) -> _Window | None:
        """The window an answered request was counted in, as far as can be told."""
        into = res.carried_into
        if into is None:
            return res.window
        old_id = res.window.server_id
        if server_id is not None and into.server_id is not None:
            if server_id == into.server_id:
                self._uncarry(res, still_counted=True)
                return into
            self._uncarry(res)
            if server_id > into.server_id and into is self._cur:
                # It landed in a window after the one it was carried into: that one is
                # over, and the caller moves on to the newer one, counting it there.
                return into
            return None
        if server_id is not None and old_id is not None and server_id == old_id:
            self._uncarry(res)
            return None
        if server_id is not None and old_id is not None and server_id > old_id and res.hops == 1:
            self._uncarry(res, still_counted=True)
            return into
        # Landing unknown: it stays counted in both windows; bound the one it may open.
        into.maybe_bound = max(into.maybe_bound, now + self.window + _MARGIN)
        # (A window nothing was sent in yet cannot end before the last one's end plus
        # a window.)
        end_lo = into.end_lo if into.started else self._prev_end_lo + self.window
        if into is self._cur and now > end_lo:
            # Answered after this window may have ended: it may have opened the next
            # one (written long after its admission), so it counts there too.
            into.late_unresolved += 1
            into.late_bound = max(into.late_bound, now + self.window + _MARGIN)
        self._uncarry(res, still_counted=True)
        return None

    def _apply_headers(
        self,
        win: _Window,
        res: Reservation,
        now: float,
        hdr: RateLimitHeaders,
        *,
        landed_here: bool,
    ) -> None:
        reset_in = hdr.reset_in
        if reset_in is not None and reset_in >= 0:
            reset_in = min(reset_in, self.window * _HORIZON_WINDOWS + _HEADER_SLACK)
            # An upper bound on the end of whichever window counted the request, so on
            # this one's too; the lower bound only holds for the window that counted it.
            win.end_hi = min(win.end_hi, now + reset_in + _MARGIN)
            if hdr.reset is not None and not math.isinf(self._offset_lo):
                # ``Reset`` on our clock, without the second lost to ``Date``'s rounding.
                win.end_hi = min(win.end_hi, hdr.reset - self._offset_lo + _MARGIN)
            if landed_here:
                win.end_lo = min(
                    max(win.end_lo, res.sent_at + reset_in - _HEADER_SLACK), win.end_hi
                )
        if hdr.remaining is not None:
            used = max(0, self.limit - hdr.remaining)
            if used > win.count:
                # More than our own requests could explain: someone else shares the
                # address. Assume none of ours still in flight has been counted yet.
                win.count = used + win.in_flight + win.carried_in_flight
                # And one of theirs may have opened the window before any of ours: it
                # may end as soon as this request arrived, unless Reset says otherwise.
                floor = res.sent_at
                if landed_here and reset_in is not None and reset_in >= 0:
                    floor = max(floor, res.sent_at + reset_in - _HEADER_SLACK)
                win.end_lo = min(win.end_lo, floor)

    def _block(self, now: float, seconds: float) -> None:
        seconds = min(seconds, self.window * _HORIZON_WINDOWS + _HEADER_SLACK)
        self._blocked_until = max(self._blocked_until, now + seconds)

    # -- introspection --------------------------------------------------------------

    def snapshot(self, now: float, waiting: int = 0) -> BucketSnapshot:
        """The bucket's state for display and monitoring."""
        self._roll(now)
        over_at = self._surely_over_at() if self._cur.count else None
        return BucketSnapshot(
            name=self.name,
            limit=self.limit,
            window=self.window,
            remaining=max(0, self.limit - self._cur.count),
            in_flight=len(self._in_flight),
            reset_in=None if over_at is None else max(0.0, over_at - now),
            blocked_for=max(0.0, self._blocked_until - now),
            waiting=waiting,
        )
