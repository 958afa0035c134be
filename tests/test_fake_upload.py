"""Uploads and video files of FakeInstance over loopback, with a plain aiohttp client.

The resumable exchange is checked header by header against a real PeerTube 6.3.0
(``upload-legacy``, ``resumable-init``, ``resumable 2..6`` in ``peertube-samples.json``,
embedded below), on a server clock set to the samples' moments. Other expectations come
from PeerTube's server code and its upload library uploadx (cited in
``peertube_async/testing/_uploads.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from yarl import URL

from peertube_async.testing import FakeInstance, Faults

API = "api/v1"
DOCS = "https://docs.joinpeertube.org/api-rest-reference.html"
SIZE = 31973  # the samples' file
COMMON = [
    ("x-powered-by", "PeerTube"),
    ("X-Frame-Options", "DENY"),
    ("Tk", "N"),
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Credentials", "true"),
]
NOT_FOUND = b'{"error":{"code":"FileNotFound","message":"Not found"}}'
# FNV-1a 64 of "1", root's user id: the first part of the sample's upload id.
ROOT_PREFIX = "af63ac4c86019afc"


class FakeClock:
    """A server clock that only moves when told to."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Reply:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.body)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def raw_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A session that lets a dropped connection surface: by default aiohttp sends an
    idempotent request (PUT, DELETE, GET) once more after ClientOSError or
    ServerDisconnectedError; its own test utilities turn that off the same way."""
    async with aiohttp.ClientSession() as client:
        client._retry_connection = False
        yield client


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: URL | str,
    *,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Reply:
    """One request, never following a 308; headers as sent, minus aiohttp's ``Server``."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with session.request(
        method, url, headers=sent, allow_redirects=False, **kwargs
    ) as response:
        body = await response.read()
        raw = [(k.decode(), v.decode()) for k, v in response.raw_headers]
        kept = [(k, v) for k, v in raw if k.lower() != "server"]
        return Reply(response.status, response.reason or "", kept, body)


def rate(remaining: int, date: str, reset: int) -> list[tuple[str, str]]:
    return [
        ("X-RateLimit-Limit", "50"),
        ("X-RateLimit-Remaining", str(remaining)),
        ("Date", date),
        ("X-RateLimit-Reset", str(reset)),
    ]


def payload(size: int = SIZE, seed: int = 7) -> bytes:
    return hashlib.shake_256(str(seed).encode()).digest(size)


async def init(
    session: aiohttp.ClientSession,
    fake: FakeInstance,
    token: str,
    size: int = SIZE,
    **fields: Any,
) -> Reply:
    body: dict[str, Any] = {"name": "Clip", "channelId": 1, "filename": "clip.mp4"}
    body.update(fields)
    return await call(
        session,
        "POST",
        fake.url / API / "videos/upload-resumable",
        token=token,
        json=body,
        headers={"X-Upload-Content-Length": str(size), "X-Upload-Content-Type": "video/mp4"},
    )


def upload_url(reply: Reply) -> str:
    location = reply.header("Location")
    assert location is not None and location.startswith("//")
    return "http:" + location


async def chunk(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    data: bytes,
    first: int,
    total: int = SIZE,
) -> Reply:
    last = first + len(data) - 1
    return await call(
        session,
        "PUT",
        url,
        token=token,
        data=data,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"bytes {first}-{last}/{total}",
        },
    )


async def status_query(
    session: aiohttp.ClientSession, url: str, token: str, total: int = SIZE
) -> Reply:
    return await call(
        session, "PUT", url, token=token, data=b"", headers={"Content-Range": f"bytes */{total}"}
    )


async def upload_all(
    session: aiohttp.ClientSession,
    fake: FakeInstance,
    token: str,
    data: bytes,
    piece: int = 12000,
    **fields: Any,
) -> dict[str, Any]:
    url = upload_url(await init(session, fake, token, len(data), **fields))
    reply = None
    for first in range(0, len(data), piece):
        reply = await chunk(session, url, token, data[first : first + piece], first, len(data))
    assert reply is not None and reply.status == 200, reply
    ids: dict[str, Any] = reply.json()["video"]
    return ids


