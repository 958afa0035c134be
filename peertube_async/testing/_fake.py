"""A local PeerTube server on aiohttp.web: routes, rate limiting, OAuth, lifecycle (uploads
and video files live in ``_uploads.py``).

Every ``/api/v1`` route runs through :meth:`FakeInstance._serve`, which plays the part of
PeerTube's express middleware chain: the limiters of the route (``api`` first, then the
route's own), the admin/moderator bypass, then the route handler, then the
``skipFailedRequests`` decrement. Headers are emitted in the order the real server sends
them, because some clients (and our own tests) compare raw responses with the samples.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import http
import ipaddress
import math
import os
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
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
    error_type,
    field_error,
    iso,
    problem_docs,
    seed_jobs,
    short_to_uuid,
    sortable,
)
from ._limiter import DEFAULT_LIMITS, ServerLimiter
from ._otp import decode_secret, new_secret, totp_code, totp_valid
from ._uploads import DroppedResponse, Faults, UploadService, may_see

__all__ = ["FakeInstance", "FakeStats", "SeededVideo", "TokenPair", "client_key"]

_JSON = "application/json; charset=utf-8"
_PROBLEM = "application/problem+json; charset=utf-8"
_HTML = "text/html; charset=utf-8"
_TOO_MANY_BODY = b"Too many requests, please try again later."

# OTP in server/core/initializers/constants.ts: the request header carrying the code, and
# the value the token endpoint answers in it when a two-factor account sent none.
_OTP_HEADER = "x-peertube-otp"
_OTP_REQUIRED = "required; app"
_TOKEN_ROUTE = "/api/v1/users/token"

# Sent first on every API response, in the real server's order (helmet, cors, PeerTube).
_BASE_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-powered-by", "PeerTube"),
    ("X-Frame-Options", "DENY"),
    ("Tk", "N"),
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Credentials", "true"),
    ("Access-Control-Expose-Headers", "Retry-After"),
)

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
# node-oauth2-server accepts exactly one space between the scheme and the token.
_BEARER_RE = re.compile(r"Bearer\s(\S+)", re.I)
_USERNAME_RE = re.compile(r"[a-z0-9._]{1,50}")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")

_UNDEFINED = UNDEFINED
_field_error = field_error

_VIDEO_SORT_VALUES = sortable(VIDEO_SORTS)
_ACCOUNT_SORT_VALUES = sortable(ACCOUNT_SORTS)
_CHANNEL_SORT_VALUES = sortable(CHANNEL_SORTS)
_PLAYLIST_SORT_VALUES = sortable(PLAYLIST_SORTS)
_COMMENT_THREAD_SORT_VALUES = sortable(COMMENT_THREAD_SORTS)


def _etag(body: bytes) -> str:
    """Express's weak ETag: body length in hex and the start of its base64 SHA-1."""
    digest = base64.b64encode(hashlib.sha1(body).digest()).decode()[:27]
    return f'W/"{len(body):x}-{digest}"'


_TOO_MANY_ETAG = _etag(_TOO_MANY_BODY)


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


def _fresh(request: web.Request, etag: str) -> bool:
    """Whether a conditional GET may be answered 304, as express's ``req.fresh``."""
    wanted = request.headers.get("If-None-Match")
    if not wanted or "no-cache" in request.headers.get("Cache-Control", ""):
        return False
    if wanted.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in wanted.split(","))


# ---------------------------------------------------------------------------------------
# Public value types


