"""Distributed crawls through a real redis-server: workers, leases, takeovers, export."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from peertube_async import RateLimit
from peertube_async.cli import EXIT_OK, EXIT_USAGE, main
from peertube_async.crawl import (
    CheckpointError,
    CrawlNotFound,
    CrawlQueue,
    DistributedCrawl,
    Worker,
    crawl,
    distributed_crawl,
    load_checkpoint,
)
from peertube_async.testing import FakeInstance

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
KINDS = ("videos", "comments", "channels")
# As the coordinator records them: kinds in the order of peertube_async.crawl.KINDS.
OPTIONS = {"kinds": ["videos", "channels", "comments"], "drop_federated_copies": False}


def read_lines(path: Path) -> list[str]:
    """The output's lines, checked: whole lines only, each a crawl record."""
    raw = path.read_bytes()
    assert raw == b"" or raw.endswith(b"\n"), "the output ends in a broken line"
    lines = raw.decode().splitlines()
    for line in lines:
        assert set(json.loads(line)) == {"instance", "kind", "data"}
    return lines


def expected(videos: int) -> dict[str, int]:
    """What a FakeInstance with ``videos`` videos holds, for :data:`KINDS`."""
    return {"videos": videos, "comments": sum(i % 4 for i in range(1, videos + 1)), "channels": 2}


@pytest.fixture
async def queue(redis_url: str) -> AsyncIterator[CrawlQueue]:
    """A crawl of its own (id and namespace), its keys deleted afterwards."""
    made = CrawlQueue(
        redis_url, crawl_id=uuid.uuid4().hex[:12], namespace=f"test-{uuid.uuid4().hex[:8]}"
    )
    yield made
    await made.delete()
    await made.aclose()


async def clean_lines(urls: Sequence[str], out: Path, budget: RateLimit) -> set[str]:
    await crawl(urls, out, kinds=KINDS, rate_limits={"api": budget})
    lines = read_lines(out)
    assert len(lines) == len(set(lines))
    return set(lines)


