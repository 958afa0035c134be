"""PeerTube's Socket.IO endpoint on the fake instance (``server/core/lib/peertube-socket.ts``).

PeerTube serves Socket.IO (Engine.IO protocol 4) at ``/socket.io/`` beside its REST API,
outside the API's rate limiters, with two namespaces bots care about:

- ``/user-notifications``: the handshake's query carries ``accessToken`` (PeerTube reads
  ``socket.handshake.query.accessToken``); an unknown or expired token is refused with
  ``connect_error`` ``{"message": "Invalid access token."}``. The server emits
  ``new-notification`` with the notification as ``GET /users/me/notifications`` lists it.
- ``/live-videos``: anyone connects; the client emits ``subscribe``/``unsubscribe`` with
  ``{"videoId": id}`` to join or leave the video's room, and the server emits
  ``state-change`` (``{"state": n}``), ``views-change`` (``{"viewers": n}``) and
  ``force-end`` (no data) to it.

The server side is python-socketio's ``AsyncServer`` on the instance's aiohttp app, when
python-socketio is installed (the ``live`` extra); without it the fake has no socket
endpoint and clients fall back to polling, as they would against a proxy that hides it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

__all__ = ["LIVE_NAMESPACE", "NOTIFICATIONS_NAMESPACE", "SocketHub"]

NOTIFICATIONS_NAMESPACE = "/user-notifications"
LIVE_NAMESPACE = "/live-videos"

_ID_RE = re.compile(r"[0-9]{1,15}")

logger = logging.getLogger("peertube_async.testing.sockets")


class _Quiet:
    """python-socketio's server log, every line at debug level (it logs each packet)."""

    def _log(self, msg: object, *args: Any, **_: Any) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s", str(msg) % args if args else msg)

    debug = info = warning = error = exception = critical = _log


def _socketio() -> Any:
    """python-socketio's module, or None when it is not installed."""
    try:
        import socketio  # type: ignore[import-untyped]  # no type information shipped
    except ImportError:
        return None
    return socketio