@dataclass
class FakeStats:
    """Counters of a :class:`FakeInstance`, for assertions.

    Attributes:
        requests: requests answered on ``/api/v1``.
        rate_limited: 429 responses sent.
        bypassed: over-limit requests let through for an administrator or moderator.
        token_requests: ``POST /api/v1/users/token`` requests, whatever their outcome
            (refused by a rate limiter included).
        grant_types: ``grant_type`` as sent (``""`` when absent) -> token requests that
            reached the OAuth handler, i.e. were not refused by a rate limiter.
        logins: successful password grants.
        refreshes: successful refresh-token grants.
        revocations: successful ``POST /api/v1/users/revoke-token`` requests.
        authorized_requests: ``/api/v1`` requests that carried an ``Authorization`` header,
            whatever its value.
        authorized_routes: like ``routes``, counting only requests with an
            ``Authorization`` header.
        in_flight: requests being handled right now.
        max_in_flight: the most requests handled at the same time.
        limiter_hits: limiter class -> requests it counted (hits later handed back by
            ``skipFailedRequests`` included).
        limiter_rejections: limiter class -> 429 responses it caused.
        routes: ``"METHOD /route/template"`` (e.g. ``"GET /api/v1/videos/{id}"``) ->
            requests; unknown API paths appear with their concrete path.
        statuses: HTTP status -> responses (dropped connections have none).
        uploads_started: resumable uploads created (``POST .../upload-resumable`` 201s).
        uploads_completed: resumable uploads whose last chunk created a video.
        upload_chunks: resumable ``PUT`` s carrying bytes that reached the upload layer
            (authenticated, known id), faulted ones included.
        upload_status_queries: resumable ``PUT`` s without content (``bytes */SIZE``).
        upload_cancels: uploads cancelled with ``DELETE`` (unknown ids not counted).
        upload_bytes: chunk bytes written to upload files.
        videos_created: videos created by uploads, resumable or legacy.
        legacy_uploads: successful ``POST /api/v1/videos/upload`` requests.
        dropped_connections: connections the fault hooks aborted (uploads and downloads).
        file_requests: requests to the file routes (``/static/web-videos/...``,
            ``/download/videos/...``).
        bench_bytes: bytes taken by the ``PUT /_bench/sink`` benchmark route.
    """

    requests: int = 0
    rate_limited: int = 0
    bypassed: int = 0
    token_requests: int = 0
    grant_types: dict[str, int] = field(default_factory=dict)
    logins: int = 0
    refreshes: int = 0
    revocations: int = 0
    authorized_requests: int = 0
    authorized_routes: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    limiter_hits: dict[str, int] = field(default_factory=dict)
    limiter_rejections: dict[str, int] = field(default_factory=dict)
    routes: dict[str, int] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    uploads_started: int = 0
    uploads_completed: int = 0
    upload_chunks: int = 0
    upload_status_queries: int = 0
    upload_cancels: int = 0
    upload_bytes: int = 0
    videos_created: int = 0
    legacy_uploads: int = 0
    dropped_connections: int = 0
    file_requests: int = 0
    bench_bytes: int = 0


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


@dataclass(frozen=True)
class TokenPair:
    """Tokens issued by the fake's OAuth server (see :meth:`FakeInstance.issue_tokens`)."""

    access_token: str
    refresh_token: str
    access_token_expires_at: float
    refresh_token_expires_at: float


# ---------------------------------------------------------------------------------------
# Internals


class _Exchange:
    """State of one request on its way through the emulated middleware chain."""

    __slots__ = ("docs", "headers", "session")

    def __init__(self) -> None:
        self.headers: dict[str, str] = dict(_BASE_HEADERS)
        self.docs: str | None = None
        self.session: _Session | None = None


@dataclass(eq=False)
class _Session:
    """One row of PeerTube's ``oAuthToken`` table: an access and a refresh token.

    Times are whole milliseconds, as the JavaScript ``Date`` objects PeerTube compares.
    """

    user: User
    tokens: TokenPair
    issued_ms: int
    access_expires_ms: int
    refresh_expires_ms: int


