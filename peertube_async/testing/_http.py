"""HTTP plumbing of the fake instance: response state, PeerTube's headers and bodies.

Shared by the API routes (``_fake.py``), OAuth (``_oauth.py``) and the upload and file
routes (``_uploads.py``). Only ``_fake.py`` knows the instance: it hands the others its
:class:`Responder` (and the upload routes its ``OAuthServer``), so that neither imports
``_fake.py`` back.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import http
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ._data import dumps, error_type, problem_docs

__all__ = [
    "BASE_HEADERS",
    "HTML",
    "JSON",
    "PROBLEM",
    "DroppedResponse",
    "Exchange",
    "FakeStats",
    "Responder",
    "is_fresh",
    "read_body",
    "weak_etag",
]

JSON = "application/json; charset=utf-8"
PROBLEM = "application/problem+json; charset=utf-8"
HTML = "text/html; charset=utf-8"

# Sent first on every API response, in the real server's order (helmet, cors, PeerTube).
BASE_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-powered-by", "PeerTube"),
    ("X-Frame-Options", "DENY"),
    ("Tk", "N"),
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Credentials", "true"),
    ("Access-Control-Expose-Headers", "Retry-After"),
)


def weak_etag(body: bytes) -> str:
    """Express's weak ETag: body length in hex and the start of its base64 SHA-1."""
    digest = base64.b64encode(hashlib.sha1(body).digest()).decode()[:27]
    return f'W/"{len(body):x}-{digest}"'


def is_fresh(request: web.Request, etag: str) -> bool:
    """Whether a conditional GET may be answered 304, as express's ``req.fresh``."""
    wanted = request.headers.get("If-None-Match")
    if not wanted or "no-cache" in request.headers.get("Cache-Control", ""):
        return False
    if wanted.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in wanted.split(","))


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


class Exchange:
    """State of one request on its way through the emulated middleware chain.

    ``session`` is the OAuth session the request authenticated with, once it did (set
    and read by ``_oauth.OAuthServer``).
    """

    __slots__ = ("docs", "headers", "session")

    def __init__(self) -> None:
        self.headers: dict[str, str] = dict(BASE_HEADERS)
        self.docs: str | None = None
        self.session: object | None = None


class DroppedResponse(web.Response):
    """What a handler returns after aborting its connection: nothing is sent, and the
    fake's counters record a dropped connection instead of a status."""


class Responder:
    """Builds answers the way PeerTube's express stack does: ``Date`` (one string per
    second), ``Keep-Alive``, ``ETag`` and conditional ``304``, problem documents."""

    def __init__(self, clock: Callable[[], float], keepalive_timeout: float) -> None:
        self._clock = clock
        #: The ``Keep-Alive`` header value (Node announces whole seconds).
        self.keep_alive_header = f"timeout={math.ceil(keepalive_timeout)}"
        self._date_second = -1
        self._date_value = ""

    def http_date(self) -> str:
        second = int(self._clock())
        if second != self._date_second:
            self._date_second = second
            self._date_value = email.utils.formatdate(second, usegmt=True)
        return self._date_value

    def respond(
        self,
        request: web.Request,
        exchange: Exchange,
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
            headers["Date"] = self.http_date()
        for name, value in extra:
            headers[name] = value
        if content_type is not None:
            headers["Content-Type"] = content_type
            headers["Content-Length"] = str(len(body))
            if with_etag:
                tag = etag or weak_etag(body)
                headers["ETag"] = tag
                if (
                    200 <= status < 300
                    and request.method in ("GET", "HEAD")
                    and is_fresh(request, tag)
                ):
                    status, body = 304, b""
                    del headers["Content-Type"], headers["Content-Length"]
        if request.keep_alive:
            headers["Keep-Alive"] = self.keep_alive_header
        return web.Response(status=status, body=body, headers=headers)

    def json(
        self,
        request: web.Request,
        exchange: Exchange,
        body: bytes,
        *,
        status: int = 200,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> web.Response:
        return self.respond(request, exchange, status, body, JSON, extra=extra)

    def problem(
        self,
        request: web.Request,
        exchange: Exchange,
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
        return self.respond(request, exchange, status, dumps(body), PROBLEM, extra=extra)

    def invalid(
        self, request: web.Request, exchange: Exchange, errors: Mapping[str, dict[str, Any]]
    ) -> web.Response:
        """A validation failure: 400 naming every invalid field."""
        return self.problem(
            request,
            exchange,
            400,
            "Incorrect request parameters: " + ", ".join(errors),
            instance=request.raw_path,
            data={"invalid-params": dict(errors)},
        )


async def read_body(request: web.Request) -> dict[str, Any]:
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
