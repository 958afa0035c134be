"""Zero 429 under event-loop lag, over real sockets.

A task blocks the event loop for random stretches (as a bot's other work or a crawler's
decoding does), and requests are delayed between their admission by the scheduler and
the moment they are written (some blocking the loop, some yielding). The server counts
like PeerTube (FakeInstance, in the same loop, so it lags too). The random stretches come
from fixed seeds; ``PEERTUBE_ASYNC_LAG_RUNS`` runs more of them (50 for a soak).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from typing import Any

import pytest

from peertube_async import PeerTube, RateLimit
from peertube_async.testing import FakeInstance

RUNS = int(os.environ.get("PEERTUBE_ASYNC_LAG_RUNS", "2"))


async def crawl_with_lag(
    seed: int, *, limit: int, window: float, calls: int, block: float, write_delay: float
) -> tuple[int, int]:
    """(429s the server counted, calls that failed) for one lagging run."""
    rnd = random.Random(seed)
    async with (
        FakeInstance(videos=5, limits={"api": (limit, window)}) as fake,
        PeerTube(fake.url, rate_limits={"api": RateLimit(limit, window)}) as pt,
    ):
        transport = pt._caller.pipeline.transport
        send = transport.send

        async def admitted_then_late(*args: Any, **kwargs: Any) -> Any:
            roll = rnd.random()
            if roll < 0.3:
                # Blocking the loop on purpose: that is the lag under test.
                time.sleep(rnd.uniform(0, write_delay))  # noqa: ASYNC251
            elif roll < 0.6:
                await asyncio.sleep(rnd.uniform(0, write_delay))
            return await send(*args, **kwargs)

        transport.send = admitted_then_late  # type: ignore[method-assign]
        done = asyncio.Event()

        async def hog() -> None:
            while not done.is_set():
                await asyncio.sleep(rnd.uniform(0, window))
                time.sleep(rnd.uniform(0, block))  # noqa: ASYNC251

        lagging = asyncio.create_task(hog())
        left = calls
        failures = 0

        async def worker() -> None:
            nonlocal left, failures
            while left > 0:
                left -= 1
                try:
                    await pt.request("GET", "/api/v1/videos", params={"count": 1})
                except Exception:
                    failures += 1

        try:
            await asyncio.gather(*(worker() for _ in range(16)))
        finally:
            done.set()
            await lagging
        return fake.stats.rate_limited, failures


@pytest.mark.parametrize("seed", range(RUNS))
async def test_no_429_when_the_loop_lags_in_short_windows(seed: int) -> None:
    # Windows shorter than the headers' one-second resolution, blocks of up to 60% of a
    # window, writes delayed by up to 40% of one.
    rejected, failures = await crawl_with_lag(
        seed, limit=40, window=0.2, calls=200, block=0.12, write_delay=0.08
    )
    assert (rejected, failures) == (0, 0)


@pytest.mark.parametrize("seed", range(RUNS))
async def test_no_429_when_the_loop_lags_in_one_second_windows(seed: int) -> None:
    rejected, failures = await crawl_with_lag(
        seed, limit=20, window=1.0, calls=50, block=0.3, write_delay=0.2
    )
    assert (rejected, failures) == (0, 0)
