"""Rate-limit state shared between processes and machines, on Redis.

PeerTube counts per client address, so every process behind one address spends one
budget per instance. :class:`RedisLimitStore` keeps each bucket's window in a Redis hash
(``{namespace}:{origin}:{class}``, expiring a few windows after its last use) and
changes it only inside Lua scripts, so a reservation across several buckets is atomic
and every process sees the corrections that the headers of any answer brought. Times
come from Redis's own clock (``TIME``), the one clock all processes share.

The model is the one of :mod:`peertube_async._ratelimit`, reduced to what must be
shared: a window's count (reservations, answered or not), its latest possible end
(bounded by every answer and by ``X-RateLimit-Reset``), requests in flight (carried into
the next window when it opens), a block after a 429, and one-at-a-time first contact.

Failure policy: when Redis cannot be reached (down, restarted, network), the store logs
one warning and falls back to a local bucket holding a conservative share of each
budget (``fallback_share``, a quarter by default), so a fleet of workers neither crashes
nor bursts into 429s; it tries Redis again every ``retry_interval`` seconds. A restarted
Redis starts empty: the first-contact rule and the headers of the next answers rebuild
the state.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ._ratelimit import Bucket, RateLimit, RateLimitHeaders, Reservation

__all__ = ["RedisLimitStore", "SharedGrant"]

logger = logging.getLogger("peertube_async.shared")

#: Same constants as the in-process model (see ``_ratelimit``), in milliseconds.
_MARGIN_MS = 1
_HORIZON_WINDOWS = 3.0
_HEADER_SLACK_MS = 2000
_CATCH_UP_UNKNOWN_MS = 50

# KEYS: per bucket its hash and its in-flight set (reservation id -> lease deadline).
# ARGV: n, lease_ms, then per bucket: limit, window_ms, count_failed (1/0).
# Returns {1, now_ms, gen1, id1, gen2, id2, ...} or {0, now_ms, wait_ms} (-1: unknown).
_RESERVE = """
local n = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local states = {}
local wait = 0
for i = 1, n do
  local key = KEYS[2 * i - 1]
  local fkey = KEYS[2 * i]
  -- Reservations whose lease ran out (their process died) stop counting as in flight.
  redis.call('ZREMRANGEBYSCORE', fkey, '-inf', now)
  local inflight = redis.call('ZCARD', fkey)
  local h = redis.call('HMGET', key, 'limit', 'count', 'gen', 'end_hi', 'started',
                       'answered', 'blocked', 'maybe')
  local limit = tonumber(h[1]) or tonumber(ARGV[3 + (i - 1) * 3])
  local count = tonumber(h[2]) or 0
  local gen = tonumber(h[3]) or 0
  local end_hi = tonumber(h[4]) or 0
  local started = tonumber(h[5]) or 0
  local answered = tonumber(h[6]) or 0
  local blocked = tonumber(h[7]) or 0
  local maybe = tonumber(h[8]) or 0
  local over = 0
  if end_hi > 0 then
    over = end_hi
  elseif inflight == 0 and maybe > 0 then
    -- Only unanswered requests dated the window: it ends by their last try + window.
    over = maybe
  end
  if started == 1 and over > 0 and now >= over then
    -- The window is surely over; requests still in flight may land in the next one.
    count = inflight
    started = 0
    end_hi = 0
    maybe = 0
    over = 0
    gen = gen + 1
    redis.call('HSET', key, 'sid', 0)
  end
  local room = limit
  if answered == 0 then room = 1 end
  local w = 0
  if now < blocked then w = blocked - now end
  if count >= room then
    if started == 1 and over > 0 then
      w = math.max(w, over - now)
    else
      w = -1
    end
  end
  if w ~= 0 then
    if w < 0 or wait < 0 then wait = -1 else wait = math.max(wait, w) end
  end
  states[i] = {limit, count, gen, end_hi, started, maybe}
