"""Distributed crawls: instances handed out through Redis to worker processes on one or
more machines, the checkpoint in Redis, one coordinator exporting the records to a file.

Work unit. One instance at a time belongs to one worker (a lease, renewed by a heartbeat
and by every commit). An instance's budget is the bottleneck and is shared by all workers
anyway (PeerTube counts per client address), so splitting an instance across workers
would gain nothing and would need out-of-order commits; whole instances keep the
single-process engine (:class:`._crawler._Instance`: pages in stable order, released in
sequence) unchanged.

Commits. Each batch of pages a worker releases goes to Redis in one Lua call that checks
the worker still owns the instance (a worker whose lease was taken over is fenced out),
adds every record whose dedup key is new to the instance's dedup set and to the crawl's
stream, and stores the instance's offsets (the state of :class:`._crawler._Instance`, as
the single-process checkpoint holds it). Redis thus always holds records and offsets that
describe each other: a worker killed between commits loses only pages in flight, and the
worker that takes the expired lease over continues from the offsets.

Export. The coordinator appends the stream to the output through the same
:class:`._journal.Journal` as a single-process crawl, its checkpoint holding the last
exported stream id: a killed coordinator resumes without duplicate or broken line. What
is exported durably is trimmed from the stream, so Redis holds only the backlog.

Keys (``P`` = ``{namespace}:crawl:{ID}:``, the braces a Redis Cluster hash tag that keeps
a crawl's keys in one slot, as the scripts need): ``P meta`` (hash: options, budgets,
nonce), ``P order`` (list: every instance, in seeding order), ``P todo`` (list: never
claimed or released), ``P leases`` (sorted set: instance -> lease end, Redis clock),
``P owners`` (hash: instance -> claim token), ``P done`` (set), ``P inst:URL`` (hash:
status, offsets, counters, failure), ``P seen:URL`` (set of 12-byte dedup keys),
``P vids:URL`` (list: ids of the videos whose comments are read, in written order),
``P records`` (stream: ``i`` instance, ``r`` JSON line), ``P exporter`` (the
coordinator's lease), ``P exported`` (last stream id trimmed), ``P limits:...`` (the
shared rate-limit buckets of :class:`~peertube_async.RedisLimitStore`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import re
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import attrs
from yarl import URL

from .._client import DEFAULT_USER_AGENT, PeerTube, normalize_instance_url
from .._convert import make_converter
from .._pipeline import Backoff
from .._ratelimit import RateLimit
from .._scheduler import Priority
from .._shared import RedisLimitStore
from ._crawler import (
    RECORD_KIND,
    Crawler,
    _dedup_key,
    _Instance,
    _needs_comments,
    is_federated_copy,
)
from ._journal import CheckpointError, Journal
from ._model import (
    KINDS,
    CrawlProgress,
    CrawlReport,
    InstanceProgress,
    InstanceReport,
    InstanceStatus,
)

__all__ = [
    "DEFAULT_NAMESPACE",
    "Claim",
    "CrawlNotFound",
    "CrawlQueue",
    "DistributedCrawl",
    "Worker",
    "WorkerPool",
    "WorkerReport",
    "WorkersExited",
    "distributed_crawl",
    "redis_errors",
    "run_worker",
]

logger = logging.getLogger("peertube_async.crawl")

DEFAULT_NAMESPACE = "peertube_async"

#: The statuses of a done instance, as the instance hash holds them.
_ENDED: dict[str, InstanceStatus] = {
    "complete": "complete",
    "partial": "partial",
    "failed": "failed",
}
_CRAWL_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_MAX_BUFFER = 8 << 20
_EXPORT_BATCH = 1000
_FIELDS = (
    "status",
    "failure",
    "errors",
    "pages",
    "retries",
    "duplicates",
    "copies",
    "skipped",
    "rate_limited",
    "requests_left",
    "totals_known",
    "last_error",
    "ended",
    "claims",
    "takeovers",
    "worker",
)

# KEYS: meta, order, todo, done. ARGV: prefix, options, rate limits, nonce, retry failed
# (1/0), instances... Returns {-1, saved options} or {nonce, added, requeued}.
_SEED = """
local prefix = ARGV[1]
local saved = redis.call('HGET', KEYS[1], 'options')
if saved and saved ~= ARGV[2] then return {-1, saved} end
if not saved then
  local t = redis.call('TIME')
  redis.call('HSET', KEYS[1], 'options', ARGV[2], 'nonce', ARGV[4], 'created', t[1])
end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'rate_limits', ARGV[3]) end
local added = 0
for i = 6, #ARGV do
  local key = prefix .. 'inst:' .. ARGV[i]
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'status', 'queued')
    redis.call('RPUSH', KEYS[2], ARGV[i])
    redis.call('RPUSH', KEYS[3], ARGV[i])
    added = added + 1
  end
end
local requeued = 0
if ARGV[5] == '1' then
  for _, inst in ipairs(redis.call('SMEMBERS', KEYS[4])) do
    local key = prefix .. 'inst:' .. inst
    if redis.call('HGET', key, 'status') ~= 'complete' then
      redis.call('SREM', KEYS[4], inst)
      redis.call('HSET', key, 'status', 'queued')
      redis.call('HDEL', key, 'failure', 'errors')
      redis.call('RPUSH', KEYS[3], inst)
      requeued = requeued + 1
    end
  end
end
return {redis.call('HGET', KEYS[1], 'nonce'), added, requeued}
"""

# KEYS: meta, todo, leases, owners. ARGV: prefix, token, lease_ms, worker.
# An expired lease first (its instance is half done), else the next instance never claimed.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local takeover = 0
local inst = false
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1)
if #expired > 0 then
  inst = expired[1]
  takeover = 1
else
  inst = redis.call('LPOP', KEYS[2])
end
if not inst then
  if redis.call('ZCARD', KEYS[3]) == 0 then return {'finished'} end
  return {'wait'}
end
local key = ARGV[1] .. 'inst:' .. inst
local previous = redis.call('HGET', KEYS[4], inst) or ''
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), inst)
redis.call('HSET', KEYS[4], inst, ARGV[2])
redis.call('HSET', key, 'status', 'crawling', 'worker', ARGV[4])
redis.call('HINCRBY', key, 'claims', 1)
if takeover == 1 then redis.call('HINCRBY', key, 'takeovers', 1) end
return {'claimed', inst, takeover, redis.call('HGET', key, 'state') or '', previous}
"""

# KEYS: leases, owners. ARGV: lease_ms, then instance, token pairs. Returns those lost.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lost = {}
for i = 2, #ARGV, 2 do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[i + 1] then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i])
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
"""

# KEYS: owners, leases, done, stream. ARGV: prefix, instance, token, lease_ms, state,
# final status ('' while crawling), failure, errors, requests_left, totals_known,
# last_error, n counters, then n (field, delta) pairs, then (key, kind, line, video id)
# per record. Returns {-1, 0} when the token no longer owns the instance, else
# {records added, records already there}.
_COMMIT = """
local prefix, inst, token = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HGET', KEYS[1], inst) ~= token then return {-1, 0} end
local key = prefix .. 'inst:' .. inst
local seen = prefix .. 'seen:' .. inst
local vids = prefix .. 'vids:' .. inst
local i = 13
for _ = 1, tonumber(ARGV[12]) do
  redis.call('HINCRBY', key, ARGV[i], tonumber(ARGV[i + 1]))
  i = i + 2
