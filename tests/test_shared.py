"""Budgets shared through a real redis-server: atomicity, expiry, corrections, outages."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import pytest

from peertube_async import PeerTube, RateLimit, RedisLimitStore
from peertube_async._ratelimit import RateLimitHeaders
from peertube_async._shared import SharedGrant
from peertube_async.testing import FakeInstance

from .conftest import RedisServer, require_redis_server
from .sim import server_headers

ORIGIN = "http://127.0.0.1:9"
EPOCH = 1_795_712_990.0


@pytest.fixture
async def stores(redis_url: str) -> AsyncIterator[list[RedisLimitStore]]:
    """Four stores on one namespace: four processes' worth of connections."""
    namespace = f"test-{uuid.uuid4().hex}"
    made = [RedisLimitStore(redis_url, namespace=namespace) for _ in range(4)]
    yield made
    for store in made:
        await store.aclose()


def headers(limit: int, remaining: int, reset_in: float) -> RateLimitHeaders:
    return RateLimitHeaders.parse(
        server_headers(limit, remaining, EPOCH + reset_in, EPOCH, remaining == 0)
    )


async def test_reservations_are_atomic_under_contention(stores: list[RedisLimitStore]) -> None:
    spec = (RateLimit(20, 60.0),)
    first = await stores[0].reserve(ORIGIN, ("api",), spec)
    assert isinstance(first, SharedGrant)
    # Until an answer arrives, one request at a time (first contact).
    assert not isinstance(await stores[1].reserve(ORIGIN, ("api",), spec), SharedGrant)
    await stores[0].complete(first, 200, headers(20, 19, 60), 0)
    results = await asyncio.gather(
        *(stores[i % 4].reserve(ORIGIN, ("api",), spec) for i in range(100))
    )
    granted = [r for r in results if isinstance(r, SharedGrant)]
    assert len(granted) == 19
    waits = [r for r in results if not isinstance(r, SharedGrant)]
    assert all(0 < w <= 61 for w in waits)


async def test_a_correction_seen_by_one_process_reaches_all(
    stores: list[RedisLimitStore],
) -> None:
    spec = (RateLimit(50, 60.0),)
    grant = await stores[0].reserve(ORIGIN, ("api",), spec)
    assert isinstance(grant, SharedGrant)
    # The server says the budget is almost gone (another address user, a restart...).
    await stores[0].complete(grant, 200, headers(50, 2, 60), 0)
    got = [await stores[i].reserve(ORIGIN, ("api",), spec) for i in (1, 2, 3)]
    assert [isinstance(g, SharedGrant) for g in got] == [True, True, False]
    state = (await stores[3].snapshot(ORIGIN, ["api"]))["api"]
    assert state["count"] == 50 and state["limit"] == 50


async def test_429_blocks_every_process(stores: list[RedisLimitStore]) -> None:
    spec = (RateLimit(50, 60.0),)
    grant = await stores[0].reserve(ORIGIN, ("api",), spec)
    assert isinstance(grant, SharedGrant)
    await stores[0].complete(grant, 429, headers(50, 0, 30), 0)
    wait = await stores[2].reserve(ORIGIN, ("api",), spec)
    assert isinstance(wait, float) and 25 < wait <= 31


async def test_keys_expire_with_the_window(stores: list[RedisLimitStore]) -> None:
    spec = (RateLimit(5, 2.0),)
    grant = await stores[0].reserve(ORIGIN, ("api",), spec)
    assert isinstance(grant, SharedGrant)
    await stores[0].complete(grant, 200, headers(5, 4, 2), 0)
    ttl = await stores[0].client.pttl(stores[0].key(ORIGIN, "api"))
    assert 0 < ttl <= 2000 * 4 + 60_000


async def test_token_route_reserves_both_buckets_atomically(
    stores: list[RedisLimitStore],
) -> None:
    specs = (RateLimit(50, 60.0), RateLimit(1, 300.0))
    grant = await stores[0].reserve(ORIGIN, ("api", "login"), specs)
    assert isinstance(grant, SharedGrant)
    await stores[0].complete(grant, 200, headers(1, 0, 300), 1)
    # login is spent: a token request waits, and holds no api place while waiting.
    assert not isinstance(await stores[1].reserve(ORIGIN, ("api", "login"), specs), SharedGrant)
    state = await stores[1].snapshot(ORIGIN, ["api", "login"])
    assert state["api"]["count"] == 1 and state["login"]["count"] == 1


async def test_processes_share_one_budget_end_to_end(redis_url: str) -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    async with FakeInstance(videos=3, limits={"api": (8, 0.6)}) as fake:
        clients = [
            PeerTube(
                fake.url,
                rate_limits={"api": RateLimit(8, 0.6)},
                shared_limits=RedisLimitStore(redis_url, namespace=namespace),
            )
            for _ in range(3)
        ]
        try:
            await asyncio.gather(*(c.videos.get(1 + i % 3) for i in range(30) for c in clients))
        finally:
            for c in clients:
                await c.close()
                await c.scheduler.store.aclose()  # type: ignore[union-attr]
    assert fake.stats.rate_limited == 0
    assert fake.stats.requests == 90


