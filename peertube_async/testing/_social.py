"""Comments, subscriptions and the notifications they create, on the fake instance.

What a bot reacts to: a comment on a user's video notifies the video's owner
(``NEW_COMMENT_ON_MY_VIDEO``, type 2), a new subscriber to a user's channel notifies its
owner (``NEW_FOLLOW``, type 10), as PeerTube's ``Notifier`` does. Notifications are
listed by ``GET /api/v1/users/me/notifications``, marked read by ``.../read`` and
``.../read-all``, and pushed over Socket.IO as ``new-notification`` to the owner's
connected sockets (``_sockets.py``), with the same body, as the real server does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from ._data import (
    Account,
    Catalog,
    Channel,
    CommentThread,
    User,
    Video,
    dumps,
    field_error,
    iso,
)
from ._http import Exchange, Responder, read_body
from ._oauth import OAuthServer
from ._sockets import SocketHub

__all__ = ["NEW_COMMENT_ON_MY_VIDEO", "NEW_FOLLOW", "SocialHost", "SocialService"]

NEW_COMMENT_ON_MY_VIDEO = 2
NEW_FOLLOW = 10

_HANDLE_RE = re.compile(r"[^@\s]+@[^@\s]+")
_INT_RE = re.compile(r"[0-9]+")
_NOTIFICATION_SORTS = frozenset({"createdAt", "-createdAt"})


class SocialHost(Protocol):
    """What these routes need of their instance (a ``FakeInstance``)."""

    _http: Responder
    _oauth: OAuthServer
    _clock: Callable[[], float]
    sockets: SocketHub

    def _require_catalog(self) -> Catalog: ...

    def _video_param(
        self, request: web.Request, exchange: Exchange, param: str
    ) -> Video | web.Response: ...

    def _page_query(
        self, request: web.Request, exchange: Exchange, sorts: frozenset[str], default_sort: str
    ) -> tuple[int, int, str] | web.Response: ...


@dataclass(eq=False)
class Comment:
    """A comment or a reply, with the replies it has."""

    id: int
    video: Video
    account: Account
    text: str
    created_at: float
    thread_id: int
    parent_id: int | None
    children: list[Comment] = field(default_factory=list)


@dataclass(eq=False)
class Notification:
    """One row of a user's notifications: its JSON form and whether it was read."""

    id: int
    user_id: int
    type: int
    created_at: float
    payload: dict[str, Any]
    read: bool = False
    updated_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """As the API lists it (and as ``new-notification`` carries it)."""
        return {
            "id": self.id,
            "type": self.type,
            "read": self.read,
            **self.payload,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at or self.created_at),
        }