end
local added, dups = 0, 0
while i + 3 <= #ARGV do
  if redis.call('SADD', seen, ARGV[i]) == 1 then
    redis.call('XADD', KEYS[4], '*', 'i', inst, 'r', ARGV[i + 2])
    redis.call('HINCRBY', key, 'records:' .. ARGV[i + 1], 1)
    if ARGV[i + 3] ~= '' then redis.call('RPUSH', vids, ARGV[i + 3]) end
    added = added + 1
  else
    dups = dups + 1
  end
  i = i + 4
end
if dups > 0 then redis.call('HINCRBY', key, 'duplicates', dups) end
redis.call('HSET', key, 'state', ARGV[5], 'requests_left', ARGV[9], 'totals_known', ARGV[10],
           'last_error', ARGV[11])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[6] ~= '' then
  redis.call('HSET', key, 'status', ARGV[6], 'failure', ARGV[7], 'errors', ARGV[8], 'ended', now)
  redis.call('ZREM', KEYS[2], inst)
  redis.call('HDEL', KEYS[1], inst)
  redis.call('SADD', KEYS[3], inst)
else
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), inst)
end
return {added, dups}
"""

# KEYS: owners, leases, todo. ARGV: prefix, then instance, token pairs. Released
# instances go to the front of the queue: they are half done.
_RELEASE = """
local n = 0
for i = 2, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    redis.call('ZREM', KEYS[2], ARGV[i])
    redis.call('LPUSH', KEYS[3], ARGV[i])
    redis.call('HSET', ARGV[1] .. 'inst:' .. ARGV[i], 'status', 'queued')
    n = n + 1
  end
end
return n
"""

# KEYS: exporter, exported, stream. ARGV: token, lease_ms, last exported id ('' for
# none), trim from (the id after it). Takes or renews the export lease (0: another
# coordinator holds it) and drops what was exported from the stream.
_EXPORT = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
if ARGV[3] ~= '' then
  redis.call('XTRIM', KEYS[3], 'MINID', ARGV[4])
  redis.call('SET', KEYS[2], ARGV[3])
end
return 1
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class CrawlNotFound(CheckpointError):
    """No crawl with this id in Redis (never seeded, deleted, or Redis lost its data)."""


class WorkersExited(RuntimeError):
    """Every local worker process ended before the crawl did."""


def redis_errors() -> tuple[type[Exception], ...]:
    """redis-py's error types (none when it is not installed), for ``except`` clauses."""
    try:
        from redis.exceptions import RedisError
    except ImportError:  # pragma: no cover - depends on the install
        return ()
    return (RedisError,)


