"""Live events: what PeerTube pushes over Socket.IO, as async iterators that lose nothing.

PeerTube runs a Socket.IO server (Engine.IO protocol 4) at ``/socket.io/`` beside its REST
API (``server/core/lib/peertube-socket.ts``), outside the API's rate limits:

- ``/user-notifications``: authenticated by ``accessToken`` in the handshake's query; the
  server emits ``new-notification`` with the object ``GET /users/me/notifications`` lists.
- ``/live-videos``: public; the client emits ``subscribe``/``unsubscribe`` with
  ``{"videoId": id}`` (the numeric id) and the server emits ``state-change``
  (``{"state": n}``), ``views-change`` (``{"viewers": n}``) and ``force-end``.

A stream here connects with python-socketio's asyncio client (the optional ``live``
extra), imported on first use. After a drop it reconnects with jittered, capped backoff
(reset only by a connection that lasted), asks the authenticator for the current token
each time (a refused token gets one single-flight refresh), and fetches over REST what
the drop may have hidden, deduplicating by id, so that nothing is yielded twice or lost.
Without python-socketio, or when the instance refuses the socket, it polls the same REST
methods instead (every call through the rate-aware scheduler), and logs why, once.

The REST side is handed in by the resources (``resources/_live.py``) as small functions,
so that this module depends on the pipeline and the authenticator only.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import re
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Sequence
from typing import Any, Generic, Literal, TypeVar, overload
from urllib.parse import quote

import attrs

from ._auth import AuthError
from ._errors import APIError, PeerTubeError, RateLimited, ServerError, TransportError

__all__ = [
    "LIVE_NAMESPACE",
    "NOTIFICATIONS_NAMESPACE",
    "EventStream",
    "Handlers",
    "LiveVideoEvent",
    "Reconnect",
    "StreamMode",
]

logger = logging.getLogger("peertube_async.live")

NOTIFICATIONS_NAMESPACE = "/user-notifications"
LIVE_NAMESPACE = "/live-videos"
SOCKET_PATH = "socket.io"

#: ``"auto"``: the socket, else polling; ``"socket"``: the socket only; ``"poll"``: REST only.
StreamMode = Literal["auto", "socket", "poll"]

_T = TypeVar("_T")

#: Events waiting for the consumer; beyond this the socket's events are dropped and
#: fetched again over REST once the consumer catches up.
_INBOX_LIMIT = 10_000
#: Notification ids remembered to drop duplicates (a catch-up overlapping the socket).
_SEEN_LIMIT = 4096
#: Catch-up pages: size and how many at most after one drop.
_PAGE = 20
_MAX_PAGES = 50
#: Failed first connections before an ``auto`` stream settles for polling.
_FIRST_FAILURES = 3

_TOKEN_IN_TEXT = re.compile(r"(accessToken=)[^&\s'\"]*")
_STATUS_RE = re.compile(r"status code (\d{3})")


@attrs.frozen
class LiveVideoEvent:
    """A change of a live video: ``type`` is ``"state-change"`` (``state`` set),
    ``"views-change"`` (``viewers`` set) or ``"force-end"`` (the live was stopped)."""

    type: str
    video_id: int
    #: The video's new state (a :class:`~peertube_async.models.VideoState`) on a
    #: ``state-change``.
    state: Any = None
    #: How many watch it now, on a ``views-change``.
    viewers: int | None = None


@attrs.frozen
class Reconnect:
    """When a dropped socket is tried again: ``min(cap, base * 2**n)`` seconds scaled by a
    random factor in [0.5, 1), ``n`` counting the failed tries since the last connection
    that stayed up at least ``stable_after`` seconds (a socket that drops at once does not
    reset the wait, so a flapping instance is not hammered)."""

    base: float = 0.5
    cap: float = 30.0
    stable_after: float = 30.0

    def delay(self, attempt: int, rnd: Callable[[], float] = random.random) -> float:
        """Seconds to wait before try number ``attempt`` (0-based)."""
        return float(min(self.cap, self.base * (2 ** min(attempt, 32))) * (0.5 + rnd() / 2))


@attrs.define
class _Timing:
    """The clock, sleep and randomness a stream runs on (a test's fakes, or the real)."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rnd: Callable[[], float] = random.random


class EventStream(Generic[_T]):
    """Events as they happen: ``async for event in stream``. Leaving ``async with
    stream`` or ``await stream.aclose()`` closes its socket; so does cancelling the task
    that iterates it. ``transport`` tells how it receives them now: ``"socket"``,
    ``"polling"``, or None before the first event is asked for."""

    def __init__(self, run: Callable[[EventStream[_T]], AsyncGenerator[_T, None]], what: str):
        self._what = what
        #: ``"socket"`` or ``"polling"`` once started.
        self.transport: str | None = None
        #: Socket connections made so far (the first and each reconnection).
        self.connections = 0
        self._gen = run(self)

    def __repr__(self) -> str:
        return f"<EventStream {self._what} transport={self.transport}>"

    def __aiter__(self) -> EventStream[_T]:
        return self

    async def __anext__(self) -> _T:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        """Stop: the socket (if any) is closed before this returns."""
        await self._gen.aclose()

    async def __aenter__(self) -> EventStream[_T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


# -- callbacks ------------------------------------------------------------------------------

_Handler = Callable[[Any], Any]
_F = TypeVar("_F", bound=_Handler)


class Handlers:
    """Functions to call per kind of event, for bots that prefer callbacks::

        handlers = Handlers()

        @handlers.on(UserNotificationType.NEW_COMMENT_ON_MY_VIDEO)
        async def thank(n: Notification) -> None: ...

        await handlers.run(pt.me.notifications.stream())

    A kind is matched against the event's ``type`` (a notification's
    :class:`~peertube_async.models.UserNotificationType` or its number, a
    :class:`LiveVideoEvent`'s ``"state-change"``...); ``on()`` with no kind matches every
    event. Handlers may be plain functions or coroutine functions; they run one after
    the other, in the order they were added. A handler that raises is logged (on
    ``peertube_async.live``) and the others still run, unless ``stop_on_error``.
    """

    def __init__(self, *, stop_on_error: bool = False) -> None:
        self._handlers: list[tuple[object, _Handler]] = []
        self.stop_on_error = stop_on_error

    @overload
    def on(self, kind: object = None, handler: None = None) -> Callable[[_F], _F]: ...

    @overload
    def on(self, kind: object, handler: _F) -> _F: ...

    def on(self, kind: object = None, handler: _Handler | None = None) -> Any:
        """Register ``handler`` for ``kind``; without ``handler``, a decorator."""

        def register(func: _F) -> _F:
            self._handlers.append((kind, func))
            return func

        if handler is not None:
            return register(handler)
        return register

    async def dispatch(self, event: Any) -> int:
        """Call the handlers of ``event``; returns how many ran."""
        kind = getattr(event, "type", None)
        ran = 0
        for wanted, handler in list(self._handlers):
            if wanted is not None and wanted != kind:
                continue
            ran += 1
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                if self.stop_on_error:
                    raise
                logger.exception("a handler of %s events failed", kind)
        return ran

    async def run(self, events: AsyncIterable[Any]) -> None:
        """Dispatch every event of ``events`` until it ends (or the task is cancelled);
        a stream given here is closed on the way out."""
        try:
            async for event in events:
                await self.dispatch(event)
        finally:
            closer = getattr(events, "aclose", None)
            if closer is not None:
                await closer()


# -- the Socket.IO client -------------------------------------------------------------------


class _Refused(Exception):
    """The instance does not serve this socket (404, not Socket.IO, namespace unknown)."""


class _AuthRefused(Exception):
    """The instance refused the access token of the handshake."""


class _Failed(Exception):
    """No connection this time (network, timeout, 5xx): worth another try."""


def _load_socketio() -> Any:
    """python-socketio's module, or None when it is not installed."""
    try:
        import socketio  # type: ignore[import-untyped]  # no type information shipped
    except ImportError:
        return None
    return socketio


def _redact(text: str) -> str:
    return _TOKEN_IN_TEXT.sub(r"\1REDACTED", text)


class _LibraryLog:
    """What python-socketio and python-engineio log, at debug level on
    ``peertube_async.live.socketio``, with access tokens taken out of URLs (the
    handshake's query carries one). Passing it also keeps those libraries from adding
    handlers to their own loggers."""

    def __init__(self) -> None:
        self._logger = logging.getLogger("peertube_async.live.socketio")

    def _log(self, level: int, msg: object, args: tuple[Any, ...]) -> None:
        if not self._logger.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = f"{msg} {args!r}"
        self._logger.log(level, "%s", _redact(text))

    def debug(self, msg: object, *args: Any, **_: Any) -> None:
        self._log(logging.DEBUG, msg, args)

    def info(self, msg: object, *args: Any, **_: Any) -> None:
        self._log(logging.DEBUG, msg, args)

    def warning(self, msg: object, *args: Any, **_: Any) -> None:
        self._log(logging.DEBUG, msg, args)

    def error(self, msg: object, *args: Any, **_: Any) -> None:
        self._log(logging.INFO, msg, args)

    def exception(self, msg: object, *args: Any, **_: Any) -> None:
        self._log(logging.INFO, msg, args)

    def critical(self, msg: object, *args: Any, **_: Any) -> None:
        self._log(logging.INFO, msg, args)


_CLOSED = object()


class _Inbox:
    """The events of one connection, in order, then ``_CLOSED``; bounded: past the limit
    events are dropped and ``overflowed`` says a REST catch-up is due."""

    def __init__(self, limit: int | None = None) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._limit = _INBOX_LIMIT if limit is None else limit
        self.overflowed = False
        self.closed = False

    def put(self, item: Any) -> None:
        if self.closed:
            return
        if self._queue.qsize() >= self._limit:
            self.overflowed = True
            return
        self._queue.put_nowait(item)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(_CLOSED)

    async def get(self) -> Any:
        return await self._queue.get()


class _Socket:
    """One Socket.IO connection to one namespace of one instance."""

    def __init__(
        self,
        module: Any,
        namespace: str,
        events: Sequence[str],
        inbox: _Inbox,
        *,
        timeout: float,
    ) -> None:
        self._namespace = namespace
        self._timeout = timeout
        self._inbox = inbox
        self._rejection: Any = None
        client = module.AsyncClient(
            reconnection=False,  # reconnecting is the stream's job: backoff, re-auth, catch-up
            handle_sigint=False,  # the application owns SIGINT
            logger=_LibraryLog(),
            engineio_logger=_LibraryLog(),
            request_timeout=timeout,
        )
        self._client = client
        self._exceptions = module.exceptions
        for name in events:
            client.on(name, self._receiver(name), namespace=namespace)
        client.on("disconnect", self._on_disconnect, namespace=namespace)
        client.on("connect_error", self._on_connect_error, namespace=namespace)
        # A message that is not Socket.IO makes the library's handler raise in a task of
        # its own, where nobody would see it: treat it as a broken connection instead.
        self._handle_message = client._handle_eio_message
        client.eio.on("message", self._guarded_message)

    def _receiver(self, name: str) -> Callable[..., None]:
        def receive(*args: Any) -> None:
            self._inbox.put((name, args[0] if args else None))

        return receive

    def _on_disconnect(self, *args: Any) -> None:
        self._inbox.close()

    def _on_connect_error(self, data: Any = None, *args: Any) -> None:
        self._rejection = data

    async def _guarded_message(self, data: Any) -> None:
        try:
            await self._handle_message(data)
        except Exception as exc:
            logger.info("dropping a socket that sent garbage (%s)", type(exc).__name__)
            self._inbox.close()

    async def open(self, url: str, headers: dict[str, str]) -> None:
        """Connect; raises :class:`_Refused`, :class:`_AuthRefused` or :class:`_Failed`."""
        exceptions = self._exceptions
        try:
            await asyncio.wait_for(
                self._client.connect(
                    url,
                    headers=headers,
                    namespaces=[self._namespace],
                    socketio_path=SOCKET_PATH,
                    wait_timeout=self._timeout,
                ),
                self._timeout * 2,
            )
        except exceptions.ConnectionError as exc:
            await self.close()
            raise self._classify(str(exc)) from None
        except (asyncio.TimeoutError, OSError, ValueError) as exc:
            await self.close()
            raise _Failed(_redact(str(exc)) or type(exc).__name__) from None
        except BaseException:
            await self.close()
            raise

    def _classify(self, message: str) -> Exception:
        rejection = self._rejection
        if "namespaces failed" in message:
            text = rejection.get("message") if isinstance(rejection, dict) else rejection
            reason = _redact(str(text or "refused"))
            if "token" in reason.lower():
                return _AuthRefused(reason)
            return _Refused(f"namespace {self._namespace} refused: {reason}")
        status = _STATUS_RE.search(message)
        if status is not None:
            code = int(status.group(1))
            if code in (408, 429) or code >= 500:
                return _Failed(f"status {code}")
            return _Refused(f"status {code}")
        if "Unexpected response" in message or "OPEN packet" in message:
            return _Refused("the answer is not Socket.IO")
        return _Failed(_redact(message))

    async def emit(self, event: str, data: Any) -> None:
        """Send an event on the namespace (ignored once the connection is gone)."""
        with contextlib.suppress(Exception):
            await self._client.emit(event, data, namespace=self._namespace)

    async def close(self) -> None:
        """Close the connection and everything it runs; safe to call twice."""
        client = self._client
        eio = client.eio
        try:
            await asyncio.wait_for(client.disconnect(), self._timeout)
        except (Exception, asyncio.TimeoutError):
            logger.debug("socket closed uncleanly", exc_info=False)
        # Whatever the disconnection left: its loops, and the HTTP session it made.
        tasks = [
            t for t in (eio.read_loop_task, eio.write_loop_task) if isinstance(t, asyncio.Task)
        ]
        for task in tasks:
            if not task.done():
                task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        http = getattr(eio, "http", None)
        if http is not None and not http.closed and not getattr(eio, "external_http", False):
            await http.close()
        self._inbox.close()


# -- streams --------------------------------------------------------------------------------


class _Seen:
    """Ids already yielded (the last few thousand) and the highest one."""

    def __init__(self, last: int) -> None:
        self.last = last
        self._ids: set[int] = set()
        self._order: deque[int] = deque()

    def add(self, item_id: int) -> bool:
        """Remember ``item_id``; False when it was yielded already (or is not newer than
        where the stream started)."""
        if item_id in self._ids or item_id <= self._floor:
            return False
        self._ids.add(item_id)
        self._order.append(item_id)
        if len(self._order) > _SEEN_LIMIT:
            self._ids.discard(self._order.popleft())
        self.last = max(self.last, item_id)
        return True

    _floor = -1

    def start_at(self, floor: int) -> None:
        """Nothing at or below ``floor`` is yielded."""
        self._floor = floor


@attrs.define
class _Common:
    """What every stream needs from the client."""

    origin: str
    auth: Any  # the client's Authenticator
    user_agent: str | None
    mode: StreamMode = "auto"
    poll_interval: float = 10.0
    reconnect: Reconnect = attrs.field(factory=Reconnect)
    timeout: float = 10.0
    timing: _Timing = attrs.field(factory=_Timing)


class _Runner:
    """The connect, catch up, read, reconnect loop shared by both kinds of stream."""

    def __init__(self, common: _Common, what: str) -> None:
        self.c = common
        self.what = what
        self.fell_back = False

    def fall_back(self, why: str) -> None:
        """Say once why this stream polls."""
        if not self.fell_back:
            self.fell_back = True
            logger.warning(
                "%s of %s: %s; polling every %g s instead",
                self.what,
                self.c.origin,
                why,
                self.c.poll_interval,
            )

    def module(self) -> Any:
        """python-socketio, or None when this stream must poll (logged)."""
        if self.c.mode == "poll":
            return None
        module = _load_socketio()
        if module is None:
            if self.c.mode == "socket":
                raise PeerTubeError(
                    "live events over Socket.IO need python-socketio: "
                    "pip install 'peertube_async[live]'"
                )
            self.fall_back("python-socketio is not installed (pip install 'peertube_async[live]')")
        return module

    async def wait_before_retry(self, attempt: int) -> None:
        delay = self.c.reconnect.delay(attempt, self.c.timing.rnd)
        logger.info("%s of %s: reconnecting in %.2f s", self.what, self.c.origin, delay)
        await self.c.timing.sleep(delay)

    async def poll_pause(self, failures: int) -> None:
        """Between two polls: the interval, longer after failed polls."""
        pause = self.c.poll_interval
        if failures:
            pause = max(pause, self.c.reconnect.delay(failures - 1, self.c.timing.rnd))
        await self.c.timing.sleep(pause)


def _transient(exc: BaseException) -> bool:
    """A REST failure a stream outlives (it tries again later)."""
    if isinstance(exc, (TransportError, ServerError, RateLimited)):
        return True
    return isinstance(exc, APIError) and exc.status in (408, 429)


def notification_stream(
    common: _Common,
    *,
    fetch_unread: Callable[[int, int], Awaitable[Sequence[Any]]],
    newest_id: Callable[[], Awaitable[int]],
    decode: Callable[[Any], Any],
    since_id: int | None = None,
) -> EventStream[Any]:
    """The notifications of the signed-in user as they come.

    ``fetch_unread(start, count)``: a page of unread notifications, newest first;
    ``newest_id()``: the id of the newest notification (0 when none); ``decode``: a
    ``new-notification`` payload into the model. Starts after ``since_id``, or after the
    newest notification when None.
    """
    runner = _Runner(common, "notification stream")

    async def missed(seen: _Seen) -> list[Any]:
        """Unread notifications newer than the last one seen, oldest first."""
        after = seen.last
        found: list[Any] = []
        for page_number in range(_MAX_PAGES):
            page = await fetch_unread(page_number * _PAGE, _PAGE)
            fresh = [n for n in page if n.id > after]
            found.extend(fresh)
            if len(fresh) < len(page) or len(page) < _PAGE:
                break
        found.sort(key=lambda n: n.id)
        return found

    async def catch_up(seen: _Seen) -> list[Any] | None:
        """:func:`missed`, or None when the API fails for now: the connection is then
        dropped and made again later, and the catch-up with it."""
        try:
            return await missed(seen)
        except PeerTubeError as exc:
            if not _transient(exc):
                raise
            logger.info("catching up notifications of %s failed: %s", common.origin, exc)
            return None

    def fresh(seen: _Seen, payload: Any) -> Any:
        if not isinstance(payload, dict) or type(payload.get("id")) is not int:
            logger.warning("ignoring a pushed notification without an id")
            return None
        if not seen.add(payload["id"]):
            return None
        return decode(payload)

    async def run(stream: EventStream[Any]) -> AsyncGenerator[Any, None]:
        start = since_id if since_id is not None else await newest_id()
        seen = _Seen(start)
        seen.start_at(start)
        module = runner.module()
        attempt = 0
        failures_before_first = 0
        refreshed_for: str | None = None
        clock = common.timing.clock
        while module is not None:
            token = await common.auth.access_token() if common.auth is not None else None
            if token is None:
                raise AuthError("notifications need a signed-in client: call login() first")
            inbox = _Inbox()
            sock = _Socket(
                module,
                NOTIFICATIONS_NAMESPACE,
                ("new-notification",),
                inbox,
                timeout=common.timeout,
            )
            url = f"{common.origin}/?accessToken={quote(token, safe='')}"
            try:
                await sock.open(url, _headers(common))
            except _AuthRefused as exc:
                if refreshed_for is not None or not await common.auth.after_unauthorized(token):
                    if common.mode == "socket" or refreshed_for is None:
                        raise AuthError(
                            f"the instance refused the token of its notification socket ({exc})"
                        ) from None
                    runner.fall_back(f"the socket refuses a token the API accepts ({exc})")
                    break
                refreshed_for = token
                continue
            except _Refused as exc:
                if stream.connections == 0 and common.mode == "auto":
                    runner.fall_back(f"the instance refuses its notification socket ({exc})")
                    break
                if common.mode == "socket" and stream.connections == 0:
                    raise PeerTubeError(
                        f"the instance refuses its notification socket ({exc})"
                    ) from None
                await runner.wait_before_retry(attempt)
                attempt += 1
                continue
            except _Failed as exc:
                failures_before_first += stream.connections == 0
                if (
                    stream.connections == 0
                    and common.mode == "auto"
                    and failures_before_first >= _FIRST_FAILURES
                ):
                    runner.fall_back(f"its notification socket cannot be reached ({exc})")
                    break
                await runner.wait_before_retry(attempt)
                attempt += 1
                continue
            refreshed_for = None
            stream.transport = "socket"
            stream.connections += 1
            opened = clock()
            try:
                # What happened while no socket listened: before the first connection,
                # since the start; after a drop, since the last one seen.
                caught_up = await catch_up(seen)
                for item in caught_up or ():
                    if seen.add(item.id):
                        yield item
                while caught_up is not None:
                    event = await inbox.get()
                    if event is _CLOSED:
                        break
                    item = fresh(seen, event[1])
                    if item is not None:
                        yield item
                    if inbox.overflowed:
                        inbox.overflowed = False
                        caught_up = await catch_up(seen)
                        for item in caught_up or ():
                            if seen.add(item.id):
                                yield item
            finally:
                await sock.close()
            if clock() - opened >= common.reconnect.stable_after:
                attempt = 0
            await runner.wait_before_retry(attempt)
            attempt += 1
        # Polling: the same catch-up, every poll_interval, through the scheduler.
        stream.transport = "polling"
        failures = 0
        if since_id is None and stream.connections == 0:
            await runner.poll_pause(0)  # the start was just asked: nothing can be missed yet
        while True:
            try:
                found = await missed(seen)
            except PeerTubeError as exc:
                if not _transient(exc):
                    raise
                failures += 1
                logger.info("polling notifications of %s failed: %s", common.origin, exc)
            else:
                failures = 0
                for item in found:
                    if seen.add(item.id):
                        yield item
            await runner.poll_pause(failures)

    return EventStream(run, f"notifications of {common.origin}")


def live_video_stream(
    common: _Common,
    *,
    fetch_video: Callable[[], Awaitable[tuple[int, Any, int]]],
    decode_state: Callable[[Any], Any],
) -> EventStream[LiveVideoEvent]:
    """The state and viewer changes of one live video.

    ``fetch_video()``: the video's numeric id, state and viewers over REST (the rooms of
    ``/live-videos`` are named by numeric id); ``decode_state``: a pushed state number
    into :class:`~peertube_async.models.VideoState`.
    """
    runner = _Runner(common, "live video stream")

    async def run(stream: EventStream[LiveVideoEvent]) -> AsyncGenerator[LiveVideoEvent, None]:
        video_id, state, viewers = await fetch_video()
        known = {"state": state, "viewers": viewers}

        def changes(new_state: Any, new_viewers: int) -> list[LiveVideoEvent]:
            found: list[LiveVideoEvent] = []
            if new_state != known["state"]:
                known["state"] = new_state
                found.append(LiveVideoEvent("state-change", video_id, state=new_state))
            if new_viewers != known["viewers"]:
                known["viewers"] = new_viewers
                found.append(LiveVideoEvent("views-change", video_id, viewers=new_viewers))
            return found

        def pushed(name: str, data: Any) -> LiveVideoEvent | None:
            if name == "force-end":
                return LiveVideoEvent("force-end", video_id)
            if not isinstance(data, dict):
                return None
            if name == "state-change" and type(data.get("state")) is int:
                new_state = decode_state(data["state"])
                if new_state == known["state"]:
                    return None
                known["state"] = new_state
                return LiveVideoEvent("state-change", video_id, state=new_state)
            if name == "views-change" and type(data.get("viewers")) is int:
                if data["viewers"] == known["viewers"]:
                    return None
                known["viewers"] = data["viewers"]
                return LiveVideoEvent("views-change", video_id, viewers=data["viewers"])
            return None

        module = runner.module()
        attempt = 0
        failures_before_first = 0
        clock = common.timing.clock
        while module is not None:
            inbox = _Inbox()
            sock = _Socket(
                module,
                LIVE_NAMESPACE,
                ("state-change", "views-change", "force-end"),
                inbox,
                timeout=common.timeout,
            )
            try:
                await sock.open(f"{common.origin}/", _headers(common))
            except (_Refused, _AuthRefused) as exc:
                if stream.connections == 0 and common.mode == "auto":
                    runner.fall_back(f"the instance refuses its live-videos socket ({exc})")
                    break
                if stream.connections == 0:
                    raise PeerTubeError(
                        f"the instance refuses its live-videos socket ({exc})"
                    ) from None
                await runner.wait_before_retry(attempt)
                attempt += 1
                continue
            except _Failed as exc:
                failures_before_first += stream.connections == 0
                if (
                    stream.connections == 0
                    and common.mode == "auto"
                    and failures_before_first >= _FIRST_FAILURES
                ):
                    runner.fall_back(f"its live-videos socket cannot be reached ({exc})")
                    break
                await runner.wait_before_retry(attempt)
                attempt += 1
                continue
            stream.transport = "socket"
            opened = clock()
            try:
                await sock.emit("subscribe", {"videoId": video_id})
                reading = True
                if stream.connections:
                    # After a drop: what changed while nobody listened.
                    try:
                        _, new_state, new_viewers = await fetch_video()
                    except PeerTubeError as exc:
                        if not _transient(exc):
                            raise
                        logger.info("reading a live video of %s failed: %s", common.origin, exc)
                        reading = False
                    else:
                        for change in changes(new_state, new_viewers):
                            yield change
                stream.connections += 1
                while reading:
                    item = await inbox.get()
                    if item is _CLOSED:
                        break
                    event = pushed(*item)
                    if event is not None:
                        yield event
            finally:
                await sock.close()
            if clock() - opened >= common.reconnect.stable_after:
                attempt = 0
            await runner.wait_before_retry(attempt)
            attempt += 1
        stream.transport = "polling"
        failures = 0
        while True:
            await runner.poll_pause(failures)
            try:
                _, new_state, new_viewers = await fetch_video()
            except PeerTubeError as exc:
                if not _transient(exc):
                    raise
                failures += 1
                logger.info("polling a live video of %s failed: %s", common.origin, exc)
                continue
            failures = 0
            for event in changes(new_state, new_viewers):
                yield event

    return EventStream(run, f"live video of {common.origin}")


def _headers(common: _Common) -> dict[str, str]:
    return {"User-Agent": common.user_agent} if common.user_agent else {}
