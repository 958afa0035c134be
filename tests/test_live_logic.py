"""The logic of live-event streams without a network: a scripted Socket.IO client, REST
functions over a list, and a fake clock (no real waiting)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from peertube_async import AuthError, ConnectError, Reconnect
from peertube_async import _live as live


class _ConnectionError(Exception):
    pass


class _Exceptions:
    ConnectionError = _ConnectionError


class _Eio:
    def __init__(self) -> None:
        self.read_loop_task: Any = None
        self.write_loop_task: Any = None
        self.http: Any = None
        self.external_http = False
        self.handlers: dict[str, Any] = {}

    def on(self, event: str, handler: Any) -> None:
        self.handlers[event] = handler


class FakeSocketIO:
    """Stands for the ``socketio`` module: each connection takes the next outcome of
    ``script`` (``"ok"``, ``"fail"``, ``"404"``, ``"auth"``); with none left, connecting
    waits forever."""

    exceptions = _Exceptions

    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.urls: list[str] = []
        self.clients: list[FakeClient] = []
        fake = self

        class AsyncClient(FakeClient):
            def __init__(self, **options: Any) -> None:
                super().__init__(fake, options)

        self.AsyncClient = AsyncClient

    @property
    def current(self) -> FakeClient:
        return self.clients[-1]


class FakeClient:
    def __init__(self, module: FakeSocketIO, options: dict[str, Any]) -> None:
        self.module = module
        self.options = options
        self.eio = _Eio()
        self.handlers: dict[str, Any] = {}
        self.connected = False
        self.emitted: list[tuple[str, Any]] = []
        module.clients.append(self)

    def on(self, event: str, handler: Any, namespace: str | None = None) -> None:
        self.handlers[event] = handler

    async def _handle_eio_message(self, data: Any) -> None:
        raise ValueError("not a Socket.IO packet")

    async def connect(self, url: str, **options: Any) -> None:
        self.module.urls.append(url)
        if not self.module.script:
            await asyncio.Event().wait()
        outcome = self.module.script.pop(0)
        if outcome == "fail":
            raise _ConnectionError("Connection refused by the server")
        if outcome == "404":
            raise _ConnectionError("Unexpected status code 404 in server response", None)
        if outcome == "auth":
            self.handlers["connect_error"]({"message": "Invalid access token."})
            raise _ConnectionError("One or more namespaces failed to connect: /x")
        self.connected = True

    async def emit(self, event: str, data: Any = None, namespace: str | None = None) -> None:
        self.emitted.append((event, data))

    async def disconnect(self) -> None:
        self.connected = False

    def push(self, event: str, data: Any) -> None:
        self.handlers[event](data)

    def drop(self) -> None:
        self.connected = False
        self.handlers["disconnect"]("transport error")


class FakeClock:
    """Time that moves only when the stream sleeps (or a test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class FakeAuth:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.refreshes = 0

    async def access_token(self) -> str | None:
        return self.tokens[0] if self.tokens else None

    async def after_unauthorized(self, used: str) -> bool:
        if len(self.tokens) < 2:
            return False
        self.refreshes += 1
        self.tokens.pop(0)
        return True


@dataclass(frozen=True)
class Item:
    id: int


class Server:
    """The REST side: notifications in a list (all unread)."""

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.calls = 0

    async def fetch_unread(self, start: int, count: int) -> list[Item]:
        self.calls += 1
        newest_first = sorted(self.items, key=lambda i: -i.id)
        return newest_first[start : start + count]

    async def newest_id(self) -> int:
        self.calls += 1
        return max((i.id for i in self.items), default=0)

    def add(self, item_id: int) -> dict[str, Any]:
        self.items.append(Item(item_id))
        return {"id": item_id}


def make_stream(
    module: FakeSocketIO,
    server: Server,
    clock: FakeClock,
    *,
    auth: FakeAuth | None = None,
    mode: live.StreamMode = "auto",
    reconnect: Reconnect | None = None,
    rnd: Callable[[], float] = lambda: 0.0,
) -> live.EventStream[Any]:
    common = live._Common(
        origin="https://peertube.example",
        auth=auth or FakeAuth(["t0ken"]),
        user_agent="tests",
        mode=mode,
        poll_interval=5.0,
        reconnect=reconnect or Reconnect(base=1.0, cap=8.0, stable_after=30.0),
        timing=live._Timing(clock=clock.clock, sleep=clock.sleep, rnd=rnd),
    )
    return live.notification_stream(
        common,
        fetch_unread=server.fetch_unread,
        newest_id=server.newest_id,
        decode=lambda payload: Item(payload["id"]),
    )


async def settle() -> None:
    """Let the stream run until it waits for something a test must do."""
    for _ in range(200):
        await asyncio.sleep(0)


async def take(stream: live.EventStream[Any], n: int) -> list[int]:
    return [(await asyncio.wait_for(stream.__anext__(), 5)).id for _ in range(n)]


def test_reconnect_delays_grow_jittered_and_capped() -> None:
    policy = Reconnect(base=0.5, cap=30.0)
    for attempt in range(12):
        ceiling = min(30.0, 0.5 * 2**attempt)
        assert policy.delay(attempt, lambda: 0.0) == ceiling / 2
        assert ceiling / 2 <= policy.delay(attempt) < ceiling
    assert policy.delay(10_000, lambda: 0.0) == 15.0  # no overflow for long outages


async def test_failed_connections_wait_longer_each_time_until_one_lasts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = FakeSocketIO(["fail", "fail", "fail", "fail", "fail", "ok"])
    monkeypatch.setattr(live, "_load_socketio", lambda: module)
    clock, server = FakeClock(), Server()
    stream = make_stream(module, server, clock, mode="socket")
    pending = asyncio.ensure_future(stream.__anext__())
    await settle()
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 4.0]  # min(8, 2**n) halved by the jitter
    # A connection that drops at once does not reset the waits...
    module.script.append("ok")
    module.current.drop()
    await settle()
    assert clock.sleeps[-1] == 4.0
    # ...one that lasted does.
    module.script.append("ok")
    clock.now += 30.0
    module.current.drop()
    await settle()
    assert clock.sleeps[-1] == 0.5
    module.current.push("new-notification", server.add(1))
    assert (await asyncio.wait_for(pending, 5)).id == 1
    await stream.aclose()
    assert not module.current.connected


