"""One request's way: auth → schedule → send → correct buckets → classify → retry → decode.

Retry rules, in one place:

* a 429 (PeerTube's limiter or a proxy) was not processed, so any method is sent again,
  after ``Retry-After``, at most ``rate_limit_retries`` times; then :class:`RateLimited`;
* a connection that never opened (:class:`ConnectError`) sent nothing: any method is
  retried with backoff;
* a timeout, a dropped connection, or a 502/503/504 may hide a processed request: only
  idempotent methods are retried (jittered exponential backoff, at most ``retries``).

When no bucket holds a call back (local limiting off, or a staff bypass), a 429's
``Retry-After`` is waited for here, up to the horizon the buckets themselves accept
(three windows of the route's seeded limits, plus two seconds); a longer one raises
:class:`RateLimited` at once instead of sleeping for days.

Exceptions built from an answer never repeat the client's own secrets (tokens, OAuth
client secret, a password being sent): :meth:`Pipeline.secrets` hands them to
:func:`error_from_response`. A body over 1 MiB is parsed in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import json as jsonlib
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, get_origin
from urllib.parse import quote

import attrs
import orjson
from yarl import URL

from ._bodies import FormBody, MultipartBody
from ._convert import DecodeMismatch
from ._errors import (
    ConnectError,
    RateLimited,
    ResponseDecodeError,
    ResponseTooLarge,
    TransportError,
    UnsupportedByServer,
    error_from_response,
)
from ._ratelimit import _HEADER_SLACK, _HORIZON_WINDOWS, RateLimitHeaders
from ._routes import limiter_classes
from ._scheduler import Priority, Scheduler
from ._transport import RawResponse, StreamedResponse, Transport

__all__ = [
    "Backoff",
    "CallOptions",
    "Caller",
    "Pipeline",
    "build_query",
    "decode_json",
    "decode_json_async",
    "encode_path",
    "origin_of",
    "release_key",
]

logger = logging.getLogger("peertube_async")

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})
#: Bodies longer than this are parsed (and their models built) in a worker thread.
OFF_LOOP_BYTES = 1 << 20
#: Lists longer than this are turned into models in a worker thread (PeerTube's pages
#: hold at most 100 items).
OFF_LOOP_ITEMS = 1000
_CONDITIONAL = frozenset({"if-none-match", "if-modified-since"})

Params = Mapping[str, Any]


class TokenSource(Protocol):
    """What the pipeline asks of the client's authentication (see ``_auth``)."""

    @property
    def active(self) -> bool:
        """Whether there is a token to send at all."""

    async def access_token(self) -> str | None:
        """The bearer token to send now (refreshed first if about to expire)."""

    async def after_unauthorized(self, used: str) -> bool:
        """``used`` was refused as ``invalid_token``: refresh; True to send again."""

    def secrets(self) -> Sequence[str]:
        """Values never to repeat in an exception: tokens, client secret, password."""


def origin_of(url: URL) -> str:
    """``scheme://host:port`` of ``url``, the key of its rate-limit buckets."""
    return str(url.origin())


_DOT_SEGMENTS = {".": "%2E", "..": "%2E%2E"}
#: Characters a path segment carries as they are (RFC 3986 unreserved).
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_.~-]+")


@functools.lru_cache(maxsize=1024)
def _template(template: str) -> tuple[str, tuple[str, ...]]:
    """A path template split once: its text before the first ``{`` and, after each
    placeholder, the text that follows it."""
    first, *parts = template.split("{")
    return first, tuple(part.partition("}")[2] for part in parts)


def encode_path(template: str, *values: object) -> str:
    """Fill ``{...}`` placeholders of ``template`` in order, each value percent-encoded
    as one path segment: ``/``, ``?``, ``#`` and dot segments cannot escape it."""
    first, rests = _template(template)
    if len(rests) != len(values):
        raise ValueError(f"{template!r} takes {len(rests)} path values, got {len(values)}")
    out = [first]
    for rest, value in zip(rests, values, strict=True):
        if value.__class__ is int:
            out.append(f"{value}{rest}")  # an id: digits only
            continue
        text = str(value)
        if not text:
            raise ValueError(f"empty path value for {template!r}")
        if _PLAIN_SEGMENT.fullmatch(text) and text not in _DOT_SEGMENTS:
            seg = text  # UUIDs, short UUIDs, names: nothing to encode
        else:
            seg = _DOT_SEGMENTS.get(text) or quote(text, safe="")
        out.append(seg + rest)
    return "".join(out)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "value") and not isinstance(value, (str, int, float)):
        return str(value.value)
    return str(value)


