"""The only module that touches aiohttp: one HTTP exchange in, one :class:`RawResponse` out.

aiohttp's exceptions are mapped here, at the boundary, to :class:`ConnectError`
(nothing reached the server: safe to send again) and :class:`RequestTimeout` /
:class:`TransportError` (the server may have seen the request). Redirects are never
followed: PeerTube's API does not redirect, and following one could carry the
``Authorization`` header to another origin.

Every answer is bounded: a TCP connection must open within :data:`CONNECT_TIMEOUT`
(or three quarters of the exchange's timeout), a body read whole may not exceed
``max_body_size`` (:class:`ResponseTooLarge`, checked against ``Content-Length`` first,
then while reading), and of an error or redirect answer only the first
:data:`ERROR_BODY_BYTES` are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiohttp
import attrs
from multidict import CIMultiDictProxy
from yarl import URL

from ._bodies import FilePart, FormBody, MultipartBody
from ._errors import ConnectError, RequestTimeout, ResponseTooLarge, TransportError

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_MAX_BODY_SIZE",
    "ERROR_BODY_BYTES",
    "RawResponse",
    "StreamedResponse",
    "Transport",
    "new_session",
]

#: Default bound of a body read whole (``PeerTube(max_body_size=)``): far above any
#: PeerTube answer (a page of 100 videos is about 150 KB), far below exhausting memory.
DEFAULT_MAX_BODY_SIZE = 64 * 1024 * 1024
#: Bytes kept of an error or redirect answer's body; the rest goes with the connection.
#: A problem document is a few hundred bytes; classification looks at no more than this.
ERROR_BODY_BYTES = 256 * 1024
#: Longest wait for a TCP connection to open. Past it, nothing was sent: the failure is
#: a :class:`ConnectError` (the pipeline backs off and the rate-limit place is given
#: back), not a timeout of a request that may have reached the server.
CONNECT_TIMEOUT = 10.0
# Reading a body whose pieces are already buffered (or decompressed on demand) never
# suspends: hand the loop back after this many bytes.
_YIELD_BYTES = 1 << 20


def _connect_bound(total: float | None) -> float:
    # Below the total: were both due at once, the total would win the race and turn a
    # connection that never opened into a request that "may have reached the server".
    return CONNECT_TIMEOUT if total is None else min(CONNECT_TIMEOUT, total * 0.75)


def _client_timeout(total: float | None) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=total, sock_connect=_connect_bound(total))


@attrs.frozen
class RawResponse:
    """An HTTP answer, read whole."""

    status: int
    reason: str
    headers: CIMultiDictProxy[str]
    body: bytes
    #: Event-loop time at which the answer's headers were read: what dates the request's
    #: arrival at the server, even when the body or a busy loop comes later.
    received_at: float | None = None


def new_session(
    *,
    connection_limit: int,
    timeout: float | None,
    user_agent: str | None = None,
    trace_configs: Sequence[aiohttp.TraceConfig] = (),
) -> aiohttp.ClientSession:
    """An ``aiohttp.ClientSession`` set up for PeerTube instances (shareable by clients).

    Connections must open within :data:`CONNECT_TIMEOUT`, and aiohttp's silent second
    sending of a request after a dropped keep-alive connection is switched off.
    """
    headers = {"User-Agent": user_agent} if user_agent else None
    session = aiohttp.ClientSession(
        headers=headers,
        timeout=_client_timeout(timeout),
        # PeerTube (Node) closes idle connections after 5 s: close ours first.
        connector=aiohttp.TCPConnector(limit=connection_limit, keepalive_timeout=4.0),
        trace_configs=list(trace_configs),
    )
    if hasattr(session, "_retry_connection"):
        # aiohttp sends an idempotent request a second time, once, when its connection
        # drops before the answer (ClientSession._retry_connection, a private switch of
        # aiohttp >= 3.9, hence the guard). The server may count both; the scheduler
        # counted one, and its own retry rules apply instead.
        session._retry_connection = False
    return session


class Transport:
    """Sends requests over an ``aiohttp.ClientSession`` (created on demand, or injected
    and then never closed here)."""

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        timeout: float | None = 30.0,
        user_agent: str | None = None,
        connection_limit: int = 100,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        if max_body_size <= 0:
            raise ValueError("max_body_size must be positive")
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._user_agent = user_agent
        self._connection_limit = connection_limit
        #: Longest body read whole, in bytes (see :class:`ResponseTooLarge`).
        self.max_body_size = max_body_size

    @property
    def user_agent(self) -> str | None:
        """The ``User-Agent`` the client sends (other connections to the instance, such as
        its Socket.IO endpoint, send it too)."""
        return self._user_agent

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session in use, created on first use when none was injected."""
        if self._session is None:
            self._session = new_session(
                connection_limit=self._connection_limit,
                timeout=self._timeout.total,
                user_agent=self._user_agent,
            )
        return self._session

    async def close(self) -> None:
        """Close the session if this transport created it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        url: URL,
        *,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[StreamedResponse]:
        """Send a request whose answer is read as a stream (see :class:`StreamedResponse`).

        ``timeout`` bounds each read, not the whole transfer.
        """
        shown = url.path
        # No total bound (a download may take hours), but a stalled read or connect fails.
        step = timeout if timeout is not None else self._timeout.total
        client_timeout = aiohttp.ClientTimeout(
            total=None, sock_read=step, sock_connect=_connect_bound(step)
        )
        try:
            ctx = self.session.request(
                method,
                url,
                headers=dict(headers or {}),
                data=data,
                allow_redirects=False,
                timeout=client_timeout,
            )
            async with ctx as resp:
                yield StreamedResponse(resp, method, shown)
                return
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            failure = _failure(exc, method, url, shown)
        raise failure

    async def send(
        self,
        method: str,
        url: URL,
        *,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        timeout: float | None = None,
    ) -> RawResponse:
        """Send one request and read the whole answer."""
        shown = f"{url.path}{'?' + url.query_string if url.query_string else ''}"
        kwargs: dict[str, Any] = {"allow_redirects": False}
        if headers:
            kwargs["headers"] = dict(headers)
        if self._user_agent and self._session is not None and not self._owns_session:
            kwargs.setdefault("headers", {}).setdefault("User-Agent", self._user_agent)
        opened: list[Any] = []
        if isinstance(data, MultipartBody):
            kwargs["data"] = _form_data(data, opened)
        elif isinstance(data, FormBody):
            kwargs["data"] = dict(data.fields)
        elif data is not None:
            kwargs["data"] = data
        if timeout is not None:
            kwargs["timeout"] = _client_timeout(timeout)
        try:
            async with self.session.request(method, url, **kwargs) as resp:
                received_at = asyncio.get_running_loop().time()
                if resp.status >= 300:
                    body = await _read_prefix(resp, ERROR_BODY_BYTES)
                else:
                    body = await _read_bounded(resp, self.max_body_size, method, shown)
                return RawResponse(resp.status, resp.reason or "", resp.headers, body, received_at)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            failure = _failure(exc, method, url, shown)
        finally:
            for handle in opened:
                handle.close()
        raise failure


class StreamedResponse:
    """An answer whose body is read piece by piece (downloads)."""

    def __init__(self, resp: aiohttp.ClientResponse, method: str, shown: str) -> None:
        self._resp = resp
        self._method = method
        self._shown = shown
        self.status = resp.status
        self.reason = resp.reason or ""
        self.headers: CIMultiDictProxy[str] = resp.headers

    async def read(self) -> bytes:
        """The remaining body of an error answer, at most :data:`ERROR_BODY_BYTES`."""
        return await _read_prefix(self._resp, ERROR_BODY_BYTES)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body in pieces as they arrive (bounded by aiohttp's read buffer), so that
        what came before a failure can still be kept."""
        try:
            async for piece in self._resp.content.iter_any():
                yield piece
        except asyncio.TimeoutError as exc:
            raise RequestTimeout("download stalled", method=self._method, url=self._shown) from exc
        except aiohttp.ClientError as exc:
            message = _describe(exc)
        else:
            return
        raise TransportError(message, method=self._method, url=self._shown)


