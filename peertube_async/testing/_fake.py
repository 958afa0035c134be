"""A local PeerTube server on aiohttp.web: routes, rate limiting, lifecycle (HTTP plumbing
lives in ``_http.py``, OAuth in ``_oauth.py``, uploads and video files in ``_uploads.py``).

Every ``/api/v1`` route runs through :meth:`FakeInstance._serve`, which plays the part of
PeerTube's express middleware chain: the limiters of the route (``api`` first, then the
route's own), the admin/moderator bypass, then the route handler, then the
``skipFailedRequests`` decrement. Headers are emitted in the order the real server sends
them, because some clients (and our own tests) compare raw responses with the samples.
"""

from __future__ import annotations

import asyncio
import http
import ipaddress
import os
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aiohttp import web
from yarl import URL

from ._data import (
    ACCOUNT_SORTS,
    CHANNEL_SORTS,
    COMMENT_THREAD_SORTS,
    DEFAULT_PASSWORDS,
    JOB_STATES,
    PLAYLIST_SORTS,
    ROLE_ADMINISTRATOR,
    ROLE_MODERATOR,
    ROLE_USER,
    UNDEFINED,
    VIDEO_SORTS,
    Catalog,
    StoredFile,
    User,
    Video,
    build_catalog,
    dumps,
    field_error,
    iso,
    seed_jobs,
    short_to_uuid,
    sortable,
)
from ._http import HTML, JSON, DroppedResponse, Exchange, FakeStats, Responder, read_body, weak_etag
from ._limiter import DEFAULT_LIMITS, ServerLimiter
from ._manage import ManageService, PluginRecord, RemoteVideo
from ._oauth import OAuthServer, TokenPair
from ._otp import decode_secret, new_secret, totp_code, totp_valid
from ._social import Notification, SocialService
from ._sockets import SocketHub
from ._uploads import Faults, UploadService, may_see

__all__ = ["FakeInstance", "FakeStats", "SeededVideo", "TokenPair", "client_key"]

_TOO_MANY_BODY = b"Too many requests, please try again later."

_TOKEN_ROUTE = "/api/v1/users/token"

# Limiters created with skipFailedRequests: a response >= 400 hands its hit back.
_SKIP_FAILED = frozenset({"signup"})

# Bodies kept per catalog state; crawls revisit the same pages, benchmarks hammer them.
_RESPONSE_CACHE_SIZE = 4096

_PAGE_DEFAULT = 15
_PAGE_MAX = 100
_COUNT_MESSAGE = f"Should have a number count (max: {_PAGE_MAX})"
_VIDEO_ID_MESSAGE = "Should have a valid video id (id, short UUID or UUID)"

# validator.js isInt with leading zeroes allowed; isUUID(value, 4).
_INT_RE = re.compile(r"[-+]?[0-9]+")
_UUID4_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", re.I)
_USERNAME_RE = re.compile(r"[a-z0-9._]{1,50}")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")

_UNDEFINED = UNDEFINED
_field_error = field_error

_VIDEO_SORT_VALUES = sortable(VIDEO_SORTS)
_ACCOUNT_SORT_VALUES = sortable(ACCOUNT_SORTS)
_CHANNEL_SORT_VALUES = sortable(CHANNEL_SORTS)
_PLAYLIST_SORT_VALUES = sortable(PLAYLIST_SORTS)
_COMMENT_THREAD_SORT_VALUES = sortable(COMMENT_THREAD_SORTS)


_TOO_MANY_ETAG = weak_etag(_TOO_MANY_BODY)


@lru_cache(maxsize=4096)
def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def client_key(remote: str | None, forwarded_for: str | None) -> str:
    """The rate-limit key of a request, as ``req.ip`` with ``trust proxy: loopback``.

    A direct client is its own address. Behind a loopback proxy, the key is the nearest
    ``X-Forwarded-For`` address that is not loopback itself (with one forwarded address,
    that address), so tests can play several clients from one socket.
    """
    remote = remote or ""
    if not forwarded_for or not _is_loopback(remote):
        return remote
    hops = [hop.strip() for hop in forwarded_for.split(",")]
    key = remote
    for hop in reversed(hops):
        if not hop:
            continue
        key = hop
        if not _is_loopback(hop):
            break
    return key


def _is_int(value: str, minimum: int | None = None, maximum: int | None = None) -> bool:
    if not _INT_RE.fullmatch(value):
        return False
    number = int(value)
    if minimum is not None and number < minimum:
        return False
    return maximum is None or number <= maximum


# ---------------------------------------------------------------------------------------
# Public value types


@dataclass(frozen=True)
class SeededVideo:
    """Identity of a seeded video, to build requests and expectations in tests."""

    id: int
    uuid: str
    short_uuid: str
    name: str
    channel: str
    account: str
    published_at: str


# ---------------------------------------------------------------------------------------
# Internals


_Handler = Callable[[web.Request, Exchange], Awaitable[web.Response]]


@dataclass(frozen=True)
class _Route:
    template: str
    limiters: tuple[str, ...]