async def wait_for(condition: Any, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


# ---------------------------------------------------------------------------------------
# The resumable protocol, byte for byte against the samples


async def test_resumable_flow_matches_samples(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(1_795_713_060.2)
    data = payload()
    async with FakeInstance(videos=0, clock=clock) as fake:
        root = fake.issue_tokens("root").access_token

        # upload-legacy: the window's first request, creating video 1.
        form = aiohttp.FormData()
        form.add_field("name", "Legacy")
        form.add_field("channelId", "1")
        form.add_field("privacy", "1")
        form.add_field("videofile", b"0123456789abcdef", filename="a.mp4", content_type="video/mp4")
        legacy = await call(
            session, "POST", fake.url / API / "videos/upload", token=root, data=form
        )

        clock.now = 1_795_713_066.0
        created = await init(session, fake, root, privacy=1)
        url = upload_url(created)

        clock.now = 1_795_713_070.0
        first = await chunk(session, url, root, data[:12000], 0)
        query = await status_query(session, url, root)
        second = await chunk(session, url, root, data[12000:24000], 12000)
        last = await chunk(session, url, root, data[24000:], 24000)

        clock.now = 1_795_713_071.5  # a new window, as in the sample
        replay = await chunk(session, url, root, data[24000:], 24000)
        files = fake.video_files(2)
        digest = files[0].sha256

    assert legacy.status == 200
    assert re.fullmatch(
        rb'\{"video":\{"id":1,"shortUUID":"\w{22}","uuid":"[-0-9a-f]{36}"\}\}', legacy.body
    )
    assert legacy.headers[:10] == [
        *COMMON,
        ("Access-Control-Expose-Headers", "Retry-After"),
        *rate(49, "Thu, 26 Nov 2026 17:11:00 GMT", 1_795_713_071),
    ]
    assert [k for k, _ in legacy.headers[10:]] == [
        "Content-Type",
        "Content-Length",
        "ETag",
        "Keep-Alive",
    ]

    assert (created.status, created.reason, created.body) == (201, "Created", b"")
    upload_id = url.rpartition("upload_id=")[2]
    assert re.fullmatch(ROOT_PREFIX + r"(-[0-9a-f]{16}){3}", upload_id)
    assert created.headers == [
        *COMMON,
        ("Access-Control-Expose-Headers", "Retry-After,Location"),
        *rate(48, "Thu, 26 Nov 2026 17:11:06 GMT", 1_795_713_071),
        ("Location", f"//{fake.host}/api/v1/videos/upload-resumable?upload_id={upload_id}"),
        ("Content-Length", "0"),
        ("Cache-Control", "no-store"),
        ("Keep-Alive", "timeout=5"),
    ]

    def incomplete(remaining: int, last_byte: int) -> list[tuple[str, str]]:
        return [
            *COMMON,
            ("Access-Control-Expose-Headers", "Retry-After,Range"),
            *rate(remaining, "Thu, 26 Nov 2026 17:11:10 GMT", 1_795_713_071),
            ("Range", f"bytes=0-{last_byte}"),
            ("Content-Length", "0"),
            ("Cache-Control", "no-store"),
            ("Keep-Alive", "timeout=5"),
        ]

    for reply, remaining, last_byte in (
        (first, 47, 11999),
        (query, 46, 11999),
        (second, 45, 23999),
    ):
        assert (reply.status, reply.reason, reply.body) == (308, "Resume Incomplete", b"")
        assert reply.headers == incomplete(remaining, last_byte)

    assert last.status == 200
    assert re.fullmatch(
        rb'\{"video":\{"id":2,"shortUUID":"\w{22}","uuid":"[-0-9a-f]{36}"\}\}', last.body
    )
    assert last.headers[:10] == [
        *COMMON,
        ("Access-Control-Expose-Headers", "Retry-After"),
        *rate(44, "Thu, 26 Nov 2026 17:11:10 GMT", 1_795_713_071),
    ]
    assert [k for k, _ in last.headers[10:]] == [
        "Content-Type",
        "Content-Length",
        "ETag",
        "Keep-Alive",
    ]
    assert last.header("Content-Length") == "101"

    assert (replay.status, replay.body) == (404, NOT_FOUND)
    assert replay.headers == [
        *COMMON,
        ("Access-Control-Expose-Headers", "Retry-After"),
        *rate(49, "Thu, 26 Nov 2026 17:11:11 GMT", 1_795_713_082),
        ("Content-Type", "application/json"),
        ("Content-Length", "55"),
        ("Cache-Control", "no-store"),
        ("Keep-Alive", "timeout=5"),
    ]

    assert len(files) == 1
    assert (files[0].size, digest) == (SIZE, hashlib.sha256(data).hexdigest())


async def test_uploaded_video_appears_in_api_and_lists(session: aiohttp.ClientSession) -> None:
    data = payload(50_000)
    async with FakeInstance(videos=3) as fake:
        alice = fake.issue_tokens("alice").access_token
        channel = 2  # alice's channel
        ids = await upload_all(
            session, fake, alice, data, channelId=channel, privacy=1, tags=["ab"]
        )
        detail = await call(session, "GET", fake.url / API / f"videos/{ids['shortUUID']}")
        listed = await call(session, "GET", fake.url / API / "videos", params={"count": "100"})

    assert ids["id"] == 4
    video = detail.json()
    assert (video["id"], video["uuid"], video["name"]) == (4, ids["uuid"], "Clip")
    assert video["channel"]["id"] == channel and video["account"]["name"] == "alice"
    assert video["privacy"] == {"id": 1, "label": "Public"}
    assert video["tags"] == ["ab"] and video["streamingPlaylists"] == []
    (file,) = video["files"]
    assert file["resolution"] == {"id": 720, "label": "720p"}
    assert file["size"] == len(data)
    assert re.fullmatch(
        rf"{fake.url}/static/web-videos/[-0-9a-f]{{36}}-720\.mp4", file["fileUrl"]
    ), file["fileUrl"]
    assert file["fileDownloadUrl"] == f"{fake.url}/download/videos/{ids['uuid']}-720.mp4"
    assert {"torrentUrl", "magnetUri", "metadataUrl", "width", "height", "fps"} <= set(file)
    assert listed.json()["total"] == 4
    assert 4 in [v["id"] for v in listed.json()["data"]]


async def test_status_query_before_any_byte_and_new_ids(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(videos=0) as fake:
        root = fake.issue_tokens("root").access_token
        one = await init(session, fake, root)
        two = await init(session, fake, root)
        nothing = await status_query(session, upload_url(one), root)

    assert upload_url(one) != upload_url(two)
    assert fake.stats.uploads_started == 2
    # uploadx always sets Range, even before the first byte.
    assert (nothing.status, nothing.header("Range")) == (308, "bytes=0--1")


async def test_server_checks_neither_order_nor_gaps(session: aiohttp.ClientSession) -> None:
    data = payload()
    async with FakeInstance(videos=0) as fake:
        root = fake.issue_tokens("root").access_token
        url = upload_url(await init(session, fake, root))
        # The last piece first: uploadx writes it in place and counts start + length.
        end = await chunk(session, url, root, data[24000:], 24000)
        video_id = end.json()["video"]["id"]
        stored = fake.video_files(video_id)[0]
        content = stored.read_bytes()

    assert end.status == 200
    assert stored.size == SIZE
    assert content[:24000] == bytes(24000)  # a hole, never sent
    assert content[24000:] == data[24000:]


async def test_chunk_past_the_declared_size_is_a_conflict(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(videos=0) as fake:
        root = fake.issue_tokens("root").access_token
        url = upload_url(await init(session, fake, root, size=100))
        reply = await chunk(session, url, root, bytes(120), 0, 100)

    assert reply.status == 409
    assert reply.body == b'{"error":{"code":"FileConflict","message":"File conflict"}}'


async def test_cancel_then_404_and_delete_stays_204(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(videos=0) as fake:
        root = fake.issue_tokens("root").access_token
        url = upload_url(await init(session, fake, root))
        await chunk(session, url, root, payload()[:1000], 0)
        cancelled = await call(session, "DELETE", url, token=root)
        after = await chunk(session, url, root, payload()[1000:2000], 1000)
        again = await call(session, "DELETE", url, token=root)

    assert (cancelled.status, cancelled.body) == (204, b"")
    assert cancelled.header("Cache-Control") == "no-store"
    assert (after.status, after.body) == (404, NOT_FOUND)
    assert after.header("Content-Type") == "application/json"
    assert again.status == 204  # uploadx deletes unknown ids without complaint
    assert fake.stats.upload_cancels == 1
    assert fake.upload_ids == ()


async def test_auth_and_ownership(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(videos=0) as fake:
        root = fake.issue_tokens("root").access_token
        alice = fake.issue_tokens("alice").access_token
        url = upload_url(await init(session, fake, root))
        anonymous = await call(
            session, "PUT", url, data=b"x", headers={"Content-Range": "bytes 0-0/31973"}
        )
        other = await chunk(session, url, alice, b"x", 0)
        no_id = await call(session, "PUT", fake.url / API / "videos/upload-resumable", token=root)

    assert anonymous.status == 401 and anonymous.json()["code"] == "unauthorized_request"
    forbidden = (
        b'{"error":{"code":"Forbidden","message":"Authenticated user is not allowed access"}}'
    )
    assert (other.status, other.body) == (403, forbidden)
    assert (no_id.status, no_id.body) == (403, forbidden)


async def test_init_validation(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(videos=0) as fake:
        root = fake.issue_tokens("root").access_token
        alice = fake.issue_tokens("alice").access_token
        endpoint = fake.url / API / "videos/upload-resumable"
        no_headers = await call(
            session, "POST", endpoint, token=root, json={"name": "Clip", "channelId": 1}
        )
        no_name = await init(session, fake, root, name="  a ", channelId="x")
        unknown_channel = await init(session, fake, root, channelId=99)
        foreign_channel = await init(session, fake, alice, channelId=1)
        bad_type = await call(
            session,
            "POST",
            endpoint,
            token=root,
            json={"name": "Clip", "channelId": 1, "filename": "notes.txt"},
            headers={"X-Upload-Content-Length": "100", "X-Upload-Content-Type": "text/plain"},
        )
        tiny = await init(session, fake, root, size=5)
        anonymous = await call(session, "POST", endpoint, json={"name": "Clip"})

    assert no_headers.status == 400
    problem = no_headers.json()
    assert problem["detail"] == (
        "Incorrect request parameters: filename, x-upload-content-length, x-upload-content-type"
    )
    assert problem["docs"] == f"{DOCS}#operation/uploadResumableInit"
    assert problem["invalid-params"]["x-upload-content-length"] == {
        "type": "field",
        "msg": "Invalid value",
        "path": "x-upload-content-length",
        "location": "headers",
    }

    assert no_name.status == 400
    params = no_name.json()["invalid-params"]
    assert list(params) == ["name", "channelId"]
    assert params["name"]["msg"] == "Should have a video name between 3 and 120 characters long"
    assert params["name"]["value"] == "a"  # trimmed first
    assert params["channelId"]["value"] is None  # parseInt("x") is NaN

    assert unknown_channel.status == 400
    assert unknown_channel.json()["detail"] == 'Unknown video "video channel" for this instance.'
    assert foreign_channel.status == 400
    assert foreign_channel.json()["detail"] == 'Unknown video "video channel" for this account.'
    assert bad_type.status == 415
    assert bad_type.json()["detail"].startswith("This file is not supported.")
    assert tiny.status == 413 and tiny.json()["code"] == "max_file_size_reached"
    assert anonymous.status == 401
    assert fake.stats.uploads_started == 0


async def test_every_put_counts_against_the_api_limiter(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(videos=0, limits={"api": (3, 60.0)}) as fake:
        alice = fake.issue_tokens("alice").access_token
        url = upload_url(await init(session, fake, alice, channelId=2))
        first = await chunk(session, url, alice, payload()[:100], 0)
        second = await status_query(session, url, alice)
        refused = await chunk(session, url, alice, payload()[100:200], 100)

    assert [first.status, second.status, refused.status] == [308, 308, 429]
    assert first.header("X-RateLimit-Remaining") == "1"
    assert fake.stats.limiter_hits["api"] == 4
    assert fake.stats.upload_chunks == 1  # the refused one never reached uploadx


async def test_final_chunk_replayed_while_processing_gets_503(
    session: aiohttp.ClientSession,
) -> None:
    data = payload()
    async with FakeInstance(videos=0, upload_processing_time=0.3, upload_retry_after=7) as fake:
        root = fake.issue_tokens("root").access_token
        url = upload_url(await init(session, fake, root))
        await chunk(session, url, root, data[:24000], 0)
        final = asyncio.ensure_future(chunk(session, url, root, data[24000:], 24000))
        await wait_for(lambda: fake.stats.upload_chunks == 2)
        busy = await chunk(session, url, root, data[24000:], 24000)
        asking = await status_query(session, url, root)
        done = await final
        gone = await chunk(session, url, root, data[24000:], 24000)

    assert busy.status == 503
    assert busy.header("Retry-After") == "7"
    assert busy.header("Content-Type") == "application/problem+json; charset=utf-8"
    assert busy.json()["detail"] == "The upload is already being processed"
    assert busy.json()["docs"] == f"{DOCS}#operation/uploadResumable"
    assert asking.status == 503
    assert done.status == 200
    assert (gone.status, gone.body) == (404, NOT_FOUND)
    assert fake.stats.uploads_completed == 1 and fake.stats.videos_created == 1


async def test_config_publishes_max_chunk_size(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(videos=0, max_chunk_size=5 * 1024 * 1024) as fake:
        config = await call(session, "GET", fake.url / API / "config")
    assert config.json()["client"]["videos"]["resumableUpload"] == {"maxChunkSize": 5242880}


# ---------------------------------------------------------------------------------------
# Fault hooks


async def test_drop_mid_chunk_keeps_received_bytes_and_resumes(
    raw_session: aiohttp.ClientSession,
) -> None:
    data = payload()
    async with FakeInstance(videos=0) as fake:
        root = fake.issue_tokens("root").access_token
        url = upload_url(await init(raw_session, fake, root))
        fake.faults.drop_after_bytes = 5000
        with pytest.raises(aiohttp.ClientError):
            await chunk(raw_session, url, root, data[:12000], 0)
        where = await status_query(raw_session, url, root)
        upload_id = fake.upload_ids[0]
        progress = fake.upload_progress(upload_id)
        rest = await chunk(raw_session, url, root, data[5000:], 5000)
        digest = fake.video_files(rest.json()["video"]["id"])[0].sha256

    assert where.header("Range") == "bytes=0-4999"
    assert progress == 5000
    assert rest.status == 200
    assert digest == hashlib.sha256(data).hexdigest()
    assert fake.faults.drop_after_bytes is None  # an int is used once
    assert fake.stats.dropped_connections == 1
    assert fake.stats.upload_bytes == SIZE


async def test_aiohttp_resends_a_dropped_put_once(session: aiohttp.ClientSession) -> None:
    data = payload()
    async with FakeInstance(videos=0) as fake:
        root = fake.issue_tokens("root").access_token
        url = upload_url(await init(session, fake, root))
        fake.faults.drop_after_bytes = 5000
        silent = await chunk(session, url, root, data[:12000], 0)  # resent by aiohttp
        fake.faults.drop_after_bytes = [5000, 5000]
        with pytest.raises(aiohttp.ClientError):
            await chunk(session, url, root, data[12000:24000], 12000)

    assert silent.header("Range") == "bytes=0-11999"
    assert fake.stats.dropped_connections == 3
    assert fake.stats.upload_chunks == 4


async def test_drop_plan_lets_none_through(raw_session: aiohttp.ClientSession) -> None:
    data = payload()
    async with FakeInstance(videos=0) as fake:
        root = fake.issue_tokens("root").access_token
        url = upload_url(await init(raw_session, fake, root))
        fake.faults.drop_after_bytes = [None, 100]
        ok = await chunk(raw_session, url, root, data[:1000], 0)
        with pytest.raises(aiohttp.ClientError):
            await chunk(raw_session, url, root, data[1000:2000], 1000)
        where = await status_query(raw_session, url, root)
        later = await chunk(raw_session, url, root, data[1100:2000], 1100)

    assert ok.header("Range") == "bytes=0-999"
    assert where.header("Range") == "bytes=0-1099"
    assert later.header("Range") == "bytes=0-1999"
    assert fake.faults.drop_after_bytes is None


async def test_lost_answer_to_final_chunk(raw_session: aiohttp.ClientSession) -> None:
    data = payload()
    async with FakeInstance(videos=0) as fake:
        root = fake.issue_tokens("root").access_token
        url = upload_url(await init(raw_session, fake, root, privacy=1))
        await chunk(raw_session, url, root, data[:24000], 0)
        fake.faults.drop_after_bytes = len(data)  # the whole chunk arrives, no answer
        with pytest.raises(aiohttp.ClientError):
            await chunk(raw_session, url, root, data[24000:], 24000)
        replay = await chunk(raw_session, url, root, data[24000:], 24000)
        listed = await call(raw_session, "GET", fake.url / API / "videos")

    assert (replay.status, replay.body) == (404, NOT_FOUND)
    assert fake.stats.videos_created == 1
    assert listed.json()["total"] == 1


async def test_refused_chunks_are_503_with_retry_after(session: aiohttp.ClientSession) -> None:
    data = payload()
    async with FakeInstance(videos=0) as fake:
        root = fake.issue_tokens("root").access_token
        url = upload_url(await init(session, fake, root))
        fake.faults.refuse_next_chunks(count=2, retry_after=3)
        first = await chunk(session, url, root, data[:12000], 0)
        query = await status_query(session, url, root)  # status queries are not chunks
        second = await chunk(session, url, root, data[:12000], 0)
        third = await chunk(session, url, root, data[:12000], 0)

    for reply in (first, second):
        assert reply.status == 503
        assert reply.header("Retry-After") == "3"
        assert reply.body == b'{"error":{"code":"StorageError","message":"Storage error"}}'
    assert query.header("Range") == "bytes=0--1"
    assert third.header("Range") == "bytes=0-11999"
    assert fake.stats.statuses[503] == 2


async def test_forgotten_upload_is_404(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(videos=0) as fake:
        root = fake.issue_tokens("root").access_token
        url = upload_url(await init(session, fake, root))
        (upload_id,) = fake.upload_ids
        assert fake.forget_upload(upload_id) is True
        assert fake.forget_upload(upload_id) is False
        reply = await status_query(session, url, root)
    assert (reply.status, reply.body) == (404, NOT_FOUND)


async def test_chunk_latency(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(videos=0, faults=Faults(chunk_latency=0.05)) as fake:
        root = fake.issue_tokens("root").access_token
        url = upload_url(await init(session, fake, root))
        started = time.perf_counter()
        reply = await chunk(session, url, root, payload()[:100], 0)
        elapsed = time.perf_counter() - started
    assert reply.status == 308
    assert elapsed >= 0.05


# ---------------------------------------------------------------------------------------
# Legacy upload


def legacy_form(
    content: bytes = b"x" * 64,
    filename: str = "clip.mp4",
    field: str = "videofile",
    **fields: str,
) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value in {"name": "Legacy clip", "channelId": "1", **fields}.items():
        form.add_field(name, value)
    form.add_field(field, content, filename=filename, content_type="application/octet-stream")
    return form


async def test_legacy_upload(session: aiohttp.ClientSession) -> None:
    content = payload(4096)
    async with FakeInstance(videos=1) as fake:
        root = fake.issue_tokens("root").access_token
        endpoint = fake.url / API / "videos/upload"
        ok = await call(
            session, "POST", endpoint, token=root, data=legacy_form(content, privacy="2")
        )
        wrong_field = await call(
            session, "POST", endpoint, token=root, data=legacy_form(field="file")
        )
        not_video = await call(
            session, "POST", endpoint, token=root, data=legacy_form(filename="notes.txt")
        )
        anonymous = await call(session, "POST", endpoint, data=legacy_form())
        video_id = ok.json()["video"]["id"]
        detail = await call(session, "GET", fake.url / API / f"videos/{video_id}")
        digest = fake.video_files(video_id)[0].sha256

    assert ok.status == 200 and set(ok.json()["video"]) == {"id", "shortUUID", "uuid"}
    assert detail.json()["privacy"] == {"id": 2, "label": "Unlisted"}
    assert detail.json()["name"] == "Legacy clip"
    assert digest == hashlib.sha256(content).hexdigest()
    assert wrong_field.status == 400
    assert wrong_field.json()["invalid-params"]["videofile"]["msg"] == "Should have a file"
    assert not_video.status == 415
    assert anonymous.status == 401
    assert anonymous.json()["docs"] == f"{DOCS}#operation/uploadLegacy"
    assert fake.stats.legacy_uploads == 1 and fake.stats.videos_created == 1
    assert fake.stats.uploads_started == 0


# ---------------------------------------------------------------------------------------
# Files: Range, private files, other origins, download faults


async def test_file_download_with_range(session: aiohttp.ClientSession) -> None:
    data = payload(100_000)
    async with FakeInstance(videos=0) as fake:
        root = fake.issue_tokens("root").access_token
        ids = await upload_all(session, fake, root, data, piece=40_000, privacy=1)
        detail = (await call(session, "GET", fake.url / API / f"videos/{ids['id']}")).json()
        file_url = detail["files"][0]["fileUrl"]
        whole = await call(session, "GET", file_url)
        part = await call(session, "GET", file_url, headers={"Range": "bytes=1000-1999"})
        tail = await call(session, "GET", file_url, headers={"Range": "bytes=-10"})
        head = await call(session, "HEAD", file_url)
        beyond = await call(session, "GET", file_url, headers={"Range": "bytes=200000-"})
        download = await call(session, "GET", detail["files"][0]["fileDownloadUrl"])
        missing = await call(session, "GET", fake.url / "static/web-videos/nothing-720.mp4")

    assert (whole.status, whole.body) == (200, data)
    assert whole.header("Accept-Ranges") == "bytes"
    assert whole.header("Content-Type") == "video/mp4"
    assert (part.status, part.body) == (206, data[1000:2000])
    assert part.header("Content-Range") == f"bytes 1000-1999/{len(data)}"
    assert (tail.status, tail.body) == (206, data[-10:])
    assert (head.status, head.body, head.header("Content-Length")) == (200, b"", str(len(data)))
    assert beyond.status == 416
    assert (download.status, download.body) == (200, data)
    assert download.header("Content-Disposition") == 'attachment; filename="Clip-720p.mp4"'
    assert missing.status == 404
    assert fake.stats.file_requests == 7


async def test_private_video_and_files_need_the_owner(session: aiohttp.ClientSession) -> None:
    data = payload(2000)
    async with FakeInstance(videos=0) as fake:
        root = fake.issue_tokens("root").access_token
        alice = fake.issue_tokens("alice").access_token
        ids = await upload_all(session, fake, alice, data, channelId=2)  # no privacy: private
        video = fake.url / API / f"videos/{ids['id']}"
        anonymous = await call(session, "GET", video)
        as_owner = await call(session, "GET", video, token=alice)
        as_admin = await call(session, "GET", video, token=root)
        file_url = as_owner.json()["files"][0]["fileUrl"]
        public_path = file_url.replace("/private/", "/")
        no_token = await call(session, "GET", file_url)
        bad_token = await call(session, "GET", file_url, token="nope")
        owner_file = await call(session, "GET", file_url, token=alice)
        admin_file = await call(
            session, "GET", file_url, token=root, headers={"Range": "bytes=0-9"}
        )
        public = await call(session, "GET", public_path, token=alice)
        listed = await call(session, "GET", fake.url / API / "videos")
        second_admin = fake.issue_tokens("root").access_token  # a fresh session sees it too
        other_admin = await call(session, "GET", file_url, token=second_admin)

    assert anonymous.status == 401
    assert as_owner.json()["privacy"] == {"id": 3, "label": "Private"}
    assert as_admin.status == 200
    assert "/static/web-videos/private/" in file_url
    assert no_token.status == 403
    assert no_token.json()["detail"] == (
        "Video password header, video file token query parameter and bearer token are all missing"
    )
    assert bad_token.status == 401
    assert (owner_file.status, owner_file.body) == (200, data)
    assert (admin_file.status, admin_file.body) == (206, data[:10])
    assert public.status == 404
    assert listed.json()["total"] == 0
    assert other_admin.status == 200


async def test_private_file_refused_to_another_user(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(videos=0, users={"alice": "a-pass", "bob": "b-pass"}) as fake:
        alice = fake.issue_tokens("alice").access_token
        bob = fake.issue_tokens("bob").access_token
        ids = await upload_all(session, fake, alice, payload(500), channelId=2)
        (stored,) = fake.video_files(ids["id"])
        file_url = f"{fake.url}/static/web-videos/private/{stored.filename}"
        as_bob = await call(session, "GET", file_url, token=bob)
        video_as_bob = await call(session, "GET", fake.url / API / f"videos/{ids['id']}", token=bob)

    message = "Cannot fetch information of private/internal/blocked video"
    assert (as_bob.status, as_bob.json()["detail"]) == (403, message)
    assert (video_as_bob.status, video_as_bob.json()["detail"]) == (403, message)


async def test_files_on_another_origin(session: aiohttp.ClientSession) -> None:
    data = payload(3000)
    async with FakeInstance(videos=0) as fake, FakeInstance(videos=0) as cdn:
        root = fake.issue_tokens("root").access_token
        ids = await upload_all(session, fake, root, data, privacy=1)
        fake.serve_files_from(cdn)
        moved = (await call(session, "GET", fake.url / API / f"videos/{ids['id']}")).json()
        from_cdn = await call(session, "GET", moved["files"][0]["fileUrl"])

        fake.file_origin = f"http://localhost:{fake.port}"  # same server, another origin
        alias = (await call(session, "GET", fake.url / API / f"videos/{ids['id']}")).json()
        from_alias = await call(session, "GET", alias["files"][0]["fileUrl"])

    assert moved["files"][0]["fileUrl"].startswith(f"{cdn.url}/static/web-videos/")
    assert moved["files"][0]["fileDownloadUrl"].startswith(str(fake.url))
    assert (from_cdn.status, from_cdn.body) == (200, data)
    assert alias["files"][0]["fileUrl"].startswith(f"http://localhost:{fake.port}/")
    assert (from_alias.status, from_alias.body) == (200, data)


async def test_file_origin_from_the_constructor(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(videos=1, file_origin="https://cdn.example/") as fake:
        fake.add_video_file(1, data=b"0123456789")
        detail = (await call(session, "GET", fake.url / API / "videos/1")).json()
    assert detail["files"][0]["fileUrl"].startswith("https://cdn.example/static/web-videos/")
    assert fake.file_origin == "https://cdn.example"


async def test_dropped_download_resumes_with_range(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(videos=2) as fake:
        stored = fake.add_video_file(2, size=3 * 1024 * 1024 + 5, resolution=480)
        detail = (await call(session, "GET", fake.url / API / "videos/2")).json()
        file_url = detail["files"][0]["fileUrl"]
        fake.faults.drop_download_after_bytes = 100_000
        got = bytearray()
        with pytest.raises(aiohttp.ClientPayloadError):
            async with session.get(file_url) as response:
                assert response.status == 200
                async for piece in response.content.iter_any():
                    got += piece
        rest = await call(session, "GET", file_url, headers={"Range": f"bytes={len(got)}-"})
        digest = stored.sha256

    assert len(got) == 100_000
    assert rest.status == 206
    assert hashlib.sha256(bytes(got) + rest.body).hexdigest() == digest
    assert detail["files"][0]["resolution"] == {"id": 480, "label": "480p"}
    assert detail["files"][0]["size"] == stored.size
    assert fake.stats.dropped_connections == 1


async def test_add_video_file_sources(tmp_path: Any) -> None:
    source = tmp_path / "movie.mp4"
    source.write_bytes(b"abcdefghijkl")
    async with FakeInstance(videos=1) as fake:
        in_place = fake.add_video_file(1, path=source, resolution=1080)
        with pytest.raises(ValueError):
            fake.add_video_file(1, data=b"x", size=3)
        with pytest.raises(KeyError):
            fake.add_video_file(99, data=b"x")
        files = fake.video_files(fake.videos[0].uuid)
    assert in_place.path == source and in_place.size == 12
    assert files == (in_place,)
    assert source.exists()  # a caller's file is never removed


# ---------------------------------------------------------------------------------------
# Benchmark sink, lifecycle, counters


async def test_bench_sink(session: aiohttp.ClientSession) -> None:
    body = payload(3 * 1024 * 1024)
    async with FakeInstance(videos=0, limits={"api": (1, 60.0)}) as fake:
        # aiohttp warns about a bytes body over 1 MiB: stream it.
        sink = fake.url / "_bench/sink"
        to_disk = await call(session, "PUT", sink, data=io.BytesIO(body))
        discarded = await call(session, "PUT", sink % {"discard": "1"}, data=io.BytesIO(body))

    for reply in (to_disk, discarded):
        assert (reply.status, reply.header("X-Received-Bytes")) == (204, str(len(body)))
    assert fake.stats.bench_bytes == 2 * len(body)
    assert fake.stats.requests == 0  # outside the API: no rate limit, no API counters


async def test_files_live_on_disk_until_close(
    session: aiohttp.ClientSession, tmp_path: Any
) -> None:
    async with FakeInstance(videos=0, upload_dir=tmp_path) as fake:
        root = fake.issue_tokens("root").access_token
        ids = await upload_all(session, fake, root, payload(1000))
        (stored,) = fake.video_files(ids["id"])
        assert stored.path.is_file() and tmp_path in stored.path.parents
    assert not stored.path.exists()
    assert list(tmp_path.iterdir()) == []


async def test_stats(session: aiohttp.ClientSession) -> None:
    data = payload()
    async with FakeInstance(videos=0) as fake:
        root = fake.issue_tokens("root").access_token
        await upload_all(session, fake, root, data)
        url = upload_url(await init(session, fake, root))
        await status_query(session, url, root)
        await call(session, "DELETE", url, token=root)
    stats = fake.stats
    assert (stats.uploads_started, stats.uploads_completed, stats.upload_cancels) == (2, 1, 1)
    assert (stats.upload_chunks, stats.upload_status_queries) == (3, 1)
    assert (stats.upload_bytes, stats.videos_created) == (SIZE, 1)
    assert stats.routes["PUT /api/v1/videos/upload-resumable"] == 4
    assert stats.routes["DELETE /api/v1/videos/upload-resumable"] == 1


def test_faults_defaults_and_clear() -> None:
    faults = Faults(drop_after_bytes=[1, 2], unavailable_chunks=2, chunk_latency=1.0)
    faults.clear()
    assert faults == Faults()


async def test_cancel_while_a_chunk_arrives(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(videos=0, faults=Faults(chunk_latency=0.05)) as fake:
        root = fake.issue_tokens("root").access_token
        url = upload_url(await init(session, fake, root))
        sending = asyncio.ensure_future(chunk(session, url, root, payload()[:1000], 0))
        await wait_for(lambda: fake.stats.upload_chunks == 1)
        cancelled = await call(session, "DELETE", url, token=root)
        late = await sending
    assert cancelled.status == 204
    assert (late.status, late.body) == (404, NOT_FOUND)
