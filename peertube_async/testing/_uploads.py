"""Uploads and video files of the fake instance.

PeerTube hands resumable uploads to ``@uploadx/core`` (``server/core/lib/uploadx.ts``) and
only sees an upload once its last byte is written; this module reproduces both layers:

* uploadx (``packages/core/src/handlers/uploadx.ts``, ``storages/disk-storage.ts`` and
  ``storages/file.ts`` of ``kukhariev/node-uploadx``): upload ids whose first part is the
  FNV-1a 64 hash of the user id (another user's id is a 403), a chunk is written at the
  ``start`` of its ``Content-Range`` without any order or gap check, the answer is
  ``308 Resume Incomplete`` with ``Range: bytes=0-<start + written - 1>`` (``bytes=0--1``
  when nothing is there: uploadx does not leave the header out), a status query reports the
  file's size on disk, errors are ``{"error": {"code", "message"}}`` with
  ``Cache-Control: no-store``, and ``DELETE`` always answers 204.
* PeerTube (``server/core/controllers/api/videos/upload.ts``,
  ``server/core/middlewares/validators/videos/videos.ts``,
  ``server/core/middlewares/validators/resumable-upload.ts``): init and legacy validation,
  the video created once the upload completes, and a 503 with ``Retry-After: 300`` for
  a request that reaches a completed upload still being processed.

Files are kept on disk in a temporary folder, never in memory, and served with
``web.FileResponse`` (``Range``, ``HEAD``, 206/416 handled by aiohttp).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import re
import secrets
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aiohttp import BodyPartReader, web

from ._data import (
    PRIVACY_PUBLIC,
    ROLE_ADMINISTRATOR,
    ROLE_MODERATOR,
    UNDEFINED,
    VIDEO_CATEGORIES,
    VIDEO_EXTENSIONS,
    Catalog,
    Channel,
    StoredFile,
    User,
    Video,
    dumps,
    field_error,
    new_file_name,
)
from ._http import DroppedResponse, Exchange, FakeStats, Responder, read_body
from ._oauth import OAuthServer

__all__ = ["Faults", "UploadHost", "UploadService", "may_see"]

#: Resolution given to uploaded files: the fake does not probe what it receives.
UPLOAD_RESOLUTION = 720

# Pieces read from a request body at a time; aiohttp hands over what it has, up to this.
_READ_SIZE = 1 << 20
# Chunk size of web.FileResponse when sending a file.
_SEND_SIZE = 256 * 1024

_JSON_UPLOADX = "application/json"
_RETRY_PROCESSING = 300  # checkUploadSessionCanStart: "retry after 5 min"

# CONSTRAINTS_FIELDS in server/core/initializers/constants.ts.
_NAME_LENGTH = (3, 120)
_FILENAME_LENGTH = (1, 1000)
_DESCRIPTION_LENGTH = (3, 10000)
_SUPPORT_LENGTH = (3, 1000)
_LANGUAGE_LENGTH = (1, 10)
_TAG_LENGTH = (2, 30)
_MAX_TAGS = 5
_PASSWORD_LENGTH = (2, 100)
_MIN_FILE_SIZE = 10  # CONSTRAINTS_FIELDS.VIDEOS.FILE_SIZE

_NAME_MESSAGE = "Should have a video name between 3 and 120 characters long"
_TAGS_MESSAGE = "Should have an array of up to 5 tags between 2 and 30 characters each"

_UNSUPPORTED_FILE = (
    "This file is not supported. Please, make sure it is of the following type: "
    + ", ".join(VIDEO_EXTENSIONS)
)
# MIMETYPES.VIDEO.MIMETYPES_REGEX, approximated: every video and audio type, and the two
# generic types PeerTube accepts when additional extensions are enabled.
_VIDEO_MIMETYPE_RE = re.compile(
    r"(video/[-+.\w]+|audio/[-+.\w]+|application/octet-stream|application/mxf)", re.I
)
# validator.js isNumeric, used on X-Upload-Content-Length.
_NUMERIC_RE = re.compile(r"[+-]?([0-9]*[.])?[0-9]+")
# JavaScript parseInt(value, 10): optional blanks and sign, then digits.
_PARSE_INT_RE = re.compile(r"\s*([+-]?[0-9]+)")
# validator.js isInt.
_INT_RE = re.compile(r"[-+]?[0-9]+")
_DOWNLOAD_NAME_RE = re.compile(r"([0-9a-fA-F-]{36})-([0-9]+)\.(\w+)")

DropPlan = int | Iterable[int | None] | None


def fnv1a64(text: str) -> str:
    """FNV-1a 64-bit hash in hex: uploadx prefixes upload ids with it (of the user id)."""
    value = 0xCBF29CE484222325
    for byte in text.encode():
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def _parse_int(value: str) -> int | None:
    """JavaScript's ``parseInt(value, 10)``; ``None`` for NaN."""
    match = _PARSE_INT_RE.match(value)
    return int(match[1]) if match else None


def _range_start(header: str) -> int | None:
    """uploadx's ``rangeParser``: ``parseInt`` of the second word of ``Content-Range``
    (``bytes 0-99/500`` gives 0, ``bytes */500`` gives NaN); the end is not used."""
    parts = re.split(r"\s+|/", header)
    return _parse_int(parts[1]) if len(parts) > 1 else None