class SocketHub:
    """The ``/socket.io/`` endpoint of one fake instance and the sockets connected to it.

    ``user_of_token`` answers the user id of a valid access token (None otherwise), as
    PeerTube's ``authenticateSocket`` does from its token table.

    Attributes:
        refuse: when True, ``/socket.io/`` answers 404 as an instance behind a proxy
            that does not pass it would: clients must fall back to polling.
        drop_on_connect: when True, every accepted notification socket is closed right
            after its handshake (a flapping instance).
        connections: notification and live handshakes accepted so far.
        refusals: notification handshakes refused for their token.
    """

    def __init__(self, user_of_token: Callable[[str], int | None]) -> None:
        self._user_of_token = user_of_token
        self.refuse = False
        self.drop_on_connect = False
        self.connections = 0
        self.refusals = 0
        self._module = _socketio()
        self._server: Any = None
        #: Socket.IO sid -> user id, for sockets of ``/user-notifications``.
        self._users: dict[str, int] = {}
        self._live: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def available(self) -> bool:
        """Whether the endpoint is served (python-socketio is installed)."""
        return self._module is not None

    def attach(self, app: web.Application) -> None:
        """Serve ``/socket.io/`` on ``app`` (nothing without python-socketio)."""
        if self._module is None:
            return
        server = self._module.AsyncServer(
            async_mode="aiohttp", logger=_Quiet(), engineio_logger=_Quiet()
        )
        server.on("connect", self._connect_notifications, namespace=NOTIFICATIONS_NAMESPACE)
        server.on("disconnect", self._disconnect_notifications, namespace=NOTIFICATIONS_NAMESPACE)
        server.on("connect", self._connect_live, namespace=LIVE_NAMESPACE)
        server.on("disconnect", self._disconnect_live, namespace=LIVE_NAMESPACE)
        server.on("subscribe", self._subscribe, namespace=LIVE_NAMESPACE)
        server.on("unsubscribe", self._unsubscribe, namespace=LIVE_NAMESPACE)
        # Its pings and housekeeping run as tasks it does not keep: keep them here, so
        # that closing the instance ends them instead of leaving them to the loop.
        start = server.eio.start_background_task

        def tracked(target: Any, *args: Any, **kwargs: Any) -> Any:
            task = start(target, *args, **kwargs)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return task

        server.eio.start_background_task = tracked
        self._server = server
        for method in ("GET", "POST", "OPTIONS"):
            app.router.add_route(method, "/socket.io/", self._endpoint)

    async def _endpoint(self, request: web.Request) -> web.StreamResponse:
        if self.refuse:
            raise web.HTTPNotFound()
        response: web.StreamResponse = await self._server.handle_request(request)
        return response

    # -- handlers ---------------------------------------------------------------------------

    async def _connect_notifications(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        tokens = query.get("accessToken")
        if not tokens:
            self.refusals += 1
            raise self._module.exceptions.ConnectionRefusedError("No access token provided")
        user_id = self._user_of_token(tokens[0])
        if user_id is None:
            self.refusals += 1
            raise self._module.exceptions.ConnectionRefusedError("Invalid access token.")
        self._users[sid] = user_id
        self.connections += 1
        if self.drop_on_connect:
            # After the handshake is answered: the client sees a socket that dies at once.
            self._spawn(self._drop_soon(sid))

    async def _disconnect_notifications(self, sid: str, reason: Any = None) -> None:
        self._users.pop(sid, None)

    async def _connect_live(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        self._live.add(sid)
        self.connections += 1

    async def _disconnect_live(self, sid: str, reason: Any = None) -> None:
        self._live.discard(sid)

    async def _subscribe(self, sid: str, params: Any = None) -> None:
        room = _video_room(params)
        if room is not None:
            await self._server.enter_room(sid, room, namespace=LIVE_NAMESPACE)

    async def _unsubscribe(self, sid: str, params: Any = None) -> None:
        room = _video_room(params)
        if room is not None:
            await self._server.leave_room(sid, room, namespace=LIVE_NAMESPACE)

    # -- what the instance and tests do -----------------------------------------------------

    def listeners(self, user_id: int | None = None) -> int:
        """Notification sockets connected (of ``user_id``, or of anyone)."""
        return sum(1 for uid in self._users.values() if user_id is None or uid == user_id)

    @property
    def live_listeners(self) -> int:
        """Sockets connected to ``/live-videos``."""
        return len(self._live)

    async def notify(self, user_id: int, payload: dict[str, Any]) -> None:
        """Emit ``new-notification`` to every socket of ``user_id``."""
        if self._server is None:
            return
        for sid, uid in list(self._users.items()):
            if uid == user_id:
                await self._server.emit(
                    "new-notification", payload, to=sid, namespace=NOTIFICATIONS_NAMESPACE
                )

    async def live_event(self, video_id: int, event: str, data: dict[str, Any] | None) -> None:
        """Emit a live video's event to the sockets subscribed to it."""
        if self._server is None:
            return
        await self._server.emit(event, data, room=str(video_id), namespace=LIVE_NAMESPACE)

    async def send_raw(self, text: str) -> None:
        """Send ``text`` as an Engine.IO message to every connected client: anything that
        is not a Socket.IO packet is garbage to them."""
        if self._server is None:
            return
        for eio_sid in list(self._server.eio.sockets):
            await self._server.eio.send(eio_sid, text)

    async def drop(self) -> None:
        """Close every connected socket at the transport level, as a restart would."""
        if self._server is None:
            return
        for eio_sid in list(self._server.eio.sockets):
            await self._server.eio.disconnect(eio_sid)

    async def _drop_soon(self, sid: str) -> None:
        await asyncio.sleep(0.01)
        server = self._server
        try:
            eio_sid = server.manager.eio_sid_from_sid(sid, NOTIFICATIONS_NAMESPACE)
        except KeyError:
            return
        if eio_sid is not None:
            await server.eio.disconnect(eio_sid)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Drop every socket and stop the server's background tasks."""
        if self._server is not None:
            await self.drop()
            await self._server.shutdown()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _video_room(params: Any) -> str | None:
    """The room of ``{"videoId": id}``, as PeerTube checks it (``isIdValid``)."""
    if not isinstance(params, dict):
        return None
    value = str(params.get("videoId"))
    return value if _ID_RE.fullmatch(value) else None
