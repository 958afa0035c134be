"""Server-side rate limiter of PeerTube, without I/O.

PeerTube counts requests with express-rate-limit 7 and its memory store. For each key (the
client IP) a fixed window opens at the key's first request and closes ``window`` seconds
later; the first request after that opens a fresh window with the count back at zero. Every
request is counted, rejected ones included, and the count is compared with the maximum
after it has been incremented. Limiters created with ``skipFailedRequests`` hand a hit back
once the response turns out to be a failure (status >= 400): that is :meth:`undo`.

:class:`ServerLimiter` reproduces that arithmetic on an injectable clock so that it can be
tested without sleeping; the fake server wraps it with HTTP.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["DEFAULT_LIMITS", "Decision", "ServerLimiter"]

#: Documented PeerTube defaults: limiter class -> (max requests, window in seconds).
#: ``api`` counts every ``/api/v1/*`` request, ``login`` the token endpoint, ``signup`` the
#: registration endpoints (successful attempts only) and ``ask_send_email`` the endpoints
#: that ask for a verification e-mail.
DEFAULT_LIMITS: Mapping[str, tuple[int, float]] = MappingProxyType(
    {
        "api": (50, 10.0),
        "login": (15, 300.0),
        "signup": (2, 300.0),
        "ask_send_email": (3, 300.0),
    }
)


@dataclass(frozen=True)
class Decision:
    """What one counted request looks like to the server and to its response headers.

    Attributes:
        limit: the window's maximum (``X-RateLimit-Limit``).
        remaining: requests left in the window after this one, never below zero
            (``X-RateLimit-Remaining``).
        reset: end of the window as UNIX time in seconds, rounded up
            (``X-RateLimit-Reset``).
        retry_after: whole seconds until the window ends, rounded up, when the limit is
            exceeded (``Retry-After``); ``None`` otherwise.
        exceeded: whether this request went over the limit.
        hits: requests counted in the window, this one included.
        reset_at: exact end of the window as UNIX time in seconds.
    """

    limit: int
    remaining: int
    reset: int
    retry_after: int | None
    exceeded: bool
    hits: int
    reset_at: float


class _Window:
    """Hits of one key in its current window."""

    __slots__ = ("hits", "reset_at")

    def __init__(self, reset_at: float) -> None:
        self.hits = 0
        self.reset_at = reset_at


class ServerLimiter:
    """Fixed-window counter per key, as express-rate-limit's memory store keeps it.

    Args:
        max: requests allowed per window (``max`` in PeerTube's configuration); 0 rejects
            everything.
        window: window length in seconds; a float, so tests may compress time.
        clock: returns the current UNIX time in seconds; ``time.time`` by default.

    Windows that have ended are forgotten lazily: at most once per window length, the
    next :meth:`hit` drops every key whose window is over, so memory follows the number
    of recently active clients, not the number ever seen.
    """

    __slots__ = ("_clock", "_next_sweep", "_windows", "max", "window")

    def __init__(self, max: int, window: float, clock: Callable[[], float] = time.time) -> None:
        if max < 0:
            raise ValueError(f"max must be >= 0, got {max!r}")
        if not window > 0:
            raise ValueError(f"window must be > 0 seconds, got {window!r}")
        self.max = max
        self.window = float(window)
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._next_sweep = -math.inf

    def __repr__(self) -> str:
        return f"ServerLimiter(max={self.max}, window={self.window}, keys={len(self._windows)})"

    def __len__(self) -> int:
        """Number of keys currently tracked (ended windows may linger until a sweep)."""
        return len(self._windows)

    def hit(self, key: str) -> Decision:
        """Count one request of ``key`` and describe the outcome."""
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        entry = self._windows.get(key)
        if entry is None or entry.reset_at <= now:
            entry = _Window(now + self.window)
            self._windows[key] = entry
        entry.hits += 1
        return self._decide(entry, now)

    def undo(self, key: str) -> None:
        """Hand back one hit of ``key`` (express-rate-limit's ``decrement``).

        Used for ``skipFailedRequests``: the hit of a request whose response failed does
        not count. The count never goes below zero and an unknown key is ignored.
        """
        entry = self._windows.get(key)
        if entry is not None and entry.hits > 0:
            entry.hits -= 1

    def peek(self, key: str) -> Decision | None:
        """Describe ``key``'s current window without counting; ``None`` if it has none."""
        now = self._clock()
        entry = self._windows.get(key)
        if entry is None or entry.reset_at <= now:
            return None
        return self._decide(entry, now)

    def reset(self, key: str | None = None) -> None:
        """Forget ``key``'s window, or every window when ``key`` is ``None``."""
        if key is None:
            self._windows.clear()
        else:
            self._windows.pop(key, None)

    def _decide(self, entry: _Window, now: float) -> Decision:
        hits = entry.hits
        exceeded = hits > self.max
        return Decision(
            limit=self.max,
            remaining=max(0, self.max - hits),
            reset=math.ceil(entry.reset_at),
            retry_after=math.ceil(entry.reset_at - now) if exceeded else None,
            exceeded=exceeded,
            hits=hits,
            reset_at=entry.reset_at,
        )

    def _sweep(self, now: float) -> None:
        windows = self._windows
        expired = [key for key, entry in windows.items() if entry.reset_at <= now]
        for key in expired:
            del windows[key]
        self._next_sweep = now + self.window