async def wait_until(check: Any, timeout: float = 30.0) -> None:
    """Poll the coroutine function ``check`` until it returns true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


# -- a whole crawl --------------------------------------------------------------------------


async def test_two_worker_processes_crawl_one_list_without_duplicate_or_gap(
    tmp_path: Path, queue: CrawlQueue, redis_url: str
) -> None:
    limits = {"api": (10, 0.1)}
    budget = RateLimit(10, 0.1)
    sizes = (120, 90, 60, 40)
    async with (
        FakeInstance(videos=sizes[0], limits=limits) as a,
        FakeInstance(videos=sizes[1], limits=limits) as b,
        FakeInstance(videos=sizes[2], limits=limits) as c,
        FakeInstance(videos=sizes[3], limits=limits) as d,
    ):
        urls = [str(f.url) for f in (a, b, c, d)]
        clean = await clean_lines(urls, tmp_path / "clean.jsonl", budget)
        out = tmp_path / "out.jsonl"
        report = await distributed_crawl(
            urls,
            out,
            redis_url=redis_url,
            workers=2,
            crawl_id=queue.crawl_id,
            namespace=queue.namespace,
            kinds=KINDS,
            rate_limits={"api": budget},
            instances_per_worker=1,
            lease=5.0,
        )
    assert report.complete and not report.interrupted
    lines = read_lines(out)
    assert len(lines) == len(set(lines)), "duplicate lines"
    assert set(lines) == clean, "not the single-process crawl's records"
    rows = {row.url: row for row in report.instances}
    for url, size in zip(urls, sizes, strict=True):
        assert rows[url].records == expected(size)
        assert rows[url].written == sum(expected(size).values())
    # Both processes crawled, each instance was claimed once, and what was exported
    # left Redis.
    status = dict(await queue.rows(KINDS))
    assert len({row["worker"] for row in status.values()}) == 2
    assert all(row["claims"] == "1" and row["status"] == "complete" for row in status.values())
    assert await queue.client.xlen(queue.key("records")) == 0
    saved = load_checkpoint(out)
    assert saved is not None and saved["complete"] is True
    assert saved["redis"]["crawl_id"] == queue.crawl_id
    assert saved["output_bytes"] == out.stat().st_size


# -- workers that die or stop ---------------------------------------------------------------


async def test_a_killed_worker_s_instance_is_taken_over_from_its_offsets(
    tmp_path: Path, queue: CrawlQueue, redis_url: str
) -> None:
    limits = {"api": (10, 0.1)}
    budget = RateLimit(10, 0.1)
    async with (
        FakeInstance(videos=120, limits=limits) as a,
        FakeInstance(videos=120, limits=limits) as b,
        FakeInstance(videos=120, limits=limits) as c,
    ):
        fakes = {str(f.url): f for f in (a, b, c)}
        urls = list(fakes)
        before = {url: fake.stats.requests for url, fake in fakes.items()}
        clean = await clean_lines(urls, tmp_path / "clean.jsonl", budget)
        clean_requests = {url: fakes[url].stats.requests - before[url] for url in urls}
        before = {url: fake.stats.requests for url, fake in fakes.items()}

        out = tmp_path / "out.jsonl"
        coordinator = DistributedCrawl(
            urls,
            out,
            redis_url=redis_url,
            workers=0,
            crawl_id=queue.crawl_id,
            namespace=queue.namespace,
            kinds=KINDS,
            rate_limits={"api": budget},
            lease=1.0,
        )
        exporting = asyncio.create_task(coordinator.run())
        victim = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "peertube_async", "crawl-worker", "--redis", redis_url,
            "--crawl-id", queue.crawl_id, "--namespace", queue.namespace, "--lease", "1",
            "--instances-per-worker", "1", "--rate-limit", "10/0.1", "--wait", "--quiet",
            env=ENV,
        )  # fmt: skip
        held: list[str] = []

        async def victim_instances(comments: int) -> bool:
            # Instances the victim crawls, with more than ``comments`` comments committed.
            held[:] = [
                url
                for url, row in await queue.rows(KINDS)
                if row.get("worker", "").split("/")[1:2] == [str(victim.pid)]
                and row["status"] == "crawling"
                and int(row.get("records:comments", 0)) > comments
            ]
            return bool(held)

        # The survivor starts once the victim holds an instance, however slow its start.
        await wait_until(lambda: victim_instances(-1))
        survivor = Worker(
            redis_url,
            queue.crawl_id,
            namespace=queue.namespace,
            lease=1.0,
            instances_at_once=1,
        )
        surviving = asyncio.create_task(survivor.run())
        # Killed with comments under way (the video-id list matters on takeover), far
        # from done.
        await wait_until(lambda: victim_instances(30))
        victim.send_signal(signal.SIGKILL)
        await victim.wait()
        worker_report = await asyncio.wait_for(surviving, 60)
        report = await asyncio.wait_for(exporting, 60)

    (taken,) = held
    assert report.complete
    assert worker_report.taken_over == (taken,)
    lines = read_lines(out)
    assert len(lines) == len(set(lines)), "duplicate lines"
    assert set(lines) == clean, "gap: not the single-process crawl's records"
    row = dict(await queue.rows(KINDS))[taken]
    assert row["takeovers"] == "1" and row["claims"] == "2"
    # Taken over from the committed offsets: beyond a clean crawl, only what was in
    # flight when the victim died was asked for again, not the whole instance.
    again = fakes[taken].stats.requests - before[taken] - clean_requests[taken]
    assert again < 20, again


async def test_a_stopped_worker_gives_its_instances_back_at_once(
    tmp_path: Path, queue: CrawlQueue, redis_url: str
) -> None:
    limits = {"api": (10, 0.1)}
    async with (
        FakeInstance(videos=200, limits=limits) as a,
        FakeInstance(videos=200, limits=limits) as b,
    ):
        urls = [str(a.url), str(b.url)]
        await queue.seed(urls, options=OPTIONS, rate_limits={"api": RateLimit(10, 0.1)})
        # Leases far longer than the test: only a release lets another worker in.
        first = Worker(redis_url, queue.crawl_id, namespace=queue.namespace, lease=60.0)
        running = asyncio.create_task(first.run())

        async def both_committed() -> bool:
            rows = await queue.rows(KINDS)
            return all(int(row.get("records:comments", 0)) > 0 for _, row in rows)

        await wait_until(both_committed)
        first.stop()
        stopped = await running
        assert stopped.stopped and set(stopped.released) == set(urls)
        assert not stopped.finished
        second = Worker(redis_url, queue.crawl_id, namespace=queue.namespace, lease=60.0)
        done = await asyncio.wait_for(second.run(), 30)
        out = tmp_path / "out.jsonl"
        report = await distributed_crawl(
            [],
            out,
            redis_url=redis_url,
            workers=0,
            crawl_id=queue.crawl_id,
            namespace=queue.namespace,
            kinds=KINDS,
        )
    assert set(done.finished) == set(urls) and not done.taken_over
    assert report.complete
    lines = read_lines(out)
    assert len(lines) == len(set(lines)) == 2 * sum(expected(200).values())


# -- the coordinator ------------------------------------------------------------------------


async def test_a_killed_coordinator_resumes_the_export_without_duplicate_or_broken_line(
    tmp_path: Path, queue: CrawlQueue, redis_url: str
) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rnd = random.Random(seed)
    # Slow enough that the crawl outlasts a coordinator's start-up, even on a busy machine.
    limits = {"api": (5, 0.1)}
    budget = RateLimit(5, 0.1)
    async with (
        FakeInstance(videos=120, limits=limits) as a,
        FakeInstance(videos=60, limits=limits) as b,
    ):
        urls = [str(a.url), str(b.url)]
        clean = await clean_lines(urls, tmp_path / "clean.jsonl", budget)
        out = tmp_path / "out.jsonl"
        command = [
            sys.executable, "-m", "peertube_async", "crawl", *urls, "--out", str(out),
            "--resume", "--kinds", ",".join(KINDS), "--rate-limit", "5/0.1", "--quiet",
            "--redis", redis_url, "--workers", "0", "--crawl-id", queue.crawl_id,
            "--namespace", queue.namespace,
        ]  # fmt: skip
        workers = [
            asyncio.create_task(
                Worker(
                    redis_url,
                    queue.crawl_id,
                    namespace=queue.namespace,
                    lease=1.0,
                    instances_at_once=1,
                    wait=True,
                ).run()
            )
            for _ in range(2)
        ]
        sizes = []
        for attempt in range(3):
            before = out.stat().st_size if out.exists() else 0
            proc = await asyncio.create_subprocess_exec(
                *command,
                env=ENV,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            # Kill at a random moment once this coordinator has appended to the output.
            for _ in range(3000):
                if proc.returncode is not None or (out.exists() and out.stat().st_size > before):
                    break
                await asyncio.sleep(0.01)
            try:
                await asyncio.wait_for(proc.wait(), rnd.uniform(0.0, 0.15))
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
            sizes.append(out.stat().st_size)
            if attempt == 1:
                # A crash in the middle of an append.
                with out.open("ab") as handle:
                    handle.write(b'{"instance":"http://torn')
        proc = await asyncio.create_subprocess_exec(
            *command, env=ENV, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await proc.communicate()
        assert proc.returncode == EXIT_OK, (seed, stderr.decode())
        reports = await asyncio.wait_for(asyncio.gather(*workers), 60)
    lines = read_lines(out)
    assert len(lines) == len(set(lines)), f"duplicates (seed {seed})"
    assert set(lines) == clean, f"not the clean crawl's lines (seed {seed})"
    full = out.stat().st_size
    assert any(0 < size < full for size in sizes), f"no kill mid-export (seed {seed}, {sizes})"
    assert sum(r.written for r in reports) == len(lines)


async def test_the_output_and_the_crawl_in_redis_must_match(
    tmp_path: Path, queue: CrawlQueue, redis_url: str
) -> None:
    out = tmp_path / "out.jsonl"
    options: dict[str, Any] = {
        "redis_url": redis_url,
        "workers": 1,
        "crawl_id": queue.crawl_id,
        "namespace": queue.namespace,
        "lease": 5.0,
    }
    async with FakeInstance(videos=30) as fake:
        report = await distributed_crawl([fake.url], out, **options)
        assert report.complete and report.written == 30
        with pytest.raises(FileExistsError):
            await distributed_crawl([fake.url], out, **options)
        with pytest.raises(CheckpointError, match="same kinds"):
            await distributed_crawl([fake.url], out, **options, kinds=KINDS, resume=True)
        # Another output of the same crawl: its records left Redis once exported.
        with pytest.raises(CheckpointError, match="another output"):
            await distributed_crawl([], tmp_path / "other.jsonl", **options)
        again = await distributed_crawl([], out, **options, resume=True)
        assert again.complete and again.written == 0 and again.records == 30
        # The crawl deleted from Redis: its offsets are gone, the output is not extended.
        await queue.delete()
        with pytest.raises(CrawlNotFound, match="no longer in Redis"):
            await distributed_crawl([], out, **options, resume=True)
    assert len(read_lines(out)) == 30


# -- Redis primitives -----------------------------------------------------------------------


async def test_claims_are_atomic_under_contention_and_expired_leases_fence_out(
    queue: CrawlQueue, redis_url: str
) -> None:
    urls = [f"http://10.0.0.{n}:9000" for n in range(60)]
    _, added, _ = await queue.seed(urls, options=OPTIONS)
    assert added == 60
    # Seeding again adds nothing; other options are refused.
    assert (await queue.seed(urls, options=OPTIONS))[1] == 0
    with pytest.raises(CheckpointError, match="same kinds"):
        await queue.seed(urls, options={**OPTIONS, "drop_federated_copies": True})
    claimants = [
        CrawlQueue(redis_url, crawl_id=queue.crawl_id, namespace=queue.namespace) for _ in range(20)
    ]
    try:

        async def claim_all(n: int, lease: float) -> list[tuple[str, bool, str]]:
            got: list[tuple[str, bool, str]] = []
            while True:
                token = f"claimant-{n}-{len(got)}-{lease}"
                claim = await claimants[n].claim(token, lease)
                if claim.status != "claimed":
                    return got
                assert claim.instance is not None
                got.append((claim.instance, claim.takeover, token))

        results = await asyncio.gather(*(claim_all(n, 0.5) for n in range(20)))
        first = [c for r in results for c in r]
        assert sorted(c[0] for c in first) == sorted(urls), "an instance claimed twice or never"
        assert not any(c[1] for c in first)
        assert sum(1 for r in results if r) > 1
        assert (await queue.claim("late", 0.5)).status == "wait"

        await asyncio.sleep(0.55)  # every lease is over
        results = await asyncio.gather(*(claim_all(n, 60.0) for n in range(20)))
        second = [c for r in results for c in r]
        assert sorted(c[0] for c in second) == sorted(urls)
        assert all(c[1] for c in second), "expired leases are taken over"

        # The old holders are fenced out: no commit, no renewal.
        url, _, old = first[0]
        new = next(token for u, _, token in second if u == url)
        line = (b"\x00" * 12, "videos", b'{"instance":"x","kind":"video","data":{}}', "")
        assert await queue.commit(url, old, lease=1.0, state="{}", records=[line]) is None
        assert await queue.client.xlen(queue.key("records")) == 0
        assert await queue.renew({url: old}, 1.0) == [url]
        assert await queue.commit(url, new, lease=60.0, state="{}", records=[line]) == (1, 0)
        # The same record again (a commit replayed): already there, not added twice.
        assert await queue.commit(url, new, lease=60.0, state="{}", records=[line]) == (0, 1)
        assert await queue.client.xlen(queue.key("records")) == 1
        assert await queue.commit(url, new, lease=60.0, state="{}", status="complete") == (0, 0)
        assert await queue.client.sismember(queue.key("done"), url)
        assert (await queue.claim("late", 60.0)).status == "wait"
        assert await queue.release({u: t for u, _, t in second if u != url}) == 59
        assert (await queue.claim("late", 60.0)).status == "claimed"
    finally:
        for claimant in claimants:
            await claimant.aclose()


# -- command line ---------------------------------------------------------------------------


def test_cli_distributed_options_and_worker_errors(
    tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.jsonl"
    assert main(["crawl-worker", "--help"]) == EXIT_OK
    text = capsys.readouterr().out
    assert "--crawl-id" in text and "Exit codes" in text
    assert main(["crawl", "--out", str(out), "--workers", "2"]) == EXIT_USAGE
    assert "only apply with --redis" in capsys.readouterr().err
    missing = uuid.uuid4().hex[:12]
    assert main(["crawl-worker", "--redis", redis_url, "--crawl-id", missing]) == EXIT_USAGE
    assert f"no crawl {missing}" in capsys.readouterr().err
    assert main(["crawl-worker", "--redis", redis_url, "--crawl-id", "no{braces}"]) == EXIT_USAGE
    assert not out.exists()


def test_cli_crawls_the_sandbox_with_two_worker_processes(
    tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.jsonl"
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    command = ["crawl", "--out", str(out), "--redis", redis_url, "--namespace", namespace]
    assert main([*command, "--workers", "2", "--json"]) == EXIT_OK
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["complete"] and summary["records"] == summary["written"] == 770
    lines = read_lines(out)
    assert len(lines) == len(set(lines)) == 770
    saved = load_checkpoint(out)
    assert saved is not None
    crawl_id = saved["redis"]["crawl_id"]
    assert f"--crawl-id {crawl_id}" in captured.err
    # Resumed: the same sandbox, the same crawl, nothing new.
    assert main([*command, "--resume", "--workers", "0", "--json"]) == EXIT_OK
    again = json.loads(capsys.readouterr().out)
    assert again["complete"] and again["written"] == 0 and again["records"] == 770
    asyncio.run(_delete(redis_url, crawl_id, namespace))


async def _delete(redis_url: str, crawl_id: str, namespace: str) -> None:
    queue = CrawlQueue(redis_url, crawl_id=crawl_id, namespace=namespace)
    try:
        assert await queue.delete() > 0
    finally:
        await queue.aclose()
