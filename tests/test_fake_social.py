"""FakeInstance's comments, subscriptions, notifications and Socket.IO endpoint, against
what a PeerTube 6.3 server answers (``tests/fixtures/corpus-6.3.json``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from peertube_async.testing import FakeInstance
from tests import fixtures

API = "api/v1"


def corpus_body(operation: str, status: int = 200, who: str | None = None) -> Any:
    for sample in fixtures.corpus()["samples"]:
        wanted = sample["operation"] == operation and sample["status"] == status
        if wanted and (who is None or sample["as"] == who):
            return json.loads(sample["body"]) if sample["body"] else None
    raise LookupError(operation)


def key_order(value: Any) -> Any:
    """The keys of every object, in order, nested (values left out)."""
    if isinstance(value, dict):
        return [(k, key_order(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [key_order(v) for v in value[:1]]
    return None


@pytest.fixture
async def fake() -> AsyncIterator[FakeInstance]:
    async with FakeInstance(videos=3) as instance:
        yield instance


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: Any,
    token: str | None = None,
    body: Any = None,
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, json=body, headers=headers) as response:
        text = await response.text()
        return response.status, (json.loads(text) if text else None)


async def test_a_comment_notifies_the_videos_owner_as_peertube_does(
    fake: FakeInstance, session: aiohttp.ClientSession
) -> None:
    alice = fake.issue_tokens("alice").access_token
    root = fake.issue_tokens("root").access_token
    # Video 1 is root's.
    status, posted = await call(
        session, "POST", fake.url / API / "videos/1/comment-threads", alice, {"text": "Hello"}
    )
    assert status == 200
    real = corpus_body("POST /api/v1/videos/{id}/comment-threads")
    assert key_order(posted) == key_order(real)
    thread_id = posted["comment"]["id"]
    status, reply = await call(
        session,
        "POST",
        fake.url / API / f"videos/1/comments/{thread_id}",
        root,
        {"text": "Thanks"},
    )
    assert status == 200 and reply["comment"]["inReplyToCommentId"] == thread_id
    status, tree = await call(
        session, "GET", fake.url / API / f"videos/1/comment-threads/{thread_id}"
    )
    assert status == 200
    assert [c["comment"]["text"] for c in tree["children"]] == ["Thanks"]
    assert (
        tree["comment"]["totalReplies"] == 1 and tree["comment"]["totalRepliesFromVideoAuthor"] == 1
    )
    _, threads = await call(session, "GET", fake.url / API / "videos/1/comment-threads")
    assert thread_id in [t["id"] for t in threads["data"]]

    # Root's own reply notifies nobody; alice's comment notified root.
    status, page = await call(session, "GET", fake.url / API / "users/me/notifications", root)
    assert status == 200 and page["total"] == 1
    (notification,) = page["data"]
    real_list = corpus_body("GET /api/v1/users/me/notifications", who="root")["data"]
    real_comment = next(n for n in real_list if n["type"] == 2)
    assert key_order(notification) == key_order(real_comment)
    assert notification["comment"]["id"] == thread_id
    assert notification["comment"]["account"]["name"] == "alice"
    _, alices = await call(session, "GET", fake.url / API / "users/me/notifications", alice)
    assert alices["total"] == 0


async def test_a_subscription_notifies_the_channels_owner(
    fake: FakeInstance, session: aiohttp.ClientSession
) -> None:
    alice = fake.issue_tokens("alice").access_token
    root = fake.issue_tokens("root").access_token
    url = fake.url / API / "users/me/subscriptions"
    for _ in range(2):
        status, _ = await call(session, "POST", url, alice, {"uri": f"root_channel@{fake.host}"})
        assert status == 204
    status, error = await call(session, "POST", url, alice, {"uri": "not a handle"})
    assert status == 400 and "uri" in error["invalid-params"]
    status, _ = await call(session, "POST", url, alice, {"uri": f"nobody@{fake.host}"})
    assert status == 404
    _, page = await call(session, "GET", fake.url / API / "users/me/notifications", root)
    (notification,) = page["data"]
    real_list = corpus_body("GET /api/v1/users/me/notifications", who="root")["data"]
    real_follow = next(n for n in real_list if n["type"] == 10)
    assert key_order(notification) == key_order(real_follow)
    assert notification["actorFollow"]["follower"]["name"] == "alice"


async def test_notifications_filter_and_read(
    fake: FakeInstance, session: aiohttp.ClientSession
) -> None:
    token = fake.issue_tokens("alice").access_token
    for kind in (2, 10, 2):
        await fake.notify("alice", kind, {})
    url = fake.url / API / "users/me/notifications"
    first, second, third = (n.id for n in fake.notifications_of("alice"))
    status, _ = await call(session, "POST", url / "read", token, {"ids": [second]})
    assert status == 204
    _, unread = await call(session, "GET", url.with_query(unread="true"), token)
    assert [n["id"] for n in unread["data"]] == [third, first]
    _, oldest_first = await call(session, "GET", url.with_query(sort="createdAt"), token)
    assert [n["id"] for n in oldest_first["data"]] == [first, second, third]
    _, follows = await call(session, "GET", url.with_query(typeOneOf="10"), token)
    assert [n["id"] for n in follows["data"]] == [second] and follows["data"][0]["read"]
    status, error = await call(session, "POST", url / "read", token, {"ids": "x"})
    assert status == 400 and "ids" in error["invalid-params"]
    status, _ = await call(session, "POST", url / "read-all", token)
    assert status == 204
    _, unread = await call(session, "GET", url.with_query(unread="true"), token)
    assert unread["total"] == 0
    status, _ = await call(session, "GET", url)
    assert status == 401


async def test_comment_validation(fake: FakeInstance, session: aiohttp.ClientSession) -> None:
    token = fake.issue_tokens("alice").access_token
    url = fake.url / API / "videos/1/comment-threads"
    status, error = await call(session, "POST", url, token, {"text": ""})
    assert status == 400 and error["detail"] == "Incorrect request parameters: text"
    status, error = await call(session, "POST", url, None, {"text": "x"})
    assert status == 401
    status, error = await call(
        session, "POST", fake.url / API / "videos/1/comments/999", token, {"text": "x"}
    )
    assert status == 404
    status, _ = await call(session, "GET", fake.url / API / "videos/1/comment-threads/999")
    assert status == 404


async def test_a_live_video_shows_its_state_and_viewers(
    fake: FakeInstance, session: aiohttp.ClientSession
) -> None:
    await fake.set_live(2, state=4, viewers=12)
    _, video = await call(session, "GET", fake.url / API / "videos/2")
    assert video["isLive"] is True and video["viewers"] == 12
    assert video["state"] == {"id": 4, "label": "Waiting for livestream"}


async def test_the_socket_endpoint_authenticates_like_peertube() -> None:
    socketio = pytest.importorskip("socketio")
    async with FakeInstance(videos=1) as fake:
        token = fake.issue_tokens("alice").access_token
        received: list[Any] = []
        for query in ("", "?accessToken=wrong"):
            client = socketio.AsyncClient(reconnection=False, handle_sigint=False)
            errors: list[Any] = []
            client.on("connect_error", errors.append, namespace="/user-notifications")
            with pytest.raises(socketio.exceptions.ConnectionError):
                await client.connect(f"{fake.url}/{query}", namespaces=["/user-notifications"])
            assert errors and "token" in errors[-1]["message"]
        assert fake.sockets.refusals == 2
        client = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        client.on("new-notification", received.append, namespace="/user-notifications")
        await client.connect(f"{fake.url}/?accessToken={token}", namespaces=["/user-notifications"])
        assert fake.sockets.listeners() == 1
        sent = await fake.notify("alice", 10, {})
        await fake.notify("root", 10, {})  # someone else's
        for _ in range(200):
            if received:
                break
            await asyncio.sleep(0.01)
        await client.disconnect()
        assert received == [sent.to_json()]
        fake.sockets.refuse = True
        async with (
            aiohttp.ClientSession() as http,
            http.get(fake.url / "socket.io/", params={"EIO": "4"}) as response,
        ):
            assert response.status == 404