def _next_in_plan(plan: DropPlan) -> tuple[int | None, DropPlan]:
    """The value a fault plan gives for this request, and what is left of the plan."""
    if plan is None:
        return None, None
    if isinstance(plan, int):
        return plan, None
    iterator: Iterator[int | None] = plan if isinstance(plan, Iterator) else iter(plan)
    for value in iterator:
        return value, iterator
    return None, None


@dataclass
class Faults:
    """Faults a :class:`FakeInstance` injects into uploads and downloads.

    Set the attributes at any time (``fake.faults.drop_after_bytes = 1000``), or pass a
    ``Faults`` to the constructor. "Chunk" means a resumable-upload ``PUT`` that carries
    bytes (not a ``bytes */SIZE`` status query).

    Attributes:
        drop_after_bytes: abort the TCP connection of the next chunk once this many bytes of
            its body have arrived; the client sees a transport error. An int is used once;
            an iterable gives one value per chunk, ``None`` letting that chunk through
            (``[None, 1000]``: the second chunk breaks after 1000 bytes). The bytes that
            arrived are kept, as uploadx writes while it reads. When the value is at least
            the chunk's length the whole chunk is taken in (the upload may even complete and
            create its video) and only the answer is lost.
        unavailable_chunks: how many of the next chunks are answered ``503`` with
            ``Retry-After`` (uploadx's ``StorageError`` body) without being written.
        unavailable_retry_after: the ``Retry-After`` of those answers, in seconds.
        chunk_latency: seconds every chunk waits before the server handles it.
        drop_download_after_bytes: abort a file download (``/static/web-videos/...``,
            ``/download/videos/...``) after sending this many bytes of its body; same forms
            as ``drop_after_bytes``.
    """

    drop_after_bytes: DropPlan = None
    unavailable_chunks: int = 0
    unavailable_retry_after: int = 1
    chunk_latency: float = 0.0
    drop_download_after_bytes: DropPlan = None

    def refuse_next_chunks(self, count: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``count`` chunks ``503`` with ``Retry-After: retry_after``."""
        self.unavailable_chunks = count
        self.unavailable_retry_after = retry_after

    def clear(self) -> None:
        """Stop injecting anything."""
        self.drop_after_bytes = None
        self.unavailable_chunks = 0
        self.chunk_latency = 0.0
        self.drop_download_after_bytes = None

    def _take_drop(self) -> int | None:
        value, self.drop_after_bytes = _next_in_plan(self.drop_after_bytes)
        return value

    def _take_download_drop(self) -> int | None:
        value, self.drop_download_after_bytes = _next_in_plan(self.drop_download_after_bytes)
        return value


@dataclass(eq=False)
class _Upload:
    """One upload: uploadx's file and metadata, plus PeerTube's processing state."""

    id: str
    user: User
    channel: Channel
    video_fields: dict[str, Any]
    size: int
    content_type: str
    filename: str
    path: Path
    #: uploadx's ``bytesWritten`` after the last write, reported while the file is locked.
    written: int = 0
    #: uploadx's lock: a PUT is streaming into the file.
    writing: bool = False
    #: Complete; PeerTube is creating the video (the Redis upload session exists).
    processing: bool = False


@dataclass
class _Received:
    written: int = 0
    overflow: bool = False
    dropped: bool = False


@dataclass
class _Form:
    """A parsed legacy upload: its fields and its ``videofile`` part on disk."""

    fields: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    size: int = 0
    filename: str | None = None
    content_type: str = ""


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        done = os.pwrite(fd, data, offset)
        data = data[done:]
        offset += done


def _abort(request: web.Request) -> DroppedResponse:
    """Reset the connection under ``request`` without answering."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return DroppedResponse(status=500)


def may_see(user: User | None, video: Video) -> bool:
    """``checkCanSeeVideo`` for the fake's privacies (server/core/middlewares/validators/
    shared/videos.ts): public and unlisted for anyone, internal for any user, private and
    password-protected for the owner and for users with SEE_ALL_VIDEOS (admins, moderators).
    Password headers and video file tokens are not emulated."""
    if video.privacy in (PRIVACY_PUBLIC, 2):
        return True
    if user is None:
        return False
    if video.privacy == 4:
        return True
    return user.role in (ROLE_ADMINISTRATOR, ROLE_MODERATOR) or (
        video.channel.account.user_id == user.id
    )


class _FieldChecks:
    """express-validator chains of the video upload validators, in their order.

    ``getCommonVideoEditAttributes`` and ``getVideoUploadCommonValidator`` of
    ``server/core/middlewares/validators/videos/videos.ts``, with the sanitizers of
    ``server/core/helpers/custom-validators/misc.ts`` (``toIntOrNull``, ``toBooleanOrNull``,
    ``toValueOrNull``). Thumbnails, previews and schedule updates are not emulated.
    """

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        self.errors: dict[str, dict[str, Any]] = {}
        self.values: dict[str, Any] = {}

    def _fail(self, name: str, value: Any, message: str = "Invalid value") -> None:
        if isinstance(value, float) and math.isnan(value):
            value = None  # JSON.stringify(NaN)
        self.errors[name] = field_error(value, message, name, "body")

    @staticmethod
    def _to_int_or_null(value: Any) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return math.nan
        if isinstance(value, (int, float)):
            return int(value) if isinstance(value, float) and value.is_integer() else value
        parsed = _parse_int(str(value))
        return math.nan if parsed is None else parsed

    @staticmethod
    def _to_bool_or_null(value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        # validator.js toBoolean, not strict.
        text = str(value)
        return text not in ("0", "") and text.lower() != "false"

    @staticmethod
    def _is_int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def _length_ok(self, value: Any, bounds: tuple[int, int]) -> bool:
        return isinstance(value, str) and bounds[0] <= len(value) <= bounds[1]

    def common(self) -> None:
        """``getCommonVideoEditAttributes`` (optional: only checked when present)."""
        body = self.body
        if "category" in body:
            value = self._to_int_or_null(body["category"])
            if value is None or (self._is_int(value) and str(value) in VIDEO_CATEGORIES):
                self.values["category"] = value
            else:
                self._fail("category", value)
        if "licence" in body:
            value = self._to_int_or_null(body["licence"])
            if value is None or (self._is_int(value) and 1 <= value <= 7):
                self.values["licence"] = value
            else:
                self._fail("licence", value)
        if "language" in body:
            value = None if body["language"] == "null" else body["language"]
            if value is None or self._length_ok(value, _LANGUAGE_LENGTH):
                self.values["language"] = value
            else:
                self._fail("language", value)
        for name, message in (
            ("nsfw", "Should have a valid nsfw boolean"),
            ("waitTranscoding", "Should have a valid waitTranscoding boolean"),
        ):
            if name in body:
                value = self._to_bool_or_null(body[name])
                if isinstance(value, bool):
                    self.values[name] = value
                else:
                    self._fail(name, value, message)
        if "privacy" in body:
            value = self._to_int_or_null(body["privacy"])
            if self._is_int(value) and 1 <= value <= 5:
                self.values["privacy"] = value
            else:
                self._fail("privacy", value)
        for name, bounds in (("description", _DESCRIPTION_LENGTH), ("support", _SUPPORT_LENGTH)):
            if name in body:
                value = None if body[name] == "null" else body[name]
                if value is None or self._length_ok(value, bounds):
                    self.values[name] = value
                else:
                    self._fail(name, value)
        if "tags" in body:
            value = None if body["tags"] == "null" else body["tags"]
            if value is None:
                self.values["tags"] = ()
            elif (
                isinstance(value, list)
                and len(value) <= _MAX_TAGS
                and all(self._length_ok(tag, _TAG_LENGTH) for tag in value)
            ):
                self.values["tags"] = tuple(value)
            else:
                self._fail("tags", value, _TAGS_MESSAGE)
        if "commentsPolicy" in body:
            value = body["commentsPolicy"]
            # No sanitizer: VIDEO_COMMENTS_POLICY[value] works with 1 and "1" alike.
            if value is None or str(value) in ("1", "2", "3"):
                self.values["commentsPolicy"] = None if value is None else int(value)
            else:
                self._fail("commentsPolicy", value)
        if "downloadEnabled" in body:
            value = self._to_bool_or_null(body["downloadEnabled"])
            if isinstance(value, bool):
                self.values["downloadEnabled"] = value
            else:
                self._fail("downloadEnabled", value, "Should have downloadEnabled boolean")

    def upload_common(self) -> None:
        """``getVideoUploadCommonValidator``: name (trimmed), channelId, videoPasswords."""
        body = self.body
        name = body.get("name", UNDEFINED)
        if isinstance(name, str):
            name = name.strip()
        if self._length_ok(name, _NAME_LENGTH):
            self.values["name"] = name
        else:
            self._fail("name", name, _NAME_MESSAGE)
        channel = self._to_int_or_null(body.get("channelId"))
        if "channelId" in body and self._is_int(channel) and _INT_RE.fullmatch(str(channel)):
            self.values["channelId"] = channel
        else:
            self._fail("channelId", channel if "channelId" in body else UNDEFINED)
        if "videoPasswords" in body:
            passwords = body["videoPasswords"]
            if isinstance(passwords, list):
                self.values["videoPasswords"] = passwords
            else:
                self._fail("videoPasswords", passwords, "Video passwords should be an array.")

    def filename(self) -> None:
        """``body('filename').custom(isVideoSourceFilenameValid)`` of the resumable init."""
        value = self.body.get("filename", UNDEFINED)
        if not self._length_ok(value, _FILENAME_LENGTH):
            self._fail("filename", value)


class UploadHost(Protocol):
    """What the upload and file routes need of their instance (a ``FakeInstance``)."""

    stats: FakeStats
    faults: Faults
    _http: Responder
    _oauth: OAuthServer
    _catalog: Catalog | None
    _clock: Callable[[], float]

    def _require_catalog(self) -> Catalog: ...

    def _find_video(self, raw: str) -> Video | None: ...


class UploadService:
    """The upload, file and benchmark routes of one fake instance.

    Handlers of ``/api/v1`` routes run inside the instance's emulated middleware chain
    (rate limits, stats) and build their answers with its :class:`Responder` and
    :class:`OAuthServer`.
    """

    def __init__(
        self,
        fake: UploadHost,
        *,
        processing_time: float,
        retry_after: int,
        upload_dir: str | os.PathLike[str] | None,
    ) -> None:
        self._fake = fake
        self.processing_time = processing_time
        self.retry_after = retry_after
        self._parent_dir = upload_dir
        self.root: Path | None = None
        self.uploads: dict[str, _Upload] = {}
        #: Other instances whose public files this one serves (``serve_files_from``).
        self.foreign: list[UploadService] = []
        self._sink_count = 0

    # Lifecycle --------------------------------------------------------------------------

    def open(self) -> None:
        """Create the temporary folder of uploads and files."""
        root = Path(tempfile.mkdtemp(prefix="peertube-fake-", dir=self._parent_dir))
        (root / "uploads").mkdir()
        (root / "files").mkdir()
        self.root = root

    async def close(self) -> None:
        """Forget every upload and remove the temporary folder with every stored file."""
        self.uploads.clear()
        root, self.root = self.root, None
        if root is not None:
            await asyncio.to_thread(shutil.rmtree, root, True)

    def _require_root(self) -> Path:
        if self.root is None:
            raise RuntimeError("FakeInstance is not started")
        return self.root

    # Helpers for tests ------------------------------------------------------------------

    def forget(self, upload_id: str) -> bool:
        """Drop an upload as if it had expired; returns whether it existed."""
        upload = self.uploads.get(upload_id)
        if upload is None:
            return False
        self._discard(upload)
        return True

    def progress(self, upload_id: str) -> int | None:
        """Bytes a status query would report (the file's size on disk)."""
        upload = self.uploads.get(upload_id)
        if upload is None:
            return None
        return upload.path.stat().st_size

    def store_file(
        self,
        video: Video,
        *,
        data: bytes | None,
        path: str | os.PathLike[str] | None,
        size: int | None,
        resolution: int,
    ) -> StoredFile:
        """Attach a file to ``video``: given bytes, an existing file (used in place), or
        ``size`` deterministic pseudo-random bytes written to disk in blocks."""
        if sum(x is not None for x in (data, path, size)) != 1:
            raise ValueError("give exactly one of data=, path= or size=")
        catalog = self._fake._require_catalog()
        if path is not None:
            source = Path(path)
            return catalog.add_file(video, source, source.stat().st_size, resolution)
        name = new_file_name(resolution)
        target = self._require_root() / "files" / name
        if data is not None:
            target.write_bytes(data)
            length = len(data)
        else:
            assert size is not None
            length = size
            _write_pattern(target, size, seed=video.id * 1000 + resolution)
        return catalog.add_file(video, target, length, resolution, filename=name)

    # Replies ----------------------------------------------------------------------------

    def _uploadx_reply(
        self,
        request: web.Request,
        exchange: Exchange,
        status: int,
        body: bytes | None = None,
        extra: tuple[tuple[str, str], ...] = (),
        reason: str | None = None,
    ) -> web.Response:
        """uploadx's ``send``: its headers, then the body's type and length, then
        ``Cache-Control: no-store`` (order as in the samples)."""
        fake = self._fake
        headers = exchange.headers
        if "Date" not in headers:
            headers["Date"] = fake._http.http_date()
        for name, value in extra:
            headers[name] = value
        if body is not None:
            headers["Content-Type"] = _JSON_UPLOADX
        if status != 204:
            headers["Content-Length"] = str(len(body or b""))
        headers["Cache-Control"] = "no-store"
        if request.keep_alive:
            headers["Keep-Alive"] = fake._http.keep_alive_header
        return web.Response(status=status, reason=reason, body=body, headers=headers)

    def _uploadx_error(
        self,
        request: web.Request,
        exchange: Exchange,
        status: int,
        code: str,
        message: str,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> web.Response:
        body = dumps({"error": {"code": code, "message": message}})
        return self._uploadx_reply(request, exchange, status, body, extra)

    def _not_found(self, request: web.Request, exchange: Exchange) -> web.Response:
        return self._uploadx_error(request, exchange, 404, "FileNotFound", "Not found")

    def _forbidden(self, request: web.Request, exchange: Exchange) -> web.Response:
        return self._uploadx_error(
            request, exchange, 403, "Forbidden", "Authenticated user is not allowed access"
        )

    # Shared checks ----------------------------------------------------------------------

    def _check_video(
        self,
        request: web.Request,
        exchange: Exchange,
        user: User,
        checks: _FieldChecks,
        *,
        mimetype: str,
        size: int,
        filename: str | None,
        extension_required: bool,
    ) -> Channel | web.Response:
        """``commonVideoChecks`` and ``isValidPasswordProtectedPrivacy`` once the fields
        passed: the channel, the file's type and size, the video passwords."""
        fake = self._fake
        catalog = fake._require_catalog()
        # doesVideoChannelOfAccountExist (PeerTube 6.x): both failures are 400s.
        channel = catalog.channel_by_id(checks.values["channelId"])
        if channel is None:
            return fake._http.problem(
                request, exchange, 400, 'Unknown video "video channel" for this instance.'
            )
        if not user.is_privileged and channel.account.user_id != user.id:
            return fake._http.problem(
                request, exchange, 400, 'Unknown video "video channel" for this account.'
            )
        # commonVideoFileChecks: isFileValid wants an original name and a video mimetype.
        extension = os.path.splitext(filename or "")[1].lower()
        if (
            not filename
            or not _VIDEO_MIMETYPE_RE.fullmatch(mimetype)
            or (extension_required and extension not in VIDEO_EXTENSIONS)
        ):
            return fake._http.problem(request, exchange, 415, _UNSUPPORTED_FILE)
        if size < _MIN_FILE_SIZE:
            return fake._http.problem(
                request,
                exchange,
                413,
                "This file is too large. It exceeds the maximum file size authorized",
                code="max_file_size_reached",
            )
        if checks.values.get("privacy") == 5:
            refused = self._check_passwords(checks.values.get("videoPasswords"))
            if refused is not None:
                return fake._http.problem(request, exchange, 400, refused)
        return channel

    @staticmethod
    def _check_passwords(passwords: Any) -> str | None:
        if passwords is None:
            return "Video passwords are missing."
        if not passwords:
            return "At least one video password is required."
        if len({repr(p) for p in passwords}) != len(passwords):
            return "Duplicate video passwords are not allowed."
        for password in passwords:
            if not isinstance(password, str):
                return "Video password should be a string."
            if not _PASSWORD_LENGTH[0] <= len(password) <= _PASSWORD_LENGTH[1]:
                return (
                    "Invalid video password. Password length should be at least 2 "
                    "characters and no more than 100 characters."
                )
        return None

    def _create_video(
        self, channel: Channel, values: Mapping[str, Any], path: Path, size: int
    ) -> Video:
        """``LocalVideoCreator``: privacy defaults to Private, licence to the instance
        default (none), comments and downloads to enabled; the file moves into place."""
        fake = self._fake
        catalog = fake._require_catalog()
        video = catalog.create_video(
            name=values["name"],
            channel=channel,
            now=fake._clock(),
            privacy=values.get("privacy") or 3,
            category=values.get("category"),
            licence=values.get("licence"),
            language=values.get("language"),
            description=values.get("description"),
            support=values.get("support"),
            tags=values.get("tags") or (),
            nsfw=bool(values.get("nsfw")),
            comments_policy=values.get("commentsPolicy") or 1,
            download_enabled=values.get("downloadEnabled") is not False,
            wait_transcoding=bool(values.get("waitTranscoding")),
        )
        name = new_file_name(UPLOAD_RESOLUTION)
        target = self._require_root() / "files" / name
        os.replace(path, target)
        catalog.add_file(video, target, size, UPLOAD_RESOLUTION, filename=name)
        fake.stats.videos_created += 1
        return video

    @staticmethod
    def _ids_body(video: Video) -> bytes:
        return dumps({"video": {"id": video.id, "shortUUID": video.short_uuid, "uuid": video.uuid}})

    # Resumable upload -------------------------------------------------------------------

    async def init(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``POST /api/v1/videos/upload-resumable``: validate, create the upload, 201."""
        fake = self._fake
        # setupUploadResumableRoutes: authenticate, then the doc, then the validators.
        user = fake._oauth.authenticate(request, exchange)
        if isinstance(user, web.Response):
            return user
        exchange.docs = "uploadResumableInit"
        body = await read_body(request)

        # resumableInitValidator: only the first failing check of a field is reported.
        errors: dict[str, dict[str, Any]] = {}
        if "filename" not in body:
            errors["filename"] = field_error(UNDEFINED, "Invalid value", "filename", "body")
        length = request.headers.get("X-Upload-Content-Length")
        if length is None or not _NUMERIC_RE.fullmatch(length):
            value = UNDEFINED if length is None else length
            errors["x-upload-content-length"] = field_error(
                value, "Invalid value", "x-upload-content-length", "headers"
            )
        mimetype = request.headers.get("X-Upload-Content-Type")
        if mimetype is None:
            errors["x-upload-content-type"] = field_error(
                UNDEFINED, "Invalid value", "x-upload-content-type", "headers"
            )
        if errors:
            return fake._http.invalid(request, exchange, errors)
        assert length is not None and mimetype is not None

        # videosAddResumableInitValidator.
        checks = _FieldChecks(body)
        checks.common()
        checks.upload_common()
        checks.filename()
        if checks.errors:
            return fake._http.invalid(request, exchange, checks.errors)
        size = math.floor(float(length))
        filename = str(body["filename"])
        channel = self._check_video(
            request,
            exchange,
            user,
            checks,
            mimetype=mimetype,
            size=size,
            filename=filename,
            extension_required=False,
        )
        if isinstance(channel, web.Response):
            return channel

        # uploadx: an id under the user's hash, an empty file, Location relative to the
        # request's Host and path, other query parameters kept.
        upload_id = "-".join([fnv1a64(str(user.id)), *(secrets.token_hex(8) for _ in range(3))])
        path = self._require_root() / "uploads" / upload_id
        path.touch()
        self.uploads[upload_id] = _Upload(
            id=upload_id,
            user=user,
            channel=channel,
            video_fields=checks.values,
            size=size,
            content_type=mimetype,
            filename=filename,
            path=path,
        )
        fake.stats.uploads_started += 1
        query = [(k, v) for k, v in request.query.items() if k != "upload_id"]
        query.append(("upload_id", upload_id))
        location = f"//{request.host}{request.path}?{urllib.parse.urlencode(query)}"
        exchange.headers["Access-Control-Expose-Headers"] = "Retry-After,Location"
        return self._uploadx_reply(request, exchange, 201, extra=(("Location", location),))

    def _lookup(
        self, request: web.Request, exchange: Exchange, user: User
    ) -> _Upload | web.Response:
        """uploadx's ``getAndVerifyId`` then the metadata lookup."""
        upload_id = request.query.get("upload_id", "")
        if not upload_id or not upload_id.startswith(fnv1a64(str(user.id))):
            return self._forbidden(request, exchange)
        upload = self.uploads.get(upload_id)
        if upload is None:
            return self._not_found(request, exchange)
        return upload

    async def put(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``PUT /api/v1/videos/upload-resumable?upload_id=``: a chunk or a status query."""
        fake = self._fake
        stats = fake.stats
        user = fake._oauth.authenticate(request, exchange)
        if isinstance(user, web.Response):
            return user
        upload = self._lookup(request, exchange, user)
        if isinstance(upload, web.Response):
            return upload

        # rangeParser: only the start counts; "*" (NaN) or no number means no content.
        content_range = request.headers.get("Content-Range")
        start = _range_start(content_range) if content_range else 0
        has_content = start is not None and start >= 0
        if has_content:
            stats.upload_chunks += 1
        else:
            stats.upload_status_queries += 1

        if upload.processing:
            # uploadx hands the completed file to PeerTube again; checkUploadSessionCanStart
            # finds the session taken.
            exchange.docs = "uploadResumable"
            return fake._http.problem(
                request,
                exchange,
                503,
                "The upload is already being processed",
                extra=(("Retry-After", str(self.retry_after)),),
            )
        if upload.writing:
            # DiskStorage.write returns a locked file untouched.
            return self._resume_incomplete(request, exchange, upload.written)
        declared = request.content_length or 0
        if (start or 0) + declared > upload.size:
            # isValidPart: (start || 0) + contentLength <= size.
            return self._uploadx_error(request, exchange, 409, "FileConflict", "File conflict")

        faults = fake.faults
        drop: int | None = None
        if has_content:
            if faults.chunk_latency > 0:
                await asyncio.sleep(faults.chunk_latency)
                if self.uploads.get(upload.id) is not upload:
                    return self._not_found(request, exchange)
            if faults.unavailable_chunks > 0:
                faults.unavailable_chunks -= 1
                retry = (("Retry-After", str(faults.unavailable_retry_after)),)
                return self._uploadx_error(
                    request, exchange, 503, "StorageError", "Storage error", retry
                )
            drop = faults._take_drop()

        if has_content:
            assert start is not None
            upload.writing = True
            try:
                received = await self._receive(request, upload.path, start, upload.size, drop)
            finally:
                upload.writing = False
            stats.upload_bytes += received.written
            if self.uploads.get(upload.id) is not upload:
                # Cancelled or forgotten while the chunk was arriving: its file is gone.
                return self._not_found(request, exchange)
            if received.dropped:
                upload.written = upload.path.stat().st_size
                stats.dropped_connections += 1
                return _abort(request)
            if received.overflow:
                return self._uploadx_error(request, exchange, 409, "FileConflict", "File conflict")
            written = start + received.written
        else:
            # No content: ensureFile answers the file's size on disk.
            written = upload.path.stat().st_size
        upload.written = written

        if written == upload.size:
            reply = await self._complete(request, exchange, upload)
        else:
            reply = self._resume_incomplete(request, exchange, written)
        if drop is not None:
            # The whole chunk arrived; only the answer is lost.
            stats.dropped_connections += 1
            return _abort(request)
        return reply

    def _resume_incomplete(
        self, request: web.Request, exchange: Exchange, written: int
    ) -> web.Response:
        exchange.headers["Access-Control-Expose-Headers"] = "Retry-After,Range"
        return self._uploadx_reply(
            request,
            exchange,
            308,
            extra=(("Range", f"bytes=0-{written - 1}"),),
            reason="Resume Incomplete",
        )

    async def _complete(
        self, request: web.Request, exchange: Exchange, upload: _Upload
    ) -> web.Response:
        """``addVideoResumable``: create the video, then forget the upload session and the
        uploadx file (a replay then gets uploadx's 404)."""
        fake = self._fake
        upload.processing = True
        try:
            if self.processing_time > 0:
                await asyncio.sleep(self.processing_time)
            video = self._create_video(
                upload.channel, upload.video_fields, upload.path, upload.size
            )
        finally:
            self.uploads.pop(upload.id, None)
            with contextlib.suppress(FileNotFoundError):
                upload.path.unlink()
        fake.stats.uploads_completed += 1
        exchange.docs = "uploadResumable"
        return fake._http.json(request, exchange, self._ids_body(video))

    async def _receive(
        self, request: web.Request, path: Path, start: int, limit: int | None, drop: int | None
    ) -> _Received:
        """Stream the body into ``path`` at ``start`` with positioned writes, stopping at
        ``limit`` bytes of file (overflow) or after ``drop`` bytes (dropped)."""
        result = _Received()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            offset = start
            async for piece in request.content.iter_chunked(_READ_SIZE):
                view = memoryview(piece)
                if drop is not None and result.written + len(view) > drop:
                    view = view[: drop - result.written]
                    result.dropped = True
                if limit is not None and offset + len(view) > limit:
                    view = view[: max(0, limit - offset)]
                    result.overflow = True
                # Page-cache writes take microseconds: a thread hop per piece would cost
                # more than the write itself.
                _pwrite_all(fd, view, offset)
                offset += len(view)
                result.written += len(view)
                if result.dropped or result.overflow:
                    break
        finally:
            os.close(fd)
        return result

    async def cancel(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``DELETE /api/v1/videos/upload-resumable?upload_id=``: 204, known or not."""
        fake = self._fake
        user = fake._oauth.authenticate(request, exchange)
        if isinstance(user, web.Response):
            return user
        upload_id = request.query.get("upload_id", "")
        if not upload_id or not upload_id.startswith(fnv1a64(str(user.id))):
            return self._forbidden(request, exchange)
        upload = self.uploads.get(upload_id)
        if upload is not None:
            self._discard(upload)
            fake.stats.upload_cancels += 1
        return self._uploadx_reply(request, exchange, 204)

    def _discard(self, upload: _Upload) -> None:
        self.uploads.pop(upload.id, None)
        if not upload.processing:  # the processing request owns the file now
            with contextlib.suppress(FileNotFoundError):
                upload.path.unlink()

    # Legacy upload ----------------------------------------------------------------------

    async def legacy(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``POST /api/v1/videos/upload``: multipart with ``videofile`` and the fields."""
        fake = self._fake
        exchange.docs = "uploadLegacy"  # openapiOperationDoc comes before authenticate
        user = fake._oauth.authenticate(request, exchange)
        if isinstance(user, web.Response):
            return user
        if request.content_type == "multipart/form-data":
            form = await self._read_form(request)
        else:
            form = _Form(fields=await read_body(request))
        try:
            checks = _FieldChecks(form.fields)
            checks.common()
            checks.upload_common()
            if form.path is None or not form.filename:
                checks.errors["videofile"] = field_error(
                    UNDEFINED, "Should have a file", "videofile", "body"
                )
            if checks.errors:
                return fake._http.invalid(request, exchange, checks.errors)
            assert form.path is not None
            channel = self._check_video(
                request,
                exchange,
                user,
                checks,
                mimetype=form.content_type,
                size=form.size,
                filename=form.filename,
                extension_required=True,
            )
            if isinstance(channel, web.Response):
                return channel
            video = self._create_video(channel, checks.values, form.path, form.size)
            fake.stats.legacy_uploads += 1
            return fake._http.json(request, exchange, self._ids_body(video))
        finally:
            if form.path is not None:
                with contextlib.suppress(FileNotFoundError):
                    form.path.unlink()

    async def _read_form(self, request: web.Request) -> _Form:
        """multer: fields as strings (``tags[]`` / ``tags[N]`` into a list), the first
        ``videofile`` streamed to disk, other files read and dropped."""
        form = _Form()
        lists: dict[str, list[str]] = {}
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            name = part.name or ""
            if part.filename is None:
                value = await part.text()
                key = re.sub(r"\[\d*\]$", "", name)
                if key != name or key in lists:
                    lists.setdefault(key, []).append(value)
                    form.fields[key] = lists[key]
                else:
                    form.fields[name] = value
                continue
            if name != "videofile" or form.path is not None:
                await part.release()
                continue
            path = self._require_root() / "uploads" / f"legacy-{secrets.token_hex(8)}"
            form.path = path
            form.filename = part.filename
            form.content_type = part.headers.get("Content-Type", "application/octet-stream")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                while chunk := await part.read_chunk(_READ_SIZE):
                    _pwrite_all(fd, memoryview(chunk), form.size)
                    form.size += len(chunk)
            finally:
                os.close(fd)
        return form

    # Files ------------------------------------------------------------------------------

    def _find_public(self, filename: str) -> StoredFile | None:
        for service in (self, *self.foreign):
            catalog = service._fake._catalog
            file = catalog.files_by_name.get(filename) if catalog is not None else None
            if file is not None and not file.private:
                return file
        return None

    async def static_file(self, request: web.Request) -> web.StreamResponse:
        """``GET /static/web-videos/{filename}``: a public file, with ``Range``."""
        self._fake.stats.file_requests += 1
        file = self._find_public(request.match_info["filename"])
        if file is None:
            return web.Response(status=404, text="Not Found")
        return await self._send_file(request, file)

    async def private_file(self, request: web.Request) -> web.StreamResponse:
        """``GET /static/web-videos/private/{filename}``: ``ensureCanAccessVideoPrivate
        WebVideoFiles`` of server/core/middlewares/validators/static.ts."""
        fake = self._fake
        fake.stats.file_requests += 1
        exchange = Exchange()
        refused = fake._oauth.optional_authenticate(request, exchange)
        if refused is not None:
            return refused
        if "videoFileToken" in request.query:
            # Video file tokens are not issued by the fake, so none is valid.
            return fake._http.problem(request, exchange, 403, "Invalid video file token")
        if not (
            request.headers.get("x-peertube-video-password") or request.headers.get("Authorization")
        ):
            return fake._http.problem(
                request,
                exchange,
                403,
                "Video password header, video file token query parameter and bearer token "
                "are all missing",
            )
        catalog = fake._require_catalog()
        file = catalog.files_by_name.get(request.match_info["filename"])
        if file is None:
            return web.Response(status=403, text="Forbidden")
        video = catalog.video_by_id(file.video_id)
        assert video is not None
        user = fake._oauth.user_of(exchange)
        if user is None and video.private_files:
            # A password header alone: checkCanSeeUserAuthVideo wants a user.
            return fake._oauth.token_refused(request, exchange, 401, "unauthorized_request")
        if not may_see(user, video):
            return fake._http.problem(
                request, exchange, 403, "Cannot fetch information of private/internal/blocked video"
            )
        if not file.private:
            return web.Response(status=404, text="Not Found")  # it is in the public folder
        return await self._send_file(request, file)

    async def download(self, request: web.Request) -> web.StreamResponse:
        """``GET /download/videos/{uuid}-{resolution}.mp4``: the file as an attachment
        named after the video (``res.download``); private videos need an allowed token."""
        fake = self._fake
        fake.stats.file_requests += 1
        exchange = Exchange()
        refused = fake._oauth.optional_authenticate(request, exchange)
        if refused is not None:
            return refused
        match = _DOWNLOAD_NAME_RE.fullmatch(request.match_info["name"])
        catalog = fake._require_catalog()
        video = catalog.video_by_uuid(match[1]) if match else None
        file = None
        if video is not None and match is not None:
            wanted = int(match[2])
            file = next((f for f in video.files if f.resolution == wanted), None)
        if video is None or file is None:
            return fake._http.problem(request, exchange, 404, "Video not found")
        if not may_see(fake._oauth.user_of(exchange), video):
            if exchange.session is None:
                return fake._oauth.token_refused(request, exchange, 401, "unauthorized_request")
            return fake._http.problem(
                request, exchange, 403, "Cannot fetch information of private/internal/blocked video"
            )
        title = re.sub(r'["\\\r\n]', "_", video.name).encode("ascii", "replace").decode()
        disposition = f'attachment; filename="{title}-{file.resolution}p.mp4"'
        return await self._send_file(request, file, (("Content-Disposition", disposition),))

    async def generate_download(self, request: web.Request) -> web.StreamResponse:
        """``GET /download/videos/generate/{video}?videoFileIds=N``: the video's file of
        that id (its best one without), served whole or by ``Range``."""
        fake = self._fake
        fake.stats.file_requests += 1
        exchange = Exchange()
        refused = fake._oauth.optional_authenticate(request, exchange)
        if refused is not None:
            return refused
        video = fake._find_video(request.match_info["video"])
        if video is None or not video.files:
            return fake._http.problem(request, exchange, 404, "Video not found")
        if not may_see(fake._oauth.user_of(exchange), video):
            if exchange.session is None:
                return fake._oauth.token_refused(request, exchange, 401, "unauthorized_request")
            return fake._http.problem(
                request, exchange, 403, "Cannot fetch information of private/internal/blocked video"
            )
        wanted = request.query.getall("videoFileIds", [])
        files = [f for f in video.files if not wanted or str(f.id) in wanted]
        if not files:
            return fake._http.problem(request, exchange, 404, "Video file not found")
        file = max(files, key=lambda f: f.resolution)
        return await self._send_file(request, file, ())

    async def _send_file(
        self,
        request: web.Request,
        file: StoredFile,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> web.StreamResponse:
        if request.method == "GET":
            drop = self._fake.faults._take_download_drop()
            if drop is not None:
                return await self._send_then_drop(request, file, drop, extra)
        return web.FileResponse(file.path, chunk_size=_SEND_SIZE, headers=dict(extra))

    async def _send_then_drop(
        self,
        request: web.Request,
        file: StoredFile,
        drop: int,
        extra: tuple[tuple[str, str], ...],
    ) -> web.StreamResponse:
        """Answer like FileResponse would (200, or 206 for a satisfiable ``Range``), send
        ``drop`` bytes of the body, then reset the connection."""
        size = file.path.stat().st_size
        try:
            wanted = request.http_range
        except ValueError:
            wanted = slice(None)
        start, stop = 0, size
        if wanted.start is not None or wanted.stop is not None:
            if wanted.start is not None and wanted.start < 0:  # suffix: bytes=-N
                start = max(0, size + wanted.start)
            else:
                start = wanted.start or 0
                stop = min(size, wanted.stop if wanted.stop is not None else size)
        if start >= stop:
            # Unsatisfiable: let FileResponse answer its 416.
            return web.FileResponse(file.path, chunk_size=_SEND_SIZE, headers=dict(extra))
        status = 206 if (start, stop) != (0, size) else 200
        headers = {
            "Content-Type": "video/mp4",
            "Accept-Ranges": "bytes",
            "Content-Length": str(stop - start),
            **dict(extra),
        }
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
        response = web.StreamResponse(status=status, headers=headers)
        await response.prepare(request)
        budget = min(drop, stop - start)
        with file.path.open("rb") as handle:
            handle.seek(start)
            while budget > 0:
                block = handle.read(min(_SEND_SIZE, budget))
                if not block:
                    break
                await response.write(block)
                budget -= len(block)
        self._fake.stats.dropped_connections += 1
        transport = request.transport
        if transport is not None:
            transport.abort()
        return response

    # Benchmark helper -------------------------------------------------------------------

    async def bench_sink(self, request: web.Request) -> web.Response:
        """``PUT /_bench/sink``: take a body the way chunks are taken, then 204.

        The bytes go to a scratch file with the same positioned writes as an upload chunk
        (removed right after), or nowhere with ``?discard=1``; ``X-Received-Bytes`` says
        how many arrived. No auth, no rate limit, no API counters: a baseline for the
        cost of the upload protocol on this server.
        """
        received = 0
        if request.query.get("discard") in ("1", "true"):
            async for piece in request.content.iter_chunked(_READ_SIZE):
                received += len(piece)
        else:
            self._sink_count += 1
            path = self._require_root() / "uploads" / f"sink-{self._sink_count}"
            try:
                received = (await self._receive(request, path, 0, None, None)).written
            finally:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        self._fake.stats.bench_bytes += received
        return web.Response(status=204, headers={"X-Received-Bytes": str(received)})


def _write_pattern(path: Path, size: int, seed: int) -> None:
    """``size`` deterministic bytes (a repeated 1 MiB block derived from ``seed``)."""
    block = _pattern_block(seed)
    with path.open("wb") as handle:
        left = size
        while left > 0:
            piece = block[: min(left, len(block))]
            handle.write(piece)
            left -= len(piece)


def _pattern_block(seed: int) -> bytes:
    return random.Random(seed).randbytes(1 << 20)