class SocialService:
    """Comments, subscriptions and notifications of one fake instance."""

    def __init__(self, fake: SocialHost) -> None:
        self._fake = fake
        self.comments: dict[int, Comment] = {}
        self.notifications: list[Notification] = []
        #: (subscriber account id, channel id) pairs.
        self.subscriptions: set[tuple[int, int]] = set()
        self._next_comment_id = 0
        self._next_follow_id = 1

    # -- notifications ----------------------------------------------------------------------

    async def notify(self, user: User, kind: int, payload: dict[str, Any]) -> Notification:
        """Give ``user`` a notification and push it to their sockets."""
        notification = Notification(
            id=len(self.notifications) + 1,
            user_id=user.id,
            type=kind,
            created_at=self._fake._clock(),
            payload=payload,
        )
        self.notifications.append(notification)
        await self._fake.sockets.notify(user.id, notification.to_json())
        return notification

    def _actor(self, account: Account) -> dict[str, Any]:
        host = self._fake._require_catalog().host
        return {
            "id": account.id,
            "displayName": account.display_name,
            "name": account.name,
            "host": host,
            "avatars": [],
        }

    async def list_notifications(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``GET /api/v1/users/me/notifications``."""
        fake = self._fake
        exchange.docs = "getUserNotifications"
        user = fake._oauth.authenticate(request, exchange)
        if isinstance(user, web.Response):
            return user
        page = fake._page_query(request, exchange, _NOTIFICATION_SORTS, "-createdAt")
        if isinstance(page, web.Response):
            return page
        start, count, sort = page
        unread = request.query.get("unread")
        kinds = {int(v) for v in request.query.getall("typeOneOf", []) if _INT_RE.fullmatch(v)}
        found = [
            n
            for n in self.notifications
            if n.user_id == user.id
            and not (unread in ("true", "1") and n.read)
            and (not kinds or n.type in kinds)
        ]
        found.sort(key=lambda n: (n.created_at, n.id), reverse=sort.startswith("-"))
        items = [dumps(n.to_json()) for n in found[start : start + count]]
        body = b'{"total":%d,"data":[' % len(found) + b",".join(items) + b"]}"
        return fake._http.json(request, exchange, body)

    async def mark_read(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``POST /api/v1/users/me/notifications/read`` with ``{"ids": [...]}``."""
        fake = self._fake
        user = fake._oauth.authenticate(request, exchange)
        if isinstance(user, web.Response):
            return user
        ids = (await read_body(request)).get("ids")
        if not (
            isinstance(ids, list)
            and ids
            and all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        ):
            error = field_error(ids, "Should have a valid array of notification ids", "ids", "body")
            return fake._http.invalid(request, exchange, {"ids": error})
        wanted = set(ids)
        now = fake._clock()
        for notification in self.notifications:
            if notification.user_id == user.id and notification.id in wanted:
                notification.read, notification.updated_at = True, now
        return fake._http.respond(request, exchange, 204, b"", None)

    async def mark_all_read(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``POST /api/v1/users/me/notifications/read-all``."""
        fake = self._fake
        user = fake._oauth.authenticate(request, exchange)
        if isinstance(user, web.Response):
            return user
        now = fake._clock()
        for notification in self.notifications:
            if notification.user_id == user.id and not notification.read:
                notification.read, notification.updated_at = True, now
        return fake._http.respond(request, exchange, 204, b"", None)

    # -- comments ---------------------------------------------------------------------------

    def _comment_id(self) -> int:
        if not self._next_comment_id:
            catalog = self._fake._require_catalog()
            seeded = (t.id for threads in catalog.threads_by_video.values() for t in threads)
            self._next_comment_id = max(seeded, default=0) + 1
        value = self._next_comment_id
        self._next_comment_id += 1
        return value

    def _comment_json(self, comment: Comment) -> dict[str, Any]:
        catalog = self._fake._require_catalog()
        owner = comment.video.channel.account
        return {
            "id": comment.id,
            "url": f"{catalog.origin}/videos/watch/{comment.video.uuid}/comments/{comment.id}",
            "text": comment.text,
            "threadId": comment.thread_id,
            "inReplyToCommentId": comment.parent_id,
            "videoId": comment.video.id,
            "createdAt": iso(comment.created_at),
            "updatedAt": iso(comment.created_at),
            "deletedAt": None,
            "heldForReview": False,
            "isDeleted": False,
            "totalRepliesFromVideoAuthor": sum(
                1 for c in _descendants(comment) if c.account is owner
            ),
            "totalReplies": sum(1 for _ in _descendants(comment)),
            "account": catalog.account_full(comment.account),
        }

    def _tree(self, comment: Comment) -> dict[str, Any]:
        return {
            "comment": self._comment_json(comment),
            "children": [self._tree(child) for child in comment.children],
        }

    def _seeded(self, thread: CommentThread) -> Comment:
        """The record of a seeded thread, made on first use."""
        found = self.comments.get(thread.id)
        if found is None:
            found = Comment(
                id=thread.id,
                video=thread.video,
                account=thread.account,
                text=thread.text,
                created_at=thread.created_at,
                thread_id=thread.id,
                parent_id=None,
            )
            self.comments[thread.id] = found
        return found

    def _find_comment(self, video: Video, raw: str) -> Comment | None:
        if not _INT_RE.fullmatch(raw):
            return None
        wanted = int(raw)
        for thread in self._fake._require_catalog().threads_by_video.get(video.id, []):
            if thread.id == wanted:
                return self._seeded(thread)
        found = self.comments.get(wanted)
        return found if found is not None and found.video is video else None

    async def _comment_text(self, request: web.Request, exchange: Exchange) -> str | web.Response:
        text = (await read_body(request)).get("text")
        if not (isinstance(text, str) and len(text.strip()) >= 1 and len(text) <= 10000):
            error = field_error(text, "Invalid value", "text", "body")
            return self._fake._http.invalid(request, exchange, {"text": error})
        return text

    async def create_thread(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``POST /api/v1/videos/{id}/comment-threads``: a new thread; the video's owner
        is notified unless they wrote it."""
        fake = self._fake
        exchange.docs = "addCommentThread"
        user = fake._oauth.authenticate(request, exchange)
        if isinstance(user, web.Response):
            return user
        text = await self._comment_text(request, exchange)
        if isinstance(text, web.Response):
            return text
        video = fake._video_param(request, exchange, "id")
        if isinstance(video, web.Response):
            return video
        if video.comments_policy == 2:
            return fake._http.problem(request, exchange, 409, "This video has comments disabled")
        comment_id = self._comment_id()
        comment = Comment(
            id=comment_id,
            video=video,
            account=user.account,
            text=text,
            created_at=fake._clock(),
            thread_id=comment_id,
            parent_id=None,
        )
        self.comments[comment.id] = comment
        catalog = fake._require_catalog()
        thread = CommentThread(
            id=comment.id,
            video=video,
            account=user.account,
            text=text,
            created_at=comment.created_at,
        )
        thread.list_json = dumps(catalog.comment_thread_item(thread))
        catalog.threads_by_video.setdefault(video.id, []).append(thread)
        video.comment_count += 1
        catalog.refresh_video(video)
        await self._notify_comment(comment)
        return fake._http.json(request, exchange, dumps({"comment": self._comment_json(comment)}))

    async def reply(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``POST /api/v1/videos/{id}/comments/{commentId}``: a reply; the video's owner
        is notified unless they wrote it."""
        fake = self._fake
        exchange.docs = "addCommentReply"
        user = fake._oauth.authenticate(request, exchange)
        if isinstance(user, web.Response):
            return user
        text = await self._comment_text(request, exchange)
        if isinstance(text, web.Response):
            return text
        video = fake._video_param(request, exchange, "id")
        if isinstance(video, web.Response):
            return video
        parent = self._find_comment(video, request.match_info["commentId"])
        if parent is None:
            return fake._http.problem(request, exchange, 404, "Video comment not found")
        comment = Comment(
            id=self._comment_id(),
            video=video,
            account=user.account,
            text=text,
            created_at=fake._clock(),
            thread_id=parent.thread_id,
            parent_id=parent.id,
        )
        self.comments[comment.id] = comment
        parent.children.append(comment)
        await self._notify_comment(comment)
        return fake._http.json(request, exchange, dumps({"comment": self._comment_json(comment)}))

    async def get_thread(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``GET /api/v1/videos/{id}/comment-threads/{threadId}``: the thread's tree."""
        fake = self._fake
        exchange.docs = "getVideoCommentThread"
        video = fake._video_param(request, exchange, "id")
        if isinstance(video, web.Response):
            return video
        thread = self._find_comment(video, request.match_info["threadId"])
        if thread is None or thread.parent_id is not None:
            return fake._http.problem(request, exchange, 404, "Video comment thread not found")
        return fake._http.json(request, exchange, dumps(self._tree(thread)))

    async def _notify_comment(self, comment: Comment) -> None:
        owner = self._owner(comment.video.channel)
        if owner is None or owner.account is comment.account:
            return
        video = comment.video
        payload = {
            "comment": {
                "id": comment.id,
                "threadId": comment.thread_id,
                "account": self._actor(comment.account),
                "video": {
                    "id": video.id,
                    "uuid": video.uuid,
                    "shortUUID": video.short_uuid,
                    "name": video.name,
                },
                "heldForReview": False,
            }
        }
        await self.notify(owner, NEW_COMMENT_ON_MY_VIDEO, payload)

    def _owner(self, channel: Channel) -> User | None:
        user_id = channel.account.user_id
        return next((u for u in self._fake._require_catalog().users if u.id == user_id), None)

    # -- subscriptions ----------------------------------------------------------------------

    async def subscribe(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``POST /api/v1/users/me/subscriptions`` with ``{"uri": "channel@host"}``; the
        channel's owner is notified of a new follower."""
        fake = self._fake
        exchange.docs = "addSubscription"
        user = fake._oauth.authenticate(request, exchange)
        if isinstance(user, web.Response):
            return user
        uri = (await read_body(request)).get("uri")
        if not (isinstance(uri, str) and _HANDLE_RE.fullmatch(uri)):
            error = field_error(
                uri, "Should have a valid URI to follow (username@domain)", "uri", "body"
            )
            return fake._http.invalid(request, exchange, {"uri": error})
        catalog = fake._require_catalog()
        channel = catalog.channel_by_handle(uri)
        if channel is None:
            return fake._http.problem(request, exchange, 404, "Video channel not found")
        key = (user.account.id, channel.id)
        if key not in self.subscriptions:
            self.subscriptions.add(key)
            owner = self._owner(channel)
            if owner is not None and owner is not user:
                follow_id = self._next_follow_id
                self._next_follow_id += 1
                payload = {
                    "actorFollow": {
                        "id": follow_id,
                        "state": "accepted",
                        "follower": self._actor(user.account),
                        "following": {
                            "type": "channel",
                            "displayName": channel.display_name,
                            "name": channel.name,
                            "host": catalog.host,
                        },
                    }
                }
                await self.notify(owner, NEW_FOLLOW, payload)
        return fake._http.respond(request, exchange, 204, b"", None)


def _descendants(comment: Comment) -> list[Comment]:
    found: list[Comment] = []
    stack = list(comment.children)
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(current.children)
    return found
