"""Live events end to end over loopback: notifications and live-video changes pushed by a
FakeInstance's Socket.IO endpoint, reconnections, token refreshes, the polling fallback
and broken servers."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from peertube_async import (
    AuthError,
    Handlers,
    LiveVideoEvent,
    PeerTube,
    RateLimit,
    Reconnect,
    Scheduler,
)
from peertube_async.models import Notification, UserNotificationType, VideoState
from peertube_async.testing import Answer, FakeInstance, HostileServer, ReceivedRequest

USERS = {"alice": "alice-password", "bob": "bob-password"}
#: Video 3 is bob's (videos go in turn to root, alice and bob).
BOBS_VIDEO = 3
FAST = Reconnect(base=0.05, cap=0.2, stable_after=5.0)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (briefly polling) until ``condition()`` holds; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


class Collector:
    """Iterates a stream in a task of its own, keeping what it yields."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.items: list[Any] = []
        self.arrived: list[float] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for item in self.stream:
            self.items.append(item)
            self.arrived.append(time.monotonic())

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.stream.aclose()


@pytest.fixture
async def fake() -> AsyncIterator[FakeInstance]:
    async with FakeInstance(videos=3, users=USERS) as instance:
        yield instance


async def signed_in(fake: FakeInstance, user: str, **options: Any) -> PeerTube:
    pt = PeerTube(fake.url, **options)
    await pt.login(user, fake.passwords[user])
    return pt


def ids(items: list[Any]) -> list[int]:
    return [item.id for item in items]


def bob_ids(fake: FakeInstance) -> list[int]:
    return [n.id for n in fake.notifications_of("bob")]


