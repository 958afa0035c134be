"""Several processes behind one address: one shared budget on Redis, or none.

What is measured
----------------
``--workers`` worker processes (default 4) fetch one fixed set of pages
(``GET /api/v1/videos/{id}``, ``limit * windows`` calls in all, split evenly) from one
:class:`~peertube_async.testing.FakeInstance` whose ``api`` limiter is compressed to
``limit`` per ``window`` seconds (default 40 per 1.0 s over 8 windows). PeerTube counts
per client address, and every worker connects from 127.0.0.1, so all of them spend one
budget. Each worker launches its calls at once with ``asyncio.gather`` through
``PeerTube(..., rate_limits={"api": RateLimit(limit, window)})``:

* ``peertube_async-redis``: every worker's client has ``shared_limits=RedisLimitStore``
  on one namespace of one redis-server (started here on 127.0.0.1 unless ``--redis URL``
  is given);
* ``peertube_async-independent``: each worker counts alone, in memory, as four
  unrelated processes would.

A 429 is retried by the client (``Retry-After``) until the page is fetched, so both
strategies fetch everything. Reported: pages fetched, 429s sent by the server (its own
counter), the run's elapsed time (first worker start to last worker end) and utilization
= pages fetched / (``limit`` * ceil(elapsed / window)): what was fetched over what the
server allowed in the windows the run touched. The server runs in its own process,
fresh for each strategy.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ServerProcess, format_table, write_json


def _worker(args: tuple[str, int, float, list[int], str | None, str, float]) -> dict[str, Any]:
    url, limit, window, ids, redis_url, namespace, start_at = args
    return asyncio.run(_crawl(url, limit, window, ids, redis_url, namespace, start_at))


async def _crawl(
    url: str,
    limit: int,
    window: float,
    ids: list[int],
    redis_url: str | None,
    namespace: str,
    start_at: float,
) -> dict[str, Any]:
    from peertube_async import PeerTube, RateLimit, RateLimited, RedisLimitStore

    store = RedisLimitStore(redis_url, namespace=namespace) if redis_url else None
    pt = PeerTube(
        url, rate_limits={"api": RateLimit(limit, window)}, shared_limits=store, timeout=60
    )
    # Start together: the comparison is about concurrent processes.
    await asyncio.sleep(max(0.0, start_at - time.time()))
    began = time.time()

    async def fetch(video_id: int) -> None:
        while True:
            try:
                await pt.videos.get(video_id)
                return
            except RateLimited as exc:
                await asyncio.sleep(exc.retry_after or 0.1)

    try:
        await asyncio.gather(*(fetch(i) for i in ids))
    finally:
        await pt.close()
        if store is not None:
            await store.aclose()
    return {"began": began, "ended": time.time(), "fetched": len(ids)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Redis:
    """A private redis-server on 127.0.0.1 for the run."""

    def __enter__(self) -> str:
        if shutil.which("redis-server") is None:
            raise SystemExit("redis-server is not installed: give --redis URL")
        self.dir = tempfile.mkdtemp()
        port = _free_port()
        self.proc = subprocess.Popen(
            [
                "redis-server",
                *("--port", str(port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", self.dir),
            ],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(200):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return f"redis://127.0.0.1:{port}/0"
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def measure(
    strategy: str, workers: int, limit: int, window: float, windows: int, redis: str | None
) -> dict[str, Any]:
    total = limit * windows
    videos = 50
    ids = [1 + i % videos for i in range(total)]
    shares = [ids[i::workers] for i in range(workers)]
    namespace = f"bench-{uuid.uuid4().hex}"
    with ServerProcess(videos=videos, limits={"api": (limit, window)}) as server:
        server.reset()
        start_at = time.time() + 1.5
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers) as pool:
            jobs = [
                (server.url, limit, window, share, redis, namespace, start_at) for share in shares
            ]
            results = pool.map(_worker, jobs)
        stats = server.stats()
    began = min(r["began"] for r in results)
    ended = max(r["ended"] for r in results)
    elapsed = ended - began
    fetched = sum(r["fetched"] for r in results)
    allowed = limit * math.ceil(elapsed / window)
    return {
        "strategy": strategy,
        "workers": workers,
        "succeeded": fetched,
        "rate_limited": int(stats["rate_limited"]),
        "requests": int(stats["requests"]),
        "elapsed": round(elapsed, 3),
        "utilization": round(fetched / allowed, 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--quick", action="store_true", help="a short run (CI smoke)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--window", type=float, default=1.0)
    parser.add_argument("--windows", type=int, default=8)
    parser.add_argument(
        "--redis", metavar="URL", help="a redis-server to use (else one is started)"
    )
    args = parser.parse_args()
    windows = 3 if args.quick else args.windows
    rows = []
    if args.redis:
        rows.append(
            measure(
                "peertube_async-redis", args.workers, args.limit, args.window, windows, args.redis
            )
        )
    else:
        with _Redis() as url:
            rows.append(
                measure("peertube_async-redis", args.workers, args.limit, args.window, windows, url)
            )
    rows.append(
        measure("peertube_async-independent", args.workers, args.limit, args.window, windows, None)
    )
    print(
        format_table(
            ["strategy", "workers", "ok", "429 (server)", "requests", "elapsed s", "util"],
            [
                [
                    r["strategy"],
                    str(r["workers"]),
                    str(r["succeeded"]),
                    str(r["rate_limited"]),
                    str(r["requests"]),
                    f"{r['elapsed']:.3f}",
                    f"{r['utilization']:.3f}",
                ]
                for r in rows
            ],
        )
    )
    print(
        f"{args.workers} processes, one address, limit {args.limit} per {args.window:g} s, "
        f"{windows} windows' worth of calls; utilization = fetched / (limit * ceil(elapsed / "
        "window)). Goal for the Redis store: 0 x 429 and utilization >= 0.95."
    )
    if args.json:
        write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