def build_query(params: Params | None) -> list[tuple[str, str]]:
    """Query pairs from ``params``: ``None`` dropped, booleans as ``true``/``false``,
    sequences repeated."""
    pairs: list[tuple[str, str]] = []
    if not params:
        return pairs
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            pairs.extend((key, _query_value(v)) for v in value)
        else:
            pairs.append((key, _query_value(value)))
    return pairs


@attrs.frozen
class Backoff:
    """Jittered exponential backoff: ``min(cap, base * 2**n)`` scaled by [0.5, 1)."""

    base: float = 0.5
    cap: float = 8.0

    def delay(self, attempt: int, rnd: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        return float(min(self.cap, self.base * (2**attempt)) * (0.5 + rnd() / 2))


class Pipeline:
    """Sends calls for one client: shared by every view of it."""

    def __init__(
        self,
        base: URL,
        transport: Transport,
        scheduler: Scheduler,
        *,
        retries: int = 3,
        rate_limit_retries: int = 3,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        auth: TokenSource | None = None,
    ) -> None:
        self.base = base
        self.origin = origin_of(base)
        self.transport = transport
        self.scheduler = scheduler
        self.retries = retries
        self.rate_limit_retries = rate_limit_retries
        self.backoff = backoff or Backoff()
        self._sleep = sleep
        self.auth = auth
        #: Skip local waiting (administrators and moderators are exempt on the server);
        #: a real 429 is still obeyed.
        self.skip_local_wait = False
        #: Whether methods newer than the instance raise before sending (see ``require``).
        self.check_server_version = True
        #: What ``/api/v1/config`` announced (``"6.3.0"``); None until asked, "" unknown.
        self.server_version: str | None = None
        self._version_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"Pipeline({self.origin})"

    def secrets(self) -> Sequence[str]:
        """The secrets the client knows, to be replaced in exceptions built from answers."""
        return self.auth.secrets() if self.auth is not None else ()

    async def learn_server_version(self, *, priority: int = Priority.NORMAL) -> str:
        """The release the instance announces (``serverVersion`` of ``/api/v1/config``),
        asked once per client and kept; "" when it announces none."""
        if self.server_version is not None:
            return self.server_version
        async with self._version_lock:
            if self.server_version is None:
                config = await self.request_json("GET", "/api/v1/config", priority=priority)
                found = config.get("serverVersion") if isinstance(config, dict) else None
                self.server_version = found.strip() if isinstance(found, str) else ""
        return self.server_version

    async def require(self, since: str, operation: str, *, priority: int = Priority.NORMAL) -> None:
        """Raise :class:`UnsupportedByServer` (nothing sent) when the instance runs a
        release older than ``since``. An unknown or unparsable version never blocks."""
        if not self.check_server_version:
            return
        version = await self.learn_server_version(priority=priority)
        have = release_key(version)
        if have and have < release_key(since):
            raise UnsupportedByServer(operation, required=since, server_version=version)

    def url_for(self, path: str) -> URL:
        """An absolute URL for an instance path (already encoded) or absolute URL."""
        if path.startswith(("http://", "https://")):
            return URL(path, encoded=True)
        if not path.startswith("/"):
            path = "/api/v1/" + path
        if "?" not in path and "#" not in path:
            return self.base.with_path(path, encoded=True)
        return self.base.join(URL(path, encoded=True))

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Params | None = None,
        json: Any = None,
        priority: int = Priority.NORMAL,
        timeout: float | None = None,
    ) -> AsyncIterator[StreamedResponse]:
        """A scheduled request whose answer body is streamed; error answers raise.

        The bearer token is sent to the instance's own origin only, never to the hosts
        of remote or object-storage files.
        """
        method = method.upper()
        url = self.url_for(path)
        query = build_query(params)
        if query:
            url = url.extend_query(query)
        origin = origin_of(url)
        send_headers = dict(headers or {})
        body: bytes | None = None
        if json is not None:
            body = dump_json(json)
            send_headers.setdefault("Content-Type", "application/json")
        if self.auth is not None and origin == self.origin:
            token = await self.auth.access_token()
            if token is not None:
                send_headers["Authorization"] = f"Bearer {token}"
        names = limiter_classes(method, url.path)
        ticket = await self.scheduler.acquire(origin, names, priority=priority)
        reported = False
        try:
            async with self.transport.stream(
                method, url, headers=send_headers, data=body, timeout=timeout
            ) as resp:
                hdr = RateLimitHeaders.parse(resp.headers) if ticket.holds else None
                self.scheduler.complete(ticket, resp.status, hdr)
                reported = True
                if resp.status >= 400:
                    raise error_from_response(
                        status=resp.status,
                        headers=resp.headers,
                        body=await resp.read(),
                        method=method,
                        url=url.raw_path_qs,
                        secrets=self.secrets(),
                    )
                yield resp
        except ConnectError:
            if not reported:
                self.scheduler.release(ticket)
            raise
        except BaseException:
            if not reported:
                self.scheduler.complete(ticket, None, None)
            raise

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        priority: int = Priority.NORMAL,
        max_wait: float | None = None,
        timeout: float | None = None,
        authenticate: bool = True,
        rate_limit_retries: int | None = None,
        retries: int | None = None,
    ) -> RawResponse:
        """Send through the whole pipeline; returns the 2xx/3xx answer or raises.

        ``authenticate=False`` sends no bearer token (token requests themselves).
        """
        method = method.upper()
        url = self.url_for(path)
        query = build_query(params)
        if query:
            url = url.extend_query(query)
        # An instance path stays on the instance; only absolute URLs need a look.
        origin = self.origin if path.startswith("/") else origin_of(url)
        names = limiter_classes(method, url.raw_path)
        send_headers = dict(headers or {})
        # The bearer token goes to the instance's own origin only.
        auth = self.auth if authenticate and origin == self.origin else None
        if auth is not None and not auth.active:
            auth = None
        used_token: str | None = None
        replayed = False
        max_limited = self.rate_limit_retries if rate_limit_retries is None else rate_limit_retries
        max_failures = self.retries if retries is None else retries
        body: Any = data
        if json is not None:
            body = dump_json(json)
            send_headers.setdefault("Content-Type", "application/json")
        shown = url.raw_path_qs

        limited = 0
        failures = 0
        while True:
            if auth is not None:
                used_token = await auth.access_token()
                if used_token is not None:
                    send_headers["Authorization"] = f"Bearer {used_token}"
            ticket = await self.scheduler.acquire(
                origin,
                names,
                priority=priority,
                max_wait=max_wait,
                bypass=self.skip_local_wait and used_token is not None,
            )
            if isinstance(body, io.BytesIO):
                body.seek(0)  # every attempt sends the whole body
            try:
                started = time.perf_counter()
                resp = await self.transport.send(
                    method, url, headers=send_headers, data=body, timeout=timeout
                )
            except ConnectError:
                self.scheduler.release(ticket)
                if failures >= max_failures or not _replayable(body):
                    raise
                await self._sleep(self.backoff.delay(failures))
                failures += 1
                continue
            except TransportError:
                self.scheduler.complete(ticket, None, None)
                if failures >= max_failures or method not in IDEMPOTENT or not _replayable(body):
                    raise
                await self._sleep(self.backoff.delay(failures))
                failures += 1
                continue
            except ResponseTooLarge as exc:
                # Answered (and counted by the server); the body is refused, not retried.
                self.scheduler.complete(ticket, exc.status, None)
                raise
            except BaseException:
                # Cancelled mid-flight: the request may have reached the server.
                self.scheduler.complete(ticket, None, None)
                raise
            # Headers only matter to buckets that hold a place for this call.
            hdr = RateLimitHeaders.parse(resp.headers) if ticket.holds else None
            # Dated by when the answer came in, on the scheduler's clock when it is the loop's.
            at = resp.received_at if self.scheduler.on_loop_clock else None
            self.scheduler.complete(ticket, resp.status, hdr, at=at)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "%s %s -> %d in %.1f ms",
                    method,
                    url.path,
                    resp.status,
                    (time.perf_counter() - started) * 1000,
                )
            if resp.status < 400:
                return resp
            if resp.status == 429:
                if hdr is None:
                    hdr = RateLimitHeaders.parse(resp.headers)
                error = self._rate_limited(method, shown, names, hdr)
                if limited >= max_limited or not _replayable(body):
                    raise error
                wait = error.retry_after
                if max_wait is not None and wait is not None and wait > max_wait:
                    raise error
                limited += 1
                if not ticket.holds or (wait is None and not hdr.from_limiter):
                    # No bucket holds this call back (limiting off, or a proxy without
                    # Retry-After): wait here instead, as long as a bucket would at most.
                    if wait is not None and wait > self._horizon(names):
                        raise error
                    await self._sleep(wait if wait is not None else self.backoff.delay(limited))
                continue
            retry_after = RateLimitHeaders.parse(resp.headers).retry_after
            if (
                resp.status in RETRY_STATUSES
                and method in IDEMPOTENT
                and failures < max_failures
                and _replayable(body)
            ):
                pause = self.backoff.delay(failures)
                if retry_after is not None:
                    pause = max(pause, min(retry_after, self.backoff.cap * 4))
                await self._sleep(pause)
                failures += 1
                continue
            failure = error_from_response(
                status=resp.status,
                headers=resp.headers,
                body=resp.body,
                method=method,
                url=shown,
                secrets=self.secrets(),
            )
            if (
                resp.status == 401
                and auth is not None
                and used_token is not None
                and not replayed
                and failure.code is not None
                and failure.code.value == "invalid_token"
                and _replayable(body)
                and await auth.after_unauthorized(used_token)
            ):
                replayed = True
                continue
            raise failure

    def _horizon(self, names: Sequence[str]) -> float:
        """The longest ``Retry-After`` worth waiting for: what a bucket of the route's
        limiter classes, seeded with their configured limits, would accept."""
        limits = self.scheduler.limits
        windows = [(limits.get(n) or limits["api"]).window for n in names or ("api",)]
        return max(windows) * _HORIZON_WINDOWS + _HEADER_SLACK

    def _rate_limited(
        self, method: str, shown: str, names: Sequence[str], hdr: RateLimitHeaders
    ) -> RateLimited:
        if hdr.from_limiter:
            bucket = names[-1] if names else "api"
            if len(names) > 1 and hdr.limit is not None:
                for name in names:
                    if self.scheduler.bucket(self.origin, name).limit == hdr.limit:
                        bucket = name
            text = f"{bucket} rate limit of {self.origin} reached"
        else:
            bucket = "proxy"
            text = f"a proxy in front of {self.origin} refused the request (429)"
        return RateLimited(
            text,
            retry_after=hdr.retry_after,
            bucket=bucket,
            limit=hdr.limit,
            method=method,
            url=shown,
            sent=True,
        )

    async def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """:meth:`send`, then decode the JSON body (``None`` when empty)."""
        resp = await self.send(method, path, **kwargs)
        return await decode_json_async(resp, method, path, secrets=self.secrets())