def _connect(url: str) -> Any:
    try:
        import redis.asyncio as aioredis
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "distributed crawls need redis-py: pip install 'peertube_async[redis]'"
        ) from exc
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    # Replaying a script after a dropped connection is harmless: records go through the
    # dedup set, offsets are absolute, a lease is only ever extended by its owner.
    return aioredis.Redis.from_url(
        url,
        # One reply shape whatever redis-py's default (RESP3 from redis-py 8).
        protocol=2,
        socket_connect_timeout=5.0,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
        retry_on_error=[RedisConnectionError],
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _stream_id(raw: str) -> tuple[int, int]:
    ms, _, seq = raw.partition("-")
    return int(ms), int(seq or 0)


def _options(kinds: Sequence[str], drop_federated_copies: bool) -> dict[str, Any]:
    # The same shape as the single-process checkpoint's, so either engine can resume it.
    return {"kinds": list(kinds), "drop_federated_copies": drop_federated_copies}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _limits_json(limits: Mapping[str, RateLimit] | None) -> str:
    if not limits:
        return ""
    return _canonical({k: [v.limit, v.window, v.count_failed] for k, v in limits.items()})


def _limits_from_json(raw: str | None) -> dict[str, RateLimit] | None:
    if not raw:
        return None
    data = json.loads(raw)
    return {k: RateLimit(int(v[0]), float(v[1]), count_failed=bool(v[2])) for k, v in data.items()}


def _normalize_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    wanted = set(kinds)
    unknown = wanted - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kind(s) {', '.join(sorted(unknown))}; known: {', '.join(KINDS)}")
    if not wanted:
        raise ValueError("nothing to crawl: give at least one kind")
    if "comments" in wanted:
        wanted.add("videos")
    return tuple(k for k in KINDS if k in wanted)


def _check_crawl_id(crawl_id: str) -> str:
    if not _CRAWL_ID.fullmatch(crawl_id):
        raise ValueError(f"crawl id {crawl_id!r}: use 1 to 64 letters, digits, '.', '_' or '-'")
    return crawl_id


@attrs.frozen
class Claim:
    """The answer to :meth:`CrawlQueue.claim`.

    ``status``: ``claimed`` (``instance`` is this claimant's), ``wait`` (nothing to claim
    now, but instances are leased and may come back), ``finished`` (nothing queued or
    leased) or ``missing`` (no such crawl).
    """

    status: str
    instance: str | None = None
    #: The instance was taken over from an expired lease (``previous``: its token).
    takeover: bool = False
    #: The offsets committed so far (JSON, empty for a fresh instance).
    state: str = ""
    previous: str | None = None


class CrawlQueue:
    """The Redis side of one distributed crawl: seeding, atomic claims, leases, commits.

    Every change is one Lua script, atomic on the server. ``url`` or ``client`` (a
    ``redis.asyncio.Redis`` without ``decode_responses``) selects the server.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        crawl_id: str,
        namespace: str = DEFAULT_NAMESPACE,
        client: Any = None,
    ) -> None:
        self.crawl_id = _check_crawl_id(crawl_id)
        self.namespace = namespace
        self._owns_client = client is None
        self.client = client if client is not None else _connect(url or "redis://127.0.0.1:6379/0")
        #: Every key of the crawl starts with this.
        self.prefix = f"{namespace}:crawl:{{{crawl_id}}}:"
        self._seed = self.client.register_script(_SEED)
        self._claim = self.client.register_script(_CLAIM)
        self._renew = self.client.register_script(_RENEW)
        self._commit = self.client.register_script(_COMMIT)
        self._release = self.client.register_script(_RELEASE)
        self._export = self.client.register_script(_EXPORT)
        self._unlock = self.client.register_script(_UNLOCK)

    def __repr__(self) -> str:
        return f"<CrawlQueue {self.prefix}>"

    def key(self, name: str) -> str:
        """The Redis key ``name`` of this crawl (``meta``, ``todo``, ``inst:URL``...)."""
        return self.prefix + name

    @property
    def limits_namespace(self) -> str:
        """The :class:`~peertube_async.RedisLimitStore` namespace of the crawl's workers."""
        return self.prefix + "limits"

    async def aclose(self) -> None:
        """Close the connection pool if this queue made it."""
        if self._owns_client:
            await self.client.aclose()

    # -- the crawl ------------------------------------------------------------------

    async def seed(
        self,
        instances: Iterable[str],
        *,
        options: Mapping[str, Any],
        rate_limits: Mapping[str, RateLimit] | None = None,
        retry_failed: bool = False,
    ) -> tuple[str, int, int]:
        """Create the crawl (or join it: instances already seeded are left alone) and
        queue ``instances``. ``retry_failed`` queues again those that ended failed or
        partial. Returns the crawl's nonce (random, fixed at creation), how many
        instances were added and how many queued again."""
        argv = [
            self.prefix,
            _canonical(options),
            _limits_json(rate_limits),
            secrets.token_hex(8),
            "1" if retry_failed else "0",
            *instances,
        ]
        keys = [self.key("meta"), self.key("order"), self.key("todo"), self.key("done")]
        out = await self._seed(keys=keys, args=argv)
        if isinstance(out[0], int):
            raise CheckpointError(
                f"crawl {self.crawl_id} was started with {_text(out[1])}, not "
                f"{_canonical(options)}: use the same kinds and federated-copy setting"
            )
        return _text(out[0]), int(out[1]), int(out[2])

    async def meta(self) -> dict[str, str] | None:
        """The crawl's settings (``options``, ``rate_limits``, ``nonce``), None if none."""
        raw = await self.client.hgetall(self.key("meta"))
        return {_text(k): _text(v) for k, v in raw.items()} if raw else None

    async def instances(self) -> list[str]:
        """Every instance of the crawl, in seeding order."""
        return [_text(v) for v in await self.client.lrange(self.key("order"), 0, -1)]

    async def finished(self) -> bool:
        """Whether every instance is done (complete, partial or failed)."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.scard(self.key("done"))
            pipe.llen(self.key("order"))
            done, total = await pipe.execute()
        return int(total) > 0 and int(done) >= int(total)

    async def rows(self, kinds: Sequence[str]) -> list[tuple[str, dict[str, str]]]:
        """Each instance with its status fields and ``records:KIND`` counters."""
        order = await self.instances()
        fields = [*_FIELDS, *(f"records:{k}" for k in kinds)]
        async with self.client.pipeline(transaction=False) as pipe:
            for url in order:
                pipe.hmget(self.key(f"inst:{url}"), fields)
            values = await pipe.execute()
        return [
            (url, {f: _text(v) for f, v in zip(fields, row, strict=True) if v is not None})
            for url, row in zip(order, values, strict=True)
        ]

    async def delete(self) -> int:
        """Remove every key of the crawl (its shared budgets included); returns how many."""
        deleted = 0
        batch: list[Any] = []
        async for key in self.client.scan_iter(match=self._match_all(), count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += int(await self.client.unlink(*batch))
                batch.clear()
        if batch:
            deleted += int(await self.client.unlink(*batch))
        return deleted

    def _match_all(self) -> str:
        # The braces and other glob characters of the prefix are matched literally.
        return re.sub(r"([\[\]*?\\])", r"\\\1", self.prefix) + "*"

    # -- workers --------------------------------------------------------------------

    async def claim(self, token: str, lease: float, worker: str = "") -> Claim:
        """Take one instance for ``token`` for ``lease`` seconds: an expired lease first,
        else the next queued instance. Atomic: two claimants never get the same one."""
        keys = [self.key("meta"), self.key("todo"), self.key("leases"), self.key("owners")]
        out = await self._claim(keys=keys, args=[self.prefix, token, round(lease * 1000), worker])
        status = _text(out[0])
        if status != "claimed":
            return Claim(status)
        previous = _text(out[4])
        return Claim(
            status,
            instance=_text(out[1]),
            takeover=int(out[2]) == 1,
            state=_text(out[3]),
            previous=previous or None,
        )

    async def renew(self, held: Mapping[str, str], lease: float) -> list[str]:
        """Extend the leases of ``held`` (instance -> token); returns the instances whose
        lease was taken over meanwhile."""
        if not held:
            return []
        argv: list[Any] = [round(lease * 1000)]
        for url, token in held.items():
            argv += [url, token]
        out = await self._renew(keys=[self.key("leases"), self.key("owners")], args=argv)
        return [_text(v) for v in out]

    async def release(self, held: Mapping[str, str]) -> int:
        """Give instances back unfinished (they go to the front of the queue)."""
        if not held:
            return 0
        argv: list[Any] = [self.prefix]
        for url, token in held.items():
            argv += [url, token]
        keys = [self.key("owners"), self.key("leases"), self.key("todo")]
        return int(await self._release(keys=keys, args=argv))

    async def commit(
        self,
        instance: str,
        token: str,
        *,
        lease: float,
        state: str,
        records: Sequence[tuple[bytes, str, bytes, str]] = (),
        counters: Mapping[str, int] | None = None,
        status: str = "",
        failure: str = "",
        errors: Mapping[str, str] | None = None,
        requests_left: int = 0,
        totals_known: bool = False,
        last_error: str = "",
    ) -> tuple[int, int] | None:
        """Add ``records`` (dedup key, kind, JSON line, video id or '') and store
        ``state`` in one step, if ``token`` still owns ``instance``; a final ``status``
        also marks it done. Returns (records added, records already there), or None
        when the lease was lost (nothing was changed)."""
        pairs = [(k, v) for k, v in (counters or {}).items() if v]
        argv: list[Any] = [
            self.prefix,
            instance,
            token,
            round(lease * 1000),
            state,
            status,
            failure,
            _canonical(dict(errors or {})),
            requests_left,
            int(totals_known),
            last_error,
            len(pairs),
        ]
        for field, delta in pairs:
            argv += [field, delta]
        for key, kind, line, vid in records:
            argv += [key, kind, line, vid]
        keys = [self.key("owners"), self.key("leases"), self.key("done"), self.key("records")]
        out = await self._commit(keys=keys, args=argv)
        if int(out[0]) < 0:
            return None
        return int(out[0]), int(out[1])

    async def load_seen(self, instance: str) -> set[int]:
        """The dedup keys of the records of ``instance`` already in the stream."""
        seen: set[int] = set()
        async for member in self.client.sscan_iter(self.key(f"seen:{instance}"), count=10000):
            seen.add(int.from_bytes(member, "big"))
        return seen

    async def load_video_ids(self, instance: str) -> list[int]:
        """The ids of the videos whose comments are read, in the order written."""
        key = self.key(f"vids:{instance}")
        out: list[int] = []
        step = 100_000
        while True:
            chunk = await self.client.lrange(key, len(out), len(out) + step - 1)
            out.extend(int(v) for v in chunk)
            if len(chunk) < step:
                return out

    # -- export ---------------------------------------------------------------------

    async def hold_export(self, token: str, lease: float, last_id: str | None = None) -> bool:
        """Take or renew the export lease; with ``last_id``, drop the stream up to it
        (it is in the output for good). False when another coordinator holds it."""
        trim_from = ""
        if last_id:
            ms, seq = _stream_id(last_id)
            trim_from = f"{ms}-{seq + 1}"
        keys = [self.key("exporter"), self.key("exported"), self.key("records")]
        argv = [token, round(lease * 1000), last_id or "", trim_from]
        return int(await self._export(keys=keys, args=argv)) == 1

    async def drop_export(self, token: str) -> None:
        """Give the export lease up."""
        await self._unlock(keys=[self.key("exporter")], args=[token])

    async def exported(self) -> str | None:
        """The last stream id trimmed after its export."""
        raw = await self.client.get(self.key("exported"))
        return None if raw is None else _text(raw)

    async def read(self, after: str, count: int, block: float | None) -> list[tuple[str, Any]]:
        """Stream entries after ``after`` (waiting up to ``block`` seconds for one)."""
        block_ms = None if block is None else max(1, round(block * 1000))
        out = await self.client.xread({self.key("records"): after}, count=count, block=block_ms)
        if not out:
            return []
        return [(_text(entry_id), fields) for entry_id, fields in out[0][1]]


# -- workers ------------------------------------------------------------------------------


@attrs.frozen
class WorkerReport:
    """What one :class:`Worker` did."""

    worker: str
    #: Instances claimed, those of them taken over from an expired lease, finished
    #: (done: complete, partial or failed), lost to another worker, and given back.
    claimed: tuple[str, ...]
    taken_over: tuple[str, ...]
    finished: tuple[str, ...]
    lost: tuple[str, ...]
    released: tuple[str, ...]
    #: Records this worker added to the crawl.
    written: int
    #: Stopped (``stop()``, a signal) before the crawl was finished.
    stopped: bool


class _Host(Crawler):
    """What the single-process per-instance engine talks to, inside a worker: its
    settings, and ``_emit`` sending records to Redis instead of a journal. The journal
    that ``Crawler`` sets up (on ``os.devnull``) is never opened."""

    def __init__(self, worker: Worker, kinds: Sequence[str], drop_federated_copies: bool) -> None:
        super().__init__(
            (),
            os.devnull,
            kinds=kinds,
            drop_federated_copies=drop_federated_copies,
            connections=worker.connections,
            per_instance=worker.per_instance,
            retries=worker.retries,
            backoff=worker.backoff,
            timeout=worker.timeout,
            user_agent=worker.user_agent,
        )
        self._worker = worker

    def _emit(self, inst: _Instance, kind: str, items: Sequence[Any]) -> None:
        self._worker._emit(inst, kind, items)


@attrs.define(eq=False)
class _Batch:
    records: list[tuple[bytes, str, bytes, str]]
    #: The instance's offsets right after these records: they describe each other.
    state: str


@attrs.define(eq=False)
class _Held:
    """One claimed instance inside a worker."""

    url: str
    token: str
    inst: _Instance
    seen: set[int]
    pending: list[_Batch] = attrs.Factory(list)
    wake: asyncio.Event = attrs.Factory(asyncio.Event)
    closing: bool = False
    lost: bool = False
    inner: asyncio.Task[None] | None = None
    #: Counters already added to Redis.
    sent: dict[str, int] = attrs.Factory(dict)


class Worker:
    """Crawls instances of a distributed crawl, claimed one by one from Redis.

    Up to ``instances_at_once`` instances side by side, each with the single-process
    engine (``per_instance`` requests outstanding, ``retries`` with ``backoff``). Leases
    last ``lease`` seconds and are renewed every third of it; an instance whose lease
    expires (its worker died) is taken over from its committed offsets. The budgets of
    every instance are shared with all workers of the crawl through a
    :class:`~peertube_async.RedisLimitStore` (namespace ``limits_namespace``, by default
    one per crawl). ``rate_limits``: the budgets when not those the coordinator stored
    (else PeerTube's defaults). ``wait``: wait for the crawl to be seeded instead of
    raising :class:`CrawlNotFound`. ``events``: called with a line per claim and end.

    :meth:`run` returns when the crawl is finished (nothing queued or leased), or soon
    after :meth:`stop`: unfinished instances are given back at once.
    """

    def __init__(
        self,
        redis_url: str,
        crawl_id: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        instances_at_once: int = 8,
        per_instance: int = 4,
        connections: int = 64,
        lease: float = 30.0,
        retries: int = 4,
        backoff: Backoff | None = None,
        timeout: float = 30.0,
        rate_limits: Mapping[str, RateLimit] | None = None,
        limits_namespace: str | None = None,
        user_agent: str | None = DEFAULT_USER_AGENT,
        wait: bool = False,
        events: Callable[[str], None] | None = None,
    ) -> None:
        if instances_at_once < 1 or per_instance < 1 or connections < 1:
            raise ValueError("instances_at_once, per_instance and connections must be >= 1")
        if lease <= 0:
            raise ValueError("lease must be > 0")
        self.redis_url = redis_url
        self.crawl_id = _check_crawl_id(crawl_id)
        self.namespace = namespace
        self.instances_at_once = instances_at_once
        self.per_instance = per_instance
        self.connections = connections
        self.lease = lease
        self.retries = retries
        self.backoff = backoff or Backoff(base=1.0, cap=30.0)
        self.timeout = timeout
        self.rate_limits = dict(rate_limits) if rate_limits else None
        self.limits_namespace = limits_namespace
        self.user_agent = user_agent
        self.wait = wait
        self.events = events
        #: ``host/pid/random``: names this worker in the crawl's instance records.
        self.id = f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(3)}"
        self._claims = 0
        self._held: dict[str, _Held] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stop = asyncio.Event()
        self._stopping = False
        self._host: _Host | None = None
        self._rate_limited: dict[str, int] = {}
        self._converter = make_converter()
        self._claimed: list[str] = []
        self._taken_over: list[str] = []
        self._finished: list[str] = []
        self._lost: list[str] = []
        self._released: list[str] = []
        self._written = 0

    def stop(self) -> None:
        """Stop soon: records received are committed, unfinished instances given back."""
        self._stopping = True
        self._stop.set()
        for held in self._held.values():
            if held.inner is not None:
                held.inner.cancel()

    def _note(self, text: str) -> None:
        if self.events is not None:
            self.events(text)

    @property
    def _poll(self) -> float:
        return min(1.0, self.lease / 4)

    async def run(self) -> WorkerReport:
        """Claim and crawl instances until the crawl is finished or :meth:`stop`."""
        queue = CrawlQueue(self.redis_url, crawl_id=self.crawl_id, namespace=self.namespace)
        store: RedisLimitStore | None = None
        session = None
        heartbeat: asyncio.Task[None] | None = None
        try:
            meta = await self._meta(queue)
            if meta is None:
                return self._report()
            options = json.loads(meta["options"])
            kinds = _normalize_kinds(options["kinds"])
            self.rate_limits = self.rate_limits or _limits_from_json(meta.get("rate_limits"))
            host = self._host = _Host(self, kinds, bool(options["drop_federated_copies"]))
            session = host._make_session()
            assert host._rate_limited is not None
            self._rate_limited = host._rate_limited
            store = RedisLimitStore(
                self.redis_url, namespace=self.limits_namespace or queue.limits_namespace
            )
            heartbeat = asyncio.create_task(self._heartbeat(queue))
            await self._loop(queue, store, session)
        finally:
            self._stopping = True
            for held in self._held.values():
                if held.inner is not None:
                    held.inner.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks.values(), return_exceptions=True)
            if heartbeat is not None:
                heartbeat.cancel()
                await asyncio.gather(heartbeat, return_exceptions=True)
            if session is not None:
                await session.close()
            if store is not None:
                await store.aclose()
            await queue.aclose()
        return self._report()

    async def _meta(self, queue: CrawlQueue) -> dict[str, str] | None:
        while True:
            meta = await queue.meta()
            if meta is not None:
                return meta
            if not self.wait:
                raise CrawlNotFound(f"no crawl {self.crawl_id} in Redis ({queue.prefix}*)")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._poll)
            if self._stopping:
                return None

    async def _loop(self, queue: CrawlQueue, store: RedisLimitStore, session: Any) -> None:
        stopper = asyncio.create_task(self._stop.wait())
        try:
            while not self._stopping:
                self._reap()
                idle = True
                if len(self._tasks) < self.instances_at_once:
                    self._claims += 1
                    token = f"{self.id}#{self._claims}"
                    claim = await queue.claim(token, self.lease, self.id)
                    if claim.status == "claimed":
                        await self._start(queue, store, session, claim, token)
                        continue
                    if claim.status == "missing":
                        raise CrawlNotFound(f"crawl {self.crawl_id} vanished from Redis")
                    if claim.status == "finished" and not self._tasks:
                        return
                    idle = claim.status != "finished"
                waiting: set[asyncio.Future[Any]] = {stopper, *self._tasks.values()}
                await asyncio.wait(
                    waiting, timeout=self._poll if idle else None, return_when="FIRST_COMPLETED"
                )
        finally:
            stopper.cancel()
            await asyncio.gather(stopper, return_exceptions=True)
        self._reap()

    def _reap(self) -> None:
        for url, task in list(self._tasks.items()):
            if task.done():
                del self._tasks[url]
                error = None if task.cancelled() else task.exception()
                if error is not None:
                    raise error

    async def _start(
        self, queue: CrawlQueue, store: RedisLimitStore, session: Any, claim: Claim, token: str
    ) -> None:
        assert claim.instance is not None and self._host is not None
        url = claim.instance
        try:
            saved = json.loads(claim.state) if claim.state else {}
            inst = _Instance(self._host, url, saved if isinstance(saved, dict) else {})
            seen = await queue.load_seen(url)
            if inst.comments is not None:
                inst.comments.ids.extend(await queue.load_video_ids(url))
                if inst.comments.released > len(inst.comments.ids):
                    raise CheckpointError(
                        f"the offsets of {url}'s comments are ahead of its records"
                    )
        except BaseException:
            await queue.release({url: token})
            raise
        inst.client = PeerTube(
            url,
            session=session,
            user_agent=self.user_agent,
            rate_limits=self.rate_limits,
            priority=Priority.BULK,
            # One quick retry inside the client; the crawl's own are slower.
            retries=1,
            backoff=self.backoff,
            shared_limits=store,
        )
        held = _Held(url, token, inst, seen)
        # The session counts 429s per origin for the worker's whole life.
        held.sent["rate_limited"] = self._rate_limited.get(url, 0)
        self._held[url] = held
        self._claimed.append(url)
        if claim.takeover:
            self._taken_over.append(url)
            self._note(f"took {url} over from an expired lease ({claim.previous})")
        else:
            self._note(f"claimed {url}")
        self._tasks[url] = asyncio.create_task(self._crawl(queue, held), name=f"worker {url}")

    async def _crawl(self, queue: CrawlQueue, held: _Held) -> None:
        inst = held.inst
        committer = asyncio.create_task(self._commit_loop(queue, held))
        inner = held.inner = asyncio.create_task(inst.run(), name=f"crawl {held.url}")
        if self._stopping:
            inner.cancel()
        try:
            # wait() rather than await: the run being cancelled (stop, lost lease) is an
            # outcome here, not this task's cancellation.
            await asyncio.wait({inner})
            held.closing = True
            held.wake.set()
            await committer
            error = None if inner.cancelled() else inner.exception()
            if error is not None:
                raise error
            if held.lost:
                self._lost.append(held.url)
                self._note(f"lost {held.url} to another worker")
            elif inst.finished:
                await self._finish(queue, held)
            else:
                await queue.release({held.url: held.token})
                self._released.append(held.url)
                self._note(f"gave {held.url} back")
        finally:
            inner.cancel()
            committer.cancel()
            await asyncio.gather(inner, committer, return_exceptions=True)
            self._held.pop(held.url, None)
            if inst.client is not None:
                await inst.client.close()

    def _emit(self, inst: _Instance, kind: str, items: Sequence[Any]) -> None:
        """Records that are in sequence: deduplicated and filtered as a single-process
        crawl does, then queued for Redis with the offsets that follow them."""
        held = self._held.get(inst.url)
        if held is None or held.lost:
            return
        assert self._host is not None
        record_kind = RECORD_KIND[kind]
        drop = self._host.drop_federated_copies
        comments = inst.comments if kind == "videos" else None
        records: list[tuple[bytes, str, bytes, str]] = []
        for item in items:
            data = self._converter.unstructure(item)
            key = _dedup_key(inst.url, record_kind, data)
            if key in held.seen:
                inst.duplicates += 1
                continue
            if kind != "comments" and is_federated_copy(inst.url, data):
                inst.copies += 1
                if drop:
                    continue
            held.seen.add(key)
            record = {"instance": inst.url, "kind": record_kind, "data": data}
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
            vid = ""
            if comments is not None:
                needed = _needs_comments(data)
                if needed is not None:
                    comments.ids.append(needed)
                    vid = str(needed)
            records.append((key.to_bytes(12, "big"), kind, line, vid))
            inst.records[kind] += 1
            inst.written += 1
        held.pending.append(_Batch(records, json.dumps(inst.dump(), separators=(",", ":"))))
        held.wake.set()

    async def _commit_loop(self, queue: CrawlQueue, held: _Held) -> None:
        # Never cancelled mid-commit: a batch whose fate is unknown would leave the
        # offsets of the next one past records that may be missing.
        while True:
            await held.wake.wait()
            held.wake.clear()
            while held.pending and not held.lost:
                batches, held.pending = held.pending, []
                records = [r for b in batches for r in b.records]
                if not await self._commit(queue, held, batches[-1].state, records):
                    return
            if held.closing or held.lost:
                return

    def _counters(self, held: _Held) -> dict[str, int]:
        inst = held.inst
        now = {
            "pages": inst.pages,
            "retries": inst.retries,
            "copies": inst.copies,
            "skipped": inst.comments.skipped if inst.comments is not None else 0,
            "rate_limited": self._rate_limited.get(held.url, 0),
            # Those Redis finds are added by the commit script itself.
            "duplicates": inst.duplicates,
        }
        delta = {k: v - held.sent.get(k, 0) for k, v in now.items()}
        held.sent.update(now)
        return delta

    async def _commit(
        self,
        queue: CrawlQueue,
        held: _Held,
        state: str,
        records: Sequence[tuple[bytes, str, bytes, str]],
        status: str = "",
    ) -> bool:
        inst = held.inst
        left, known = inst.requests_left()
        try:
            out = await queue.commit(
                held.url,
                held.token,
                lease=self.lease,
                state=state,
                records=records,
                counters=self._counters(held),
                status=status,
                failure=inst.failure or "",
                errors=inst.errors,
                requests_left=left,
                totals_known=known,
                last_error=inst.last_error or "",
            )
        except Exception as exc:
            # Whether the script ran is unknown: what Redis holds is consistent either
            # way, this worker's copy may not be. Drop the instance; a claim reloads it.
            logger.warning("commit for %s failed (%r); dropping the instance", held.url, exc)
            out = None
        if out is None:
            self._drop(held)
            return False
        self._written += out[0]
        return True

    def _drop(self, held: _Held) -> None:
        held.lost = True
        held.pending.clear()
        if held.inner is not None:
            held.inner.cancel()

    async def _finish(self, queue: CrawlQueue, held: _Held) -> None:
        inst = held.inst
        state = json.dumps(inst.dump(), separators=(",", ":"))
        if await self._commit(queue, held, state, (), status=inst.status):
            self._finished.append(held.url)
            records = sum(inst.records.values())
            self._note(f"finished {held.url}: {inst.status}, {records:,} new records")
        else:
            self._lost.append(held.url)

    async def _heartbeat(self, queue: CrawlQueue) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            held = {h.url: h.token for h in self._held.values() if not h.lost}
            try:
                lost = await queue.renew(held, self.lease)
            except Exception as exc:
                logger.warning("renewing leases failed: %r", exc)
                continue
            for url in lost:
                found = self._held.get(url)
                if found is not None:
                    self._drop(found)

    def _report(self) -> WorkerReport:
        return WorkerReport(
            worker=self.id,
            claimed=tuple(self._claimed),
            taken_over=tuple(self._taken_over),
            finished=tuple(self._finished),
            lost=tuple(self._lost),
            released=tuple(self._released),
            written=self._written,
            stopped=self._stop.is_set(),
        )


async def run_worker(redis_url: str, crawl_id: str, **options: Any) -> WorkerReport:
    """Run a :class:`Worker` (same arguments) to its end and return its report."""
    return await Worker(redis_url, crawl_id, **options).run()


# -- worker processes ---------------------------------------------------------------------

#: Exit codes of a worker process.
_EXIT_OK, _EXIT_USAGE, _EXIT_NETWORK, _EXIT_STOPPED = 0, 2, 4, 130


def _worker_process(
    redis_url: str, crawl_id: str, options: dict[str, Any], parent: int | None
) -> None:
    """The body of a worker process (spawned): a :class:`Worker` stopped by SIGINT or
    SIGTERM, or when its parent ``parent`` dies."""
    sys.exit(asyncio.run(_worker_main(redis_url, crawl_id, options, parent)))


async def _worker_main(
    redis_url: str, crawl_id: str, options: dict[str, Any], parent: int | None
) -> int:
    worker = Worker(redis_url, crawl_id, **options)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, worker.stop)

    async def orphaned() -> None:
        # A coordinator killed outright cannot stop its workers; they notice.
        while True:
            await asyncio.sleep(0.5)
            if os.getppid() != parent:
                worker.stop()
                return

    watch = asyncio.create_task(orphaned()) if parent is not None else None
    try:
        report = await worker.run()
    except CheckpointError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return _EXIT_USAGE
    except redis_errors() as exc:
        print(f"worker: Redis: {exc}", file=sys.stderr)
        return _EXIT_NETWORK
    finally:
        if watch is not None:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
    return _EXIT_STOPPED if report.stopped else _EXIT_OK


class WorkerPool:
    """``processes`` worker processes on this machine (``multiprocessing``, spawned),
    each a :class:`Worker` with ``options``. They stop on SIGINT/SIGTERM, and when the
    process that started them dies."""

    def __init__(self, redis_url: str, crawl_id: str, processes: int, **options: Any) -> None:
        if processes < 0:
            raise ValueError("processes must be >= 0")
        self.redis_url = redis_url
        self.crawl_id = _check_crawl_id(crawl_id)
        self.count = processes
        self.options = options
        self.processes: list[BaseProcess] = []

    def start(self) -> None:
        """Start the processes."""
        context = multiprocessing.get_context("spawn")
        for n in range(self.count):
            proc = context.Process(
                target=_worker_process,
                args=(self.redis_url, self.crawl_id, self.options, os.getpid()),
                name=f"crawl-worker-{n}",
            )
            proc.start()
            self.processes.append(proc)

    @property
    def alive(self) -> int:
        """Processes still running."""
        return sum(1 for p in self.processes if p.exitcode is None)

    @property
    def exitcodes(self) -> list[int | None]:
        """Each process's exit code (None while it runs; negative: killed by a signal)."""
        return [p.exitcode for p in self.processes]

    def stop(self) -> None:
        """Ask every process to stop (SIGTERM): they give their instances back."""
        for proc in self.processes:
            if proc.exitcode is None:
                proc.terminate()

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until every process has ended (or ``timeout``); True if they all did."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.alive:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def close(self, grace: float = 15.0) -> None:
        """Stop the processes, killing those that do not end within ``grace`` seconds."""
        self.stop()
        if not await self.wait(grace):
            for proc in self.processes:
                if proc.exitcode is None:
                    proc.kill()
            await self.wait()
        for proc in self.processes:
            proc.join()
            proc.close()
        self.processes.clear()


# -- the coordinator ----------------------------------------------------------------------

Progress = Callable[[CrawlProgress], None]


class DistributedCrawl:
    """Seed a crawl in Redis, run ``workers`` local worker processes, export the records
    to ``out`` as they come, until every instance is done.

    ``out`` and its checkpoint behave as with :class:`Crawler` (``resume``,
    ``overwrite``; the same JSON Lines; a single-process ``Crawler`` can even resume
    it); the checkpoint also holds the crawl id and the last stream entry exported, so a
    killed coordinator resumes the export with no duplicate or broken line. ``crawl_id``:
    the crawl to create or join (default: the checkpoint's when resuming, else a new
    random one, see :attr:`crawl_id`). ``workers`` may be 0 when workers run elsewhere
    (:func:`run_worker`, ``peertube-async crawl-worker``). ``resume`` also queues again
    the instances that ended failed or partial. Other options are the workers' (see
    :class:`Worker`) or as for :class:`Crawler`; ``events`` is called with a line once
    the crawl is seeded (its id, how to join it).
    """

    def __init__(
        self,
        instances: Iterable[str | URL],
        out: str | os.PathLike[str],
        *,
        redis_url: str,
        workers: int = 1,
        crawl_id: str | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        kinds: Iterable[str] = ("videos",),
        resume: bool = False,
        overwrite: bool = False,
        drop_federated_copies: bool = False,
        rate_limits: Mapping[str, RateLimit] | None = None,
        lease: float = 30.0,
        instances_per_worker: int = 8,
        per_instance: int = 4,
        connections: int = 64,
        retries: int = 4,
        backoff: Backoff | None = None,
        timeout: float = 30.0,
        user_agent: str | None = DEFAULT_USER_AGENT,
        commit_interval: float = 0.5,
        progress: Progress | None = None,
        progress_interval: float = 1.0,
        checkpoint: str | os.PathLike[str] | None = None,
        meta: Mapping[str, Any] | None = None,
        events: Callable[[str], None] | None = None,
    ) -> None:
        if workers < 0:
            raise ValueError("workers must be >= 0")
        if lease <= 0:
            raise ValueError("lease must be > 0")
        self.kinds = _normalize_kinds(kinds)
        self.urls: list[str] = []
        for given in instances:
            origin = str(normalize_instance_url(given))
            if origin not in self.urls:
                self.urls.append(origin)
        self.redis_url = redis_url
        self.workers = workers
        self.crawl_id = None if crawl_id is None else _check_crawl_id(crawl_id)
        self.namespace = namespace
        self.resume = resume
        self.overwrite = overwrite
        self.drop_federated_copies = drop_federated_copies
        self.rate_limits = dict(rate_limits) if rate_limits else None
        self.lease = lease
        self.worker_options: dict[str, Any] = {
            "namespace": namespace,
            "instances_at_once": instances_per_worker,
            "per_instance": per_instance,
            "connections": connections,
            "lease": lease,
            "retries": retries,
            "backoff": backoff,
            "timeout": timeout,
            "rate_limits": self.rate_limits,
            "user_agent": user_agent,
        }
        self.commit_interval = commit_interval
        self.progress = progress
        self.progress_interval = progress_interval
        self.meta = dict(meta or {})
        self.events = events
        self.journal = Journal(out, checkpoint)
        self._state: dict[str, Any] = {}
        self._order: list[str] = []
        self._rows: list[tuple[str, dict[str, str]]] = []
        self._written: dict[str, int] = {}
        self._stop = asyncio.Event()
        self._stopping = False
        self._started = time.monotonic()
        self._started_wall = time.time()
        self._running = False
        self._pool: WorkerPool | None = None

    @property
    def out(self) -> Path:
        """The output file."""
        return self.journal.out

    def stop(self) -> None:
        """End soon: local workers give their instances back, what they committed is
        exported; :meth:`run` then returns a report with ``interrupted`` set."""
        self._stopping = True
        self._stop.set()

    async def run(self) -> CrawlReport:
        """Crawl until every instance is done, or :meth:`stop`."""
        if self._running:
            raise RuntimeError("a DistributedCrawl runs once")
        self._running = True
        self._started = time.monotonic()
        self._started_wall = time.time()
        state = self._open()
        queue = CrawlQueue(self.redis_url, crawl_id=self.crawl_id or "", namespace=self.namespace)
        # Named after the output, not the process: a coordinator restarted after a crash
        # takes its own export back at once instead of waiting for the lease to expire.
        token = f"{socket.gethostname()}:{self.out.resolve()}"
        holding = False
        finished = False
        try:
            await self._seed(queue, state)
            if not await queue.hold_export(token, self.lease):
                raise CheckpointError(
                    f"another coordinator is exporting crawl {self.crawl_id}; wait for it, "
                    f"or for its lease to expire ({self.lease:g} s after it died)"
                )
            holding = True
            last = str(state["redis"]["last_id"])
            trimmed = await queue.exported()
            if trimmed is not None and _stream_id(trimmed) > _stream_id(last):
                raise CheckpointError(
                    f"records of crawl {self.crawl_id} up to {trimmed} were exported to "
                    f"another output and removed from Redis; {self.out} stopped at {last}"
                )
            if self.workers:
                self._pool = WorkerPool(
                    self.redis_url, str(self.crawl_id), self.workers, **self.worker_options
                )
                self._pool.start()
            finished = await self._export(queue, token)
        finally:
            try:
                if self._pool is not None:
                    await self._pool.close()
                if holding:
                    # What the workers committed while stopping.
                    with contextlib.suppress(*redis_errors()):
                        await self._drain(queue, token)
                        self._rows = await queue.rows(self.kinds)
                self._state["complete"] = finished and all(
                    row.get("status") == "complete" for _, row in self._rows
                )
                self.journal.commit(self._state)
            finally:
                self.journal.close()
                if holding:
                    with contextlib.suppress(*redis_errors()):
                        await queue.drop_export(token)
                await queue.aclose()
        report = self._report(not finished)
        if self.progress is not None:
            self.progress(self._snapshot())
        return report

    # -- opening --------------------------------------------------------------------

    def _open(self) -> dict[str, Any]:
        options = _options(self.kinds, self.drop_federated_copies)
        fresh_id = self.crawl_id or secrets.token_hex(6)
        fresh = {
            "options": options,
            "order": list(self.urls),
            "instances": {},
            "meta": self.meta,
            "complete": False,
            "redis": {
                "crawl_id": fresh_id,
                "namespace": self.namespace,
                "nonce": None,
                "last_id": "0-0",
            },
        }
        state = self.journal.open(resume=self.resume, overwrite=self.overwrite, fresh=fresh)
        try:
            saved = state.get("redis")
            if not isinstance(saved, dict) or not isinstance(saved.get("crawl_id"), str):
                raise CheckpointError(
                    f"{self.out} was written by a single-process crawl: resume it without Redis"
                )
            if state.get("options") != options:
                raise CheckpointError(
                    f"{self.out} was crawled with {state.get('options')}, not {options}: "
                    "resume it with the same kinds and federated-copy setting"
                )
            if self.crawl_id is not None and saved["crawl_id"] != self.crawl_id:
                raise CheckpointError(
                    f"{self.out} holds crawl {saved['crawl_id']}, not {self.crawl_id}"
                )
            if saved.get("namespace", DEFAULT_NAMESPACE) != self.namespace:
                raise CheckpointError(
                    f"{self.out} holds a crawl of namespace {saved.get('namespace')!r}"
                )
            if not self.meta and isinstance(state.get("meta"), dict):
                self.meta = dict(state["meta"])
        except BaseException:
            self.journal.close()
            raise
        self.crawl_id = saved["crawl_id"]
        self._state = state
        return state

    async def _seed(self, queue: CrawlQueue, state: dict[str, Any]) -> None:
        saved = state["redis"]
        if saved.get("nonce") and await queue.meta() is None:
            raise CrawlNotFound(
                f"crawl {self.crawl_id} of {self.out} is no longer in Redis (deleted, or "
                "Redis lost its data): its progress is gone; crawl again to a new output"
            )
        urls = self.urls or [str(u) for u in state.get("order", []) if isinstance(u, str)]
        if not urls and await queue.meta() is None:
            raise ValueError("no instance to crawl")
        nonce, added, requeued = await queue.seed(
            urls,
            options=_options(self.kinds, self.drop_federated_copies),
            rate_limits=self.rate_limits,
            retry_failed=self.resume,
        )
        if saved.get("nonce") not in (None, nonce):
            raise CheckpointError(
                f"crawl {self.crawl_id} in Redis is not the one {self.out} was exported from "
                "(it was deleted and started again)"
            )
        saved["nonce"] = nonce
        self._order = await queue.instances()
        state["order"] = list(self._order)
        if self.events is not None:
            again = f", {requeued} queued again" if requeued else ""
            self.events(
                f"crawl {self.crawl_id}: {len(self._order)} instance(s) ({added} new{again}); "
                f"workers elsewhere join with `peertube-async crawl-worker --redis URL "
                f"--crawl-id {self.crawl_id}`"
            )
        # Recorded before anything is exported, so a resume checks it.
        self.journal.commit(state)

    # -- export ---------------------------------------------------------------------

    async def _export(self, queue: CrawlQueue, token: str) -> bool:
        """Append the stream to the output until every instance is done; False when
        stopped first."""
        loop = asyncio.get_running_loop()
        next_commit = loop.time() + self.commit_interval
        next_renew = loop.time() + self.lease / 3
        next_progress = loop.time()
        block = max(0.01, min(self.commit_interval, 0.2))
        while not self._stopping:
            got = await self._read(queue, block)
            now = loop.time()
            if self.journal.pending_bytes and (
                now >= next_commit or self.journal.pending_bytes >= _MAX_BUFFER
            ):
                await self._commit(queue, token)
                next_commit = now + self.commit_interval
                next_renew = now + self.lease / 3
            elif now >= next_renew:
                await self._hold(queue, token, None)
                next_renew = now + self.lease / 3
            if self.progress is not None and now >= next_progress:
                self._rows = await queue.rows(self.kinds)
                self.progress(self._snapshot())
                next_progress = now + self.progress_interval
            if got == 0 and await queue.finished():
                # Every last record was added with its instance's "done": take the tail.
                await self._drain(queue, token)
                return True
            pool = self._pool
            if pool is not None and pool.alive == 0 and not await queue.finished():
                if self._stopping or all(c == _EXIT_STOPPED for c in pool.exitcodes):
                    # Stopped with them (a Ctrl-C reaches the whole process group).
                    break
                raise WorkersExited(
                    f"every local worker ended before the crawl did (exit codes "
                    f"{pool.exitcodes}); resume to go on"
                )
        return False

    async def _read(self, queue: CrawlQueue, block: float | None) -> int:
        last = self._state["redis"]["last_id"]
        entries = await queue.read(last, _EXPORT_BATCH, block)
        for entry_id, fields in entries:
            line = fields[b"r"]
            self.journal.add(line + b"\n")
            url = _text(fields[b"i"])
            self._written[url] = self._written.get(url, 0) + 1
            last = entry_id
        self._state["redis"]["last_id"] = last
        return len(entries)

    async def _drain(self, queue: CrawlQueue, token: str) -> None:
        while await self._read(queue, None):
            if self.journal.pending_bytes >= _MAX_BUFFER:
                await self._commit(queue, token)
        await self._commit(queue, token)

    async def _commit(self, queue: CrawlQueue, token: str) -> None:
        # The output first (fsynced, with the checkpoint naming the last entry in it),
        # then the stream is trimmed: nothing leaves Redis before it is on disk.
        self.journal.commit(self._state)
        await self._hold(queue, token, self._state["redis"]["last_id"])

    async def _hold(self, queue: CrawlQueue, token: str, last_id: str | None) -> None:
        if last_id == "0-0":
            last_id = None
        if not await queue.hold_export(token, self.lease, last_id):
            raise CheckpointError(
                f"another coordinator took the export of crawl {self.crawl_id} over"
            )

    # -- reporting ------------------------------------------------------------------

    def _records(self, row: Mapping[str, str]) -> dict[str, int]:
        return {k: int(row.get(f"records:{k}", 0)) for k in self.kinds}

    def _snapshot(self) -> CrawlProgress:
        rows = []
        for url, row in self._rows:
            status = _ENDED.get(row.get("status", ""), "crawling")
            done = status != "crawling"
            rows.append(
                InstanceProgress(
                    url=url,
                    status=status,
                    pages=int(row.get("pages", 0)),
                    records=sum(self._records(row).values()),
                    requests_left=0 if done else int(row.get("requests_left", 1)),
                    totals_known=done or row.get("totals_known") == "1",
                    retries=int(row.get("retries", 0)),
                    limit=None,
                    window=None,
                    budget_left=None,
                    eta=0.0 if done else None,
                    rate_limited=int(row.get("rate_limited", 0)),
                    last_error=row.get("last_error") or None,
                )
            )
        return CrawlProgress(
            elapsed=time.monotonic() - self._started,
            instances=tuple(rows),
            committed_bytes=self.journal.committed_bytes,
        )

    def _report(self, interrupted: bool) -> CrawlReport:
        rows = dict(self._rows)
        reports = []
        for url in self._order:
            row = rows.get(url, {})
            status = _ENDED.get(row.get("status", ""), "stopped")
            if status == "stopped":
                interrupted = True
            ended = row.get("ended")
            end = int(ended) / 1000 if ended else time.time()
            errors = json.loads(row["errors"]) if row.get("errors") else {}
            reports.append(
                InstanceReport(
                    url=url,
                    status=status,
                    records=self._records(row),
                    written=self._written.get(url, 0),
                    duplicates=int(row.get("duplicates", 0)),
                    federated_copies=int(row.get("copies", 0)),
                    pages=int(row.get("pages", 0)),
                    retries=int(row.get("retries", 0)),
                    rate_limited=int(row.get("rate_limited", 0)),
                    skipped=int(row.get("skipped", 0)),
                    errors=errors,
                    failure=row.get("failure") or None,
                    elapsed=max(0.0, end - self._started_wall),
                )
            )
        return CrawlReport(
            out=self.journal.out,
            checkpoint=self.journal.checkpoint,
            instances=tuple(reports),
            elapsed=time.monotonic() - self._started,
            interrupted=interrupted,
        )


async def distributed_crawl(
    instances: Iterable[str | URL], out: str | os.PathLike[str], **options: Any
) -> CrawlReport:
    """Run a :class:`DistributedCrawl` (same arguments) to its end and return its report."""
    return await DistributedCrawl(instances, out, **options).run()