_Handler = Callable[[web.Request, _Exchange], Awaitable[web.Response]]


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
        self.access_token_lifetime = float(access_token_lifetime)
        self.refresh_token_lifetime = float(refresh_token_lifetime)
        self.signup_allowed = signup_allowed
        self.video_count = videos
        self._accounts = _resolve_users(users, moderator)
        self.passwords: Mapping[str, str] = {name: pw for name, pw, _ in self._accounts}
        self._otp_secrets: dict[str, str] = {}
        for name, secret in (two_factor or {}).items():
            if name not in self.passwords:
                raise ValueError(f"two_factor names an unknown user {name!r}")
            decode_secret(secret)
            self._otp_secrets[name] = secret
        self.client_id = secrets.token_hex(16)
        self.client_secret = secrets.token_hex(16)
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

        self._bind_host = host
        self._bind_port = port
        self._clock = clock
        self._keepalive_timeout = keepalive_timeout
        self._keep_alive_header = f"timeout={math.ceil(keepalive_timeout)}"
        self._url: URL | None = None
        self._host = ""
        self._catalog: Catalog | None = None
        #: The job queue ``GET /api/v1/jobs/{state}`` lists (administrators only).
        self.jobs: list[dict[str, Any]] = []
        #: Two-factor requests awaiting confirmation: request token -> (user, secret).
        self._otp_requests: dict[str, tuple[str, str]] = {}
        self._runner: web.AppRunner | None = None
        self._closed = False
        self._sessions_by_access: dict[str, _Session] = {}
        self._sessions_by_refresh: dict[str, _Session] = {}
        self._date_second = -1
        self._date_value = ""

        self.app = web.Application()
        self._add_routes()

    def __repr__(self) -> str:
        where = str(self._url) if self._url is not None else "not started"
        return f"<FakeInstance {where} videos={self.video_count}>"

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
        return self._open_session(user).tokens

    def revoke_tokens(self, token: str) -> bool:
        """End the session of an access or refresh token, as if the user had logged out
        elsewhere. Returns whether such a session existed."""
        session = self._sessions_by_access.get(token) or self._sessions_by_refresh.get(token)
        if session is None:
            return False
        self._close_session(session)
        return True

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
        self._otp_secrets[name] = secret
        return secret

    def disable_two_factor(self, username: str) -> None:
        """Let ``username`` log in with a password alone again."""
        self._otp_secrets.pop(self._username(username), None)

    def totp(self, username: str, at: float | None = None) -> str:
        """The 6-digit code ``username``'s authenticator app shows at UNIX time ``at``.

        ``at`` defaults to the server's clock. The server also accepts the codes of the
        30-second steps just before and after.

        Raises:
            KeyError: no such user, or the user has no two-factor authentication.
        """
        name = self._username(username)
        secret = self._otp_secrets.get(name)
        if secret is None:
            raise KeyError(f"{name!r} has no two-factor authentication")
        return totp_code(secret, self._clock() if at is None else at)

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
        get(f"{api}/videos/{{id}}", self._get_video)
        get(f"{api}/videos/{{videoId}}/comment-threads", self._list_comment_threads)
        get(f"{api}/accounts", self._list_accounts)
        get(f"{api}/accounts/{{name}}", self._get_account)
        get(f"{api}/video-channels", self._list_channels)
        get(f"{api}/video-channels/{{handle}}", self._get_channel)
        get(f"{api}/video-channels/{{handle}}/videos", self._list_channel_videos)
        get(f"{api}/video-playlists", self._list_playlists)
        get(f"{api}/oauth-clients/local", self._get_oauth_client)
        get(f"{api}/users/me", self._get_me)
        get(f"{api}/users/me/notifications", self._list_notifications)
        get(f"{api}/jobs/{{state}}", self._list_jobs)
        post = self._route_post
        post(f"{api}/users/token", self._token, "login")
        post(f"{api}/users/revoke-token", self._revoke_token)
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
        self._add(web.route("*", f"{api}/{{tail:.*}}", self._endpoint(None, self._unknown, ())))
        # Outside the API: no rate limit, as PeerTube's static routes.
        self._add(web.get("/static/web-videos/private/{filename}", uploads.private_file))
        self._add(web.get("/static/web-videos/{filename}", uploads.static_file))
        self._add(web.get("/download/videos/generate/{video}", uploads.generate_download))
        self._add(web.get("/download/videos/{name}", uploads.download))
        self._add(web.put("/_bench/sink", uploads.bench_sink))

    def _route_get(self, path: str, handler: _Handler) -> None:
        self._add(web.get(path, self._endpoint(path, handler, ())))

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
        exchange = _Exchange()
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
                headers["Date"] = self._http_date()
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

    def _over_limit(self, request: web.Request, exchange: _Exchange) -> web.Response | None:
        """PeerTube's limit handler: privileged tokens pass, anyone else gets a 429.

        Returns ``None`` to let the request through, else the response to send. A bad
        token is refused as the authentication middleware would refuse it.
        """
        if request.headers.get("Authorization"):
            outcome = self._authenticate(request, exchange)
            if isinstance(outcome, web.Response):
                return outcome
            if outcome.is_privileged:
                return None
        return self._respond(request, exchange, 429, _TOO_MANY_BODY, _HTML, etag=_TOO_MANY_ETAG)

    # Responses --------------------------------------------------------------------------

    def _new_exchange(self) -> _Exchange:
        """Response state for a route outside the API's middleware chain."""
        return _Exchange()

    def _http_date(self) -> str:
        second = int(self._clock())
        if second != self._date_second:
            self._date_second = second
            self._date_value = email.utils.formatdate(second, usegmt=True)
        return self._date_value

    def _respond(
        self,
        request: web.Request,
        exchange: _Exchange,
        status: int,
        body: bytes,
        content_type: str | None,
        *,
        etag: str | None = None,
        with_etag: bool = True,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> web.Response:
        headers = exchange.headers
        if "Date" not in headers:
            headers["Date"] = self._http_date()
        for name, value in extra:
            headers[name] = value
        if content_type is not None:
            headers["Content-Type"] = content_type
            headers["Content-Length"] = str(len(body))
            if with_etag:
                tag = etag or _etag(body)
                headers["ETag"] = tag
                if (
                    200 <= status < 300
                    and request.method in ("GET", "HEAD")
                    and _fresh(request, tag)
                ):
                    status, body = 304, b""
                    del headers["Content-Type"], headers["Content-Length"]
        if request.keep_alive:
            headers["Keep-Alive"] = self._keep_alive_header
        return web.Response(status=status, body=body, headers=headers)

    def _cached_json(
        self,
        request: web.Request,
        exchange: _Exchange,
        key: tuple[Any, ...],
        build: Callable[[], bytes],
    ) -> web.Response:
        """A 200 JSON body built once per catalog state, with its ETag."""
        responses = self._require_catalog().responses
        cached = responses.get(key)
        if cached is None:
            body = build()
            cached = (body, _etag(body))
            if len(responses) >= _RESPONSE_CACHE_SIZE:
                responses.clear()
            responses[key] = cached
        return self._respond(request, exchange, 200, cached[0], _JSON, etag=cached[1])

    def _json(
        self,
        request: web.Request,
        exchange: _Exchange,
        body: bytes,
        *,
        status: int = 200,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> web.Response:
        return self._respond(request, exchange, status, body, _JSON, extra=extra)

    def _problem(
        self,
        request: web.Request,
        exchange: _Exchange,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        instance: str | None = None,
        data: Mapping[str, Any] | None = None,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> web.Response:
        """PeerTube's ``res.fail()``: an RFC 7807 body with its extensions, in its order.

        ``extra`` headers are those a handler set before failing; they precede
        ``Content-Type``.
        """
        body: dict[str, Any] = {"type": error_type(code) if code else "about:blank"}
        if code is None:
            body["title"] = http.HTTPStatus(status).phrase
        body["detail"] = detail
        if instance is not None:
            body["instance"] = instance
        body["status"] = status
        if data:
            body.update(data)
        docs = problem_docs(exchange.docs)
        if docs is not None:
            body["docs"] = docs
        if code is not None:
            body["code"] = code
        body["error"] = detail
        return self._respond(request, exchange, status, dumps(body), _PROBLEM, extra=extra)

    def _invalid(
        self, request: web.Request, exchange: _Exchange, errors: Mapping[str, dict[str, Any]]
    ) -> web.Response:
        """A validation failure: 400 naming every invalid field."""
        return self._problem(
            request,
            exchange,
            400,
            "Incorrect request parameters: " + ", ".join(errors),
            instance=request.raw_path,
            data={"invalid-params": dict(errors)},
        )

    # Authentication ---------------------------------------------------------------------

    def _authenticate(self, request: web.Request, exchange: _Exchange) -> User | web.Response:
        """PeerTube's ``authenticate`` middleware: the user, or the error to send."""
        outcome = self._authenticate_session(request, exchange)
        return outcome.user if isinstance(outcome, _Session) else outcome

    def _authenticate_session(
        self, request: web.Request, exchange: _Exchange
    ) -> _Session | web.Response:
        """The session of the request's bearer token, or the error to send.

        node-oauth2-server's authenticate handler refuses a token it does not know and one
        whose ``accessTokenExpiresAt < new Date()``; PeerTube's middleware
        (``server/core/middlewares/auth.ts``) words every refusal "Token is invalid".
        """
        if exchange.session is not None:
            return exchange.session
        header = request.headers.get("Authorization")
        if not header:
            if "access_token" in request.query:
                return self._token_refused(request, exchange, 400, "invalid_request")
            return self._token_refused(request, exchange, 401, "unauthorized_request")
        match = _BEARER_RE.fullmatch(header)
        if match is None or "access_token" in request.query:
            return self._token_refused(request, exchange, 400, "invalid_request")
        session = self._sessions_by_access.get(match[1])
        if session is None or session.access_expires_ms < self._now_ms():
            return self._token_refused(request, exchange, 401, "invalid_token")
        exchange.session = session
        return session

    def _optional_authenticate(
        self, request: web.Request, exchange: _Exchange
    ) -> web.Response | None:
        """``optionalAuthenticate``: a bad token fails even where none is needed."""
        if not request.headers.get("Authorization"):
            return None
        outcome = self._authenticate(request, exchange)
        return outcome if isinstance(outcome, web.Response) else None

    def _token_refused(
        self, request: web.Request, exchange: _Exchange, status: int, code: str
    ) -> web.Response:
        return self._problem(request, exchange, status, "Token is invalid", code=code)

    def _now_ms(self) -> int:
        """The clock as JavaScript's ``Date.now()``: whole milliseconds."""
        return math.floor(self._clock() * 1000)

    def _open_session(self, user: User) -> _Session:
        # buildToken in server/core/lib/auth/oauth.ts: two SHA-1 hex digests, expiry dates
        # of Date.now() plus each lifetime.
        issued = self._now_ms()
        access_expires = issued + round(self.access_token_lifetime * 1000)
        refresh_expires = issued + round(self.refresh_token_lifetime * 1000)
        tokens = TokenPair(
            access_token=secrets.token_hex(20),
            refresh_token=secrets.token_hex(20),
            access_token_expires_at=access_expires / 1000,
            refresh_token_expires_at=refresh_expires / 1000,
        )
        session = _Session(user, tokens, issued, access_expires, refresh_expires)
        self._sessions_by_access[tokens.access_token] = session
        self._sessions_by_refresh[tokens.refresh_token] = session
        return session

    def _close_session(self, session: _Session) -> None:
        self._sessions_by_access.pop(session.tokens.access_token, None)
        self._sessions_by_refresh.pop(session.tokens.refresh_token, None)

    # Handlers ---------------------------------------------------------------------------

    def _require_catalog(self) -> Catalog:
        if self._catalog is None:
            raise RuntimeError("FakeInstance is not started")
        return self._catalog

    async def _unknown(self, request: web.Request, exchange: _Exchange) -> web.Response:
        # PeerTube ends its API router with a bare 400: a route this release lacks (a
        # newer server's, say) answers 400 with an empty JSON body, not 404.
        return self._respond(
            request, exchange, 400, b"", "application/json; charset=utf-8", with_etag=False
        )

    async def _get_config(self, request: web.Request, exchange: _Exchange) -> web.Response:
        catalog = self._require_catalog()
        return self._cached_json(request, exchange, ("config",), lambda: catalog.config_json)

    async def _get_categories(self, request: web.Request, exchange: _Exchange) -> web.Response:
        catalog = self._require_catalog()
        return self._cached_json(
            request, exchange, ("categories",), lambda: catalog.categories_json
        )

    def _page_query(
        self,
        request: web.Request,
        exchange: _Exchange,
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
            return self._invalid(request, exchange, errors)
        sort = query.get("sort")
        if sort is not None and sort not in sorts:
            errors["sort"] = _field_error(sort, "Invalid value", "sort", "query")
            return self._invalid(request, exchange, errors)
        return (
            int(start) if start else 0,
            int(count) if count is not None else _PAGE_DEFAULT,
            sort or default_sort,
        )

    @staticmethod
    def _page_body(total: int | None, items: list[bytes], tail: bytes = b"") -> bytes:
        head = b'{"data":[' if total is None else b'{"total":%d,"data":[' % total
        return head + b",".join(items) + b"]" + tail + b"}"

    async def _list_videos(self, request: web.Request, exchange: _Exchange) -> web.Response:
        exchange.docs = "getVideos"
        page = self._page_query(request, exchange, _VIDEO_SORT_VALUES, "-publishedAt")
        if isinstance(page, web.Response):
            return page
        refused = self._optional_authenticate(request, exchange)
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
                return self._invalid(request, exchange, {"skipCount": error})
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
        self, request: web.Request, exchange: _Exchange, param: str
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
                return self._invalid(request, exchange, {param: error})
            video = catalog.video_by_uuid(candidate)
        if video is None:
            return self._problem(request, exchange, 404, "Video not found")
        return video

    async def _get_video(self, request: web.Request, exchange: _Exchange) -> web.Response:
        exchange.docs = "getVideo"
        refused = self._optional_authenticate(request, exchange)
        if refused is not None:
            return refused
        video = self._video_param(request, exchange, "id")
        if isinstance(video, web.Response):
            return video
        if video.privacy not in (1, 2):
            # checkCanSeeUserAuthVideo: authenticateOrFail, then the owner or SEE_ALL_VIDEOS.
            user = self._authenticate(request, exchange)
            if isinstance(user, web.Response):
                return user
            if not may_see(user, video):
                return self._problem(
                    request,
                    exchange,
                    403,
                    "Cannot fetch information of private/internal/blocked video",
                )
        catalog = self._require_catalog()
        return self._cached_json(
            request, exchange, ("video", video.id), lambda: catalog.video_detail(video)
        )

    async def _list_comment_threads(
        self, request: web.Request, exchange: _Exchange
    ) -> web.Response:
        exchange.docs = "getVideoCommentThreads"
        page = self._page_query(request, exchange, _COMMENT_THREAD_SORT_VALUES, "-createdAt")
        if isinstance(page, web.Response):
            return page
        video = self._video_param(request, exchange, "videoId")
        if isinstance(video, web.Response):
            return video
        refused = self._optional_authenticate(request, exchange)
        if refused is not None:
            return refused
        start, count, sort = page
        threads = self._require_catalog().sorted_threads(video, sort)
        items = [thread.list_json for thread in threads[start : start + count]]
        tail = b',"totalNotDeletedComments":%d' % len(threads)
        return self._json(request, exchange, self._page_body(len(threads), items, tail))

    async def _list_accounts(self, request: web.Request, exchange: _Exchange) -> web.Response:
        page = self._page_query(request, exchange, _ACCOUNT_SORT_VALUES, "-createdAt")
        if isinstance(page, web.Response):
            return page
        start, count, sort = page
        catalog = self._require_catalog()
        accounts = catalog.sorted_accounts(sort)
        items = [dumps(catalog.account_full(a)) for a in accounts[start : start + count]]
        return self._json(request, exchange, self._page_body(len(accounts), items))

    async def _get_account(self, request: web.Request, exchange: _Exchange) -> web.Response:
        catalog = self._require_catalog()
        account = catalog.account_by_handle(request.match_info["name"])
        if account is None:
            return self._problem(request, exchange, 404, "Account not found")
        return self._json(request, exchange, dumps(catalog.account_full(account)))

    async def _list_channels(self, request: web.Request, exchange: _Exchange) -> web.Response:
        page = self._page_query(request, exchange, _CHANNEL_SORT_VALUES, "-createdAt")
        if isinstance(page, web.Response):
            return page
        start, count, sort = page
        catalog = self._require_catalog()
        channels = catalog.sorted_channels(sort)
        items = [dumps(catalog.channel_full(c)) for c in channels[start : start + count]]
        return self._json(request, exchange, self._page_body(len(channels), items))

    async def _get_channel(self, request: web.Request, exchange: _Exchange) -> web.Response:
        catalog = self._require_catalog()
        channel = catalog.channel_by_handle(request.match_info["handle"])
        if channel is None:
            return self._problem(request, exchange, 404, "Video channel not found")
        return self._json(request, exchange, dumps(catalog.channel_full(channel)))

    async def _list_channel_videos(self, request: web.Request, exchange: _Exchange) -> web.Response:
        exchange.docs = "listVideoChannelVideos"
        page = self._page_query(request, exchange, _VIDEO_SORT_VALUES, "-publishedAt")
        if isinstance(page, web.Response):
            return page
        catalog = self._require_catalog()
        channel = catalog.channel_by_handle(request.match_info["handle"])
        if channel is None:
            return self._problem(request, exchange, 404, "Video channel not found")
        start, count, sort = page
        videos = [v for v in catalog.sorted_videos(sort) if v.channel.id == channel.id]
        items = [video.list_json for video in videos[start : start + count]]
        return self._json(request, exchange, self._page_body(len(videos), items))

    async def _list_notifications(self, request: web.Request, exchange: _Exchange) -> web.Response:
        exchange.docs = "getUserNotifications"
        user = self._authenticate(request, exchange)
        if isinstance(user, web.Response):
            return user
        page = self._page_query(
            request, exchange, frozenset({"createdAt", "-createdAt"}), "-createdAt"
        )
        if isinstance(page, web.Response):
            return page
        # Nothing on the fake notifies anyone yet: every user's list is empty.
        return self._json(request, exchange, self._page_body(0, []))

    async def _list_jobs(self, request: web.Request, exchange: _Exchange) -> web.Response:
        """``GET /api/v1/jobs/{state}``: administrators only (right 7, MANAGE_JOBS)."""
        exchange.docs = "getJobs"
        user = self._authenticate(request, exchange)
        if isinstance(user, web.Response):
            return user
        state = request.match_info["state"]
        if user.role != ROLE_ADMINISTRATOR:
            return self._problem(
                request,
                exchange,
                403,
                f"User {user.username} does not have right 7 to access to /{state}.",
            )
        if state not in JOB_STATES:
            error = _field_error(state, "Invalid value", "state", "params")
            return self._invalid(request, exchange, {"state": error})
        sorts = frozenset({"createdAt", "-createdAt"})
        page = self._page_query(request, exchange, sorts, "-createdAt")
        if isinstance(page, web.Response):
            return page
        start, count, sort = page
        kind = request.query.get("jobType")
        found = [j for j in self.jobs if j["state"] == state and kind in (None, j["type"])]
        found.sort(key=lambda j: str(j["createdAt"]), reverse=sort.startswith("-"))
        items = [dumps(job) for job in found[start : start + count]]
        return self._json(request, exchange, self._page_body(len(found), items))

    def _own_user(self, request: web.Request, exchange: _Exchange) -> User | web.Response:
        """The signed-in user when ``{id}`` is that user, else the error PeerTube sends
        (it checks the current password of the user it is asked about)."""
        user = self._authenticate(request, exchange)
        if isinstance(user, web.Response):
            return user
        raw = request.match_info["id"]
        if not _INT_RE.fullmatch(raw):
            error = _field_error(raw, "Should have a valid id", "id", "params")
            return self._invalid(request, exchange, {"id": error})
        target = next((u for u in self._require_catalog().users if u.id == int(raw)), None)
        if target is None:
            return self._problem(request, exchange, 404, "User not found")
        if target.id != user.id:
            return self._password_refused(request, exchange)
        return user

    def _password_refused(self, request: web.Request, exchange: _Exchange) -> web.Response:
        return self._problem(
            request,
            exchange,
            403,
            "currentPassword is invalid.",
            code="current_password_is_invalid",
        )

    async def _request_two_factor(self, request: web.Request, exchange: _Exchange) -> web.Response:
        """``POST /users/{id}/two-factor/request``: a new secret, to confirm with a code."""
        user = self._own_user(request, exchange)
        if isinstance(user, web.Response):
            return user
        body = await self._read_body(request)
        if body.get("currentPassword") != user.password:
            return self._password_refused(request, exchange)
        if user.username in self._otp_secrets:
            return self._problem(request, exchange, 400, "Two factor is already enabled.")
        secret = new_secret()
        token = secrets.token_hex(32)
        self._otp_requests[token] = (user.username, secret)
        uri = f"otpauth://totp/PeerTube:{user.username}?issuer=PeerTube&secret={secret}"
        answer = {"otpRequest": {"requestToken": token, "secret": secret, "uri": uri}}
        return self._json(request, exchange, dumps(answer))

    async def _confirm_two_factor(self, request: web.Request, exchange: _Exchange) -> web.Response:
        """``POST /users/{id}/two-factor/confirm-request``: a code of the new secret turns
        two-factor authentication on."""
        user = self._own_user(request, exchange)
        if isinstance(user, web.Response):
            return user
        body = await self._read_body(request)
        pending = self._otp_requests.get(str(body.get("requestToken")))
        if pending is None or pending[0] != user.username:
            return self._problem(request, exchange, 403, "Invalid request token")
        if not totp_valid(pending[1], str(body.get("otpToken")), self._clock()):
            return self._problem(request, exchange, 403, "Invalid OTP token")
        del self._otp_requests[str(body.get("requestToken"))]
        self._otp_secrets[user.username] = pending[1]
        return self._respond(request, exchange, 204, b"", None)

    async def _disable_two_factor(self, request: web.Request, exchange: _Exchange) -> web.Response:
        user = self._own_user(request, exchange)
        if isinstance(user, web.Response):
            return user
        body = await self._read_body(request)
        if body.get("currentPassword") != user.password:
            return self._password_refused(request, exchange)
        if user.username not in self._otp_secrets:
            return self._problem(request, exchange, 400, "Two factor is already disabled.")
        del self._otp_secrets[user.username]
        return self._respond(request, exchange, 204, b"", None)

    async def _list_playlists(self, request: web.Request, exchange: _Exchange) -> web.Response:
        exchange.docs = "getPlaylists"
        page = self._page_query(request, exchange, _PLAYLIST_SORT_VALUES, "-createdAt")
        if isinstance(page, web.Response):
            return page
        start, count, sort = page
        playlists = self._require_catalog().sorted_playlists(sort)
        items = [playlist.list_json for playlist in playlists[start : start + count]]
        return self._json(request, exchange, self._page_body(len(playlists), items))

    async def _get_oauth_client(self, request: web.Request, exchange: _Exchange) -> web.Response:
        exchange.docs = "getOAuthClient"
        if request.host != self._host:
            # PeerTube only hands its client to requests addressed to its own host.
            return self._respond(request, exchange, 403, b"", _JSON, with_etag=False)
        body = dumps({"client_id": self.client_id, "client_secret": self.client_secret})
        return self._json(request, exchange, body)

    async def _get_me(self, request: web.Request, exchange: _Exchange) -> web.Response:
        user = self._authenticate(request, exchange)
        if isinstance(user, web.Response):
            return user
        body = self._require_catalog().user_me(user)
        body["twoFactorEnabled"] = user.username in self._otp_secrets
        return self._json(request, exchange, dumps(body))

    async def _token(self, request: web.Request, exchange: _Exchange) -> web.Response:
        """``POST /api/v1/users/token``: PeerTube's ``handleOAuthToken``.

        The checks run in the order of ``server/core/lib/auth/oauth.ts``; ``handleToken``
        in ``server/core/controllers/api/users/token.ts`` turns each error into a problem
        whose status is the error's ``code`` and whose ``code`` is its ``name``.
        """
        exchange.docs = "getOAuthToken"
        stats = self.stats
        body = await self._read_body(request)
        sent_grant = body.get("grant_type")
        grant_key = sent_grant if isinstance(sent_grant, str) else ""
        stats.grant_types[grant_key] = stats.grant_types.get(grant_key, 0) + 1

        def fail(
            code: str, message: str, status: int = 400, extra: tuple[tuple[str, str], ...] = ()
        ) -> web.Response:
            return self._problem(request, exchange, status, message, code=code, extra=extra)

        if request.content_type != "application/x-www-form-urlencoded":
            return fail(
                "invalid_request",
                "Invalid request: content must be application/x-www-form-urlencoded",
            )

        def param(name: str) -> str:
            value = body.get(name)
            return value if isinstance(value, str) else ""

        client_id, client_secret = param("client_id"), param("client_secret")
        if not client_id or not client_secret:
            return fail("invalid_client", "Invalid client: cannot retrieve client credentials")
        if client_id != self.client_id or client_secret != self.client_secret:
            return fail("invalid_client", "Invalid client: client is invalid")
        grant_type = param("grant_type")
        if not grant_type:
            return fail("invalid_request", "Missing parameter: `grant_type`")

        if grant_type == "password":
            username, password = param("username"), param("password")
            if not username:
                return fail("invalid_request", "Missing parameter: `username`")
            if not password:
                return fail("invalid_request", "Missing parameter: `password`")
            user = self._require_catalog().user_by_login(username)
            if user is None or user.password != password:
                return fail("invalid_grant", "Invalid grant: user credentials are invalid")
            # MissingTwoFactorError (401, with the header telling the client to ask for a
            # code) and InvalidTwoFactorError (400), after the password was accepted.
            secret = self._otp_secrets.get(user.username)
            if secret is not None:
                code = request.headers.get(_OTP_HEADER, "")
                if not code:
                    return fail(
                        "missing_two_factor",
                        "Missing two factor header",
                        401,
                        extra=((_OTP_HEADER, _OTP_REQUIRED),),
                    )
                if not totp_valid(secret, code, self._clock()):
                    return fail("invalid_two_factor", "Invalid two factor header")
            session = self._open_session(user)
            stats.logins += 1
        elif grant_type == "refresh_token":
            refresh_token = param("refresh_token")
            if not refresh_token:
                return fail("invalid_request", "Missing parameter: `refresh_token`")
            previous = self._sessions_by_refresh.get(refresh_token)
            if previous is None:
                return fail("invalid_grant", "Invalid grant: refresh token is invalid")
            # An expired pair is refused but not deleted: asking again gets the same answer.
            if previous.refresh_expires_ms < self._now_ms():
                return fail("invalid_grant", "Invalid grant: refresh token has expired")
            # revokeToken deletes the whole row: the old access token stops working too.
            self._close_session(previous)
            session = self._open_session(previous.user)
            stats.refreshes += 1
        else:
            return fail("unsupported_grant_type", "Unsupported grant type: `grant_type` is invalid")

        # saveToken (server/core/lib/auth/oauth-model.ts) stamps lastLoginDate for both
        # grants, then answers Math.floor((expiresAt - Date.now()) / 1000) once the token
        # row is written, at least a millisecond after the expiry dates were computed: one
        # second less than the lifetime, as in the samples (86399, 1209599).
        session.user.last_login_date = self._clock()
        answered = max(self._now_ms(), session.issued_ms + 1)
        tokens = session.tokens
        reply = {
            "token_type": "Bearer",
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_in": (session.access_expires_ms - answered) // 1000,
            "refresh_token_expires_in": (session.refresh_expires_ms - answered) // 1000,
        }
        extra = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))
        return self._json(request, exchange, dumps(reply), extra=extra)

    async def _revoke_token(self, request: web.Request, exchange: _Exchange) -> web.Response:
        """``POST /api/v1/users/revoke-token``: ``handleTokenRevocation`` in
        ``server/core/controllers/api/users/token.ts``.

        The bearer token's row goes (access and refresh token alike) and the answer is
        ``revokeToken``'s result, ``{"success": true}`` (its ``redirectUrl`` is only set
        for external-auth plugins and JSON drops it when undefined).
        """
        exchange.docs = "revokeOAuthToken"
        session = self._authenticate_session(request, exchange)
        if isinstance(session, web.Response):
            return session
        self._close_session(session)
        self.stats.revocations += 1
        return self._json(request, exchange, dumps({"success": True}))

    async def _read_body(self, request: web.Request) -> dict[str, Any]:
        """A JSON or form body as express's body parsers would hand it over."""
        if request.content_type == "application/json":
            try:
                value = await request.json()
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
        if request.content_type == "application/x-www-form-urlencoded":
            return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        return {}

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

    async def _register(self, request: web.Request, exchange: _Exchange) -> web.Response:
        if not self.signup_allowed:
            return self._problem(request, exchange, 403, "User registration is not allowed")
        body = await self._read_body(request)
        errors = self._registration_errors(body)
        if errors:
            return self._invalid(request, exchange, errors)
        catalog = self._require_catalog()
        username, address = body["username"], body["email"]
        taken = {a.name for a in catalog.accounts} | {c.name for c in catalog.channels}
        if username in taken or catalog.user_by_login(address) is not None:
            return self._problem(
                request, exchange, 409, "User with this username or email already exists."
            )
        catalog.add_user(username, body["password"], ROLE_USER, address)
        return self._respond(request, exchange, 204, b"", None)

    async def _request_registration(
        self, request: web.Request, exchange: _Exchange
    ) -> web.Response:
        if not self.signup_allowed:
            return self._problem(request, exchange, 403, "User registration is not allowed")
        errors = self._registration_errors(await self._read_body(request))
        if errors:
            return self._invalid(request, exchange, errors)
        return self._problem(
            request, exchange, 400, "Signup approval is not enabled on this instance"
        )

    async def _ask_verify_email(self, request: web.Request, exchange: _Exchange) -> web.Response:
        address = (await self._read_body(request)).get("email", _UNDEFINED)
        if not (isinstance(address, str) and _EMAIL_RE.fullmatch(address)):
            error = _field_error(address, "Invalid value", "email", "body")
            return self._invalid(request, exchange, {"email": error})
        # Unknown addresses get the same 204: the endpoint must not reveal who exists.
        return self._respond(request, exchange, 204, b"", None)


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