def _encoded(resp: aiohttp.ClientResponse) -> bool:
    """Whether aiohttp decompresses the body (then ``Content-Length`` does not bound it)."""
    return resp.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")


async def _read_bounded(resp: aiohttp.ClientResponse, limit: int, method: str, shown: str) -> bytes:
    """The whole body, refused past ``limit`` bytes: announced, or as it arrives."""
    length = resp.content_length
    if length is not None and length > limit:
        resp.close()
        raise _too_large(resp, limit, length, method, shown)
    if length is not None and not _encoded(resp):
        return await resp.read()  # aiohttp reads exactly Content-Length bytes
    pieces: list[bytes] = []
    size = since_yield = 0
    async for piece in resp.content.iter_any():
        size += len(piece)
        if size > limit:
            resp.close()
            raise _too_large(resp, limit, None, method, shown)
        pieces.append(piece)
        since_yield += len(piece)
        if since_yield >= _YIELD_BYTES:
            since_yield = 0
            await asyncio.sleep(0)
    return b"".join(pieces)


async def _read_prefix(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most ``limit`` bytes of the body; past them the connection is closed."""
    length = resp.content_length
    if length is not None and length <= limit and not _encoded(resp):
        return await resp.read()
    pieces: list[bytes] = []
    size = 0
    async for piece in resp.content.iter_any():
        pieces.append(piece)
        size += len(piece)
        if size >= limit:
            resp.close()
            break
        await asyncio.sleep(0)  # pieces may be waiting already: let the loop run between
    return b"".join(pieces)[:limit]


def _too_large(
    resp: aiohttp.ClientResponse, limit: int, size: int | None, method: str, shown: str
) -> ResponseTooLarge:
    told = f"announces {size:,} bytes" if size is not None else f"goes on past {limit:,} bytes"
    return ResponseTooLarge(
        f"the answer {told}, more than max_body_size ({limit:,} bytes)",
        status=resp.status,
        method=method,
        url=shown,
        limit=limit,
        size=size,
        content_type=resp.headers.get("Content-Type"),
    )


def _failure(
    exc: aiohttp.ClientError | asyncio.TimeoutError, method: str, url: URL, shown: str
) -> TransportError:
    """The SDK's error for an aiohttp failure (raised outside the ``except``: see
    :func:`_describe`)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ConnectError(
            f"cannot connect to {url.host}:{url.port}: {exc.os_error}", method=method, url=shown
        )
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        # The connection never opened (sock_connect): nothing was sent.
        return ConnectError(
            f"cannot connect to {url.host}:{url.port}: no answer to the connection in time",
            method=method,
            url=shown,
        )
    if isinstance(exc, asyncio.TimeoutError):
        return RequestTimeout("request timed out", method=method, url=shown)
    return TransportError(_describe(exc), method=method, url=shown)


def _describe(exc: aiohttp.ClientError) -> str:
    """What went wrong, without the request: aiohttp's errors carry the request's
    headers (the bearer token) and full URL, so they are neither chained nor quoted."""
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"{type(exc).__name__}: {exc.status}, {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def _form_data(body: MultipartBody, opened: list[Any]) -> aiohttp.FormData:
    """aiohttp's form for a multipart body; files on disk are opened here, per attempt."""
    # Always multipart: PeerTube's multipart routes refuse a urlencoded body.
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in body.fields:
        if isinstance(value, FilePart):
            content: Any = value.content
            if not isinstance(content, bytes):
                # Closed once the exchange is over, whatever its outcome.
                content = open(content, "rb")  # noqa: SIM115
                opened.append(content)
            form.add_field(name, content, filename=value.filename, content_type=value.content_type)
        else:
            form.add_field(name, value)
    return form