async def test_redis_restart_mid_crawl_degrades_without_429(
    tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture
) -> None:
    require_redis_server()
    server = RedisServer(tmp_path_factory.mktemp("redis-restart"))
    server.start()
    caplog.set_level(logging.WARNING, logger="peertube_async.shared")
    store = RedisLimitStore(server.url, namespace="restart", retry_interval=0.3)
    try:
        async with (
            FakeInstance(videos=3, limits={"api": (10, 0.5)}) as fake,
            PeerTube(fake.url, rate_limits={"api": RateLimit(10, 0.5)}, shared_limits=store) as pt,
        ):
            await asyncio.gather(*(pt.videos.get(1) for _ in range(15)))
            server.stop()
            # Down: a local quarter of the budget, no crash, no burst.
            await asyncio.gather(*(pt.videos.get(1) for _ in range(6)))
            assert store.degraded
            server.start()
            await asyncio.sleep(0.35)
            await asyncio.gather(*(pt.videos.get(1) for _ in range(15)))
            assert not store.degraded
        assert fake.stats.rate_limited == 0
        assert fake.stats.requests == 36
        assert store.outages == 1
        warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
        assert len(warnings) == 1
    finally:
        await store.aclose()
        server.stop()


async def test_an_unanswered_first_request_does_not_stall_the_fleet(
    stores: list[RedisLimitStore],
) -> None:
    spec = (RateLimit(5, 0.3),)
    grant = await stores[0].reserve(ORIGIN, ("api",), spec)
    assert isinstance(grant, SharedGrant)
    await stores[0].complete(grant, None, None, 0)  # timed out: no answer
    assert not isinstance(await stores[1].reserve(ORIGIN, ("api",), spec), SharedGrant)
    await asyncio.sleep(0.35)  # the window it may have opened is surely over
    assert isinstance(await stores[1].reserve(ORIGIN, ("api",), spec), SharedGrant)


async def test_reservations_of_a_dead_process_expire(redis_url: str) -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    dying = RedisLimitStore(redis_url, namespace=namespace, lease=0.2)
    alive = RedisLimitStore(redis_url, namespace=namespace, lease=0.2)
    spec = (RateLimit(3, 0.2),)
    try:
        first = await alive.reserve(ORIGIN, ("api",), spec)
        assert isinstance(first, SharedGrant)
        await alive.complete(first, 200, headers(3, 2, 0.2), 0)
        held = [await dying.reserve(ORIGIN, ("api",), spec) for _ in range(2)]
        assert all(isinstance(h, SharedGrant) for h in held)  # never completed
        await asyncio.sleep(0.45)  # leases and the window are over
        fresh = [await alive.reserve(ORIGIN, ("api",), spec) for _ in range(4)]
        grants = [g for g in fresh if isinstance(g, SharedGrant)]
        assert len(grants) >= 1
        for g in grants:
            await alive.complete(g, 200, headers(3, 2, 0.2), 0)
        await asyncio.sleep(0.25)
        # The dead reservations no longer eat into every later window.
        later = [await alive.reserve(ORIGIN, ("api",), spec) for _ in range(3)]
        assert sum(isinstance(g, SharedGrant) for g in later) == 3
    finally:
        await dying.aclose()
        await alive.aclose()


async def test_a_login_429_does_not_block_the_api_bucket(stores: list[RedisLimitStore]) -> None:
    specs = (RateLimit(50, 60.0), RateLimit(15, 300.0))
    grant = await stores[0].reserve(ORIGIN, ("api", "login"), specs)
    assert isinstance(grant, SharedGrant)
    await stores[0].complete(grant, 429, headers(15, 0, 250), 1)
    state = await stores[1].snapshot(ORIGIN, ["api", "login"])
    assert state["login"]["count"] == 15 and state["login"]["blocked"] > 0
    assert state["api"].get("blocked", 0) == 0 and state["api"]["count"] <= 1


async def test_an_answer_from_a_newer_server_window_switches_every_process(
    stores: list[RedisLimitStore],
) -> None:
    spec = (RateLimit(5, 60.0),)
    probe = await stores[0].reserve(ORIGIN, ("api",), spec)
    assert isinstance(probe, SharedGrant)
    old = RateLimitHeaders(limit=5, remaining=4, reset=1_000_060, date=1_000_000.0)
    await stores[0].complete(probe, 200, old, 0)
    sent = [await stores[1].reserve(ORIGIN, ("api",), spec) for _ in range(4)]
    assert all(isinstance(g, SharedGrant) for g in sent)
    # One of them arrived after the server's window closed: it opened the next one, and
    # the other three, still in flight, may land there too.
    new = RateLimitHeaders(limit=5, remaining=4, reset=1_000_090, date=1_000_030.0)
    await stores[1].complete(sent[0], 200, new, 0)  # type: ignore[arg-type]
    state = (await stores[2].snapshot(ORIGIN, ["api"]))["api"]
    assert state["count"] == 4
    more = [await stores[2].reserve(ORIGIN, ("api",), spec) for _ in range(2)]
    assert [isinstance(g, SharedGrant) for g in more] == [True, False]