async def test_a_refused_token_is_refreshed_once_then_the_stream_polls(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="peertube_async.live")
    module = FakeSocketIO(["auth", "ok"])
    monkeypatch.setattr(live, "_load_socketio", lambda: module)
    clock, server, auth = FakeClock(), Server(), FakeAuth(["old", "new", "newer"])
    stream = make_stream(module, server, clock, auth=auth)
    pending = asyncio.ensure_future(stream.__anext__())
    await settle()
    assert [u.rsplit("=", 1)[1] for u in module.urls] == ["old", "new"]
    assert auth.refreshes == 1 and clock.sleeps == []  # no wait before the new token
    # Refused again right after a refresh: the socket is not for this token.
    module.script.extend(["auth", "auth"])
    module.current.drop()
    await settle()
    assert auth.refreshes == 2
    server.add(7)
    assert (await asyncio.wait_for(pending, 5)).id == 7
    assert stream.transport == "polling"
    await stream.aclose()
    fallbacks = [r for r in caplog.records if "polling every" in r.getMessage()]
    assert len(fallbacks) == 1 and "refuses a token" in fallbacks[0].getMessage()
    assert "newer" not in caplog.text


async def test_a_token_that_cannot_be_refreshed_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    module = FakeSocketIO(["auth"])
    monkeypatch.setattr(live, "_load_socketio", lambda: module)
    stream = make_stream(module, Server(), FakeClock(), auth=FakeAuth(["only"]))
    with pytest.raises(AuthError, match="Invalid access token"):
        await stream.__anext__()


async def test_an_instance_without_the_socket_is_polled_from_the_start(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="peertube_async.live")
    module = FakeSocketIO(["404"])
    monkeypatch.setattr(live, "_load_socketio", lambda: module)
    clock, server = FakeClock(), Server()
    server.add(1)
    stream = make_stream(module, server, clock)
    pending = asyncio.ensure_future(stream.__anext__())
    await settle()
    assert stream.transport == "polling"
    # At most one REST call per interval of (fake) time, the start included.
    assert set(clock.sleeps) == {5.0}
    assert server.calls <= 1 + (clock.now - 1000.0) / 5.0
    server.add(2)
    assert (await asyncio.wait_for(pending, 5)).id == 2  # not 1: it was there before
    await stream.aclose()
    assert len([r for r in caplog.records if "polling every" in r.getMessage()]) == 1


async def test_unreachable_socket_before_any_connection_falls_back_after_three_tries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = FakeSocketIO(["fail", "fail", "fail"])
    monkeypatch.setattr(live, "_load_socketio", lambda: module)
    clock, server = FakeClock(), Server()
    stream = make_stream(module, server, clock)
    pending = asyncio.ensure_future(stream.__anext__())
    await settle()
    assert stream.transport == "polling" and len(module.urls) == 3
    server.add(3)
    assert (await asyncio.wait_for(pending, 5)).id == 3
    await stream.aclose()


