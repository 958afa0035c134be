"""``pt.videos``: the generated resource plus uploads and downloads that survive failures.

Resumable upload (PeerTube's protocol, see the API notes):

1. ``POST /api/v1/videos/upload-resumable`` with the metadata and the file's size and
   type answers ``Location: //host/...?upload_id=...`` (scheme-relative: resolved against
   the instance).
2. Chunks go in order as ``PUT`` with ``Content-Range``; ``308 Resume Incomplete`` with
   ``Range: bytes=0-N`` means "next offset N+1" (never followed as a redirect); the last
   chunk answers 200 with the video's ids.
3. After a connection error, ``PUT`` with an empty body and ``Content-Range: bytes */SIZE``
   asks the server where it stands; sending resumes from there.
4. ``503``/``429`` with ``Retry-After``: wait, ask again. ``DELETE`` cancels.

An upload's :class:`UploadState` can be saved (``to_dict``) and given to
:meth:`Videos.resume_upload` in another process; the file must be unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import mimetypes
import os
import re
from collections.abc import AsyncIterable, Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
from yarl import URL

from .._errors import (
    APIError,
    DownloadError,
    NotFound,
    PeerTubeError,
    RateLimited,
    ServerError,
    TransportError,
)
from .._files import Progress, save_to_file
from .._generated.models import VideoDetails
from .._generated.resources import VideosResource
from .._pipeline import Caller
from .._ratelimit import RateLimitHeaders
from .._scheduler import Priority
from ._live import VideosLive

__all__ = ["DownloadError", "UploadError", "UploadOutcomeUnknown", "UploadState", "Videos"]

logger = logging.getLogger("peertube_async.uploads")

#: Chunk size when the instance publishes no hint.
DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
#: Bytes hashed at each end of a file to tell whether it changed.
_FINGERPRINT_BYTES = 64 * 1024
#: How many times a chunk may fail in a row before the upload gives up.
_MAX_CHUNK_FAILURES = 8
_RANGE = re.compile(r"bytes=0-(\d+)")


class UploadError(PeerTubeError):
    """An upload cannot go on (file changed, upload lost, too many failures)."""


class UploadOutcomeUnknown(UploadError):
    """The last chunk went out, its answer was lost and the upload id is gone: the video
    was most likely created. ``state`` tells which upload it was."""

    def __init__(self, message: str, *, state: UploadState) -> None:
        super().__init__(message)
        self.state = state


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@attrs.frozen
class FileIdentity:
    """Size, modification time and a hash of both ends: enough to notice a change."""

    size: int
    mtime_ns: int
    fingerprint: str

    @classmethod
    def of(cls, path: Path) -> FileIdentity:
        info = path.stat()
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            digest.update(handle.read(_FINGERPRINT_BYTES))
            if info.st_size > _FINGERPRINT_BYTES:
                handle.seek(max(_FINGERPRINT_BYTES, info.st_size - _FINGERPRINT_BYTES))
                digest.update(handle.read(_FINGERPRINT_BYTES))
        return cls(info.st_size, info.st_mtime_ns, digest.hexdigest())


@attrs.define
class UploadState:
    """Where a resumable upload stands; ``to_dict()`` is JSON-ready for saving."""

    upload_url: str
    size: int
    content_type: str
    filename: str
    path: str | None = None
    identity: FileIdentity | None = None
    offset: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The state as plain JSON data."""
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UploadState:
        """A state saved with :meth:`to_dict`."""
        values = dict(data)
        ident = values.get("identity")
        values["identity"] = FileIdentity(**ident) if isinstance(ident, dict) else None
        return cls(**values)


class _Source:
    """Reads chunks from a file (any offset) or an async byte stream (forward only)."""

    def __init__(self, file: Path | AsyncIterable[bytes]) -> None:
        self._path = file if isinstance(file, Path) else None
        self._stream = None if isinstance(file, Path) else file.__aiter__()
        self._buffer = b""
        self._position = 0  # stream offset of the buffer's first byte

    async def read(self, offset: int, length: int) -> bytes:
        if self._path is not None:
            return await asyncio.to_thread(_read_at, self._path, offset, length)
        return await self._read_stream(offset, length)

    async def _read_stream(self, offset: int, length: int) -> bytes:
        if offset < self._position:
            raise UploadError(
                "the server asked for bytes already dropped from the stream; "
                "upload from a file to resume from any point"
            )
        # Forget what the server has; keep what it may still ask for again.
        drop = offset - self._position
        self._buffer = self._buffer[drop:]
        self._position = offset
        assert self._stream is not None
        while len(self._buffer) < length:
            try:
                piece = await self._stream.__anext__()
            except StopAsyncIteration:
                break
            self._buffer += piece
        return self._buffer[:length]