class FakeInstance:
    """A PeerTube 6.3 look-alike on 127.0.0.1, for tests, benchmarks and the sandbox.

    Use it as ``async with FakeInstance() as fake:`` and point a client at ``fake.url``.

    Rate limiting follows PeerTube (express-rate-limit 7, memory store, legacy headers):
    the ``api`` limiter counts every ``/api/v1`` request per client IP, the token endpoint
    also counts in ``login`` (whose numbers then fill the headers), registrations count in
    ``signup`` only when they succeed, and the verification e-mail endpoints count in
    ``ask_send_email``. Over the limit the answer is a plain-text 429, except for
    administrators and moderators, who pass with ``Retry-After`` and
    ``X-RateLimit-Remaining: 0``. Requests from loopback carrying ``X-Forwarded-For`` are
    keyed by the forwarded address, so one test can act as several clients.

    Args:
        videos: number of seeded videos, with ids ``1..videos``.
        users: username -> password. ``root`` (administrator, password ``root-password``
            unless given) always exists; every other name becomes a regular user, or the
            moderator if it is ``moderator``. Default: ``{"root": "root-password",
            "alice": "alice-password"}``.
        moderator: name of an optional moderator; its password comes from ``users``, or
            is ``"<name>-password"``.
        two_factor: username -> base32 OTP secret, for users who log in with two-factor
            authentication (see :meth:`enable_two_factor` and :meth:`totp`).
        limits: limiter class -> ``(max, window_seconds)``, overriding
            :data:`~peertube_async.testing.DEFAULT_LIMITS` (``api`` 50 per 10 s, ``login``
            15 per 300 s, ``signup`` 2 per 300 s, ``ask_send_email`` 3 per 300 s). Windows
            may be fractions of a second.
        rate_limit: ``False`` turns limiting off: no counting and no rate-limit headers.
        access_token_lifetime: seconds an access token lives (PeerTube: one day); kept
            to the millisecond.
        refresh_token_lifetime: seconds a refresh token lives (PeerTube: two weeks); kept
            to the millisecond.
        signup_allowed: whether direct registration (``POST /api/v1/users/register``)
            creates users; PeerTube's default, ``False``, answers 403.
        host: address to bind, ``127.0.0.1`` by default.
        port: port to bind; 0 picks a free one.
        clock: UNIX time in seconds for the limiters, token expiry and the ``Date``
            header; a test may pass a fake clock to move time or skew the server's clock.
        keepalive_timeout: seconds an idle keep-alive connection stays open (Node's
            default, 5).
        max_chunk_size: the chunk-size hint ``GET /api/v1/config`` publishes at
            ``client.videos.resumableUpload.maxChunkSize`` (0, "none", by default).
        upload_processing_time: seconds the server spends creating the video after the
            last chunk of a resumable upload arrived; meanwhile any ``PUT`` for that upload
            gets PeerTube's 503 "The upload is already being processed".
        upload_retry_after: the ``Retry-After`` of that 503 (PeerTube: 300 seconds).
        file_origin: origin (``http://host:port``) announced in the ``fileUrl`` of public
            web-video files, e.g. a CDN; default: the instance itself. See also
            :attr:`file_origin` and :meth:`serve_files_from`.
        upload_dir: folder in which the instance makes its temporary folder of uploads and
            files (removed by :meth:`close`); default: the system's temporary folder.
        faults: the :class:`Faults` to inject; a fresh one (no faults) by default, always
            reachable as :attr:`faults`.

    OAuth follows PeerTube's own implementation (``server/core/lib/auth/oauth.ts``): the
    password grant, with the ``x-peertube-otp`` header for two-factor accounts; the
    refresh grant, which revokes the old pair; ``POST /api/v1/users/revoke-token``; access
    tokens that stop working after ``access_token_lifetime``. ``GET /api/v1/users/me``
    answers the token's user with its role (0 Administrator, 1 Moderator, 2 User).

    Uploads follow PeerTube and its upload library uploadx (see ``_uploads.py``): the
    resumable protocol (``POST``/``PUT``/``DELETE /api/v1/videos/upload-resumable``) and the
    legacy multipart ``POST /api/v1/videos/upload``. An upload creates a video with one
    720p web-video file, kept on disk in a temporary folder and served by
    ``/static/web-videos/<file>`` (or ``/static/web-videos/private/<file>`` for private,
    internal and password-protected videos, to their owner and to admins and moderators)
    and ``/download/videos/<uuid>-720.mp4``, with ``Range`` support. As on PeerTube, a video
    uploaded without ``privacy`` is private: pass ``privacy=1`` for a listed one.
    ``PUT /_bench/sink`` is a benchmark helper outside the API: it takes a body the way a
    chunk is taken and answers 204.

    An instance serves once: after :meth:`close` it cannot be started again.
    """

    def __init__(
        self,
        *,
        videos: int = 40,
        users: Mapping[str, str] | None = None,
        moderator: str | None = None,
        two_factor: Mapping[str, str] | None = None,
        limits: Mapping[str, tuple[int, float]] | None = None,
        rate_limit: bool = True,
        access_token_lifetime: float = 86400.0,
        refresh_token_lifetime: float = 1209600.0,
        signup_allowed: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        keepalive_timeout: float = 5.0,
        max_chunk_size: int = 0,
        upload_processing_time: float = 0.0,
        upload_retry_after: int = 300,
        file_origin: str | URL | None = None,
        upload_dir: str | os.PathLike[str] | None = None,
        faults: Faults | None = None,
    ) -> None:
        if videos < 0:
            raise ValueError(f"videos must be >= 0, got {videos!r}")
        resolved = dict(DEFAULT_LIMITS)
        for name, value in (limits or {}).items():
            if name not in DEFAULT_LIMITS:
                known = ", ".join(DEFAULT_LIMITS)
                raise ValueError(f"unknown limiter class {name!r} (known: {known})")
            maximum, window = value
            resolved[name] = (int(maximum), float(window))
        self.limits: Mapping[str, tuple[int, float]] = resolved
        self.limiters: dict[str, ServerLimiter] = {
            name: ServerLimiter(maximum, window, clock)
            for name, (maximum, window) in resolved.items()
        }
        self.rate_limit = rate_limit
        self.signup_allowed = signup_allowed
        self.video_count = videos
        self._accounts = _resolve_users(users, moderator)
        self.passwords: Mapping[str, str] = {name: pw for name, pw, _ in self._accounts}
        self._host = ""
        self._http = Responder(clock, keepalive_timeout)
        self._oauth = OAuthServer(
            self._http,
            stats=lambda: self.stats,
            catalog=self._require_catalog,
            host=lambda: self._host,
            clock=clock,
            access_token_lifetime=access_token_lifetime,
            refresh_token_lifetime=refresh_token_lifetime,
        )
        for name, secret in (two_factor or {}).items():
            if name not in self.passwords:
                raise ValueError(f"two_factor names an unknown user {name!r}")
            decode_secret(secret)
            self._oauth.otp_secrets[name] = secret
        self.stats = FakeStats()
        if max_chunk_size < 0:
            raise ValueError(f"max_chunk_size must be >= 0, got {max_chunk_size!r}")
        self.max_chunk_size = max_chunk_size
        #: Faults injected into uploads and downloads; set its attributes at any time.
        self.faults = faults if faults is not None else Faults()
        self._file_origin = str(file_origin).rstrip("/") if file_origin is not None else None
        self._uploads = UploadService(
            self,
            processing_time=upload_processing_time,
            retry_after=upload_retry_after,
            upload_dir=upload_dir,
        )

        self._manage = ManageService(self)
        #: PeerTube's Socket.IO endpoint (``/socket.io/``); see :meth:`drop_sockets`.
        self.sockets = SocketHub(self._socket_user)
        self._social = SocialService(self)

        self._bind_host = host
        self._bind_port = port
        self._clock = clock
        self._keepalive_timeout = keepalive_timeout
        self._url: URL | None = None
        self._catalog: Catalog | None = None
        #: The job queue ``GET /api/v1/jobs/{state}`` lists (administrators only).
        self.jobs: list[dict[str, Any]] = []
        #: Two-factor requests awaiting confirmation: request token -> (user, secret).
        self._otp_requests: dict[str, tuple[str, str]] = {}
        self._runner: web.AppRunner | None = None
        self._closed = False

        self.app = web.Application()
        self.sockets.attach(self.app)
        self._add_routes()

    def __repr__(self) -> str:
        where = str(self._url) if self._url is not None else "not started"
        return f"<FakeInstance {where} videos={self.video_count}>"

    # OAuth settings ---------------------------------------------------------------------

    @property
    def access_token_lifetime(self) -> float:
        """Seconds an access token lives; a change applies to tokens issued afterwards."""
        return self._oauth.access_token_lifetime

    @access_token_lifetime.setter
    def access_token_lifetime(self, seconds: float) -> None:
        self._oauth.access_token_lifetime = float(seconds)

    @property
    def refresh_token_lifetime(self) -> float:
        """Seconds a refresh token lives; a change applies to tokens issued afterwards."""
        return self._oauth.refresh_token_lifetime

    @refresh_token_lifetime.setter
    def refresh_token_lifetime(self, seconds: float) -> None:
        self._oauth.refresh_token_lifetime = float(seconds)

    @property
    def client_id(self) -> str:
        """The local OAuth client's id (``GET /api/v1/oauth-clients/local``)."""
        return self._oauth.client_id

    @property
    def client_secret(self) -> str:
        """The local OAuth client's secret."""
        return self._oauth.client_secret

    # Lifecycle --------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether the server is accepting connections."""
        return self._runner is not None and self._url is not None

    @property
    def url(self) -> URL:
        """``http://127.0.0.1:PORT``, once started."""
        if self._url is None:
            raise RuntimeError("FakeInstance is not started")
        return self._url

    @property
    def host(self) -> str:
        """``host:port`` as PeerTube writes it in handles and ``host`` fields."""
        if self._url is None:
            raise RuntimeError("FakeInstance is not started")
        return self._host

    @property
    def port(self) -> int:
        """The bound port, once started."""
        port = self.url.port
        assert port is not None
        return port

    @property
    def videos(self) -> tuple[SeededVideo, ...]:
        """The seeded videos in id order, once started."""
        return tuple(
            SeededVideo(
                id=v.id,
                uuid=v.uuid,
                short_uuid=v.short_uuid,
                name=v.name,
                channel=v.channel.name,
                account=v.channel.account.name,
                published_at=iso(v.published_at),
            )
            for v in self._require_catalog().videos
        )

    async def start(self) -> None:
        """Bind the socket, seed the data and start serving."""
        if self._runner is not None or self._closed:
            raise RuntimeError("a FakeInstance can only be started once")
        family = socket.AF_INET6 if ":" in self._bind_host else socket.AF_INET
        sock = socket.create_server((self._bind_host, self._bind_port), family=family, backlog=1024)
        try:
            port = sock.getsockname()[1]
            url = URL.build(scheme="http", host=self._bind_host, port=port)
            bracketed = self._bind_host if family == socket.AF_INET else f"[{self._bind_host}]"
            self._host = f"{bracketed}:{port}"
            origin = f"http://{self._host}"
            self._catalog = build_catalog(
                origin=origin,
                host=self._host,
                users=self._accounts,
                video_count=self.video_count,
                signup_allowed=self.signup_allowed,
                max_chunk_size=self.max_chunk_size,
            )
            if self._file_origin is not None:
                self._catalog.set_file_origin(self._file_origin)
            self.jobs = seed_jobs(origin, self._clock() - 3600)
            self._uploads.open()
            runner = web.AppRunner(
                self.app,
                access_log=None,
                keepalive_timeout=self._keepalive_timeout,
                shutdown_timeout=2.0,
            )
            await runner.setup()
            self._runner = runner
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            if self._runner is not None:
                await self._runner.cleanup()
                self._runner = None
            await self._uploads.close()
            raise
        self._url = url

    async def close(self) -> None:
        """Stop serving, close every connection and remove every stored upload and file;
        safe to call twice."""
        self._closed = True
        runner, self._runner = self._runner, None
        if runner is not None:
            await self.sockets.close()
            await runner.cleanup()
        await self._uploads.close()

    async def serve(self) -> None:
        """Serve until cancelled, then close (for ``peertube-async sandbox --port N``).

        Starts the server unless :meth:`start` was awaited already, which lets a command
        print :attr:`url` before handing control over::

            await fake.start()
            print(f"PeerTube sandbox on {fake.url}")
            await fake.serve()
        """
        if self._runner is None:
            await self.start()
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            await self.close()

    async def __aenter__(self) -> FakeInstance:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # Helpers for tests ------------------------------------------------------------------

    def reset_stats(self) -> None:
        """Start counting from zero."""
        self.stats = FakeStats()

    def reset_limits(self) -> None:
        """Forget every rate-limit window of every client."""
        for limiter in self.limiters.values():
            limiter.reset()

    def issue_tokens(self, username: str) -> TokenPair:
        """Log ``username`` in without HTTP, without spending any rate limit and without
        two-factor authentication."""
        user = self._require_catalog().user_by_login(username)
        if user is None:
            raise KeyError(username)
        return self._oauth.open_session(user).tokens

    def revoke_tokens(self, token: str) -> bool:
        """End the session of an access or refresh token, as if the user had logged out
        elsewhere. Returns whether such a session existed."""
        return self._oauth.revoke(token)

    def expire_access_token(self, token: str) -> bool:
        """End an access token's lifetime now, as if it had lived its
        ``access_token_lifetime`` (the API and the socket refuse it; its refresh token
        still works). Returns whether such a token existed."""
        return self._oauth.expire_access(token)

    def enable_two_factor(self, username: str, secret: str | None = None) -> str:
        """Require a one-time password from ``username`` at login; returns the secret.

        Args:
            username: a configured user, or once started any user (also by e-mail).
            secret: base32 secret to use; a new random one (20 bytes, as PeerTube
                generates them) when omitted.

        Raises:
            KeyError: no such user.
            ValueError: ``secret`` is not base32.
        """
        name = self._username(username)
        if secret is None:
            secret = new_secret()
        else:
            decode_secret(secret)
        self._oauth.otp_secrets[name] = secret
        return secret

    def disable_two_factor(self, username: str) -> None:
        """Let ``username`` log in with a password alone again."""
        self._oauth.otp_secrets.pop(self._username(username), None)

    def totp(self, username: str, at: float | None = None) -> str:
        """The 6-digit code ``username``'s authenticator app shows at UNIX time ``at``.

        ``at`` defaults to the server's clock. The server also accepts the codes of the
        30-second steps just before and after.

        Raises:
            KeyError: no such user, or the user has no two-factor authentication.
        """
        name = self._username(username)
        secret = self._oauth.otp_secrets.get(name)
        if secret is None:
            raise KeyError(f"{name!r} has no two-factor authentication")
        return totp_code(secret, self._clock() if at is None else at)

    # Live events ------------------------------------------------------------------------

    def _socket_user(self, token: str) -> int | None:
        user = self._oauth.user_of_token(token)
        return None if user is None else user.id

    async def drop_sockets(self) -> None:
        """Close every Socket.IO connection at the transport level, as a restart or a
        network failure would; clients reconnect on their own."""
        await self.sockets.drop()

    def notifications_of(self, username: str) -> tuple[Notification, ...]:
        """Every notification ``username`` was given, oldest first (``.id``, ``.type``,
        ``.read``, ``.to_json()``).

        Raises:
            KeyError: no such user.
        """
        user = self._require_catalog().user_by_login(username)
        if user is None:
            raise KeyError(username)
        return tuple(n for n in self._social.notifications if n.user_id == user.id)

    async def notify(self, username: str, kind: int, payload: Mapping[str, Any]) -> Notification:
        """Give ``username`` a notification of type ``kind`` with ``payload`` (its fields
        besides ``id``, ``type``, ``read`` and the dates), listed by the API and pushed to
        their sockets, as a server event would.

        Raises:
            KeyError: no such user.
        """
        user = self._require_catalog().user_by_login(username)
        if user is None:
            raise KeyError(username)
        return await self._social.notify(user, kind, dict(payload))

    async def set_live(
        self,
        video: int | str,
        *,
        state: int | None = None,
        viewers: int | None = None,
        force_end: bool = False,
    ) -> None:
        """Make a video a live one and change what its watchers see: a new ``state``
        (4 waiting, 1 published, 5 ended) emits ``state-change``, a new ``viewers`` count
        ``views-change``, ``force_end`` ``force-end``, to the sockets subscribed to it;
        ``GET /api/v1/videos/{id}`` shows the same state and viewers.

        Raises:
            KeyError: no such video.
        """
        found = self._video(video)
        found.is_live = True
        if state is not None:
            found.state = int(state)
        if viewers is not None:
            found.viewers = int(viewers)
        self._require_catalog().refresh_video(found)
        if state is not None:
            await self.sockets.live_event(found.id, "state-change", {"state": found.state})
        if viewers is not None:
            await self.sockets.live_event(found.id, "views-change", {"viewers": found.viewers})
        if force_end:
            await self.sockets.live_event(found.id, "force-end", None)

    # Uploads and files ------------------------------------------------------------------

    @property
    def upload_ids(self) -> tuple[str, ...]:
        """Ids of the resumable uploads in progress (not completed, cancelled or lost)."""
        return tuple(self._uploads.uploads)

    def upload_progress(self, upload_id: str) -> int | None:
        """Bytes of an upload on the server's disk (what a status query reports), or
        ``None`` for an unknown id."""
        return self._uploads.progress(upload_id)

    def forget_upload(self, upload_id: str) -> bool:
        """Lose an upload as if it had expired: its chunks and status queries get uploadx's
        404 from now on. Returns whether it existed."""
        return self._uploads.forget(upload_id)

    def video_files(self, video: int | str) -> tuple[StoredFile, ...]:
        """The web-video files of a video (by id or UUID), e.g. to compare
        ``files[0].sha256`` and ``.size`` with what was uploaded.

        Raises:
            KeyError: no such video.
        """
        return tuple(self._video(video).files)

    def add_video_file(
        self,
        video: int | str,
        *,
        data: bytes | None = None,
        path: str | os.PathLike[str] | None = None,
        size: int | None = None,
        resolution: int = 720,
    ) -> StoredFile:
        """Give a video (seeded or uploaded, by id or UUID) a web-video file to download.

        Exactly one of: ``data`` (written to the temporary folder), ``path`` (an existing
        file, served in place and never deleted), or ``size`` (that many deterministic
        pseudo-random bytes written to disk, for large downloads without large memory).
        The file is private when the video is private, internal or password-protected.

        Raises:
            KeyError: no such video.
            ValueError: not exactly one source given.
        """
        return self._uploads.store_file(
            self._video(video), data=data, path=path, size=size, resolution=resolution
        )

    @property
    def file_origin(self) -> str:
        """Origin announced in the ``fileUrl`` of public files (the instance by default).

        Setting it (e.g. to ``f"http://localhost:{fake.port}"``, another name for this
        same server) changes every video's ``files`` from then on. The file routes answer
        whatever the ``Host`` header says.
        """
        if self._catalog is not None:
            return self._catalog.file_origin
        return self._file_origin or ""

    @file_origin.setter
    def file_origin(self, origin: str | URL) -> None:
        self._file_origin = str(origin).rstrip("/")
        if self._catalog is not None:
            self._catalog.set_file_origin(self._file_origin)

    def serve_files_from(self, other: FakeInstance) -> None:
        """Put this instance's public files on another origin, as a CDN or object storage
        would: ``fileUrl`` points at ``other`` and ``other`` serves those files (private
        files stay on this instance). Both instances must be started."""
        if self._uploads not in other._uploads.foreign:
            other._uploads.foreign.append(self._uploads)
        self.file_origin = str(other.url)

    # Plugins, redundancies, edits ---------------------------------------------------------

    def publish_plugin(self, npm_name: str, version: str, **package: Any) -> None:
        """Put a package on the fake's "npm", for ``POST /api/v1/plugins/install`` to
        find: ``npm_name`` (``peertube-plugin-X`` or ``peertube-theme-X``), its version,
        and other ``package.json`` fields (``description``, ``homepage``, ``engine``).
        Publishing a newer version of an installed plugin is what ``update`` installs."""
        self._manage.npm_index[npm_name] = {**package, "version": version}
        installed = self._manage.plugins.get(npm_name)
        if installed is not None:
            installed.latest_version = version

    @property
    def plugins(self) -> Mapping[str, PluginRecord]:
        """Installed (and uninstalled) plugins and themes by npm name."""
        return self._manage.plugins

    def add_remote_video(self, name: str, host: str) -> RemoteVideo:
        """A video of another instance (``host``) known to this one: only the redundancy
        routes see it (``POST /api/v1/server/redundancy/videos`` copies it)."""
        self._require_catalog()
        return self._manage.add_remote_video(name, host)

    def add_remote_redundancy(self, video: int | str, host: str) -> int:
        """Another instance (``host``) keeps a copy of a local video; returns the
        redundancy's id (listed with ``target=my-videos``)."""
        return self._manage.add_copy(self._video(video).id, host)

    def video_images(self, video: int | str) -> Mapping[str, bytes]:
        """The ``thumbnailfile`` and ``previewfile`` a ``PUT /api/v1/videos/{id}`` gave the
        video, by field name."""
        return dict(self._manage.images.get(self._video(video).id, {}))

    def _video(self, video: int | str) -> Video:
        catalog = self._require_catalog()
        found = catalog.video_by_id(video) if isinstance(video, int) else None
        if isinstance(video, str):
            found = catalog.video_by_uuid(video)
        if found is None:
            raise KeyError(video)
        return found

    def _username(self, login: str) -> str:
        if self._catalog is not None:
            user = self._catalog.user_by_login(login)
            if user is None:
                raise KeyError(login)
            return user.username
        if login not in self.passwords:
            raise KeyError(login)
        return login

    # Routes -----------------------------------------------------------------------------

    def _add_routes(self) -> None:
        api = "/api/v1"
        get = self._route_get
        get(f"{api}/config", self._get_config)
        get(f"{api}/videos", self._list_videos)
        get(f"{api}/videos/categories", self._get_categories)
        manage = self._manage
        get(f"{api}/videos/languages", manage.languages)
        get(f"{api}/videos/licences", manage.licences)
        get(f"{api}/videos/privacies", manage.privacies)
        get(f"{api}/videos/{{id}}", self._get_video)
        get(f"{api}/videos/{{videoId}}/comment-threads", self._list_comment_threads)
        get(f"{api}/accounts", self._list_accounts)
        get(f"{api}/accounts/{{name}}", self._get_account)
        get(f"{api}/video-channels", self._list_channels)
        get(f"{api}/video-channels/{{handle}}", self._get_channel)
        get(f"{api}/video-channels/{{handle}}/videos", self._list_channel_videos)
        get(f"{api}/video-playlists", self._list_playlists)
        get(f"{api}/oauth-clients/local", self._oauth.oauth_client)
        get(f"{api}/users/me", self._get_me)
        get(f"{api}/users/me/videos", manage.my_videos)
        get(f"{api}/plugins", manage.list_plugins)
        get(f"{api}/plugins/available", manage.list_available)
        get(f"{api}/plugins/{{npmName}}", manage.get_plugin)
        get(f"{api}/plugins/{{npmName}}/registered-settings", manage.registered_settings)
        get(f"{api}/plugins/{{npmName}}/public-settings", manage.public_settings)
        get(f"{api}/server/redundancy/videos", manage.list_redundancies)
        social = self._social
        get(f"{api}/users/me/notifications", social.list_notifications)
        get(f"{api}/videos/{{id}}/comment-threads/{{threadId}}", social.get_thread)
        get(f"{api}/jobs/{{state}}", self._list_jobs)
        post = self._route_post
        post(f"{api}/users/token", self._oauth.token, "login")
        post(f"{api}/users/revoke-token", self._oauth.revoke_token)
        post(f"{api}/users/register", self._register, "signup")
        post(f"{api}/users/registrations/request", self._request_registration, "signup")
        post(f"{api}/users/ask-send-verify-email", self._ask_verify_email, "ask_send_email")
        post(
            f"{api}/users/registrations/ask-send-verify-email",
            self._ask_verify_email,
            "ask_send_email",
        )
        post(f"{api}/users/{{id}}/two-factor/request", self._request_two_factor)
        post(f"{api}/users/{{id}}/two-factor/confirm-request", self._confirm_two_factor)
        post(f"{api}/users/{{id}}/two-factor/disable", self._disable_two_factor)
        uploads = self._uploads
        resumable = f"{api}/videos/upload-resumable"
        post(resumable, uploads.init)
        self._add(web.put(resumable, self._endpoint(resumable, uploads.put, ())))
        self._add(web.delete(resumable, self._endpoint(resumable, uploads.cancel, ())))
        post(f"{api}/videos/upload", uploads.legacy)
        post(f"{api}/videos/{{id}}/comment-threads", social.create_thread)
        post(f"{api}/videos/{{id}}/comments/{{commentId}}", social.reply)
        post(f"{api}/users/me/notifications/read", social.mark_read)
        post(f"{api}/users/me/notifications/read-all", social.mark_all_read)
        post(f"{api}/users/me/subscriptions", social.subscribe)
        put = self._route_method
        put("PUT", f"{api}/videos/{{id}}", manage.update_video)
        post(f"{api}/plugins/install", manage.install)
        post(f"{api}/plugins/update", manage.update)
        post(f"{api}/plugins/uninstall", manage.uninstall)
        put("PUT", f"{api}/plugins/{{npmName}}/settings", manage.put_settings)
        post(f"{api}/server/redundancy/videos", manage.add_redundancy)
        put("DELETE", f"{api}/server/redundancy/videos/{{redundancyId}}", manage.delete_redundancy)
        self._add(web.route("*", f"{api}/{{tail:.*}}", self._endpoint(None, self._unknown, ())))
        # Outside the API: no rate limit, as PeerTube's static routes.
        self._add(web.get("/static/web-videos/private/{filename}", uploads.private_file))
        self._add(web.get("/static/web-videos/{filename}", uploads.static_file))
        self._add(web.get("/download/videos/generate/{video}", uploads.generate_download))
        self._add(web.get("/download/videos/{name}", uploads.download))
        self._add(web.put("/_bench/sink", uploads.bench_sink))

    def _route_get(self, path: str, handler: _Handler) -> None:
        self._add(web.get(path, self._endpoint(path, handler, ())))

    def _route_method(self, method: str, path: str, handler: _Handler) -> None:
        self._add(web.route(method, path, self._endpoint(path, handler, ())))

    def _route_post(self, path: str, handler: _Handler, *limiters: str) -> None:
        self._add(web.post(path, self._endpoint(path, handler, limiters)))

    def _add(self, route: web.RouteDef) -> None:
        self.app.router.add_routes([route])

    def _endpoint(
        self, template: str | None, handler: _Handler, limiters: tuple[str, ...]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        route = _Route(template or "", ("api", *limiters))

        async def endpoint(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, route, handler)

        return endpoint

    async def _serve(self, request: web.Request, route: _Route, handler: _Handler) -> web.Response:
        stats = self.stats
        stats.requests += 1
        route_name = f"{request.method} {route.template or request.path}"
        stats.routes[route_name] = stats.routes.get(route_name, 0) + 1
        if "Authorization" in request.headers:
            stats.authorized_requests += 1
            stats.authorized_routes[route_name] = stats.authorized_routes.get(route_name, 0) + 1
        if route.template == _TOKEN_ROUTE:
            stats.token_requests += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            response = await self._limit_and_handle(request, route, handler, stats)
        finally:
            stats.in_flight -= 1
        if not isinstance(response, DroppedResponse):
            stats.statuses[response.status] = stats.statuses.get(response.status, 0) + 1
        return response

    async def _limit_and_handle(
        self, request: web.Request, route: _Route, handler: _Handler, stats: FakeStats
    ) -> web.Response:
        exchange = Exchange()
        if not self.rate_limit:
            return await handler(request, exchange)

        key = client_key(request.remote, request.headers.get("X-Forwarded-For"))
        headers = exchange.headers
        to_undo: list[ServerLimiter] = []
        refusal: web.Response | None = None
        try:
            for name in route.limiters:
                limiter = self.limiters[name]
                decision = limiter.hit(key)
                stats.limiter_hits[name] = stats.limiter_hits.get(name, 0) + 1
                if name in _SKIP_FAILED:
                    to_undo.append(limiter)
                # A later limiter overwrites these in place, as express's setHeader does.
                headers["X-RateLimit-Limit"] = str(decision.limit)
                headers["X-RateLimit-Remaining"] = str(decision.remaining)
                headers["Date"] = self._http.http_date()
                headers["X-RateLimit-Reset"] = str(decision.reset)
                if decision.exceeded:
                    headers["Retry-After"] = str(decision.retry_after)
                    refusal = self._over_limit(request, exchange)
                    if refusal is not None:
                        if refusal.status == http.HTTPStatus.TOO_MANY_REQUESTS:
                            stats.rate_limited += 1
                            stats.limiter_rejections[name] = (
                                stats.limiter_rejections.get(name, 0) + 1
                            )
                        break
                    stats.bypassed += 1
            response = refusal if refusal is not None else await handler(request, exchange)
        except BaseException:
            for limiter in to_undo:
                limiter.undo(key)
            raise
        if response.status >= 400:
            for limiter in to_undo:
                limiter.undo(key)
        return response

    def _over_limit(self, request: web.Request, exchange: Exchange) -> web.Response | None:
        """PeerTube's limit handler: privileged tokens pass, anyone else gets a 429.

        Returns ``None`` to let the request through, else the response to send. A bad
        token is refused as the authentication middleware would refuse it.
        """
        if request.headers.get("Authorization"):
            outcome = self._oauth.authenticate(request, exchange)
            if isinstance(outcome, web.Response):
                return outcome
            if outcome.is_privileged:
                return None
        return self._http.respond(request, exchange, 429, _TOO_MANY_BODY, HTML, etag=_TOO_MANY_ETAG)

    # Responses --------------------------------------------------------------------------

    def _cached_json(
        self,
        request: web.Request,
        exchange: Exchange,
        key: tuple[Any, ...],
        build: Callable[[], bytes],
    ) -> web.Response:
        """A 200 JSON body built once per catalog state, with its ETag."""
        responses = self._require_catalog().responses
        cached = responses.get(key)
        if cached is None:
            body = build()
            cached = (body, weak_etag(body))
            if len(responses) >= _RESPONSE_CACHE_SIZE:
                responses.clear()
            responses[key] = cached
        return self._http.respond(request, exchange, 200, cached[0], JSON, etag=cached[1])

    # Authentication ---------------------------------------------------------------------

    # Handlers ---------------------------------------------------------------------------

    def _require_catalog(self) -> Catalog:
        if self._catalog is None:
            raise RuntimeError("FakeInstance is not started")
        return self._catalog

    async def _unknown(self, request: web.Request, exchange: Exchange) -> web.Response:
        # PeerTube ends its API router with a bare 400: a route this release lacks (a
        # newer server's, say) answers 400 with an empty JSON body, not 404.
        return self._http.respond(
            request, exchange, 400, b"", "application/json; charset=utf-8", with_etag=False
        )

    async def _get_config(self, request: web.Request, exchange: Exchange) -> web.Response:
        catalog = self._require_catalog()
        return self._cached_json(request, exchange, ("config",), lambda: catalog.config_json)

    async def _get_categories(self, request: web.Request, exchange: Exchange) -> web.Response:
        catalog = self._require_catalog()
        return self._cached_json(
            request, exchange, ("categories",), lambda: catalog.categories_json
        )

    def _page_query(
        self,
        request: web.Request,
        exchange: Exchange,
        sorts: frozenset[str],
        default_sort: str,
    ) -> tuple[int, int, str] | web.Response:
        """``paginationValidator`` then the sort validator, then their defaults."""
        query = request.query
        errors: dict[str, dict[str, Any]] = {}
        start = query.get("start")
        count = query.get("count")
        if start is not None and not _is_int(start, minimum=0):
            errors["start"] = _field_error(start, "Invalid value", "start", "query")
        if count is not None and not _is_int(count, minimum=0, maximum=_PAGE_MAX):
            errors["count"] = _field_error(count, _COUNT_MESSAGE, "count", "query")
        if errors:
            return self._http.invalid(request, exchange, errors)
        sort = query.get("sort")
        if sort is not None and sort not in sorts:
            errors["sort"] = _field_error(sort, "Invalid value", "sort", "query")
            return self._http.invalid(request, exchange, errors)
        return (
            int(start) if start else 0,
            int(count) if count is not None else _PAGE_DEFAULT,
            sort or default_sort,
        )

    @staticmethod
    def _page_body(total: int | None, items: list[bytes], tail: bytes = b"") -> bytes:
        head = b'{"data":[' if total is None else b'{"total":%d,"data":[' % total
        return head + b",".join(items) + b"]" + tail + b"}"

    async def _list_videos(self, request: web.Request, exchange: Exchange) -> web.Response:
        exchange.docs = "getVideos"
        page = self._page_query(request, exchange, _VIDEO_SORT_VALUES, "-publishedAt")
        if isinstance(page, web.Response):
            return page
        refused = self._oauth.optional_authenticate(request, exchange)
        if refused is not None:
            return refused
        count_total = True
        skip_count = request.query.get("skipCount")
        if skip_count is not None:
            # toBooleanOrNull: "null" is null (invalid), "0", "false" and "" are false.
            if skip_count == "null":
                error = _field_error(
                    None, "Should have a valid skipCount boolean", "skipCount", "query"
                )
                return self._http.invalid(request, exchange, {"skipCount": error})
            count_total = skip_count in ("0", "") or skip_count.lower() == "false"
        start, count, sort = page
        catalog = self._require_catalog()

        def build() -> bytes:
            videos = catalog.sorted_videos(sort)
            items = [video.list_json for video in videos[start : start + count]]
            return self._page_body(len(videos) if count_total else None, items)

        key = ("videos", sort, start, count, count_total)
        return self._cached_json(request, exchange, key, build)

    def _find_video(self, raw: str) -> Video | None:
        """A video by id, UUID or short UUID; None when there is no such video."""
        catalog = self._require_catalog()
        if _INT_RE.fullmatch(raw):
            return catalog.video_by_id(int(raw))
        decoded = short_to_uuid(raw) if len(raw) == 22 else None
        return catalog.video_by_uuid(str(decoded) if decoded is not None else raw)

    def _video_param(
        self, request: web.Request, exchange: Exchange, param: str
    ) -> Video | web.Response:
        """``isValidVideoIdParam`` and the lookup: an id, a UUID (v4) or a short UUID."""
        raw = request.match_info[param]
        catalog = self._require_catalog()
        if _INT_RE.fullmatch(raw):
            video = catalog.video_by_id(int(raw))
        else:
            decoded = short_to_uuid(raw) if len(raw) == 22 else None
            candidate = str(decoded) if decoded is not None else raw
            if not _UUID4_RE.fullmatch(candidate):
                error = _field_error(raw, _VIDEO_ID_MESSAGE, param, "params")
                return self._http.invalid(request, exchange, {param: error})
            video = catalog.video_by_uuid(candidate)
        if video is None:
            return self._http.problem(request, exchange, 404, "Video not found")
        return video

    async def _get_video(self, request: web.Request, exchange: Exchange) -> web.Response:
        exchange.docs = "getVideo"
        refused = self._oauth.optional_authenticate(request, exchange)
        if refused is not None:
            return refused
        video = self._video_param(request, exchange, "id")
        if isinstance(video, web.Response):
            return video
        if video.privacy not in (1, 2):
            # checkCanSeeUserAuthVideo: authenticateOrFail, then the owner or SEE_ALL_VIDEOS.
            user = self._oauth.authenticate(request, exchange)
            if isinstance(user, web.Response):
                return user
            if not may_see(user, video):
                return self._http.problem(
                    request,
                    exchange,
                    403,
                    "Cannot fetch information of private/internal/blocked video",
                )
        catalog = self._require_catalog()
        return self._cached_json(
            request, exchange, ("video", video.id), lambda: catalog.video_detail(video)
        )

    async def _list_comment_threads(self, request: web.Request, exchange: Exchange) -> web.Response:
        exchange.docs = "getVideoCommentThreads"
        page = self._page_query(request, exchange, _COMMENT_THREAD_SORT_VALUES, "-createdAt")
        if isinstance(page, web.Response):
            return page
        video = self._video_param(request, exchange, "videoId")
        if isinstance(video, web.Response):
            return video
        refused = self._oauth.optional_authenticate(request, exchange)
        if refused is not None:
            return refused
        start, count, sort = page
        threads = self._require_catalog().sorted_threads(video, sort)
        items = [thread.list_json for thread in threads[start : start + count]]
        tail = b',"totalNotDeletedComments":%d' % len(threads)
        return self._http.json(request, exchange, self._page_body(len(threads), items, tail))

    async def _list_accounts(self, request: web.Request, exchange: Exchange) -> web.Response:
        page = self._page_query(request, exchange, _ACCOUNT_SORT_VALUES, "-createdAt")
        if isinstance(page, web.Response):
            return page
        start, count, sort = page
        catalog = self._require_catalog()
        accounts = catalog.sorted_accounts(sort)
        items = [dumps(catalog.account_full(a)) for a in accounts[start : start + count]]
        return self._http.json(request, exchange, self._page_body(len(accounts), items))

    async def _get_account(self, request: web.Request, exchange: Exchange) -> web.Response:
        catalog = self._require_catalog()
        account = catalog.account_by_handle(request.match_info["name"])
        if account is None:
            return self._http.problem(request, exchange, 404, "Account not found")
        return self._http.json(request, exchange, dumps(catalog.account_full(account)))

    async def _list_channels(self, request: web.Request, exchange: Exchange) -> web.Response:
        page = self._page_query(request, exchange, _CHANNEL_SORT_VALUES, "-createdAt")
        if isinstance(page, web.Response):
            return page
        start, count, sort = page
        catalog = self._require_catalog()
        channels = catalog.sorted_channels(sort)
        items = [dumps(catalog.channel_full(c)) for c in channels[start : start + count]]
        return self._http.json(request, exchange, self._page_body(len(channels), items))

    async def _get_channel(self, request: web.Request, exchange: Exchange) -> web.Response:
        catalog = self._require_catalog()
        channel = catalog.channel_by_handle(request.match_info["handle"])
        if channel is None:
            return self._http.problem(request, exchange, 404, "Video channel not found")
        return self._http.json(request, exchange, dumps(catalog.channel_full(channel)))

    async def _list_channel_videos(self, request: web.Request, exchange: Exchange) -> web.Response:
        exchange.docs = "listVideoChannelVideos"
        page = self._page_query(request, exchange, _VIDEO_SORT_VALUES, "-publishedAt")
        if isinstance(page, web.Response):
            return page
        catalog = self._require_catalog()
        channel = catalog.channel_by_handle(request.match_info["handle"])
        if channel is None:
            return self._http.problem(request, exchange, 404, "Video channel not found")
        start, count, sort = page
        videos = [v for v in catalog.sorted_videos(sort) if v.channel.id == channel.id]
        items = [video.list_json for video in videos[start : start + count]]
        return self._http.json(request, exchange, self._page_body(len(videos), items))

    async def _list_jobs(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``GET /api/v1/jobs/{state}``: administrators only (right 7, MANAGE_JOBS)."""
        exchange.docs = "getJobs"
        user = self._oauth.authenticate(request, exchange)
        if isinstance(user, web.Response):
            return user
        state = request.match_info["state"]
        if user.role != ROLE_ADMINISTRATOR:
            return self._http.problem(
                request,
                exchange,
                403,
                f"User {user.username} does not have right 7 to access to /{state}.",
            )
        if state not in JOB_STATES:
            error = _field_error(state, "Invalid value", "state", "params")
            return self._http.invalid(request, exchange, {"state": error})
        sorts = frozenset({"createdAt", "-createdAt"})
        page = self._page_query(request, exchange, sorts, "-createdAt")
        if isinstance(page, web.Response):
            return page
        start, count, sort = page
        kind = request.query.get("jobType")
        found = [j for j in self.jobs if j["state"] == state and kind in (None, j["type"])]
        found.sort(key=lambda j: str(j["createdAt"]), reverse=sort.startswith("-"))
        items = [dumps(job) for job in found[start : start + count]]
        return self._http.json(request, exchange, self._page_body(len(found), items))

    def _own_user(self, request: web.Request, exchange: Exchange) -> User | web.Response:
        """The signed-in user when ``{id}`` is that user, else the error PeerTube sends
        (it checks the current password of the user it is asked about)."""
        user = self._oauth.authenticate(request, exchange)
        if isinstance(user, web.Response):
            return user
        raw = request.match_info["id"]
        if not _INT_RE.fullmatch(raw):
            error = _field_error(raw, "Should have a valid id", "id", "params")
            return self._http.invalid(request, exchange, {"id": error})
        target = next((u for u in self._require_catalog().users if u.id == int(raw)), None)
        if target is None:
            return self._http.problem(request, exchange, 404, "User not found")
        if target.id != user.id:
            return self._password_refused(request, exchange)
        return user

    def _password_refused(self, request: web.Request, exchange: Exchange) -> web.Response:
        return self._http.problem(
            request,
            exchange,
            403,
            "currentPassword is invalid.",
            code="current_password_is_invalid",
        )

    async def _request_two_factor(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``POST /users/{id}/two-factor/request``: a new secret, to confirm with a code."""
        user = self._own_user(request, exchange)
        if isinstance(user, web.Response):
            return user
        body = await read_body(request)
        if body.get("currentPassword") != user.password:
            return self._password_refused(request, exchange)
        if user.username in self._oauth.otp_secrets:
            return self._http.problem(request, exchange, 400, "Two factor is already enabled.")
        secret = new_secret()
        token = secrets.token_hex(32)
        self._otp_requests[token] = (user.username, secret)
        uri = f"otpauth://totp/PeerTube:{user.username}?issuer=PeerTube&secret={secret}"
        answer = {"otpRequest": {"requestToken": token, "secret": secret, "uri": uri}}
        return self._http.json(request, exchange, dumps(answer))

    async def _confirm_two_factor(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``POST /users/{id}/two-factor/confirm-request``: a code of the new secret turns
        two-factor authentication on."""
        user = self._own_user(request, exchange)
        if isinstance(user, web.Response):
            return user
        body = await read_body(request)
        pending = self._otp_requests.get(str(body.get("requestToken")))
        if pending is None or pending[0] != user.username:
            return self._http.problem(request, exchange, 403, "Invalid request token")
        if not totp_valid(pending[1], str(body.get("otpToken")), self._clock()):
            return self._http.problem(request, exchange, 403, "Invalid OTP token")
        del self._otp_requests[str(body.get("requestToken"))]
        self._oauth.otp_secrets[user.username] = pending[1]
        return self._http.respond(request, exchange, 204, b"", None)

    async def _disable_two_factor(self, request: web.Request, exchange: Exchange) -> web.Response:
        user = self._own_user(request, exchange)
        if isinstance(user, web.Response):
            return user
        body = await read_body(request)
        if body.get("currentPassword") != user.password:
            return self._password_refused(request, exchange)
        if user.username not in self._oauth.otp_secrets:
            return self._http.problem(request, exchange, 400, "Two factor is already disabled.")
        del self._oauth.otp_secrets[user.username]
        return self._http.respond(request, exchange, 204, b"", None)

    async def _list_playlists(self, request: web.Request, exchange: Exchange) -> web.Response:
        exchange.docs = "getPlaylists"
        page = self._page_query(request, exchange, _PLAYLIST_SORT_VALUES, "-createdAt")
        if isinstance(page, web.Response):
            return page
        start, count, sort = page
        playlists = self._require_catalog().sorted_playlists(sort)
        items = [playlist.list_json for playlist in playlists[start : start + count]]
        return self._http.json(request, exchange, self._page_body(len(playlists), items))

    async def _get_me(self, request: web.Request, exchange: Exchange) -> web.Response:
        user = self._oauth.authenticate(request, exchange)
        if isinstance(user, web.Response):
            return user
        body = self._require_catalog().user_me(user)
        body["twoFactorEnabled"] = user.username in self._oauth.otp_secrets
        return self._http.json(request, exchange, dumps(body))

    def _registration_errors(self, body: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        errors: dict[str, dict[str, Any]] = {}
        username = body.get("username", _UNDEFINED)
        password = body.get("password", _UNDEFINED)
        address = body.get("email", _UNDEFINED)
        if not (isinstance(username, str) and _USERNAME_RE.fullmatch(username)):
            errors["username"] = _field_error(username, "Invalid value", "username", "body")
        if not (isinstance(password, str) and 6 <= len(password) <= 255):
            errors["password"] = _field_error(password, "Invalid value", "password", "body")
        if not (isinstance(address, str) and _EMAIL_RE.fullmatch(address)):
            errors["email"] = _field_error(address, "Invalid value", "email", "body")
        return errors

    async def _register(self, request: web.Request, exchange: Exchange) -> web.Response:
        if not self.signup_allowed:
            return self._http.problem(request, exchange, 403, "User registration is not allowed")
        body = await read_body(request)
        errors = self._registration_errors(body)
        if errors:
            return self._http.invalid(request, exchange, errors)
        catalog = self._require_catalog()
        username, address = body["username"], body["email"]
        taken = {a.name for a in catalog.accounts} | {c.name for c in catalog.channels}
        if username in taken or catalog.user_by_login(address) is not None:
            return self._http.problem(
                request, exchange, 409, "User with this username or email already exists."
            )
        catalog.add_user(username, body["password"], ROLE_USER, address)
        return self._http.respond(request, exchange, 204, b"", None)

    async def _request_registration(self, request: web.Request, exchange: Exchange) -> web.Response:
        if not self.signup_allowed:
            return self._http.problem(request, exchange, 403, "User registration is not allowed")
        errors = self._registration_errors(await read_body(request))
        if errors:
            return self._http.invalid(request, exchange, errors)
        return self._http.problem(
            request, exchange, 400, "Signup approval is not enabled on this instance"
        )

    async def _ask_verify_email(self, request: web.Request, exchange: Exchange) -> web.Response:
        address = (await read_body(request)).get("email", _UNDEFINED)
        if not (isinstance(address, str) and _EMAIL_RE.fullmatch(address)):
            error = _field_error(address, "Invalid value", "email", "body")
            return self._http.invalid(request, exchange, {"email": error})
        # Unknown addresses get the same 204: the endpoint must not reveal who exists.
        return self._http.respond(request, exchange, 204, b"", None)


def _resolve_users(
    users: Mapping[str, str] | None, moderator: str | None
) -> list[tuple[str, str, int]]:
    """``(username, password, role)`` in id order: root, the others, as given."""
    if moderator == "root":
        raise ValueError("root is the administrator; name the moderator differently")
    given = dict(DEFAULT_PASSWORDS) if users is None else dict(users)
    if moderator is not None and moderator not in given:
        given[moderator] = f"{moderator}-password"
    resolved = [("root", given.pop("root", DEFAULT_PASSWORDS["root"]), ROLE_ADMINISTRATOR)]
    for name, password in given.items():
        role = ROLE_MODERATOR if name == moderator else ROLE_USER
        resolved.append((name, password, role))
    return resolved