async def test_catch_up_and_socket_overlap_without_duplicates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = FakeSocketIO(["ok"])
    monkeypatch.setattr(live, "_load_socketio", lambda: module)
    clock, server = FakeClock(), Server()
    stream = make_stream(module, server, clock)
    pending = asyncio.ensure_future(stream.__anext__())
    await settle()
    client = module.current
    client.push("new-notification", server.add(1))
    assert (await asyncio.wait_for(pending, 5)).id == 1
    # Dropped; meanwhile 2 and 3 happen. The new socket pushes 3 (and 4) while the
    # catch-up lists 3 and 2 too: each comes once, in order.
    module.script.append("ok")
    client.drop()
    server.add(2)
    server.add(3)
    await settle()
    module.current.push("new-notification", {"id": 3})
    module.current.push("new-notification", server.add(4))
    module.current.push("new-notification", {"id": 2})
    module.current.push("new-notification", "garbage")  # skipped with a warning
    assert await take(stream, 3) == [2, 3, 4]
    module.current.push("new-notification", server.add(5))
    assert await take(stream, 1) == [5]
    await stream.aclose()


async def test_a_flood_beyond_the_inbox_is_fetched_again_over_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live, "_INBOX_LIMIT", 2)
    module = FakeSocketIO(["ok"])
    monkeypatch.setattr(live, "_load_socketio", lambda: module)
    clock, server = FakeClock(), Server()
    stream = make_stream(module, server, clock)
    pending = asyncio.ensure_future(stream.__anext__())
    await settle()
    for item_id in range(1, 7):
        module.current.push("new-notification", server.add(item_id))
    assert (await asyncio.wait_for(pending, 5)).id == 1
    assert await take(stream, 5) == [2, 3, 4, 5, 6]
    await stream.aclose()


async def test_garbage_from_the_library_closes_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = FakeSocketIO(["ok", "ok"])
    monkeypatch.setattr(live, "_load_socketio", lambda: module)
    clock, server = FakeClock(), Server()
    stream = make_stream(module, server, clock)
    pending = asyncio.ensure_future(stream.__anext__())
    await settle()
    first = module.current
    await first.eio.handlers["message"]("zz")  # the library cannot parse it
    await settle()
    assert module.current is not first and clock.sleeps == [0.5]
    module.current.push("new-notification", server.add(1))
    assert (await asyncio.wait_for(pending, 5)).id == 1
    await stream.aclose()


def test_tokens_are_taken_out_of_what_the_library_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="peertube_async.live.socketio")
    log = live._LibraryLog()
    log.info("Attempting polling connection to %s", "http://x/socket.io/?accessToken=s3cret&EIO=4")
    log.exception("Connect handler failed: %s", "ws://x/?accessToken=s3cret")
    assert "s3cret" not in caplog.text
    assert caplog.text.count("accessToken=REDACTED") == 2


async def test_handlers_dispatch_by_type_and_survive_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @dataclass(frozen=True)
    class Event:
        type: object

    calls: list[str] = []
    handlers = live.Handlers()
    handlers.on(2, lambda e: calls.append("two"))
    handlers.on("state-change", lambda e: calls.append("state"))

    @handlers.on()
    async def everything(event: Event) -> None:
        calls.append("any")
        raise ValueError("boom")

    assert await handlers.dispatch(Event(2)) == 2
    assert await handlers.dispatch(Event("state-change")) == 2
    assert await handlers.dispatch(Event(3)) == 1
    assert calls == ["two", "any", "state", "any", "any"]
    assert len([r for r in caplog.records if r.exc_info]) == 3
    strict = live.Handlers(stop_on_error=True)
    strict.on(None, everything)
    with pytest.raises(ValueError, match="boom"):
        await strict.dispatch(Event(1))


async def test_an_api_failure_while_catching_up_is_a_reconnection_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = FakeSocketIO(["ok", "ok"])
    monkeypatch.setattr(live, "_load_socketio", lambda: module)
    clock, server = FakeClock(), Server()
    failures = [ConnectError("connection reset", method="GET", url="/api/v1/x")]
    fetch = server.fetch_unread

    async def flaky_fetch(start: int, count: int) -> list[Item]:
        if failures:
            raise failures.pop()
        return await fetch(start, count)

    monkeypatch.setattr(server, "fetch_unread", flaky_fetch)
    server.add(1)
    stream = make_stream(module, server, clock)  # starts after 1
    pending = asyncio.ensure_future(stream.__anext__())
    await settle()
    # The first catch-up failed: that connection was closed, a new one made later.
    assert len(module.clients) == 2 and clock.sleeps == [0.5]
    assert not module.clients[0].connected and module.current.connected
    module.current.push("new-notification", server.add(2))
    assert (await asyncio.wait_for(pending, 5)).id == 2
    await stream.aclose()