def _read_at(path: Path, offset: int, length: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read(length)


class Videos(VideosResource):
    """Videos of the instance, with :meth:`upload`, :meth:`resume_upload` and
    :meth:`download` on top of every generated operation, and live events
    (``live.events(video)``)."""

    live: VideosLive

    def __init__(self, caller: Caller) -> None:
        super().__init__(caller)
        self.live = VideosLive(caller)

    # -- uploads --------------------------------------------------------------------

    async def upload(
        self,
        file: str | os.PathLike[str] | AsyncIterable[bytes],
        *,
        channel_id: int,
        name: str,
        size: int | None = None,
        filename: str | None = None,
        content_type: str | None = None,
        chunk_size: int | None = None,
        on_progress: Progress | None = None,
        on_state: Callable[[UploadState], Any] | None = None,
        keep_on_cancel: bool = False,
        **fields: Any,
    ) -> VideoDetails:
        """Upload a video with the resumable protocol and return it, typed.

        ``file``: a path, or an async iterable of bytes (then ``size`` and ``filename``
        are required). Other video fields go as keyword arguments in snake_case
        (``privacy=1``, ``tags=["a"]``, ``wait_transcoding=True``...). ``on_progress``
        gets ``(bytes sent, total)``; ``on_state`` gets the :class:`UploadState` after
        each chunk, to save it for :meth:`resume_upload`. Cancelling the task cancels
        the upload on the server, unless ``keep_on_cancel`` (then it stays there, to be
        continued with :meth:`resume_upload` from the last state saved).
        """
        path: Path | None = None
        if isinstance(file, (str, os.PathLike)):
            path = Path(file)
            if not path.is_file():
                raise FileNotFoundError(f"no such file: {path}")
            size = path.stat().st_size
            filename = filename or path.name
        elif size is None or filename is None:
            raise ValueError("uploading from a stream needs size= and filename=")
        if size <= 0:
            raise ValueError("cannot upload an empty file")
        ctype = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        body = {_camel(k): v for k, v in fields.items()}
        body.update({"name": name, "channelId": channel_id, "filename": filename})
        identity = await asyncio.to_thread(FileIdentity.of, path) if path else None
        resp = await self._caller.pipeline.send(
            "POST",
            "/api/v1/videos/upload-resumable",
            json={k: self._plain(v) for k, v in body.items()},
            headers={"X-Upload-Content-Length": str(size), "X-Upload-Content-Type": ctype},
        )
        location = resp.headers.get("Location")
        if not location:
            raise UploadError("the instance did not answer the upload with a Location")
        state = UploadState(
            upload_url=str(self._caller.pipeline.base.join(URL(location, encoded=True))),
            size=size,
            content_type=ctype,
            filename=filename,
            path=str(path) if path else None,
            identity=identity,
        )
        source = _Source(path if path is not None else file)  # type: ignore[arg-type]
        if on_state is not None:
            on_state(state)  # resumable from here on, even a single-chunk upload
        return await self._run(state, source, chunk_size, on_progress, on_state, keep_on_cancel)

    async def resume_upload(
        self,
        state: UploadState | Mapping[str, Any],
        file: str | os.PathLike[str] | None = None,
        *,
        chunk_size: int | None = None,
        on_progress: Progress | None = None,
        on_state: Callable[[UploadState], Any] | None = None,
        keep_on_cancel: bool = False,
    ) -> VideoDetails:
        """Continue an upload from a saved :class:`UploadState`, from where the server
        stands. The file (``file`` or the state's path) must be the same, unchanged.
        ``keep_on_cancel`` as for :meth:`upload`."""
        if not isinstance(state, UploadState):
            state = UploadState.from_dict(state)
        where = Path(file) if file is not None else Path(state.path) if state.path else None
        if where is None or not where.is_file():
            raise UploadError(f"the file to resume from is missing: {where}")
        identity = await asyncio.to_thread(FileIdentity.of, where)
        if state.identity is not None and identity != state.identity:
            raise UploadError(
                f"{where} changed since the upload started (size, date or content differ); "
                "start a new upload"
            )
        if identity.size != state.size:
            raise UploadError(f"{where} is {identity.size} bytes, the upload expects {state.size}")
        state.offset = await self._server_offset(state)
        return await self._run(
            state, _Source(where), chunk_size, on_progress, on_state, keep_on_cancel
        )

    async def _chunk_size(self, asked: int | None) -> int:
        if asked is not None:
            if asked <= 0:
                raise ValueError("chunk_size must be positive")
            return asked
        with contextlib.suppress(PeerTubeError, KeyError, TypeError, AttributeError):
            config = await self._caller.json("GET", "/api/v1/config")
            hint = config["client"]["videos"]["resumableUpload"]["maxChunkSize"]
            if isinstance(hint, int) and hint > 0:
                return min(hint, DEFAULT_CHUNK_SIZE)
        return DEFAULT_CHUNK_SIZE

    async def _run(
        self,
        state: UploadState,
        source: _Source,
        chunk_size: int | None,
        on_progress: Progress | None,
        on_state: Callable[[UploadState], Any] | None,
        keep_on_cancel: bool = False,
    ) -> VideoDetails:
        size = await self._chunk_size(chunk_size)
        try:
            ids = await self._send_chunks(state, source, size, on_progress, on_state)
        except asyncio.CancelledError:
            # Cancelling the task cancels the upload (unless asked to keep it, e.g. for a
            # command line's Ctrl-C); other failures leave it resumable.
            if not keep_on_cancel:
                await asyncio.shield(self._cancel(state))
            raise
        video_id = ids.get("uuid") or ids.get("id")
        details = await self._caller.json("GET", f"/api/v1/videos/{video_id}")
        result: VideoDetails = self._caller.structure(
            details, VideoDetails, method="GET", path="/api/v1/videos/{id}"
        )
        return result

    async def _send_chunks(
        self,
        state: UploadState,
        source: _Source,
        chunk: int,
        on_progress: Progress | None,
        on_state: Callable[[UploadState], Any] | None,
    ) -> dict[str, Any]:
        pipeline = self._caller.pipeline
        failures = 0
        while True:
            first = state.offset
            data = await source.read(first, min(chunk, state.size - first))
            if not data:
                raise UploadError(f"the file ended at {first} of {state.size} bytes")
            last = first + len(data) - 1
            try:
                resp = await pipeline.send(
                    "PUT",
                    state.upload_url,
                    # A file-like body is streamed by aiohttp rather than written at once.
                    data=io.BytesIO(data),
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"bytes {first}-{last}/{state.size}",
                    },
                    retries=0,
                )
            except NotFound as exc:
                if last + 1 == state.size:
                    # aiohttp sent the final chunk again after a drop, once the server
                    # had finished with it: the video exists, its ids are lost.
                    raise UploadOutcomeUnknown(
                        f"the last chunk of {state.filename} was sent but its answer was "
                        "lost: the video was most likely created; look for it before "
                        "uploading again",
                        state=state,
                    ) from exc
                raise UploadError("the server lost this upload (cancelled or expired)") from exc
            except (TransportError, ServerError, RateLimited) as exc:
                failures += 1
                if failures > _MAX_CHUNK_FAILURES:
                    raise UploadError(f"upload failed {failures} times in a row: {exc}") from exc
                await self._pause(exc, failures)
                state.offset = await self._server_offset(state, final_sent=last + 1 == state.size)
                continue
            failures = 0
            if resp.status == 308:
                state.offset = _next_offset(resp.headers.get("Range"))
            elif 200 <= resp.status < 300:
                state.offset = state.size
                if on_progress is not None:
                    on_progress(state.size, state.size)
                payload = self._caller_decode(resp)
                video = payload.get("video") if isinstance(payload, dict) else None
                if not isinstance(video, dict):
                    raise UploadError("the last chunk was accepted without the video's ids")
                return video
            else:
                raise UploadError(f"unexpected answer {resp.status} to a chunk")
            if on_progress is not None:
                on_progress(state.offset, state.size)
            if on_state is not None:
                on_state(state)

    def _caller_decode(self, resp: Any) -> Any:
        from .._pipeline import decode_json

        return decode_json(
            resp, "PUT", "/api/v1/videos/upload-resumable", secrets=self._caller.pipeline.secrets()
        )

    async def _pause(self, exc: BaseException, failures: int) -> None:
        wait = None
        if isinstance(exc, RateLimited):
            wait = exc.retry_after
        elif isinstance(exc, APIError):
            wait = RateLimitHeaders.parse(exc.headers).retry_after
        if wait is None:
            wait = self._caller.pipeline.backoff.delay(failures - 1)
        await asyncio.sleep(min(wait, 60.0))

    async def _server_offset(self, state: UploadState, *, final_sent: bool = False) -> int:
        """Ask the server how much it has (``PUT`` with ``bytes */SIZE``).

        ``final_sent``: the last byte went out before the failure, so a lost upload id
        most likely means the video was created and only the answer was lost.
        """
        pipeline = self._caller.pipeline
        for attempt in range(_MAX_CHUNK_FAILURES):
            try:
                resp = await pipeline.send(
                    "PUT",
                    state.upload_url,
                    data=b"",
                    headers={"Content-Range": f"bytes */{state.size}"},
                    retries=0,
                )
            except NotFound as exc:
                if final_sent:
                    raise UploadOutcomeUnknown(
                        f"the last chunk of {state.filename} was sent but its answer was lost, "
                        "and the server no longer knows the upload: the video was most likely "
                        "created; look for it before uploading again",
                        state=state,
                    ) from exc
                raise UploadError(
                    "the server lost this upload (finished, cancelled or expired)"
                ) from exc
            except (TransportError, ServerError, RateLimited) as exc:
                await self._pause(exc, attempt + 1)
                continue
            if resp.status == 308:
                return _next_offset(resp.headers.get("Range"))
            return state.size if 200 <= resp.status < 300 else 0
        raise UploadError("the server did not say where the upload stands")

    async def _cancel(self, state: UploadState) -> None:
        with contextlib.suppress(PeerTubeError):
            await self._caller.pipeline.send(
                "DELETE", state.upload_url, retries=1, priority=Priority.INTERACTIVE
            )
            logger.info("cancelled the upload of %s", state.filename)

    # -- downloads ------------------------------------------------------------------

    async def download(
        self,
        video: int | str | VideoDetails,
        dest: str | os.PathLike[str],
        *,
        resolution: int | None = None,
        on_progress: Progress | None = None,
    ) -> Path:
        """Download a video file to ``dest`` (the highest resolution, or ``resolution``),
        resuming a partial ``dest`` with ``Range`` and checking the length.

        Web video files are preferred, then the HLS playlist's files. The bearer token
        goes only to the instance's own origin (private videos), never to other hosts.
        """
        if not isinstance(video, VideoDetails):
            video = await self.get(video)
        url, expected = _pick_file(video, resolution)
        return await save_to_file(
            self._caller.pipeline,
            "GET",
            url,
            Path(dest),
            expected=expected,
            on_progress=on_progress,
            priority=self._caller.options.priority,
        )


def _next_offset(header: str | None) -> int:
    match = _RANGE.fullmatch((header or "").strip())
    return int(match.group(1)) + 1 if match else 0


def _pick_file(video: VideoDetails, resolution: int | None) -> tuple[str, int | None]:
    """(URL, size) of the file to fetch: web video files first, then HLS files."""
    candidates: list[Any] = list(video.files or ())
    for playlist in video.streaming_playlists or ():
        candidates.extend(getattr(playlist, "files", None) or ())
    usable = [f for f in candidates if getattr(f, "file_url", None)]
    if not usable:
        raise DownloadError(f"video {video.uuid} offers no file to download")

    def res_of(f: Any) -> int:
        res = getattr(f, "resolution", None)
        value = getattr(res, "id", None)
        return value if isinstance(value, int) else 0

    if resolution is not None:
        usable = [f for f in usable if res_of(f) == resolution]
        if not usable:
            raise DownloadError(f"video {video.uuid} has no file in {resolution}p")
    best = max(usable, key=res_of)
    size = getattr(best, "size", None)
    return str(best.file_url), size if isinstance(size, int) and size > 0 else None