_RELEASE_RE = re.compile(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def release_key(version: str) -> tuple[int, ...]:
    """``(6, 3, 0)`` for ``"6.3.0"`` (``"v7.1.0-rc.1"`` too); ``()`` when not a release."""
    match = _RELEASE_RE.match(version.strip().lstrip("vV"))
    if match is None:
        return ()
    return tuple(int(p) for p in match.groups() if p is not None)


def _replayable(body: Any) -> bool:
    """Whether the body can be sent again (bytes and files on disk can; a stream cannot)."""
    return body is None or isinstance(
        body, (bytes, str, dict, list, tuple, MultipartBody, FormBody)
    )


_DECODER = jsonlib.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, pos: int) -> int:
    """The first position from ``pos`` on that is not JSON whitespace."""
    match = _WHITESPACE.match(text, pos)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _loads(body: bytes) -> Any:
    """The JSON of ``body`` (orjson: twice as fast as ``json.loads`` on PeerTube's pages);
    a body over :data:`OFF_LOOP_BYTES` piece by piece (see :func:`_loads_piecewise`)."""
    if len(body) <= OFF_LOOP_BYTES:
        return orjson.loads(body)
    return _loads_piecewise(body)


def dump_json(value: Any) -> bytes:
    """A request body as compact JSON (keys that are not strings written as strings)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def _loads_piecewise(body: bytes) -> Any:
    """What ``json.loads`` returns (or raises), parsed one element at a time: the members
    of the top-level value and the items of the arrays they are (a page's ``data``).

    ``json.loads`` holds the GIL for the whole parse, so in a worker thread it still
    stops the event loop; between two pieces, the interpreter can hand the GIL over.
    """
    text = body.decode(jsonlib.detect_encoding(body))
    value, pos = _piece(text, _skip(text, 0), 0)
    pos = _skip(text, pos)
    if pos != len(text):
        raise jsonlib.JSONDecodeError("Extra data", text, pos)
    return value


def _piece(text: str, pos: int, depth: int) -> tuple[Any, int]:
    opener = text[pos : pos + 1]
    if opener == "[" and depth < 2:
        return _container(text, pos, depth, "]", None)
    if opener == "{" and depth < 1:
        return _container(text, pos, depth, "}", {})
    return _DECODER.raw_decode(text, pos)


def _container(
    text: str, pos: int, depth: int, closer: str, members: dict[str, Any] | None
) -> tuple[Any, int]:
    items: list[Any] = []
    pos = _skip(text, pos + 1)
    if text.startswith(closer, pos):
        return (items if members is None else members), pos + 1
    while True:
        if members is not None:
            if not text.startswith('"', pos):
                raise jsonlib.JSONDecodeError(
                    "Expecting property name enclosed in double quotes", text, pos
                )
            key, pos = _DECODER.raw_decode(text, pos)
            pos = _skip(text, pos)
            if not text.startswith(":", pos):
                raise jsonlib.JSONDecodeError("Expecting ':' delimiter", text, pos)
            value, pos = _piece(text, _skip(text, pos + 1), depth + 1)
            members[key] = value
        else:
            value, pos = _piece(text, pos, depth + 1)
            items.append(value)
        pos = _skip(text, pos)
        if text.startswith(",", pos):
            pos = _skip(text, pos + 1)
        elif text.startswith(closer, pos):
            return (items if members is None else members), pos + 1
        else:
            raise jsonlib.JSONDecodeError("Expecting ',' delimiter", text, pos)


def decode_json(
    resp: RawResponse,
    method: str = "GET",
    url: str = "",
    *,
    require: bool = False,
    secrets: Sequence[str] = (),
) -> Any:
    """The JSON of a 2xx answer; ``None`` for an empty body; text for non-JSON types.

    ``require=True`` (typed methods): a body that is not JSON is a
    :class:`ResponseDecodeError` too, whatever its content type. ``secrets`` are kept
    out of that error's excerpt.
    """
    if not resp.body:
        return None
    ctype = resp.headers.get("Content-Type", "")
    if "json" not in ctype and ctype:
        if require:
            raise ResponseDecodeError(
                f"expected JSON, got {ctype.partition(';')[0].strip() or 'no content type'}",
                status=resp.status,
                method=method,
                url=url,
                body=resp.body,
                content_type=ctype,
                secrets=secrets,
            )
        try:
            return resp.body.decode()
        except UnicodeDecodeError:
            return resp.body
    try:
        return _loads(resp.body)
    except (ValueError, RecursionError) as exc:
        # Nesting deeper than the interpreter's stack (json) or orjson's limit allows.
        deep = isinstance(exc, RecursionError) or str(exc).startswith("depth limit")
        reason = "nested too deeply" if deep else str(exc)
        raise ResponseDecodeError(
            f"invalid JSON in the answer: {reason}",
            status=resp.status,
            method=method,
            url=url,
            body=resp.body,
            content_type=ctype,
            secrets=secrets,
        ) from None


async def decode_json_async(
    resp: RawResponse,
    method: str = "GET",
    url: str = "",
    *,
    require: bool = False,
    secrets: Sequence[str] = (),
) -> Any:
    """:func:`decode_json`, in a worker thread when the body is over :data:`OFF_LOOP_BYTES`
    (parsing megabytes takes tens of milliseconds the event loop is better without)."""
    if len(resp.body) <= OFF_LOOP_BYTES:
        return decode_json(resp, method, url, require=require, secrets=secrets)
    return await asyncio.to_thread(decode_json, resp, method, url, require=require, secrets=secrets)


def _many_items(data: Any) -> bool:
    """Whether ``data`` is (or holds as ``data``) a list too long to decode on the loop."""
    if isinstance(data, dict):
        data = data.get("data")
    return isinstance(data, list) and len(data) > OFF_LOOP_ITEMS


@attrs.frozen
class CallOptions:
    """Per-view settings of calls: priority, longest local wait, timeout."""

    priority: int = Priority.NORMAL
    max_wait: float | None = None
    timeout: float | None = None


class Caller:
    """What resources talk to: the shared pipeline, the converter and a view's options."""

    def __init__(self, pipeline: Pipeline, converter: Any, options: CallOptions) -> None:
        self.pipeline = pipeline
        self.converter = converter
        self.options = options

    def evolve(self, **changes: Any) -> Caller:
        """The same pipeline with other options."""
        return Caller(self.pipeline, self.converter, attrs.evolve(self.options, **changes))

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> RawResponse:
        """Send through the pipeline with this view's options; a redirect raises
        :class:`RedirectError` (it is never followed)."""
        opts = self.options
        resp = await self.pipeline.send(
            method,
            path,
            params=params,
            json=json,
            data=data,
            headers=headers,
            priority=opts.priority,
            max_wait=opts.max_wait,
            timeout=opts.timeout,
        )
        if 300 <= resp.status < 400 and not (
            # "Not modified" is the answer a conditional request asked for.
            resp.status == 304 and any(h.lower() in _CONDITIONAL for h in headers or ())
        ):
            url = self.pipeline.url_for(path)
            query = build_query(params)
            if query:
                url = url.extend_query(query)
            raise error_from_response(
                status=resp.status,
                headers=resp.headers,
                body=resp.body,
                method=method.upper(),
                url=url.raw_path_qs,
                secrets=self.pipeline.secrets(),
            )
        return resp

    async def json(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send with this view's options and decode the JSON answer."""
        resp = await self.send(method, path, params=params, json=json, data=data, headers=headers)
        return await decode_json_async(resp, method, path, secrets=self.pipeline.secrets())

    def structure(self, data: Any, cls: Any, *, method: str, path: str, status: int = 200) -> Any:
        """Decode ``data`` into ``cls``; a mismatch is a :class:`ResponseDecodeError`
        naming where it is (``data[3].id: expected int, got str '...'``)."""
        try:
            return self.converter.structure(data, cls)
        except DecodeMismatch as exc:
            message = exc.describe()
        except RecursionError:
            message = "nested too deeply"
        name = getattr(get_origin(cls) or cls, "__name__", str(cls))
        raise ResponseDecodeError(
            f"the answer does not fit {name}: {message}",
            status=status,
            method=method,
            url=path,
            secrets=self.pipeline.secrets(),
        )

    async def structure_async(
        self, data: Any, cls: Any, *, method: str, path: str, status: int = 200, large: bool
    ) -> Any:
        """:meth:`structure`, in a worker thread for a ``large`` body or a long list."""
        if large or _many_items(data):
            return await asyncio.to_thread(
                self.structure, data, cls, method=method, path=path, status=status
            )
        return self.structure(data, cls, method=method, path=path, status=status)

    async def require(self, since: str, operation: str) -> None:
        """Raise :class:`UnsupportedByServer` when the instance is older than ``since``."""
        await self.pipeline.require(since, operation, priority=self.options.priority)
