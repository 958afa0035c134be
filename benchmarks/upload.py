"""Resumable upload throughput and memory, against a plain aiohttp PUT of the same bytes.

What is measured
----------------
A random file of ``--size`` MiB (default 256) on disk is sent to a
:class:`~peertube_async.testing.FakeInstance` running in its own process (spawn), over
127.0.0.1, rate limiting off on both sides:

* ``aiohttp-put``: one ``PUT /_bench/sink`` whose body is the open file, streamed by
  aiohttp (the fake writes it to disk, as it does upload chunks); the baseline;
* ``aiohttp-put-chunks``: the same bytes as ``PUT /_bench/sink`` requests of one chunk
  each (read from the file into memory, one after the other): the cost of the fake taking
  chunk-sized bodies, without the resumable protocol;
* ``peertube_async``: ``pt.videos.upload(path, chunk_size=...)``, PeerTube's resumable
  protocol: init, ordered chunk PUTs (default 8 MiB), 308s, the final 200, then the
  ``GET`` of the created video.

Throughput is MiB/s of the file over the wall time of each transfer; the ratio is ours
over the baseline's, best of ``--runs`` (default 3) each, interleaved. Peak memory is
measured in a separate run of each with ``tracemalloc`` (Python allocations of the client
process while transferring), so that tracing never slows the timed runs. Targets: ratio
>= 0.9; our peak <= chunk size + 40 MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ServerProcess, format_table, write_json

MIB = 1024 * 1024


def make_file(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        block = os.urandom(MIB)
        for _ in range(size // MIB):
            handle.write(block)


async def plain_put(url: str, path: Path) -> float:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        began = time.perf_counter()
        with path.open("rb") as body:
            async with session.put(f"{url}/_bench/sink", data=body) as resp:
                await resp.read()
                assert resp.status == 204, resp.status
        return time.perf_counter() - began


async def chunked_put(url: str, path: Path, chunk: int) -> float:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        began = time.perf_counter()
        with path.open("rb") as handle:
            while piece := handle.read(chunk):
                async with session.put(f"{url}/_bench/sink", data=piece) as resp:
                    await resp.read()
                    assert resp.status == 204, resp.status
        return time.perf_counter() - began


async def sdk_upload(url: str, path: Path, password: str, chunk: int) -> float:
    from peertube_async import PeerTube

    async with PeerTube(url, rate_limiting=False, timeout=300) as pt:
        await pt.login("root", password)
        me = await pt.me.get()
        assert me.video_channels and me.video_channels[0].id is not None
        channel = me.video_channels[0].id
        began = time.perf_counter()
        await pt.videos.upload(path, channel_id=channel, name="Benchmark", chunk_size=chunk)
        return time.perf_counter() - began


def traced(coro: Any) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = asyncio.run(coro)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--quick", action="store_true", help="a 32 MiB run (CI smoke)")
    parser.add_argument("--size", type=int, default=256, help="file size in MiB")
    parser.add_argument("--chunk", type=int, default=8, help="chunk size in MiB")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size = (32 if args.quick else args.size) * MIB
    chunk = args.chunk * MIB
    runs = 1 if args.quick else args.runs
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(videos=1, rate_limit=False) as srv:
        path = Path(tmp) / "video.mp4"
        make_file(path, size)
        password = "root-password"
        times: dict[str, list[float]] = {
            "aiohttp-put": [],
            "aiohttp-put-chunks": [],
            "peertube_async": [],
        }
        for _ in range(runs):
            times["aiohttp-put"].append(asyncio.run(plain_put(srv.url, path)))
            times["aiohttp-put-chunks"].append(asyncio.run(chunked_put(srv.url, path, chunk)))
            times["peertube_async"].append(asyncio.run(sdk_upload(srv.url, path, password, chunk)))
        _, base_peak = traced(plain_put(srv.url, path))
        _, chunks_peak = traced(chunked_put(srv.url, path, chunk))
        _, our_peak = traced(sdk_upload(srv.url, path, password, chunk))
    best = {k: min(v) for k, v in times.items()}
    speed = {k: size / MIB / t for k, t in best.items()}
    ratio = speed["peertube_async"] / speed["aiohttp-put"]
    rows = [
        {
            "strategy": "aiohttp-put",
            "mib_per_s": round(speed["aiohttp-put"], 1),
            "ratio": 1.0,
            "peak_mib": round(base_peak / MIB, 1),
        },
        {
            "strategy": "aiohttp-put-chunks",
            "mib_per_s": round(speed["aiohttp-put-chunks"], 1),
            "ratio": round(speed["aiohttp-put-chunks"] / speed["aiohttp-put"], 3),
            "peak_mib": round(chunks_peak / MIB, 1),
        },
        {
            "strategy": "peertube_async",
            "mib_per_s": round(speed["peertube_async"], 1),
            "ratio": round(ratio, 3),
            "peak_mib": round(our_peak / MIB, 1),
            "chunk_mib": args.chunk,
            "memory_budget_mib": args.chunk + 40,
        },
    ]
    print(
        format_table(
            ["strategy", "MiB/s", "ratio", "peak MiB"],
            [
                [
                    r["strategy"],
                    f"{r['mib_per_s']:.1f}",
                    f"{r['ratio']:.3f}",
                    f"{r['peak_mib']:.1f}",
                ]
                for r in rows
            ],
            footer=[
                f"{size // MIB} MiB over 127.0.0.1, chunks of {args.chunk} MiB, best of {runs}; "
                "peak = tracemalloc peak of the client during the transfer.",
                f"targets: ratio >= 0.9 (got {ratio:.3f}); peak <= {args.chunk + 40} MiB "
                f"(got {our_peak / MIB:.1f}).",
            ],
        )
    )
    if args.json:
        write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
