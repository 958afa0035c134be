"""A loopback HTTP server that misbehaves on purpose: every answer is scripted.

:class:`HostileServer` listens on 127.0.0.1 and answers each request with the next
:class:`Answer` of its script (or what a function of the request returns): any status,
headers and body (bytes, or pieces from a generator, even endless ones), a delay before
the headers and between body pieces, a connection dropped before answering, reset, or
closed in the middle of the body, a body sent in small partial writes, a redirect, raw
bytes that are not HTTP at all, or no answer ever. ``HostileServer(accept=False)``
listens without ever accepting: its backlog is filled at start, so a new connection hangs
in its TCP handshake, as with a black-holed host. Every request that arrived is kept in
:attr:`HostileServer.requests`, in order.

It speaks just enough HTTP/1.1 to read requests (``Content-Length`` and chunked bodies,
keep-alive) and nothing more: it is a test double for a client's failure paths, not a
web server.

Example::

    import pytest
    from peertube_async import PeerTube, ResponseDecodeError
    from peertube_async.testing import Answer, HostileServer

    async def test_a_broken_page_is_a_decode_error() -> None:
        broken = Answer.json_body(b'{"total": 3, "data": [', status=200)
        async with HostileServer(broken) as server, PeerTube(server.url) as pt:
            with pytest.raises(ResponseDecodeError):
                await pt.videos.list()
        assert server.requests[0].path == "/api/v1/videos"
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import inspect
import json
import socket
import struct
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

__all__ = ["Answer", "Body", "HostileServer", "ReceivedRequest", "Script"]

#: A body: bytes, pieces (an iterable or async iterable of bytes, consumed once), or a
#: function returning either (called for each answer, so a scripted answer can repeat).
Body: TypeAlias = (
    "bytes | Iterable[bytes] | AsyncIterable[bytes]"
    " | Callable[[], bytes | Iterable[bytes] | AsyncIterable[bytes]]"
)

#: What answers each request: one :class:`Answer` for every request, a sequence taken in
#: order (its last answer repeats), or a function of the request (sync or async).
Script: TypeAlias = (
    "Answer | Sequence[Answer] | Callable[[ReceivedRequest], Answer | Awaitable[Answer]]"
)

_HEAD_LIMIT = 64 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})


@dataclass(frozen=True)
class ReceivedRequest:
    """A request as it arrived: ``target`` is the raw request target (path and query)."""

    method: str
    target: str
    headers: CIMultiDictProxy[str]
    body: bytes
    #: Which accepted connection carried it (0 for the first), and its place on it.
    connection: int
    index_on_connection: int

    @property
    def path(self) -> str:
        """The target without its query, still percent-encoded."""
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        """The raw query string ("" without one)."""
        return self.target.partition("?")[2]


@dataclass(frozen=True)
class Answer:
    """One scripted answer (or non-answer) to one request.

    Attributes:
        status: the status code; any integer, even one HTTP does not define.
        body: see :data:`Body`. Pieces go out one write each.
        headers: sent as given, in order. Unless they include ``Content-Length`` or
            ``Transfer-Encoding``, the framing adds one (see ``framing``).
        reason: the reason phrase (default: the standard one for ``status``, or "Hmm").
        delay: seconds to wait after reading the request, before the status line.
        piece_size: split bytes bodies into writes of this many bytes.
        piece_delay: seconds to wait before each body piece after the first.
        framing: ``"auto"`` (``Content-Length`` for bytes, chunked for pieces),
            ``"length"`` (``Content-Length``, bytes bodies only), ``"chunked"``, or
            ``"close"`` (no length: the body ends when the connection closes).
        drop_after: close the connection once this many body bytes were written
            (``0``: right after the headers), whatever the framing announced.
        keep_alive: whether the connection stays open for another request.
        kind: ``"answer"``; ``"drop"`` closes the connection without a byte of answer;
            ``"reset"`` resets it (RST) without answering; ``"hang"`` never answers (the
            connection stays open until the client or :meth:`HostileServer.close`
            closes it); ``"raw"`` writes ``raw`` as it is, then closes.
        raw: the bytes of a ``"raw"`` answer (a broken status line, half a header...).
    """

    status: int = 200
    body: Body = b""
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = ()
    reason: str | None = None
    delay: float = 0.0
    piece_size: int | None = None
    piece_delay: float = 0.0
    framing: Literal["auto", "length", "chunked", "close"] = "auto"
    drop_after: int | None = None
    keep_alive: bool = True
    kind: Literal["answer", "drop", "reset", "hang", "raw"] = "answer"
    raw: bytes = b""

    def __post_init__(self) -> None:
        framed = any(
            name.lower() in ("content-length", "transfer-encoding")
            for name, _ in self._header_list()
        )
        if self.framing == "length" and not framed and not isinstance(self.body, bytes):
            raise ValueError("framing='length' needs a bytes body (or a Content-Length header)")
        if self.piece_size is not None and self.piece_size <= 0:
            raise ValueError("piece_size must be positive")

    def _header_list(self) -> list[tuple[str, str]]:
        headers = self.headers
        return list(headers.items() if isinstance(headers, Mapping) else headers)

    @classmethod
    def json(
        cls,
        value: Any,
        status: int = 200,
        *,
        content_type: str = "application/json; charset=utf-8",
        headers: Sequence[tuple[str, str]] = (),
        **options: Any,
    ) -> Answer:
        """``value`` as JSON, with a JSON content type."""
        body = json.dumps(value, separators=(",", ":")).encode()
        return cls.json_body(body, status, content_type=content_type, headers=headers, **options)

    @classmethod
    def json_body(
        cls,
        body: Body,
        status: int = 200,
        *,
        content_type: str = "application/json; charset=utf-8",
        headers: Sequence[tuple[str, str]] = (),
        **options: Any,
    ) -> Answer:
        """A body (valid JSON or not) sent under a JSON content type."""
        return cls(status, body, (("Content-Type", content_type), *headers), **options)

    @classmethod
    def text(
        cls,
        text: str,
        status: int = 200,
        *,
        content_type: str = "text/plain; charset=utf-8",
        headers: Sequence[tuple[str, str]] = (),
        **options: Any,
    ) -> Answer:
        """A text body (an HTML page with ``content_type="text/html"``)."""
        return cls(status, text.encode(), (("Content-Type", content_type), *headers), **options)

    @classmethod
    def redirect(cls, location: str, status: int = 302, **options: Any) -> Answer:
        """A redirect to ``location``, with a small HTML body as servers send."""
        body = f'<a href="{location}">moved</a>'.encode()
        headers = (("Location", location), ("Content-Type", "text/html"))
        return cls(status, body, headers, **options)

    @classmethod
    def drop(cls, *, delay: float = 0.0) -> Answer:
        """Read the request, then close the connection without answering."""
        return cls(kind="drop", delay=delay)

    @classmethod
    def reset(cls, *, delay: float = 0.0) -> Answer:
        """Read the request, then reset the connection (RST) without answering."""
        return cls(kind="reset", delay=delay)

    @classmethod
    def hang(cls) -> Answer:
        """Read the request and never answer."""
        return cls(kind="hang")

    @classmethod
    def raw_bytes(cls, data: bytes, *, delay: float = 0.0) -> Answer:
        """Write ``data`` as it is (not necessarily HTTP), then close the connection."""
        return cls(kind="raw", raw=data, delay=delay)


@dataclass
class _Connection:
    number: int
    writer: asyncio.StreamWriter
    task: asyncio.Task[None] | None = None
    served: int = 0


@dataclass
class _Stats:
    connections: int = 0
    answered: int = 0
    open: dict[int, _Connection] = field(default_factory=dict)


class HostileServer:
    """A scripted HTTP/1.1 server on 127.0.0.1 (see the module's description).

    Use it as ``async with HostileServer(script) as server:`` and point a client at
    :attr:`url`. :attr:`script` may be replaced at any time; :attr:`requests` lists every
    request that arrived (a dropped or hung one included).

    Args:
        script: see :data:`Script`. Default: ``200`` with an empty JSON object.
        accept: ``False`` listens without accepting: the backlog is filled at start, so
            that a new connection hangs in its handshake (no request ever arrives).
        host: address to bind (a loopback address).
        port: port to bind; 0 picks a free one.
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        accept: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.script: Script = script if script is not None else Answer.json({})
        self.accept = accept
        self.requests: list[ReceivedRequest] = []
        self._host = host
        self._port = port
        self._url: URL | None = None
        self._server: asyncio.Server | None = None
        self._listener: socket.socket | None = None
        self._fillers: list[socket.socket] = []
        self._stats = _Stats()
        self._closed = False
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def __repr__(self) -> str:
        where = str(self._url) if self._url is not None else "not started"
        return f"<HostileServer {where} requests={len(self.requests)}>"

    @property
    def url(self) -> URL:
        """``http://127.0.0.1:PORT``, once started."""
        if self._url is None:
            raise RuntimeError("HostileServer is not started")
        return self._url

    @property
    def connections(self) -> int:
        """How many connections were accepted."""
        return self._stats.connections

    @property
    def answered(self) -> int:
        """How many answers were written whole."""
        return self._stats.answered

    async def wait_for_requests(self, count: int = 1) -> list[ReceivedRequest]:
        """Wait until at least ``count`` requests have arrived; the requests so far.

        Bound it yourself (``asyncio.wait_for``): a client that never sends waits forever.
        """
        if len(self.requests) < count:
            future = asyncio.get_running_loop().create_future()
            self._waiters.append((count, future))
            try:
                await future
            finally:
                if (count, future) in self._waiters:
                    self._waiters.remove((count, future))
        return list(self.requests)

    def _arrived(self, request: ReceivedRequest) -> None:
        self.requests.append(request)
        for count, future in list(self._waiters):
            if len(self.requests) >= count and not future.done():
                future.set_result(None)

    # Lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind, listen and (unless ``accept=False``) start accepting."""
        if self._url is not None or self._closed:
            raise RuntimeError("a HostileServer can only be started once")
        if self.accept:
            self._server = await asyncio.start_server(
                self._on_connection, self._host, self._port, limit=_HEAD_LIMIT
            )
            port = self._server.sockets[0].getsockname()[1]
        else:
            port = await asyncio.to_thread(self._listen_without_accepting)
        self._url = URL.build(scheme="http", host=self._host, port=port)

    def _listen_without_accepting(self) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((self._host, self._port))
        # Backlog 0: the kernel queues one handshake; once the queue is full, further
        # SYNs are dropped and the peer's connect hangs as if the host were gone.
        listener.listen(0)
        self._listener = listener
        port = int(listener.getsockname()[1])
        for _ in range(8):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.settimeout(0.2)
            self._fillers.append(filler)
            try:
                filler.connect((self._host, port))
            except (TimeoutError, OSError):
                return port  # this one hangs: the queue is full
        raise RuntimeError("could not fill the listen backlog")

    async def close(self) -> None:
        """Stop listening and close every connection (hung answers end here)."""
        self._closed = True
        server, self._server = self._server, None
        if server is not None:
            server.close()
        conns = list(self._stats.open.values())
        for conn in conns:
            conn.writer.transport.abort()
            if conn.task is not None:
                conn.task.cancel()
        for conn in conns:
            if conn.task is not None:
                with contextlib.suppress(BaseException):
                    await conn.task
        if server is not None:
            await server.wait_closed()
        for sock in (*self._fillers, self._listener):
            if sock is not None:
                sock.close()
        self._fillers.clear()
        self._listener = None

    async def __aenter__(self) -> HostileServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # Serving ----------------------------------------------------------------------------

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        stats = self._stats
        conn = _Connection(stats.connections, writer, asyncio.current_task())
        stats.connections += 1
        stats.open[conn.number] = conn
        try:
            while not self._closed:
                request = await self._read_request(reader, conn)
                if request is None:
                    break
                order = len(self.requests)
                self._arrived(request)
                answer = await self._answer_for(request, order)
                if not await self._send(writer, request, answer):
                    break
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away, or sent something that is not HTTP
        except asyncio.CancelledError:
            # close() ends hung and delayed answers this way; the task ends quietly.
            if not self._closed:
                raise
        finally:
            stats.open.pop(conn.number, None)
            writer.close()

    async def _read_request(
        self, reader: asyncio.StreamReader, conn: _Connection
    ) -> ReceivedRequest | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        target = rest.rpartition(" ")[0] or rest
        headers: CIMultiDict[str] = CIMultiDict()
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers.add(name.strip(), value.strip())
        body = b""
        if "chunked" in headers.get("Transfer-Encoding", "").lower():
            body = await _read_chunked(reader)
        elif headers.get("Content-Length", "").strip().isdigit():
            body = await reader.readexactly(int(headers["Content-Length"]))
        request = ReceivedRequest(
            method=method,
            target=target,
            headers=CIMultiDictProxy(headers),
            body=body,
            connection=conn.number,
            index_on_connection=conn.served,
        )
        conn.served += 1
        return request

    async def _answer_for(self, request: ReceivedRequest, order: int) -> Answer:
        script = self.script
        if isinstance(script, Answer):
            return script
        if callable(script):
            found = script(request)
            if inspect.isawaitable(found):
                found = await found
            if not isinstance(found, Answer):
                raise TypeError(f"the script returned {found!r}, not an Answer")
            return found
        if not script:
            raise ValueError("an empty script answers nothing")
        return script[min(order, len(script) - 1)]

    async def _send(
        self, writer: asyncio.StreamWriter, request: ReceivedRequest, answer: Answer
    ) -> bool:
        """Write ``answer``; whether the connection may carry another request."""
        if answer.delay > 0:
            await asyncio.sleep(answer.delay)
        if answer.kind == "hang":
            await asyncio.get_running_loop().create_future()
        if answer.kind == "drop":
            writer.close()
            return False
        if answer.kind == "reset":
            _reset(writer)
            return False
        if answer.kind == "raw":
            writer.write(answer.raw)
            await writer.drain()
            writer.close()
            return False

        headers = answer._header_list()
        given = {name.lower(): value for name, value in headers}
        body = answer.body() if callable(answer.body) else answer.body
        no_body = request.method == "HEAD" or answer.status in _NO_BODY_STATUSES
        framing = answer.framing
        if framing == "auto":
            framing = "length" if isinstance(body, bytes) else "chunked"
        if "content-length" in given or "transfer-encoding" in given:
            # The script frames the body itself, truthfully or not.
            chunked = "chunked" in given.get("transfer-encoding", "").lower()
        elif no_body:
            chunked = False
            headers.append(("Content-Length", "0"))
        elif framing == "length":
            assert isinstance(body, bytes)
            chunked = False
            headers.append(("Content-Length", str(len(body))))
        else:
            chunked = framing == "chunked"
            if chunked:
                headers.append(("Transfer-Encoding", "chunked"))
        keep = answer.keep_alive and framing != "close" and answer.drop_after is None
        if not keep and "connection" not in given:
            headers.append(("Connection", "close"))
        reason = answer.reason
        if reason is None:
            try:
                reason = http.HTTPStatus(answer.status).phrase
            except ValueError:
                reason = "Hmm"
        head = f"HTTP/1.1 {answer.status} {reason}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
        writer.write(head.encode("latin-1"))
        await writer.drain()
        if answer.drop_after == 0:
            writer.close()
            return False
        if not no_body:
            written = 0
            first = True
            async for piece in _pieces(body, answer.piece_size):
                if not first and answer.piece_delay > 0:
                    await asyncio.sleep(answer.piece_delay)
                first = False
                if answer.drop_after is not None and written + len(piece) >= answer.drop_after:
                    piece = piece[: answer.drop_after - written]
                    writer.write(_chunk(piece) if chunked and piece else piece)
                    await writer.drain()
                    writer.close()
                    return False
                writer.write(_chunk(piece) if chunked else piece)
                await writer.drain()
                written += len(piece)
            if chunked:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        self._stats.answered += 1
        if not keep or request.headers.get("Connection", "").lower() == "close":
            writer.close()
            return False
        return True


def _chunk(piece: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(piece), piece) if piece else b""


async def _pieces(body: Any, size: int | None) -> Any:
    """The body's pieces, as an async generator of non-empty bytes."""
    if isinstance(body, (bytes, bytearray)):
        data = bytes(body)
        step = size or len(data) or 1
        for start in range(0, len(data), step):
            yield data[start : start + step]
        return
    if isinstance(body, AsyncIterable):
        async for piece in body:
            if piece:
                yield bytes(piece)
        return
    for piece in body:
        if piece:
            yield bytes(piece)
        # A generator may be endless: let the loop breathe between pieces.
        await asyncio.sleep(0)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            # Trailers, then the empty line.
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return bytes(out)
        out += await reader.readexactly(size)
        await reader.readexactly(2)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST rather than a FIN (SO_LINGER with a zero timeout)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