def hide_socketio(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the ``live`` extra were not installed: ``import socketio`` fails."""
    monkeypatch.setitem(sys.modules, "socketio", None)


# -- the socket path ----------------------------------------------------------------------


async def test_a_comment_reaches_the_video_owners_stream_within_a_second(
    fake: FakeInstance,
) -> None:
    alice, bob = await signed_in(fake, "alice"), await signed_in(fake, "bob")
    async with alice, bob:
        collector = Collector(bob.me.notifications.stream())
        await until(lambda: fake.sockets.listeners() == 1)
        posted = time.monotonic()
        answer = await alice.videos.comments.create_thread(BOBS_VIDEO, text="Lovely video!")
        await until(lambda: len(collector.items) == 1)
        latency = collector.arrived[0] - posted
        await collector.stop()
    assert collector.stream.transport == "socket"
    (n,) = collector.items
    assert isinstance(n, Notification)
    assert n.type is UserNotificationType.NEW_COMMENT_ON_MY_VIDEO
    assert answer is not None and answer.comment is not None
    assert n.comment is not None and n.comment.id == answer.comment.id
    assert n.comment.account.name == "alice" and n.comment.video.id == BOBS_VIDEO
    assert latency < 1.0
    # Bob's stream asked the API twice: where to start, and what came before connecting.
    assert fake.stats.routes["GET /api/v1/users/me/notifications"] == 2


async def test_a_new_subscriber_is_a_notification_too(fake: FakeInstance) -> None:
    alice, bob = await signed_in(fake, "alice"), await signed_in(fake, "bob")
    async with alice, bob:
        collector = Collector(bob.me.notifications.stream())
        await until(lambda: fake.sockets.listeners() == 1)
        await alice.me.subscriptions.create(uri=f"bob_channel@{fake.host}")
        await alice.me.subscriptions.create(uri=f"bob_channel@{fake.host}")  # no second one
        await alice.videos.comments.create_thread(BOBS_VIDEO, text="and a comment")
        await until(lambda: len(collector.items) == 2)
        await collector.stop()
    follow, comment = collector.items
    assert follow.type is UserNotificationType.NEW_FOLLOW
    assert follow.actor_follow is not None
    assert follow.actor_follow.follower.name == "alice"
    assert follow.actor_follow.following.name == "bob_channel"
    assert comment.type is UserNotificationType.NEW_COMMENT_ON_MY_VIDEO


async def test_no_notification_is_lost_or_duplicated_across_forced_disconnects() -> None:
    # Rate limits are beside the point here (the default budget would hold the writer).
    async with FakeInstance(videos=3, users=USERS, rate_limit=False) as fake:
        await _lose_nothing(fake)


async def _lose_nothing(fake: FakeInstance) -> None:
    alice = await signed_in(fake, "alice", rate_limiting=False)
    bob = await signed_in(fake, "bob", rate_limiting=False)
    async with alice, bob:
        collector = Collector(bob.me.notifications.stream(reconnect=FAST))
        await until(lambda: fake.sockets.listeners() == 1)

        async def comment_steadily(count: int) -> None:
            for i in range(count):
                await alice.videos.comments.create_thread(BOBS_VIDEO, text=f"comment {i}")
                await asyncio.sleep(0.01)

        writer = asyncio.create_task(comment_steadily(40))
        for _ in range(3):  # drops while comments keep coming
            await until(lambda: fake.sockets.listeners() == 1)
            await asyncio.sleep(0.05)
            await fake.drop_sockets()
            # Created while nobody listens: only the REST catch-up can deliver these.
            await fake.notify("bob", 2, {})
        await writer
        await until(lambda: len(collector.items) >= len(bob_ids(fake)))
        await asyncio.sleep(0.1)  # a duplicate would show up now
        await collector.stop()
    assert len(bob_ids(fake)) == 43
    assert ids(collector.items) == bob_ids(fake)  # each once, in order
    assert collector.stream.connections >= 4


async def test_a_restarted_bot_gets_the_unread_ones_after_the_last_it_handled(
    fake: FakeInstance,
) -> None:
    alice, bob = await signed_in(fake, "alice"), await signed_in(fake, "bob")
    async with alice, bob:
        for i in range(3):
            await alice.videos.comments.create_thread(BOBS_VIDEO, text=f"before {i}")
        first, second, third = bob_ids(fake)
        await bob.me.notifications.mark_read(ids=[second])
        collector = Collector(bob.me.notifications.stream(since_id=first))
        await until(lambda: len(collector.items) == 1)
        await alice.videos.comments.create_thread(BOBS_VIDEO, text="after")
        await until(lambda: len(collector.items) == 2)
        await collector.stop()
    assert ids(collector.items) == [third, bob_ids(fake)[-1]]  # the read one is not missed


async def test_reconnects_with_a_refreshed_token(
    fake: FakeInstance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    alice, bob = await signed_in(fake, "alice"), await signed_in(fake, "bob")
    async with alice, bob:
        collector = Collector(bob.me.notifications.stream(reconnect=FAST))
        await until(lambda: fake.sockets.listeners() == 1)
        # The stream's first catch-up went out with the token still good (a call made
        # with the expired one would have refreshed it through the API instead).
        await until(lambda: fake.stats.routes["GET /api/v1/users/me/notifications"] == 2)
        await asyncio.sleep(0.05)
        old = bob.tokens
        assert old is not None
        # The server ends the token's life; the client does not know yet.
        assert fake.expire_access_token(old.access_token)
        await fake.drop_sockets()
        await alice.videos.comments.create_thread(BOBS_VIDEO, text="while away")
        await until(lambda: len(collector.items) == 1)
        await alice.videos.comments.create_thread(BOBS_VIDEO, text="back")
        await until(lambda: len(collector.items) == 2)
        await collector.stop()
        new = bob.tokens
    assert new is not None and new.access_token != old.access_token
    assert fake.sockets.refusals == 1  # the old token, once
    assert fake.stats.refreshes == 1  # one refresh, through the single-flight path
    assert ids(collector.items) == bob_ids(fake)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert old.access_token not in logged and new.access_token not in logged
    assert "accessToken=REDACTED" in logged  # the handshake URL, as the library logs it


async def test_a_token_that_cannot_be_refreshed_ends_the_stream(fake: FakeInstance) -> None:
    bob = await signed_in(fake, "bob")
    async with bob:
        tokens = bob.tokens
        assert tokens is not None
        collector = Collector(bob.me.notifications.stream(reconnect=FAST))
        await until(lambda: fake.sockets.listeners() == 1)
        fake.revoke_tokens(tokens.access_token)  # signed out elsewhere: refresh token gone
        await fake.drop_sockets()
        with pytest.raises(AuthError) as caught:
            await asyncio.wait_for(collector.task, 5)
        await collector.stop()
    assert tokens.access_token not in str(caught.value)
    assert tokens.refresh_token is not None and tokens.refresh_token not in str(caught.value)


async def test_a_client_not_signed_in_cannot_stream(fake: FakeInstance) -> None:
    async with PeerTube(fake.url) as anonymous:
        stream = anonymous.me.notifications.stream(since_id=0)
        with pytest.raises(AuthError, match="signed-in"):
            await stream.__anext__()
        await stream.aclose()


# -- the polling fallback -----------------------------------------------------------------


async def test_without_python_socketio_a_comment_arrives_by_polling_within_the_budget(
    fake: FakeInstance, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The first two promises again, with the optional dependency absent."""
    hide_socketio(monkeypatch)
    caplog.set_level(logging.INFO, logger="peertube_async.live")
    fake.limiters["api"].reset()
    # One budget for both clients: they share the address the instance counts.
    scheduler = Scheduler({"api": RateLimit(10, 1.0)})
    alice = await signed_in(fake, "alice", scheduler=scheduler)
    bob = await signed_in(fake, "bob", scheduler=scheduler)
    async with alice, bob:
        polls_before = fake.stats.routes.get("GET /api/v1/users/me/notifications", 0)
        started = time.monotonic()
        collector = Collector(bob.me.notifications.stream(poll_interval=0.2))
        await until(lambda: collector.stream.transport == "polling")
        posted = time.monotonic()
        await alice.videos.comments.create_thread(BOBS_VIDEO, text="Lovely video!")
        await until(lambda: len(collector.items) == 1)
        latency = collector.arrived[0] - posted
        await fake.notify("bob", 2, {})
        await alice.videos.comments.create_thread(BOBS_VIDEO, text="again")
        await until(lambda: len(collector.items) == 3)
        await asyncio.sleep(0.3)
        await collector.stop()
        elapsed = time.monotonic() - started
    await scheduler.aclose()
    polls = fake.stats.routes["GET /api/v1/users/me/notifications"] - polls_before
    assert latency < 1.0
    assert ids(collector.items) == bob_ids(fake)
    # The start, then one poll per interval at most: what the interval allows, far
    # below the budget, and never refused.
    assert polls <= 1 + elapsed / 0.2 + 1
    assert fake.stats.rate_limited == 0
    fallbacks = [r for r in caplog.records if "polling every" in r.getMessage()]
    assert len(fallbacks) == 1
    assert "python-socketio is not installed" in fallbacks[0].getMessage()


async def test_polling_never_spends_beyond_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """An interval far shorter than the budget allows: the scheduler paces the polls."""
    hide_socketio(monkeypatch)
    async with FakeInstance(videos=3, users=USERS, limits={"api": (10, 1.0)}) as fake:
        bob = await signed_in(fake, "bob", rate_limits={"api": RateLimit(10, 1.0)})
        async with bob:
            await asyncio.sleep(1.0)  # a fresh window: the login's requests are behind us
            fake.reset_stats()
            started = time.monotonic()
            collector = Collector(bob.me.notifications.stream(poll_interval=0.001))
            await asyncio.sleep(1.5)
            await collector.stop()
            elapsed = time.monotonic() - started
    windows = int(elapsed // 1.0) + 1
    assert fake.stats.requests <= 10 * windows
    assert fake.stats.requests >= 10  # the budget was used, not wasted
    assert fake.stats.rate_limited == 0


async def test_a_refused_socket_falls_back_to_polling_once(
    fake: FakeInstance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="peertube_async.live")
    fake.sockets.refuse = True
    alice, bob = await signed_in(fake, "alice"), await signed_in(fake, "bob")
    async with alice, bob:
        collector = Collector(bob.me.notifications.stream(poll_interval=0.05))
        await until(lambda: collector.stream.transport == "polling")
        for i in range(3):
            await alice.videos.comments.create_thread(BOBS_VIDEO, text=f"c{i}")
        await until(lambda: len(collector.items) == 3)
        await collector.stop()
    assert ids(collector.items) == bob_ids(fake)
    fallbacks = [r for r in caplog.records if "polling every" in r.getMessage()]
    assert len(fallbacks) == 1 and "status 404" in fallbacks[0].getMessage()
    assert fake.sockets.connections == 0


async def test_socket_mode_refuses_to_poll(fake: FakeInstance) -> None:
    fake.sockets.refuse = True
    bob = await signed_in(fake, "bob")
    async with bob:
        stream = bob.me.notifications.stream(mode="socket")
        with pytest.raises(Exception, match="refuses its notification socket"):
            await stream.__anext__()
        await stream.aclose()


# -- live videos ----------------------------------------------------------------------------


async def test_live_video_events_over_the_socket(fake: FakeInstance) -> None:
    await fake.set_live(BOBS_VIDEO, state=VideoState.WAITING_FOR_LIVE, viewers=0)
    uuid = fake.videos[BOBS_VIDEO - 1].uuid
    async with PeerTube(fake.url) as watcher:
        collector = Collector(watcher.videos.live.events(uuid, reconnect=FAST))
        await until(lambda: fake.sockets.live_listeners == 1)
        await asyncio.sleep(0.05)  # the subscription travels after the handshake
        await fake.set_live(BOBS_VIDEO, state=VideoState.PUBLISHED)
        await fake.set_live(BOBS_VIDEO, viewers=3)
        await fake.set_live(1, viewers=99)  # another video: not ours
        await until(lambda: len(collector.items) == 2)
        # A drop hides two changes; the REST read after reconnecting shows them.
        await fake.drop_sockets()
        await fake.set_live(BOBS_VIDEO, viewers=5)
        await until(lambda: len(collector.items) == 3)
        await until(lambda: fake.sockets.live_listeners == 1)
        await asyncio.sleep(0.05)
        await fake.set_live(BOBS_VIDEO, state=VideoState.LIVE_ENDED, force_end=True)
        await until(lambda: len(collector.items) == 5)
        await collector.stop()
    assert collector.items == [
        LiveVideoEvent("state-change", BOBS_VIDEO, state=VideoState.PUBLISHED),
        LiveVideoEvent("views-change", BOBS_VIDEO, viewers=3),
        LiveVideoEvent("views-change", BOBS_VIDEO, viewers=5),
        LiveVideoEvent("state-change", BOBS_VIDEO, state=VideoState.LIVE_ENDED),
        LiveVideoEvent("force-end", BOBS_VIDEO),
    ]
    assert collector.items[0].state is VideoState.PUBLISHED


async def test_live_video_events_by_polling(
    fake: FakeInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    hide_socketio(monkeypatch)
    await fake.set_live(BOBS_VIDEO, state=VideoState.WAITING_FOR_LIVE)
    async with PeerTube(fake.url) as watcher:
        collector = Collector(watcher.videos.live.events(BOBS_VIDEO, poll_interval=0.05))
        await until(lambda: fake.stats.routes.get("GET /api/v1/videos/{id}", 0) >= 2)
        await fake.set_live(BOBS_VIDEO, state=VideoState.PUBLISHED, viewers=7)
        await until(lambda: len(collector.items) == 2)
        await collector.stop()
    assert collector.stream.transport == "polling"
    assert collector.items == [
        LiveVideoEvent("state-change", BOBS_VIDEO, state=VideoState.PUBLISHED),
        LiveVideoEvent("views-change", BOBS_VIDEO, viewers=7),
    ]


# -- callbacks ------------------------------------------------------------------------------


async def test_handlers_call_the_functions_of_each_kind(fake: FakeInstance) -> None:
    alice, bob = await signed_in(fake, "alice"), await signed_in(fake, "bob")
    seen: list[tuple[str, int]] = []
    handlers = Handlers()

    @handlers.on(UserNotificationType.NEW_COMMENT_ON_MY_VIDEO)
    async def reply(n: Notification) -> None:
        assert n.comment is not None
        await bob.videos.comments.reply(BOBS_VIDEO, n.comment.id, text="Thanks!")
        seen.append(("reply", n.id))

    @handlers.on(UserNotificationType.NEW_FOLLOW)
    def welcome(n: Notification) -> None:
        seen.append(("follow", n.id))
        raise RuntimeError("a broken handler does not stop the others")

    handlers.on(None, lambda n: seen.append(("any", n.id)))
    async with alice, bob:
        runner = asyncio.create_task(handlers.run(bob.me.notifications.stream()))
        await until(lambda: fake.sockets.listeners() == 1)
        posted = await alice.videos.comments.create_thread(BOBS_VIDEO, text="hi")
        await alice.me.subscriptions.create(uri=f"bob_channel@{fake.host}")
        await until(lambda: len(seen) == 4)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        assert posted is not None and posted.comment is not None
        thread = await alice.videos.comments.get_thread(BOBS_VIDEO, posted.comment.id)
    first, second = bob_ids(fake)
    assert seen == [("reply", first), ("any", first), ("follow", second), ("any", second)]
    assert [c.comment.text for c in thread.children] == ["Thanks!"]
    assert fake.sockets.listeners() == 0  # run() closed the stream


# -- broken and hostile servers -------------------------------------------------------------


async def test_garbage_on_the_socket_is_a_dropped_connection(fake: FakeInstance) -> None:
    alice, bob = await signed_in(fake, "alice"), await signed_in(fake, "bob")
    async with alice, bob:
        collector = Collector(bob.me.notifications.stream(reconnect=FAST))
        await until(lambda: fake.sockets.listeners() == 1)
        for garbage in ("zz", '2/user-notifications,["new-notification","x"]', "2[]"):
            await fake.sockets.send_raw(garbage)
        await fake.notify("bob", 2, {})
        await until(lambda: len(collector.items) == 1)
        await alice.videos.comments.create_thread(BOBS_VIDEO, text="still there?")
        await until(lambda: len(collector.items) == 2)
        await collector.stop()
    assert ids(collector.items) == bob_ids(fake)
    assert collector.stream.connections >= 2


async def test_a_flapping_socket_is_retried_ever_more_slowly(fake: FakeInstance) -> None:
    """Accepted then dropped at once, again and again: the waits grow (a connection that
    does not last does not reset them) and nothing is lost."""
    fake.sockets.drop_on_connect = True
    bob = await signed_in(fake, "bob")
    async with bob:
        stream = bob.me.notifications.stream(
            reconnect=Reconnect(base=0.02, cap=0.32, stable_after=5.0)
        )
        collector = Collector(stream)
        await until(lambda: fake.sockets.connections >= 1)
        await fake.notify("bob", 2, {})
        await asyncio.sleep(1.0)
        connections = fake.sockets.connections
        await collector.stop()
    # Waits of 0.01-0.02, 0.02-0.04, ... capped at 0.16-0.32 s: at most about a dozen
    # handshakes in a second, where an immediate retry would make hundreds.
    assert 3 <= connections <= 14
    assert ids(collector.items) == bob_ids(fake)


async def test_closing_a_stream_leaves_no_task_or_socket_behind() -> None:
    before = asyncio.all_tasks()
    async with FakeInstance(videos=3, users=USERS) as fake:
        bob = await signed_in(fake, "bob")
        async with bob:
            async with bob.me.notifications.stream() as stream:
                waiting = asyncio.create_task(stream.__anext__())
                await until(lambda: fake.sockets.listeners() == 1)
                waiting.cancel()
                await asyncio.gather(waiting, return_exceptions=True)
            await until(lambda: fake.sockets.listeners() == 0)
            async with bob.videos.live.events(BOBS_VIDEO) as events:
                next_event = asyncio.create_task(events.__anext__())
                await until(lambda: fake.sockets.live_listeners == 1)
                next_event.cancel()
                await asyncio.gather(next_event, return_exceptions=True)
            await until(lambda: fake.sockets.live_listeners == 0)
    await asyncio.sleep(0.05)
    assert asyncio.all_tasks() - before == set()


async def test_an_answer_that_is_not_socketio_means_polling() -> None:
    """An instance whose /socket.io/ answers something else (a proxy's page, say)."""
    page = {"total": 0, "data": []}

    def answer(request: ReceivedRequest) -> Answer:
        if request.path.startswith("/socket.io"):
            return Answer.text("<html>not here</html>")
        return Answer.json(page)

    async with HostileServer(answer) as server, PeerTube(server.url, token="t0ken") as pt:
        collector = Collector(pt.me.notifications.stream(poll_interval=0.05))
        await until(lambda: collector.stream.transport == "polling")
        sockets = [r for r in server.requests if r.path.startswith("/socket.io")]
        await until(lambda: len(server.requests) >= len(sockets) + 3)
        await collector.stop()
    assert len(sockets) == 1  # asked once, then never again
    assert all("t0ken" not in r.target for r in server.requests if r.path.startswith("/api"))
