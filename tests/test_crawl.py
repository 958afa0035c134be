"""peertube_async.crawl over loopback: resume after kills, failures, dedup, federation."""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from peertube_async import Backoff, RateLimit
from peertube_async.crawl import (
    KINDS,
    CheckpointError,
    Crawler,
    CrawlProgress,
    crawl,
    is_federated_copy,
    load_checkpoint,
)
from peertube_async.testing import FakeInstance

FAST = Backoff(base=0.001, cap=0.01)
SESSION = web.AppKey("session", aiohttp.ClientSession)
ROOT = Path(__file__).resolve().parents[1]


def read_lines(path: Path) -> list[str]:
    """The output's lines, checked: whole lines only, each a crawl record."""
    raw = path.read_bytes()
    assert raw == b"" or raw.endswith(b"\n"), "the output ends in a broken line"
    lines = raw.decode().splitlines()
    for line in lines:
        record = json.loads(line)
        assert set(record) == {"instance", "kind", "data"}
    return lines


def expected_counts(videos: int) -> dict[str, int]:
    """What a FakeInstance with ``videos`` videos holds (see testing._data)."""
    return {
        "videos": videos,
        "channels": 2,
        "accounts": 3,
        "playlists": 2,
        "comments": sum(i % 4 for i in range(1, videos + 1)),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[web.Application], Awaitable[URL]]]:
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> URL:
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return URL(f"http://127.0.0.1:{runner.addresses[0][1]}")

    yield start
    for runner in runners:
        await runner.cleanup()


# -- a whole crawl --------------------------------------------------------------------------


async def test_crawl_writes_every_record_of_every_kind_once(tmp_path: Path) -> None:
    out = tmp_path / "crawl.jsonl"
    limits = {"api": (40, 0.2)}
    async with (
        FakeInstance(videos=130, limits=limits) as a,
        FakeInstance(videos=60, limits=limits) as b,
    ):
        report = await crawl(
            [a.url, str(b.url) + "/"],
            out,
            kinds=["comments", "channels", "accounts", "playlists"],
            rate_limits={"api": RateLimit(40, 0.2)},
        )
        assert a.stats.rate_limited == 0
        assert b.stats.rate_limited == 0
    assert report.complete and not report.interrupted
    by_url = {row.url: row for row in report.instances}
    assert by_url[str(a.url)].records == expected_counts(130)
    assert by_url[str(b.url)].records == expected_counts(60)
    assert by_url[str(a.url)].rate_limited == 0
    lines = read_lines(out)
    assert len(lines) == len(set(lines)) == report.records == report.written
    records = [json.loads(line) for line in lines]
    videos_a = [r["data"] for r in records if r["kind"] == "video" and r["instance"] == str(a.url)]
    # Oldest first, as the API's own JSON (camelCase, canonical url on its origin).
    assert [v["uuid"] for v in videos_a] == [v.uuid for v in a.videos]
    assert videos_a[0]["shortUUID"] == a.videos[0].short_uuid
    assert videos_a[0]["url"].startswith(str(a.url))
    comments = [r["data"] for r in records if r["kind"] == "comment"]
    assert all(c["videoId"] % 4 for c in comments)
    checkpoint = load_checkpoint(out)
    assert checkpoint is not None and checkpoint["complete"] is True
    assert checkpoint["output_bytes"] == out.stat().st_size


async def test_progress_estimates_from_totals_and_budget(tmp_path: Path) -> None:
    snapshots: list[CrawlProgress] = []
    async with FakeInstance(videos=450, limits={"api": (2, 0.1)}) as fake:
        await crawl(
            [fake.url],
            tmp_path / "out.jsonl",
            rate_limits={"api": RateLimit(2, 0.1)},
            progress=snapshots.append,
            progress_interval=0.01,
        )
    rows = [s.instances[0] for s in snapshots]
    known = [r for r in rows if r.totals_known and r.status == "crawling"]
    assert known, "no snapshot after the first page"
    first = known[0]
    # 450 videos: 5 pages; each snapshot knows how many are left and the budget.
    assert first.requests_left == 5 - first.pages
    assert (first.limit, first.window) == (2, 0.1)
    assert first.eta is not None and first.eta <= 0.1 * 3 + 1e-6
    assert [r.requests_left for r in known] == sorted(
        (r.requests_left for r in known), reverse=True
    )
    assert snapshots[-1].instances[0].status == "complete"
    assert snapshots[-1].eta == 0.0 and snapshots[-1].records == 450


