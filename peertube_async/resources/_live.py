"""``pt.me.notifications.stream()`` and ``pt.videos.live.events(video)``: the generated
resources plus live events (see ``peertube_async/_live.py`` for how they are received).

Every REST call a stream makes (its start, the catch-up after a reconnection, the polls
of the fallback) is one of the typed methods below, so it goes through the client's
rate-aware scheduler like any other call.
"""

from __future__ import annotations

from typing import Any

from .._generated import models as m
from .._generated.resources import (
    MeNotificationsResource,
    MeResource,
    VideosLiveResource,
    VideosResource,
)
from .._live import (
    EventStream,
    LiveVideoEvent,
    Reconnect,
    StreamMode,
    _Common,
    live_video_stream,
    notification_stream,
)
from .._pipeline import Caller

__all__ = ["Me", "MeNotifications", "VideosLive"]

_NOTIFICATIONS_PATH = "/api/v1/users/me/notifications"


def _common(
    caller: Caller,
    mode: StreamMode,
    poll_interval: float,
    reconnect: Reconnect | None,
    timeout: float,
) -> _Common:
    if mode not in ("auto", "socket", "poll"):
        raise ValueError("mode must be 'auto', 'socket' or 'poll'")
    if poll_interval <= 0:
        raise ValueError("poll_interval must be positive")
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    pipeline = caller.pipeline
    return _Common(
        origin=pipeline.origin,
        auth=pipeline.auth,
        user_agent=pipeline.transport.user_agent,
        mode=mode,
        poll_interval=poll_interval,
        reconnect=reconnect or Reconnect(),
        timeout=timeout,
    )


class MeNotifications(MeNotificationsResource):
    """Notifications of the signed-in user: the generated methods, plus :meth:`stream`."""

    def stream(
        self,
        *,
        since_id: int | None = None,
        mode: StreamMode = "auto",
        poll_interval: float = 10.0,
        reconnect: Reconnect | None = None,
        timeout: float = 10.0,
    ) -> EventStream[m.Notification]:
        """New notifications as they arrive: ``async for n in pt.me.notifications.stream()``.

        Starts after the newest notification the user has (one call of the ``api``
        budget), or after ``since_id`` (say, the last one a restarted bot handled: the
        unread ones after it come first). Each notification is yielded once, oldest
        first, as :class:`~peertube_async.models.Notification`.

        Over PeerTube's Socket.IO endpoint (needs the ``live`` extra); after a dropped
        connection it reconnects with ``reconnect``'s backoff, with the current token
        (one refresh when the socket refuses it), and fetches the unread notifications
        newer than the last one seen. Without python-socketio, or when the instance
        refuses the socket, it polls the unread notifications every ``poll_interval``
        seconds instead (logged once on ``peertube_async.live``). ``mode="poll"`` always
        polls, ``mode="socket"`` never does (it raises instead). ``timeout``: seconds a
        connection attempt may take.

        Needs a signed-in client. Close it with ``aclose()``, ``async with``, or by
        cancelling the task that iterates it.
        """
        common = _common(self._caller, mode, poll_interval, reconnect, timeout)
        caller = self._caller

        async def fetch_unread(start: int, count: int) -> list[m.Notification]:
            page = await self.list(unread=True, sort="-createdAt", start=start, count=count)
            return page.data

        async def newest_id() -> int:
            page = await self.list(sort="-createdAt", count=1)
            return max((n.id for n in page.data), default=0)

        def decode(payload: Any) -> m.Notification:
            result: m.Notification = caller.structure(
                payload, m.Notification, method="SOCKET", path=_NOTIFICATIONS_PATH
            )
            return result

        return notification_stream(
            common,
            fetch_unread=fetch_unread,
            newest_id=newest_id,
            decode=decode,
            since_id=since_id,
        )


class Me(MeResource):
    """The signed-in user: the generated resource, with :class:`MeNotifications`."""

    notifications: MeNotifications

    def __init__(self, caller: Caller) -> None:
        super().__init__(caller)
        self.notifications = MeNotifications(caller)


class VideosLive(VideosLiveResource):
    """Live videos: the generated methods, plus :meth:`events`."""

    def events(
        self,
        video: int | str,
        *,
        mode: StreamMode = "auto",
        poll_interval: float = 10.0,
        reconnect: Reconnect | None = None,
        timeout: float = 10.0,
    ) -> EventStream[LiveVideoEvent]:
        """Changes of a live video as they happen: ``async for event in
        pt.videos.live.events(video_id)`` yields :class:`LiveVideoEvent` s,
        ``"state-change"`` (with the new ``state``), ``"views-change"`` (with the number
        of ``viewers``) and ``"force-end"``.

        ``video``: id, UUID or short UUID; the stream first reads the video (one call of
        the ``api`` budget) for its numeric id and where it stands, and yields changes
        from there. Reconnects like :meth:`MeNotifications.stream`, and after a drop
        reads the video again to yield what changed meanwhile. Without the socket it
        polls the video every ``poll_interval`` seconds (``force-end`` is then seen as
        the state change that follows it).
        """
        common = _common(self._caller, mode, poll_interval, reconnect, timeout)
        videos = VideosResource(self._caller)

        async def fetch_video() -> tuple[int, Any, int]:
            details = await videos.get(video)
            state = details.state.id if details.state is not None else None
            return details.id, state, details.viewers

        def decode_state(value: Any) -> Any:
            return m.VideoState(value)

        return live_video_stream(common, fetch_video=fetch_video, decode_state=decode_state)
