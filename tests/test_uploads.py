"""Uploads and downloads over loopback against FakeInstance, with injected failures."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from peertube_async import PeerTube, TransportError
from peertube_async.resources import UploadError, UploadState
from peertube_async.testing import FakeInstance

CHUNK = 64 * 1024


def make_file(path: Path, size: int, seed: int = 1) -> bytes:
    data = random.Random(seed).randbytes(size)
    path.write_bytes(data)
    return data


@pytest.fixture
async def fake() -> AsyncIterator[FakeInstance]:
    async with FakeInstance(videos=2, rate_limit=False) as instance:
        yield instance


async def signed_in(fake: FakeInstance, **kw: Any) -> tuple[PeerTube, int]:
    pt = PeerTube(fake.url, rate_limiting=False, **kw)
    await pt.login("root", fake.passwords["root"])
    me = await pt.me.get()
    assert me.video_channels
    channel = me.video_channels[0].id
    assert channel is not None
    return pt, channel


def stored_sha(fake: FakeInstance, uuid: str) -> str:
    files = fake.video_files(uuid)
    assert len(files) == 1
    return files[0].sha256


async def test_upload_is_byte_exact_with_progress(fake: FakeInstance, tmp_path: Path) -> None:
    data = make_file(tmp_path / "clip.mp4", 5 * CHUNK + 123)
    seen: list[tuple[int, int]] = []
    pt, channel = await signed_in(fake)
    async with pt:
        video = await pt.videos.upload(
            tmp_path / "clip.mp4",
            channel_id=channel,
            name="Clip",
            privacy=1,
            chunk_size=CHUNK,
            on_progress=lambda sent, total: seen.append((sent, total)),
        )
    assert video.name == "Clip" and video.uuid
    assert stored_sha(fake, video.uuid) == hashlib.sha256(data).hexdigest()
    assert [s for s, _ in seen] == sorted(s for s, _ in seen)
    assert seen[-1] == (len(data), len(data))
    assert fake.stats.upload_chunks == 6
    assert fake.stats.videos_created == 1


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_upload_survives_connection_drops_at_random_offsets(
    fake: FakeInstance, tmp_path: Path, seed: int
) -> None:
    rnd = random.Random(seed)
    data = make_file(tmp_path / "clip.mp4", 8 * CHUNK + 7, seed)
    # Each drop is given twice: aiohttp sends a dropped PUT once more on its own.
    plan: list[int | None] = []
    for _ in range(3):
        cut = rnd.randrange(1, CHUNK)
        plan += [cut, cut, None]
    fake.faults.drop_after_bytes = plan
    pt, channel = await signed_in(fake)
    async with pt:
        video = await pt.videos.upload(
            tmp_path / "clip.mp4", channel_id=channel, name="Flaky", chunk_size=CHUNK
        )
    assert fake.stats.dropped_connections >= 3
    assert video.uuid is not None
    assert stored_sha(fake, video.uuid) == hashlib.sha256(data).hexdigest()
    assert fake.stats.videos_created == 1


async def test_upload_waits_out_503_with_retry_after(fake: FakeInstance, tmp_path: Path) -> None:
    data = make_file(tmp_path / "clip.mp4", 3 * CHUNK)
    fake.faults.refuse_next_chunks(2, retry_after=0)
    pt, channel = await signed_in(fake)
    async with pt:
        video = await pt.videos.upload(
            tmp_path / "clip.mp4", channel_id=channel, name="Busy", chunk_size=CHUNK
        )
    assert video.uuid is not None
    assert stored_sha(fake, video.uuid) == hashlib.sha256(data).hexdigest()
    assert fake.stats.statuses.get(503, 0) == 2
    assert fake.stats.videos_created == 1


class Crash(Exception):
    """Stands for the process dying mid-upload."""


async def test_resume_after_a_process_restart(fake: FakeInstance, tmp_path: Path) -> None:
    data = make_file(tmp_path / "clip.mp4", 6 * CHUNK + 5)
    saved = tmp_path / "upload.json"

    def save(state: UploadState) -> None:
        saved.write_text(json.dumps(state.to_dict()))
        if state.offset >= 3 * CHUNK:
            raise Crash

    pt, channel = await signed_in(fake)
    async with pt:
        with pytest.raises(Crash):
            await pt.videos.upload(
                tmp_path / "clip.mp4",
                channel_id=channel,
                name="Resumed",
                chunk_size=CHUNK,
                on_state=save,
            )
    assert fake.stats.upload_cancels == 0
    chunks_before = fake.stats.upload_chunks
    # A new process: a new client, the state from disk.
    pt2, _ = await signed_in(fake)
    async with pt2:
        video = await pt2.videos.resume_upload(json.loads(saved.read_text()), chunk_size=CHUNK)
    assert video.uuid is not None
    assert stored_sha(fake, video.uuid) == hashlib.sha256(data).hexdigest()
    assert fake.stats.upload_chunks - chunks_before == 4  # only what was missing
    assert fake.stats.videos_created == 1


async def test_resume_refuses_a_changed_file(fake: FakeInstance, tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    make_file(path, 4 * CHUNK)
    states: list[dict[str, Any]] = []

    def keep(state: UploadState) -> None:
        states.append(state.to_dict())
        raise Crash

    pt, channel = await signed_in(fake)
    async with pt:
        with pytest.raises(Crash):
            await pt.videos.upload(
                path, channel_id=channel, name="Changed", chunk_size=CHUNK, on_state=keep
            )
        make_file(path, 4 * CHUNK, seed=99)
        with pytest.raises(UploadError, match="changed"):
            await pt.videos.resume_upload(states[-1])


async def test_cancelling_the_task_cancels_the_upload(fake: FakeInstance, tmp_path: Path) -> None:
    make_file(tmp_path / "clip.mp4", 20 * CHUNK)
    fake.faults.chunk_latency = 0.05
    two_chunks = asyncio.Event()

    def progress(sent: int, total: int) -> None:
        if sent >= 2 * CHUNK:
            two_chunks.set()

    pt, channel = await signed_in(fake)
    async with pt:
        task = asyncio.ensure_future(
            pt.videos.upload(
                tmp_path / "clip.mp4",
                channel_id=channel,
                name="Cancelled",
                chunk_size=CHUNK,
                on_progress=progress,
            )
        )
        await asyncio.wait_for(two_chunks.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert fake.stats.upload_cancels == 1
    assert fake.upload_ids == ()
    assert fake.stats.videos_created == 0


async def test_keep_on_cancel_leaves_the_upload_to_resume(
    fake: FakeInstance, tmp_path: Path
) -> None:
    path = tmp_path / "clip.mp4"
    make_file(path, 6 * CHUNK)
    fake.faults.chunk_latency = 0.05
    states: list[dict[str, Any]] = []
    two_chunks = asyncio.Event()

    def keep(state: UploadState) -> None:
        states.append(state.to_dict())
        if state.offset >= 2 * CHUNK:
            two_chunks.set()

    pt, channel = await signed_in(fake)
    async with pt:
        task = asyncio.ensure_future(
            pt.videos.upload(
                path,
                channel_id=channel,
                name="Kept",
                chunk_size=CHUNK,
                on_state=keep,
                keep_on_cancel=True,
            )
        )
        await asyncio.wait_for(two_chunks.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert fake.stats.upload_cancels == 0
        assert len(fake.upload_ids) == 1
        fake.faults.chunk_latency = 0.0
        video = await pt.videos.resume_upload(states[-1], chunk_size=CHUNK)
    (stored,) = fake.video_files(video.uuid)
    assert stored.read_bytes() == path.read_bytes()
    assert fake.stats.videos_created == 1


async def test_upload_from_an_async_source(fake: FakeInstance) -> None:
    data = random.Random(5).randbytes(3 * CHUNK + 11)

    async def source() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 10_000):
            yield data[i : i + 10_000]

    pt, channel = await signed_in(fake)
    async with pt:
        video = await pt.videos.upload(
            source(),
            size=len(data),
            filename="stream.mp4",
            channel_id=channel,
            name="Stream",
            chunk_size=CHUNK,
        )
    assert video.uuid is not None
    assert stored_sha(fake, video.uuid) == hashlib.sha256(data).hexdigest()


async def test_legacy_multipart_upload(fake: FakeInstance, tmp_path: Path) -> None:
    data = make_file(tmp_path / "legacy.mp4", 2 * CHUNK)
    pt, channel = await signed_in(fake)
    async with pt:
        created = await pt.videos.upload_legacy(
            videofile=tmp_path / "legacy.mp4", channel_id=channel, name="Legacy"
        )
    assert created is not None and created.video is not None and created.video.uuid
    assert stored_sha(fake, created.video.uuid) == hashlib.sha256(data).hexdigest()
    assert fake.stats.legacy_uploads == 1


async def test_download_resumes_a_partial_file(fake: FakeInstance, tmp_path: Path) -> None:
    data = make_file(tmp_path / "clip.mp4", 10 * CHUNK + 3)
    pt, channel = await signed_in(fake)
    async with pt:
        video = await pt.videos.upload(
            tmp_path / "clip.mp4",
            channel_id=channel,
            name="Download",
            privacy=1,
            chunk_size=4 * CHUNK,
        )
        assert video.uuid is not None
        dest = tmp_path / "out" / "copy.mp4"
        # A dropped connection: whatever arrived before it stays on disk (possibly
        # nothing, when the drop overtakes the reads), and a second call completes.
        fake.faults.drop_download_after_bytes = 3 * CHUNK
        with pytest.raises(TransportError):
            await pt.videos.download(video.uuid, dest)
        assert dest.stat().st_size < len(data)
        await pt.videos.download(video.uuid, dest)
        assert dest.read_bytes() == data
        # A partial file from an earlier run continues where it ends.
        dest.write_bytes(data[: 3 * CHUNK])
        seen: list[int] = []
        await pt.videos.download(video.uuid, dest, on_progress=lambda s, t: seen.append(s))
    assert dest.read_bytes() == data
    assert seen[0] > 3 * CHUNK  # continued with Range, not restarted
    assert seen[-1] == len(data)


async def test_private_download_sends_the_token_only_home(tmp_path: Path) -> None:
    async with (
        FakeInstance(videos=1, rate_limit=False) as home,
        FakeInstance(videos=1, rate_limit=False) as cdn,
    ):
        data = make_file(tmp_path / "clip.mp4", 2 * CHUNK)
        pt, channel = await signed_in(home)
        async with pt:
            private = await pt.videos.upload(
                tmp_path / "clip.mp4", channel_id=channel, name="Mine", chunk_size=CHUNK
            )
            assert private.uuid is not None
            await pt.videos.download(private.uuid, tmp_path / "private.mp4")
            assert (tmp_path / "private.mp4").read_bytes() == data
            public = await pt.videos.upload(
                tmp_path / "clip.mp4", channel_id=channel, name="Pub", privacy=1, chunk_size=CHUNK
            )
            assert public.uuid is not None
            home.serve_files_from(cdn)
            await pt.videos.download(public.uuid, tmp_path / "public.mp4")
            assert (tmp_path / "public.mp4").read_bytes() == data
        assert cdn.stats.file_requests >= 1
        assert cdn.stats.authorized_requests == 0
        assert not any("Authorization" in str(k) for k in cdn.stats.authorized_routes)
        assert os.path.getsize(tmp_path / "public.mp4") == len(data)


async def test_upload_rides_out_429s_from_a_neighbour(tmp_path: Path) -> None:
    data = make_file(tmp_path / "clip.mp4", 6 * CHUNK + 1)
    async with FakeInstance(videos=1, limits={"api": (4, 0.5)}) as fake:
        # Local limiting off: the server's 429s reach the upload loop.
        pt = PeerTube(fake.url, rate_limiting=False)
        await pt.login("alice", fake.passwords["alice"])
        me = await pt.me.get()
        assert me.video_channels and me.video_channels[0].id is not None
        async with pt:
            video = await pt.videos.upload(
                tmp_path / "clip.mp4",
                channel_id=me.video_channels[0].id,
                name="Crowded",
                chunk_size=CHUNK,
            )
        assert fake.stats.rate_limited > 0
        assert video.uuid is not None
        assert stored_sha(fake, video.uuid) == hashlib.sha256(data).hexdigest()
        assert fake.stats.videos_created == 1