end
local out = {1, now}
if wait ~= 0 then out = {0, now, wait} end
for i = 1, n do
  local s = states[i]
  local key = KEYS[2 * i - 1]
  local fkey = KEYS[2 * i]
  local window = tonumber(ARGV[4 + (i - 1) * 3])
  local ttl = window * 4 + lease + 60000
  if wait == 0 then
    local id = redis.call('HINCRBY', key, 'seq', 1)
    redis.call('ZADD', fkey, now + lease, id)
    redis.call('HSET', key, 'limit', s[1], 'count', s[2] + 1, 'gen', s[3], 'end_hi', s[4],
               'started', 1, 'maybe', s[6])
    out[#out + 1] = s[3]
    out[#out + 1] = id
  else
    redis.call('HSET', key, 'count', s[2], 'gen', s[3], 'end_hi', s[4], 'started', s[5],
               'maybe', s[6])
  end
  redis.call('PEXPIRE', key, ttl)
  redis.call('PEXPIRE', fkey, ttl)
end
return out
"""

# KEYS: one bucket's hash and in-flight set. ARGV: gen, reservation id, answered (1/0),
# status, described (1/0), limit, remaining, reset_in_ms, retry_after_ms (-1 when absent),
# window_ms, count_failed, from_limiter (1/0), released (1/0: not counted), server window
# id (X-RateLimit-Reset; 0 when unknown).
_COMPLETE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local key = KEYS[1]
local fkey = KEYS[2]
local gen = tonumber(ARGV[1])
local rid = ARGV[2]
local answered = tonumber(ARGV[3])
local status = tonumber(ARGV[4])
local described = tonumber(ARGV[5])
local hlimit = tonumber(ARGV[6])
local remaining = tonumber(ARGV[7])
local reset_in = tonumber(ARGV[8])
local retry_after = tonumber(ARGV[9])
local window = tonumber(ARGV[10])
local count_failed = tonumber(ARGV[11])
local from_limiter = tonumber(ARGV[12])
local released = tonumber(ARGV[13])
local wid = tonumber(ARGV[14])
redis.call('ZREM', fkey, rid)
local h = redis.call('HMGET', key, 'limit', 'count', 'gen', 'end_hi', 'answered',
                     'blocked', 'maybe', 'sid')
if h[3] == false then
  -- The state is gone (expired, or Redis restarted): the next answers rebuild it.
  return 0
end
local inflight = redis.call('ZCARD', fkey)
local limit = tonumber(h[1]) or hlimit
local count = tonumber(h[2]) or 0
local cur = tonumber(h[3]) or 0
local end_hi = tonumber(h[4]) or 0
local was_answered = tonumber(h[5]) or 0
local blocked = tonumber(h[6]) or 0
local maybe = tonumber(h[7]) or 0
local sid = tonumber(h[8]) or 0
local horizon = math.floor(window * 3 + 2000)
local same = (gen == cur)
local switched = false
if same and answered == 1 and described == 1 and wid > 0 and released == 0 then
  if sid == 0 then
    sid = wid
  elseif wid > sid then
    -- The server's window closed earlier than believed and a new one holds this
    -- request, and possibly every request still in flight.
    cur = cur + 1
    sid = wid
    count = 1 + inflight
    end_hi = 0
    maybe = 0
    switched = true
  elseif wid < sid then
    -- An answer from a window already behind: nothing to learn about this one.
    described = 0
  end
end
if released == 1 then
  if same then count = math.max(0, count - 1) end
elseif answered == 0 then
  -- Perhaps never arrived: it does not date the window, but bounds it.
  if same then maybe = math.max(maybe, now + window + 1) end
else
  was_answered = 1
  if status >= 400 and status ~= 429 and count_failed == 0 then
    if same then count = math.max(0, count - 1) end
  elseif same then
    local bound = now + window + 1
    if end_hi == 0 or bound < end_hi then end_hi = bound end
    if described == 1 then
      if hlimit > 0 then limit = hlimit end
      if reset_in >= 0 then
        local b = now + math.min(reset_in, horizon) + 1
        if b < end_hi then end_hi = b end
      end
      if remaining >= 0 then
        local used = math.max(0, limit - remaining)
        if used > count then count = used + inflight end
      end
    end
    if status == 429 and described == 1 then
      if from_limiter == 1 then count = math.max(count, limit) end
      if retry_after >= 0 then
        blocked = math.max(blocked, now + math.min(retry_after, horizon))
      end
    end
  end
end
redis.call('HSET', key, 'limit', limit, 'count', count, 'end_hi', end_hi,
           'answered', was_answered, 'blocked', blocked, 'maybe', maybe, 'sid', sid,
           'gen', cur)
if switched then redis.call('HSET', key, 'started', 1) end
redis.call('PEXPIRE', key, window * 4 + 60000)
return 1
"""

# Back to first contact, without creating a key that a restart emptied.
_RESYNC = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'answered', 0) end
return 1
"""

_SNAPSHOT_FIELDS = ("limit", "count", "gen", "end_hi", "started", "answered", "blocked", "maybe")


@attrs.define(eq=False)
class SharedGrant:
    """Places held in shared buckets (or in the local fallback while Redis is away)."""

    keys: tuple[str, ...]
    gens: tuple[int, ...]
    specs: tuple[RateLimit, ...]
    local: tuple[tuple[Bucket, Reservation], ...] = ()
    ids: tuple[int, ...] = ()
    #: Reported once: a second report would take another request's place.
    settled: bool = False


class RedisLimitStore:
    """Buckets in Redis, shared by every process that uses the same ``namespace``.

    ``url`` or ``client`` (a ``redis.asyncio.Redis``) selects the server. Install the
    ``redis`` extra: ``pip install 'peertube_async[redis]'``.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        namespace: str = "peertube_async",
        fallback_share: float = 0.25,
        retry_interval: float = 5.0,
        lease: float = 120.0,
    ) -> None:
        if client is None:
            try:
                import redis.asyncio as aioredis
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise ImportError(
                    "RedisLimitStore needs redis-py: pip install 'peertube_async[redis]'"
                ) from exc
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
            from redis.exceptions import ConnectionError as RedisConnectionError

            client = aioredis.Redis.from_url(
                url or "redis://127.0.0.1:6379/0",
                socket_timeout=2.0,
                socket_connect_timeout=2.0,
                # A pooled connection to a restarted server fails once; try a fresh one.
                retry=Retry(NoBackoff(), 1),
                retry_on_error=[RedisConnectionError],
            )
        if not 0 < fallback_share <= 1:
            raise ValueError("fallback_share must be in (0, 1]")
        self.client = client
        self.namespace = namespace
        self.fallback_share = fallback_share
        self.retry_interval = retry_interval
        #: A reservation still unanswered after this long is taken for finished (its
        #: process died), so nothing leaks into later windows.
        self.lease = lease
        self._reserve = client.register_script(_RESERVE)
        self._complete = client.register_script(_COMPLETE)
        self._down_until = -math.inf
        self._outage = False
        self._local: dict[str, Bucket] = {}
        #: How many times Redis was found unreachable (for monitoring and tests).
        self.outages = 0

    def __repr__(self) -> str:
        return f"<RedisLimitStore namespace={self.namespace!r}>"

    async def aclose(self) -> None:
        """Close the Redis connection pool."""
        await self.client.aclose()

    async def __aenter__(self) -> RedisLimitStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def key(self, origin: str, name: str) -> str:
        """The Redis key of a bucket."""
        return f"{self.namespace}:{origin}:{name}"

    # -- availability ---------------------------------------------------------------

    @property
    def degraded(self) -> bool:
        """Whether the store works from its local fallback (Redis is unreachable)."""
        return self._outage

    def _went_down(self, exc: BaseException) -> None:
        if not self._outage:
            self._outage = True
            self.outages += 1
            logger.warning(
                "Redis unreachable (%s); using %d%% of each budget locally, retrying every %.1f s",
                type(exc).__name__,
                round(self.fallback_share * 100),
                self.retry_interval,
            )
        self._down_until = time.monotonic() + self.retry_interval

    async def _came_back(self) -> None:
        """Redis answers again. What this process spent meanwhile is unknown to it, so
        the buckets it used go back to first contact: one request at a time until an
        answer's headers say what the server counted."""
        keys = list(self._local)
        for key in keys:
            await self.client.eval(_RESYNC, 1, key)
        self._outage = False
        self._local.clear()
        logger.warning("Redis reachable again; %d shared buckets resynchronize", len(keys))

    def _fallback(self, key: str, spec: RateLimit) -> Bucket:
        bucket = self._local.get(key)
        if bucket is None:
            share = RateLimit(
                max(1, math.floor(spec.limit * self.fallback_share)),
                spec.window,
                count_failed=spec.count_failed,
            )
            bucket = self._local[key] = Bucket(key, share)
        return bucket

    # -- reservations ---------------------------------------------------------------

    async def reserve(
        self, origin: str, names: Sequence[str], specs: Sequence[RateLimit]
    ) -> SharedGrant | float:
        """Hold a place in every bucket, or return the seconds to wait (a short pause
        when only an answer in flight can tell)."""
        keys = tuple(self.key(origin, n) for n in names)
        if time.monotonic() >= self._down_until:
            argv: list[Any] = [len(keys), round(self.lease * 1000)]
            for spec in specs:
                argv += [spec.limit, round(spec.window * 1000), int(spec.count_failed)]
            pairs = [k for key in keys for k in (key, key + ":inflight")]
            try:
                if self._outage:
                    await self._came_back()
                out = await self._reserve(keys=pairs, args=argv)
            except Exception as exc:  # redis-py raises its own ConnectionError/TimeoutError
                if not _is_unavailable(exc):
                    raise
                self._went_down(exc)
            else:
                if int(out[0]) == 1:
                    rest = [int(v) for v in out[2:]]
                    return SharedGrant(keys, tuple(rest[0::2]), tuple(specs), ids=tuple(rest[1::2]))
                wait_ms = int(out[2])
                return _CATCH_UP_UNKNOWN_MS / 1000 if wait_ms < 0 else wait_ms / 1000
        now = time.monotonic()
        buckets = [self._fallback(k, s) for k, s in zip(keys, specs, strict=True)]
        ready = [b.ready_at(now) for b in buckets]
        if all(r is not None and r <= now for r in ready):
            held = tuple((b, b.acquire(now)) for b in buckets)
            return SharedGrant(keys, (), tuple(specs), held)
        known = [r - now for r in ready if r is not None]
        return max(known) if known and None not in ready else _CATCH_UP_UNKNOWN_MS / 1000

    async def complete(
        self,
        grant: SharedGrant,
        status: int | None,
        headers: RateLimitHeaders | None,
        described: int,
        *,
        released: bool = False,
    ) -> None:
        """Record the outcome (``status`` None: no answer; ``released``: never sent)."""
        if grant.settled:
            return
        grant.settled = True
        if grant.local:
            now = time.monotonic()
            for i, (bucket, res) in enumerate(grant.local):
                if released or (status == 429 and i > described):
                    bucket.release(res)
                elif status is None:
                    bucket.failed(res, now)
                else:
                    bucket.observe(res, now, headers if i == described else None, status)
            return
        rows = zip(grant.keys, grant.gens, grant.ids, grant.specs, strict=True)
        for i, (key, gen, rid, spec) in enumerate(rows):
            hdr = headers if i == described else None
            # On a 429 the limiters after the one that refused never counted the request.
            not_counted = released or (status == 429 and i > described)
            reset_in = hdr.reset_in if hdr is not None else None
            # Retry-After speaks for the limiter that refused, not for the others.
            retry = hdr.retry_after if hdr is not None else None
            from_limiter = hdr is not None and hdr.from_limiter
            argv = [
                gen,
                rid,
                0 if status is None else 1,
                status or 0,
                1 if hdr is not None else 0,
                (hdr.limit or 0) if hdr is not None else 0,
                hdr.remaining if hdr is not None and hdr.remaining is not None else -1,
                round(reset_in * 1000) if reset_in is not None and reset_in >= 0 else -1,
                round(retry * 1000) if retry is not None else -1,
                round(spec.window * 1000),
                int(spec.count_failed),
                int(from_limiter),
                int(not_counted),
                hdr.reset
                if hdr is not None and hdr.reset is not None and reset_in is not None
                else 0,
            ]
            try:
                await self._complete(keys=[key, key + ":inflight"], args=argv)
            except Exception as exc:
                if not _is_unavailable(exc):
                    raise
                # The window will expire on its own; nothing to keep locally.
                self._went_down(exc)
                return

    async def snapshot(self, origin: str, names: Sequence[str]) -> dict[str, Mapping[str, int]]:
        """The raw shared state of some buckets (for ``limits`` displays and tests)."""
        out: dict[str, Mapping[str, int]] = {}
        for name in names:
            raw = await self.client.hmget(self.key(origin, name), _SNAPSHOT_FIELDS)
            out[name] = {
                field: int(value)
                for field, value in zip(_SNAPSHOT_FIELDS, raw, strict=True)
                if value is not None
            }
        return out


def _is_unavailable(exc: BaseException) -> bool:
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover
        return isinstance(exc, (ConnectionError, TimeoutError, OSError))
    return isinstance(exc, (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError))