# -- checkpoints ----------------------------------------------------------------------------


async def test_resume_after_sigkill_at_random_moments(tmp_path: Path) -> None:
    """The crawl runs in a subprocess killed at random moments; a final resume must give
    exactly the lines of a clean run."""
    seed = int.from_bytes(os.urandom(4), "big")
    rnd = random.Random(seed)
    limits = {"api": (50, 0.2)}
    async with (
        FakeInstance(videos=300, limits=limits) as a,
        FakeInstance(videos=170, limits=limits) as b,
    ):
        urls = [str(a.url), str(b.url)]
        clean = tmp_path / "clean.jsonl"
        await crawl(urls, clean, kinds=KINDS, rate_limits={"api": RateLimit(50, 0.2)})
        out = tmp_path / "killed.jsonl"
        command = [
            sys.executable, "-m", "peertube_async", "crawl", *urls,
            "--out", str(out), "--resume", "--kinds", "all", "--rate-limit", "50/0.2", "--quiet",
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        checkpoint = tmp_path / "killed.jsonl.checkpoint.json"
        sizes = []
        for _ in range(5):
            before = checkpoint.read_bytes() if checkpoint.exists() else b""
            proc = await asyncio.create_subprocess_exec(
                *command,
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            # Kill at a random moment after the crawl has committed something.
            for _ in range(1000):
                if proc.returncode is not None or (
                    checkpoint.exists() and checkpoint.read_bytes() != before
                ):
                    break
                await asyncio.sleep(0.01)
            try:
                await asyncio.wait_for(proc.wait(), rnd.uniform(0.0, 0.8))
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
            sizes.append(out.stat().st_size)
        proc = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await proc.communicate()
        assert proc.returncode == 0, (seed, stderr.decode())
    final = read_lines(out)
    assert len(final) == len(set(final)), f"duplicates (seed {seed})"
    assert set(final) == set(read_lines(clean)), f"not the clean run's lines (seed {seed})"
    full = len("".join(line + "\n" for line in final).encode())
    assert any(0 < size < full for size in sizes), f"no kill mid-crawl (seed {seed}, {sizes})"


async def test_resume_from_random_truncation(tmp_path: Path) -> None:
    """Every checkpoint taken during a crawl, with the output cut at any byte after the
    length it records (a crash mid-append), resumes to the clean run's lines."""
    seed = int.from_bytes(os.urandom(4), "big")
    rnd = random.Random(seed)
    out = tmp_path / "out.jsonl"
    checkpoint = tmp_path / "out.jsonl.checkpoint.json"
    saved: list[bytes] = []

    def snapshot(_: CrawlProgress) -> None:
        data = checkpoint.read_bytes()
        if not saved or saved[-1] != data:
            saved.append(data)

    limits = {"api": (20, 0.05)}
    async with (
        FakeInstance(videos=250, limits=limits) as a,
        FakeInstance(videos=90, limits=limits) as b,
    ):
        kinds = ("videos", "comments", "channels")
        options: dict[str, Any] = {"kinds": kinds, "rate_limits": {"api": RateLimit(20, 0.05)}}
        await crawl(
            [a.url, b.url],
            out,
            commit_interval=0.01,
            progress=snapshot,
            progress_interval=0.005,
            **options,
        )
        full = out.read_bytes()
        clean = set(read_lines(out))
        assert len(saved) >= 5
        for state in rnd.sample(saved, 5):
            length = json.loads(state)["output_bytes"]
            cut = rnd.randint(length, len(full))
            out.write_bytes(full[:cut])
            checkpoint.write_bytes(state)
            report = await crawl([a.url, b.url], out, resume=True, **options)
            assert report.complete
            lines = read_lines(out)
            assert len(lines) == len(set(lines)), f"duplicates (seed {seed}, cut {cut})"
            assert set(lines) == clean, f"not the clean lines (seed {seed}, cut {cut})"
        # Cut below what the checkpoint records: refused, never papered over.
        state = saved[len(saved) // 2]
        length = json.loads(state)["output_bytes"]
        out.write_bytes(full[: length - 1])
        checkpoint.write_bytes(state)
        with pytest.raises(CheckpointError, match="changed or lost"):
            await crawl([a.url, b.url], out, resume=True, **options)


async def test_stop_keeps_what_was_received_and_resume_finishes(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    async with FakeInstance(videos=200, limits={"api": (20, 0.05)}) as fake:
        crawler: Crawler

        def stop_soon(progress: CrawlProgress) -> None:
            if progress.pages >= 2:
                crawler.stop()

        crawler = Crawler(
            [fake.url],
            out,
            kinds=("videos", "comments"),
            rate_limits={"api": RateLimit(20, 0.05)},
            progress=stop_soon,
            progress_interval=0.005,
        )
        first = await crawler.run()
        assert first.interrupted and not first.complete
        assert first.instances[0].status == "stopped"
        kept = read_lines(out)
        assert 0 < len(kept) == first.written
        assert load_checkpoint(out)["complete"] is False  # type: ignore[index]
        again = await crawl(
            [],
            out,
            kinds=("videos", "comments"),
            resume=True,
            rate_limits={"api": RateLimit(20, 0.05)},
        )
    assert again.complete
    lines = read_lines(out)
    assert lines[: len(kept)] == kept
    assert len(lines) == len(set(lines)) == 200 + expected_counts(200)["comments"]


async def test_existing_output_and_mismatched_checkpoints_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    async with FakeInstance(videos=5) as fake:
        await crawl([fake.url], out)
        with pytest.raises(FileExistsError):
            await crawl([fake.url], out)
        with pytest.raises(CheckpointError, match="same kinds"):
            await crawl([fake.url], out, kinds=("videos", "channels"), resume=True)
        report = await crawl([fake.url], out, overwrite=True)
        assert report.written == 5
        stray = tmp_path / "stray.jsonl"
        stray.write_text('{"not": "a crawl"}\n')
        with pytest.raises(CheckpointError, match="no checkpoint"):
            await crawl([fake.url], stray, resume=True)
        assert stray.read_text() == '{"not": "a crawl"}\n'
    with pytest.raises(ValueError, match="unknown kind"):
        Crawler(["x.example"], out, kinds=("videos", "users"))


# -- failures -------------------------------------------------------------------------------


async def test_dead_slow_and_rate_limited_instances_do_not_hold_up_the_others(
    tmp_path: Path, serve: Callable[[web.Application], Awaitable[URL]]
) -> None:
    async with (
        FakeInstance(videos=300) as fast,
        FakeInstance(videos=300) as behind_slow,
        FakeInstance(videos=300, limits={"api": (2, 0.3)}) as tight,
        FakeInstance(videos=300) as beside,
    ):
        # The slow instance: a proxy taking 0.2 s per answer.
        async def slow(request: web.Request) -> web.Response:
            await asyncio.sleep(0.2)
            target = behind_slow.url.with_path(request.path).with_query(request.query)
            async with request.app[SESSION].get(target) as resp:
                body = await resp.read()
                return web.Response(body=body, status=resp.status, content_type="application/json")

        app = web.Application()
        app.router.add_get("/{tail:.*}", slow)
        async with aiohttp.ClientSession() as session:
            app[SESSION] = session
            slow_url = await serve(app)
            dead = f"http://127.0.0.1:{free_port()}"
            urls = [str(fast.url), dead, str(slow_url), str(tight.url), str(beside.url)]
            report = await crawl(urls, tmp_path / "out.jsonl", retries=2, backoff=FAST)
    rows = {row.url: row for row in report.instances}
    assert not report.complete
    assert [r.url for r in report.failed] == [dead]
    assert rows[dead].status == "failed"
    assert "cannot connect" in (rows[dead].failure or "")
    assert rows[dead].retries == 2
    for url in (fast.url, slow_url, tight.url, beside.url):
        assert rows[str(url)].status == "complete"
        assert rows[str(url)].records == {"videos": 300}
    assert rows[str(tight.url)].rate_limited is not None
    # Neither the slow nor the budget-starved instance delayed the healthy ones.
    healthy = max(rows[str(fast.url)].elapsed, rows[str(beside.url)].elapsed)
    assert healthy < rows[str(slow_url)].elapsed
    assert healthy < rows[str(tight.url)].elapsed
    saved = load_checkpoint(tmp_path / "out.jsonl")
    assert saved is not None and saved["instances"][dead]["streams"]["videos"]["next"] == 0
    assert "cannot connect" in saved["instances"][dead]["failure"]


async def test_a_failing_kind_is_reported_and_the_rest_goes_on(
    tmp_path: Path, serve: Callable[[web.Application], Awaitable[URL]]
) -> None:
    async with FakeInstance(videos=120) as fake:

        async def closed(request: web.Request) -> web.Response:
            return web.json_response({"status": 403, "detail": "closed"}, status=403)

        async def videos(request: web.Request) -> web.Response:
            return web.json_response(await fake_page(fake, request))

        app = web.Application()
        app.router.add_get("/api/v1/videos", videos)
        app.router.add_get("/api/v1/video-channels", closed)
        url = await serve(app)
        report = await crawl([url], tmp_path / "out.jsonl", kinds=("videos", "channels"))
    row = report.instances[0]
    assert row.status == "partial"
    assert row.records == {"videos": 120, "channels": 0}
    assert "Forbidden" in row.errors["channels"]
    assert report.failed == (row,)


async def fake_page(fake: FakeInstance, request: web.Request) -> Any:
    async with (
        aiohttp.ClientSession() as session,
        session.get(fake.url.with_path(request.path).with_query(request.query)) as resp,
    ):
        return await resp.json()


# -- dedup and federation -------------------------------------------------------------------


async def mirror_of(
    origin: FakeInstance, serve: Callable[[web.Application], Awaitable[URL]], queries: list[Any]
) -> URL:
    """An instance that follows ``origin``: it lists all of origin's videos as federated
    copies (their ``url`` on origin, ids of its own), plus 5 videos of its own, and its
    listing shifts by one item between pages 1 and 2 (an item seen twice)."""
    import uuid

    async with aiohttp.ClientSession() as session:
        copies = []
        for start in range(0, origin.video_count, 100):
            params = {"start": start, "count": 100, "sort": "publishedAt"}
            async with session.get(origin.url / "api/v1/videos", params=params) as resp:
                copies.extend((await resp.json())["data"])
    items: list[dict[str, Any]] = []
    base: URL | None = None

    async def videos(request: web.Request) -> web.Response:
        queries.append(dict(request.query))
        start = int(request.query.get("start", 0))
        count = int(request.query.get("count", 15))
        return web.json_response({"total": len(items), "data": items[start : start + count]})

    app = web.Application()
    app.router.add_get("/api/v1/videos", videos)
    base = await serve(app)
    for video in copies:
        items.append({**video, "id": video["id"] + 1000, "isLocal": False})
    for n in range(5):
        value = str(uuid.uuid4())
        own = {**copies[0], "id": 5000 + n, "uuid": value, "isLocal": True}
        own["url"] = f"{base}/videos/watch/{value}"
        items.append(own)
    items.insert(100, items[99])
    return base


async def test_duplicates_are_dropped_and_federated_copies_recognized(
    tmp_path: Path, serve: Callable[[web.Application], Awaitable[URL]]
) -> None:
    queries: list[Any] = []
    async with FakeInstance(videos=150) as origin:
        mirror = await mirror_of(origin, serve, queries)
        keep = await crawl([origin.url, mirror], tmp_path / "keep.jsonl")
        drop = await crawl(
            [origin.url, mirror], tmp_path / "drop.jsonl", drop_federated_copies=True
        )
    kept = {row.url: row for row in keep.instances}
    assert kept[str(mirror)].records == {"videos": 155}
    assert kept[str(mirror)].duplicates == 1
    assert kept[str(mirror)].federated_copies == 150
    assert kept[str(origin.url)].federated_copies == 0
    records = [json.loads(line) for line in read_lines(tmp_path / "keep.jsonl")]
    by_canonical: dict[str, set[str]] = {}
    for record in records:
        by_canonical.setdefault(record["data"]["url"], set()).add(record["instance"])
    # Each of origin's videos appears twice, recognizable by its canonical url.
    shared = [url for url, where in by_canonical.items() if len(where) == 2]
    assert len(shared) == 150
    assert all(url.startswith(str(origin.url)) for url in shared)

    dropped = {row.url: row for row in drop.instances}
    assert dropped[str(mirror)].records == {"videos": 5}
    assert dropped[str(origin.url)].records == {"videos": 150}
    assert all(q.get("isLocal") == "true" for q in queries[-2:])
    records = [json.loads(line) for line in read_lines(tmp_path / "drop.jsonl")]
    assert all(r["data"]["url"].startswith(r["instance"]) for r in records)


def test_federated_copy_rule() -> None:
    here = "https://a.example"
    assert is_federated_copy(here, {"isLocal": False, "url": f"{here}/w/1"})
    assert not is_federated_copy(here, {"isLocal": True, "url": "https://b.example/w/1"})
    assert is_federated_copy(here, {"url": "https://b.example/accounts/x"})
    assert not is_federated_copy(here, {"url": f"{here}/accounts/x"})
    assert not is_federated_copy(here, {"url": "::not a url"})
    assert not is_federated_copy(here, {})
