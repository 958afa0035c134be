"""Exceptions raised by the SDK, and the classification of PeerTube's error responses.

::

    PeerTubeError
    ├── TransportError            no HTTP answer: the request could not be completed
    │   ├── ConnectError
    │   └── RequestTimeout
    ├── RateLimited               not an APIError: may be raised before anything is sent
    ├── UnsupportedByServer       the instance's release lacks the operation (nothing sent)
    ├── ResponseDecodeError       a 2xx body that is not the JSON or model expected
    │   └── ResponseTooLarge      a body longer than the client's max_body_size
    ├── DownloadError             a file cannot be fetched whole (redirect, wrong length)
    └── APIError                  .status .problem .method .url .headers .body_excerpt
        ├── RedirectError         3xx, .location (never followed)
        ├── BadRequest            400, .invalid_params
        ├── Unauthorized          401
        ├── Forbidden             403
        ├── NotFound              404
        ├── Conflict              409
        ├── PayloadTooLarge       413
        ├── UnsupportedMediaType  415
        ├── UnprocessableEntity   422
        └── ServerError           500-599

Other statuses give a plain :class:`APIError`. :func:`error_from_response` turns any error
response into one of these: RFC 7807 problem+json, the resumable-upload layer's
``{"error": {"code", "message"}}``, text or HTML from PeerTube or a proxy, empty or broken
bodies. It never raises while classifying; when the body is not a problem document it
builds a synthetic :class:`Problem` from the status and the body text.

Exceptions never carry secrets: no request body, no header values except those about rate
limits (plus ``Date`` and ``Content-Type``), URLs without user info and with token-like
query values redacted, password or token values echoed in a body replaced, and the
secrets the client knows (its tokens, OAuth client secret, a password being sent)
replaced wherever an answer repeats them. Classifying a body is linear in its length and
only what an error keeps (a few short strings) is examined closely.
"""

from __future__ import annotations

import functools
import html
import itertools
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

import attrs
from multidict import CIMultiDict, CIMultiDictProxy

if TYPE_CHECKING:
    import cattrs

from ._convert import WIRE, OpenStrEnum, make_converter

__all__ = [
    "APIError",
    "BadRequest",
    "Conflict",
    "ConnectError",
    "DownloadError",
    "ErrorCode",
    "Forbidden",
    "InvalidParam",
    "NotFound",
    "PayloadTooLarge",
    "PeerTubeError",
    "Problem",
    "RateLimited",
    "RedirectError",
    "RequestTimeout",
    "ResponseDecodeError",
    "ResponseTooLarge",
    "ServerError",
    "TransportError",
    "Unauthorized",
    "UnprocessableEntity",
    "UnsupportedByServer",
    "UnsupportedMediaType",
    "error_from_response",
]

_EXCERPT_CHARS = 200
_MESSAGE_CHARS = 300
# Error bodies are small (a problem document is a few hundred bytes, one echoing long
# field values a few KB); past this a body is only excerpted, never parsed.
_MAX_JSON_BYTES = 256 * 1024
_REDACTED = "REDACTED"


class ErrorCode(OpenStrEnum):
    """PeerTube's error codes (``code``, and the tail of ``type``), server and OAuth ones.

    Codes that newer servers add decode as pseudo-members with ``known`` False.
    """

    MAX_FILE_SIZE_REACHED = "max_file_size_reached"
    QUOTA_REACHED = "quota_reached"
    DOES_NOT_RESPECT_FOLLOW_CONSTRAINTS = "does_not_respect_follow_constraints"
    LIVE_NOT_ENABLED = "live_not_enabled"
    LIVE_NOT_ALLOWING_REPLAY = "live_not_allowing_replay"
    LIVE_CONFLICTING_PERMANENT_AND_SAVE_REPLAY = "live_conflicting_permanent_and_save_replay"
    MAX_INSTANCE_LIVES_LIMIT_REACHED = "max_instance_lives_limit_reached"
    MAX_USER_LIVES_LIMIT_REACHED = "max_user_lives_limit_reached"
    INCORRECT_FILES_IN_TORRENT = "incorrect_files_in_torrent"
    COMMENT_NOT_ASSOCIATED_TO_VIDEO = "comment_not_associated_to_video"
    MISSING_TWO_FACTOR = "missing_two_factor"
    INVALID_TWO_FACTOR = "invalid_two_factor"
    ACCOUNT_WAITING_FOR_APPROVAL = "account_waiting_for_approval"
    ACCOUNT_APPROVAL_REJECTED = "account_approval_rejected"
    RUNNER_JOB_NOT_IN_PROCESSING_STATE = "runner_job_not_in_processing_state"
    RUNNER_JOB_NOT_IN_PENDING_STATE = "runner_job_not_in_pending_state"
    UNKNOWN_RUNNER_TOKEN = "unknown_runner_token"
    VIDEO_REQUIRES_PASSWORD = "video_requires_password"
    INCORRECT_VIDEO_PASSWORD = "incorrect_video_password"
    VIDEO_ALREADY_BEING_TRANSCODED = "video_already_being_transcoded"
    VIDEO_ALREADY_BEING_TRANSCRIBED = "video_already_being_transcribed"
    VIDEO_ALREADY_HAS_CAPTIONS = "video_already_has_captions"
    MAX_USER_VIDEO_QUOTA_EXCEEDED_FOR_USER_EXPORT = "max_user_video_quota_exceeded_for_user_export"
    CURRENT_PASSWORD_IS_INVALID = "current_password_is_invalid"
    # OAuth 2
    INVALID_GRANT = "invalid_grant"
    INVALID_CLIENT = "invalid_client"
    INVALID_TOKEN = "invalid_token"
    INVALID_REQUEST = "invalid_request"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    UNAUTHORIZED_CLIENT = "unauthorized_client"
    UNAUTHORIZED_REQUEST = "unauthorized_request"


_TYPE_CODE_MARKER = "#section/Errors/"


@attrs.frozen(kw_only=True)
class InvalidParam:
    """One entry of a validation error's ``invalid-params`` (the key is the field name).

    ``location`` is one of ``params``, ``body``, ``header(s)``, ``query``, ``cookies``.
    Older servers name the field in ``param`` instead of ``path``.
    """

    type: str | None = None
    value: Any = None
    msg: str | None = None
    path: str | None = None
    location: str | None = None
    param: str | None = None


@attrs.frozen(kw_only=True)
class Problem:
    """An RFC 7807 problem document with PeerTube's extensions.

    When ``code`` is absent but ``type`` ends with ``#section/Errors/<code>``, ``code`` is
    taken from there. ``error`` is the deprecated copy of ``detail`` sent up to 7.x.
    """

    type: str = "about:blank"
    title: str | None = None
    status: int | None = None
    detail: str | None = None
    instance: str | None = None
    docs: str | None = None
    code: ErrorCode | None = None
    invalid_params: dict[str, InvalidParam] | None = attrs.field(
        default=None, metadata={WIRE: "invalid-params"}
    )
    error: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.code is None and _TYPE_CODE_MARKER in self.type:
            tail = self.type.rpartition(_TYPE_CODE_MARKER)[2]
            if tail:
                # Frozen class: set the derived field once, during construction.
                object.__setattr__(self, "code", ErrorCode(tail))


# Exceptions


def _restore(cls: type[PeerTubeError], kwargs: dict[str, Any]) -> PeerTubeError:
    return cls(**kwargs)


class PeerTubeError(Exception):
    """Base class of every exception raised by the SDK."""


class TransportError(PeerTubeError):
    """The request could not be completed: no HTTP answer was received.

    The caller chains the underlying exception as ``__cause__``.
    """

    def __init__(self, message: str, *, method: str, url: str) -> None:
        self.message = message
        self.method = method
        self.url = _safe_url(url)
        super().__init__(f"{_one_line(message)} ({method} {_display_path(url)})")

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        kwargs = {"message": self.message, "method": self.method, "url": self.url}
        return _restore, (type(self), kwargs)


class ConnectError(TransportError):
    """The connection to the instance could not be opened (DNS, refused, TLS...)."""


class RequestTimeout(TransportError):
    """The request did not complete in time."""


class RateLimited(PeerTubeError):
    """A rate limit stopped the request, on the server or already on this side.

    ``bucket`` is the limiter class (``api``, ``login``, ``signup``, ``ask_send_email``), or
    ``"proxy"`` for a 429 or 503 that did not come from PeerTube's limiter. ``sent`` tells
    whether a request reached the network; ``retry_after`` is in seconds.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None,
        bucket: str | None,
        limit: int | None = None,
        method: str | None = None,
        url: str | None = None,
        sent: bool,
    ) -> None:
        self.message = message
        self.retry_after = retry_after
        self.bucket = bucket
        self.limit = limit
        self.method = method
        self.url = _safe_url(url) if url is not None else None
        self.sent = sent
        facts = []
        if bucket is not None:
            facts.append(f"bucket={bucket}")
        if limit is not None:
            facts.append(f"limit={limit}")
        if retry_after is not None:
            facts.append(f"retry_after={retry_after:.1f}s")
        text = _one_line(message)
        if facts:
            text += f" [{', '.join(facts)}]"
        if method is not None or url is not None:
            where = " ".join(p for p in (method, _display_path(url) if url else None) if p)
            text += f" ({where})"
        super().__init__(text)

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        kwargs = {
            "message": self.message,
            "retry_after": self.retry_after,
            "bucket": self.bucket,
            "limit": self.limit,
            "method": self.method,
            "url": self.url,
            "sent": self.sent,
        }
        return _restore, (type(self), kwargs)


class UnsupportedByServer(PeerTubeError):
    """The operation needs a newer PeerTube than the instance runs; nothing was sent.

    ``operation`` is the method (``oauth.list_sessions``), ``required`` the oldest release
    that has it (``7.1``) and ``server_version`` what the instance announces (``6.3.0``).
    ``PeerTube(check_server_version=False)`` sends such calls anyway.
    """

    def __init__(self, operation: str, *, required: str, server_version: str) -> None:
        self.operation = operation
        self.required = required
        self.server_version = server_version
        super().__init__(
            f"{operation} needs PeerTube >= {required}; this instance runs "
            f"{_one_line(server_version, 40)}"
        )

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return _restore_unsupported, (
            type(self),
            self.operation,
            self.required,
            self.server_version,
        )


def _restore_unsupported(
    cls: type[UnsupportedByServer], operation: str, required: str, server_version: str
) -> UnsupportedByServer:
    return cls(operation, required=required, server_version=server_version)


class DownloadError(PeerTubeError):
    """A file cannot be fetched whole: nothing to fetch, a redirect (never followed),
    or a length other than announced. What was written so far is kept for a resume."""


class ResponseDecodeError(PeerTubeError):
    """A successful (2xx) response whose body is not the JSON or model expected.

    Only a redacted excerpt of ``body`` is kept, as :attr:`body_excerpt`.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str,
        url: str,
        body: bytes = b"",
        content_type: str | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        known = _secret_forms(secrets)
        # The message may quote a value of the answer ("got str '...'").
        self.message = _replace_secrets(message[: _FIELD_CHARS * 4], known)
        self.status = status
        self.method = method
        self.url = _safe_url(url)
        self.content_type = content_type
        self.body_excerpt = _excerpt(body, content_type or "", known)
        super().__init__(f"{_one_line(self.message)} ({status}; {method} {_display_path(url)})")

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        kwargs = {
            "message": self.message,
            "status": self.status,
            "method": self.method,
            "url": self.url,
            "content_type": self.content_type,
        }
        return _restore_decode_error, (type(self), kwargs, self.body_excerpt)


def _restore_decode_error(
    cls: type[ResponseDecodeError], kwargs: dict[str, Any], excerpt: str
) -> ResponseDecodeError:
    # The body itself is gone; restore the excerpt taken from it as it was.
    error = cls(**kwargs)
    error.body_excerpt = excerpt
    return error


class ResponseTooLarge(ResponseDecodeError):
    """An answer whose body is longer than the client accepts (``PeerTube(max_body_size=)``,
    64 MiB by default), refused while it was read or from its ``Content-Length``.

    ``limit`` is the bound in bytes and ``size`` the announced length, or ``None`` when the
    body was cut off while streaming in. A :class:`ResponseDecodeError`: the instance
    answered, but not with anything the client can use.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str,
        url: str,
        limit: int,
        size: int | None = None,
        content_type: str | None = None,
    ) -> None:
        self.limit = limit
        self.size = size
        super().__init__(message, status=status, method=method, url=url, content_type=content_type)

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        kwargs = {
            "message": self.message,
            "status": self.status,
            "method": self.method,
            "url": self.url,
            "limit": self.limit,
            "size": self.size,
            "content_type": self.content_type,
        }
        return _restore, (type(self), kwargs)


class APIError(PeerTubeError):
    """The server answered with an error status.

    ``problem`` is the decoded problem document (synthetic when the body was not one),
    ``url`` is the request URL without credentials, ``headers`` keeps only the headers about
    rate limits plus ``Date`` and ``Content-Type``, ``body_excerpt`` at most about 200
    characters of the (redacted) body.
    """

    def __init__(
        self,
        *,
        status: int,
        problem: Problem,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        body_excerpt: str = "",
    ) -> None:
        self.status = status
        self.problem = problem
        self.method = method
        self.url = _safe_url(url)
        self.headers: CIMultiDictProxy[str] = CIMultiDictProxy(_safe_headers(headers))
        # Also applied to excerpts built elsewhere: short, one line, secrets redacted.
        shown = _redact_text(body_excerpt[:_TEXT_BYTES])
        self.body_excerpt = _truncate(_one_line(shown[: _EXCERPT_CHARS * 4], None))
        super().__init__(self._describe(_display_path(url)))

    @property
    def code(self) -> ErrorCode | None:
        """PeerTube's error code, if the server sent one."""
        return self.problem.code

    @property
    def reason(self) -> str:
        """The HTTP reason phrase of :attr:`status` ("" when the status has none)."""
        return _reason(self.status)

    def _describe(self, path: str) -> str:
        reason = _reason(self.status) or _one_line(self.problem.title or "")
        head = f"{self.status} {reason}" if reason else str(self.status)
        problem = self.problem
        message = problem.detail or problem.error
        if not message and problem.title and problem.title != reason:
            message = problem.title
        message = _one_line(message or "")
        names = list(problem.invalid_params or ())
        if names:
            shown = ", ".join(_one_line(n, 40) for n in names[:5])
            if len(names) > 5:
                shown += ", ..."
            if not message:
                message = f"Incorrect request parameters: {shown}"
            elif not all(n in message for n in names):
                message += f"; invalid: {shown}"
        if problem.code is not None and problem.code.value not in message:
            message = f"{message} [{_one_line(problem.code.value, 60)}]".lstrip()
        text = f"{head}: {message}" if message else head
        return f"{text} ({self.method} {path})"

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        kwargs = {
            "status": self.status,
            "problem": self.problem,
            "method": self.method,
            "url": self.url,
            "headers": dict(self.headers.items()),
            "body_excerpt": self.body_excerpt,
        }
        return _restore, (type(self), kwargs)


class RedirectError(APIError):
    """3xx: the instance answered with a redirect, which the client never follows (the
    ``Authorization`` header must not travel to wherever it points).

    ``location`` is the ``Location`` header (credentials and token-like query values
    redacted), ``None`` when the answer had none.
    """

    def __init__(
        self,
        *,
        status: int,
        problem: Problem,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        body_excerpt: str = "",
        location: str | None = None,
    ) -> None:
        self.location = _safe_url(location) if location is not None else None
        super().__init__(
            status=status,
            problem=problem,
            method=method,
            url=url,
            headers=headers,
            body_excerpt=body_excerpt,
        )

    def _describe(self, path: str) -> str:
        reason = _reason(self.status)
        head = f"{self.status} {reason}" if reason else str(self.status)
        where = _one_line(self.location or "nowhere", 200)
        return f"{head}: a redirect to {where}, not followed ({self.method} {path})"

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        restore, (cls, kwargs) = super().__reduce__()
        return restore, (cls, {**kwargs, "location": self.location})


class BadRequest(APIError):
    """400: the request was refused, usually by validation (see :attr:`invalid_params`)."""

    @property
    def invalid_params(self) -> Mapping[str, InvalidParam]:
        """The fields that failed validation, by name (empty when the server named none)."""
        return self.problem.invalid_params or {}


class Unauthorized(APIError):
    """401: no token, or an invalid or expired one (``code`` tells which)."""


class Forbidden(APIError):
    """403: authenticated but not allowed, or a feature disabled on the instance."""


class NotFound(APIError):
    """404: no such object, or an operation this server version does not know."""


class Conflict(APIError):
    """409: the request conflicts with the current state (a name already taken...)."""


class PayloadTooLarge(APIError):
    """413: file or quota limit reached (``code`` tells which)."""


class UnsupportedMediaType(APIError):
    """415: the uploaded file type is not accepted."""


class UnprocessableEntity(APIError):
    """422: the request was understood but cannot be processed."""


class ServerError(APIError):
    """5xx: the server or a proxy in front of it failed."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: UnprocessableEntity,
}


def _class_for(status: int) -> type[APIError]:
    if 500 <= status <= 599:
        return ServerError
    if 300 <= status <= 399:
        return RedirectError
    return _BY_STATUS.get(status, APIError)


# Classification


@functools.cache
def _problem_converter() -> cattrs.Converter:
    return make_converter()


_PROBLEM_KEYS = frozenset({"type", "title", "status", "detail", "code", "invalid-params"})
_PROBLEM_STR_FIELDS = ("type", "title", "detail", "instance", "docs", "code", "error")
_PARAM_STR_FIELDS = ("type", "msg", "path", "location", "param")


def error_from_response(
    *,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    method: str,
    url: str,
    secrets: Iterable[str] = (),
) -> APIError:
    """Build the :class:`APIError` subclass for an error response; never raises.

    ``headers`` should be case-insensitive (``CIMultiDict`` or its proxy); a plain mapping
    is copied into one. ``secrets`` are values the caller knows to be secret (its tokens,
    its OAuth client secret, a password being sent): they are replaced wherever the
    answer echoes them. Time and memory are linear in the body, and bounded: only what
    the error keeps is looked at closely.
    """
    try:
        ci_headers = _ci(headers)
    except Exception:
        ci_headers = CIMultiDict()
    known = _secret_forms(secrets)
    try:
        problem, excerpt = _classify(status, ci_headers.get("Content-Type", ""), bytes(body), known)
    except Exception:
        # Classification is best effort: a failure here must not hide the HTTP error.
        problem, excerpt = _synthetic(status), ""
    cls = _class_for(status)
    if cls is RedirectError:
        location = ci_headers.get("Location")
        return RedirectError(
            status=status,
            problem=problem,
            method=method,
            url=url,
            headers=ci_headers,
            body_excerpt=excerpt,
            location=_shown(location, 2000, known) if location is not None else None,
        )
    return cls(
        status=status,
        problem=problem,
        method=method,
        url=url,
        headers=ci_headers,
        body_excerpt=excerpt,
    )


def _classify(
    status: int, content_type: str, body: bytes, secrets: Sequence[str]
) -> tuple[Problem, str]:
    media_type = content_type.partition(";")[0].strip().lower()
    stripped = body.lstrip()
    data: Any = None
    parsed = False
    if stripped[:1] in (b"{", b"[") and len(body) <= _MAX_JSON_BYTES:
        try:
            data = json.loads(body)
            parsed = True
        except (ValueError, RecursionError):
            pass
    if parsed:
        excerpt = _json_excerpt(data, secrets)
        if isinstance(data, dict):
            return _problem_from_json(status, media_type, data, secrets), excerpt
        return _synthetic(status), excerpt
    excerpt = _excerpt(body, media_type, secrets)
    if not stripped or stripped[:1] in (b"{", b"[") or _is_binary(body):
        # Empty, broken JSON or binary: no message to show; the excerpt keeps what there is.
        return _synthetic(status), excerpt
    return _synthetic(status, detail=excerpt or None), excerpt


def _problem_from_json(
    status: int, media_type: str, data: dict[str, Any], secrets: Sequence[str]
) -> Problem:
    upload_error = data.get("error")
    if isinstance(upload_error, dict):
        message = upload_error.get("message")
        code = upload_error.get("code")
        return _synthetic(
            status,
            detail=(
                _one_line(_shown(message, _FIELD_CHARS, secrets), _MESSAGE_CHARS)
                if isinstance(message, str)
                else None
            ),
            code=ErrorCode(_shown(code, _PARAM_CHARS)) if isinstance(code, str) and code else None,
        )
    if media_type.endswith("problem+json") or not _PROBLEM_KEYS.isdisjoint(data):
        try:
            return _problem_converter().structure(_clean_problem(data, secrets), Problem)
        except Exception:
            return _synthetic(status)
    message = data.get("message")
    if isinstance(message, str):
        return _synthetic(
            status, detail=_one_line(_shown(message, _FIELD_CHARS, secrets), _MESSAGE_CHARS)
        )
    return _synthetic(status)


def _clean_problem(data: Mapping[str, Any], secrets: Sequence[str]) -> dict[str, Any]:
    # Keep only well-typed fields so that a malformed document still yields what is
    # usable; strings cut and redacted, at most _MAX_PARAMS invalid parameters.
    clean: dict[str, Any] = {
        k: _shown(data[k], _FIELD_CHARS, secrets)
        for k in _PROBLEM_STR_FIELDS
        if isinstance(data.get(k), str)
    }
    status = data.get("status")
    if isinstance(status, int) and not isinstance(status, bool):
        clean["status"] = status
    params = data.get("invalid-params")
    if isinstance(params, dict):
        kept: dict[str, Any] = {}
        for name, entry in itertools.islice(params.items(), _MAX_PARAMS):
            shown = _shown(str(name), _PARAM_CHARS, secrets)
            kept[shown] = _clean_param(str(name), entry, secrets)
        clean["invalid-params"] = kept
    return clean


def _clean_param(name: str, entry: Any, secrets: Sequence[str]) -> dict[str, Any]:
    if not isinstance(entry, dict):
        return {"msg": _shown(entry, _PARAM_CHARS, secrets)} if isinstance(entry, str) else {}
    clean = {
        k: _shown(entry[k], _PARAM_CHARS, secrets)
        for k in _PARAM_STR_FIELDS
        if isinstance(entry.get(k), str)
    }
    if "value" in entry:
        if _is_secret_key(name) or _is_secret_path(entry.get("path")):
            # A password or token echoed back by validation.
            clean["value"] = _REDACTED
        else:
            clean["value"] = _redact_json(
                entry["value"], name, _Budget(_PARAM_NODES), _PARAM_CHARS, secrets
            )
    return clean


def _synthetic(status: int, *, detail: str | None = None, code: ErrorCode | None = None) -> Problem:
    return Problem(title=_reason(status) or None, status=status, detail=detail, code=code)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


# Text handling. Every step is linear in its input, and inputs are cut before anything
# costly runs on them, so that no body, however long or odd, holds the event loop for
# long (benchmarks/error_path.py measures the worst ones).

#: A string kept from a problem document (``detail``, ``title``...) is cut to this.
_FIELD_CHARS = 1000
#: A string of an ``invalid-params`` entry is cut to this; at most _MAX_PARAMS entries
#: are kept, and a non-string ``value`` is kept up to _PARAM_NODES values.
_PARAM_CHARS = 300
_MAX_PARAMS = 20
_PARAM_NODES = 16
#: Values of a JSON body walked for its excerpt, each string cut to _EXCERPT_CHARS.
_EXCERPT_NODES = 64
#: Bytes of a text body read for its excerpt (literal secrets are replaced in up to
#: _MAX_JSON_BYTES first, so that the cut cannot leave part of one behind).
_TEXT_BYTES = 8192
#: Known secrets shorter than this are not replaced: they would match everywhere.
_MIN_SECRET_CHARS = 4

_HTML_OPEN_RE = re.compile(r"(?i)<(head|script|style)\b|<!--")
# No "<" inside a tag: "<<<<..." then costs one step per character, not a scan each.
_TAG_RE = re.compile(r"<[^<>]*>")
_SPACE_RE = re.compile(r"\s+")
_SENSITIVE_KEY_RE = re.compile(r"(?i)password|passwd|secret|token|authorization|cookie|otp")
# key=value or "key": "value" pairs whose key names a secret, in free text or broken JSON.
# A match starts only where a key can start and its quantifiers are bounded, so it is
# linear on any text: the unbounded ``[\w.-]*`` it replaces backtracked quadratically on
# a long run of word characters.
_SENSITIVE_PAIR_RE = re.compile(
    r"""(?i)((?<![\w.-])"?[\w.-]{0,128}?(?:password|passwd|secret|token)[\w.-]{0,64}"?"""
    r"""\s{0,8}[:=]\s{0,8}"?)([^"\s,&;}]+)"""
)
_BEARER_RE = re.compile(r"(?i)\b(bearer|basic)\s{1,8}[\w.~+/=-]+")


def _secret_forms(secrets: Iterable[str]) -> tuple[str, ...]:
    """The secrets worth looking for, percent-encoded forms too, longest first."""
    forms: set[str] = set()
    try:
        for secret in secrets:
            if isinstance(secret, str) and len(secret) >= _MIN_SECRET_CHARS:
                forms.add(secret)
                forms.add(quote(secret, safe=""))
    except Exception:
        return ()
    return tuple(sorted(forms, key=len, reverse=True))


def _replace_secrets(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, _REDACTED)
    return text


def _redact_text(text: str) -> str:
    text = _SENSITIVE_PAIR_RE.sub(lambda m: m.group(1) + _REDACTED, text)
    return _BEARER_RE.sub(lambda m: f"{m.group(1)} {_REDACTED}", text)


def _shown(text: str, limit: int, secrets: Sequence[str] = ()) -> str:
    """``text`` as an error may keep it: known secrets replaced (in the whole text, so
    that the cut cannot split one), cut to ``limit`` characters, then secret-looking
    pairs redacted."""
    return _redact_text(_replace_secrets(text, secrets)[:limit])


class _Budget:
    """How many more JSON values a walk may visit."""

    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left


_CUT = "…"


def _redact_json(value: Any, key: str, budget: _Budget, chars: int, secrets: Sequence[str]) -> Any:
    """A redacted copy of a decoded JSON value, bounded: at most ``budget`` values
    (a container cut short ends with "…"), keys and strings cut to ``chars``."""
    budget.left -= 1
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        secret_field = bool(key) and _is_secret_key(key)
        for k, v in value.items():
            if budget.left <= 0:
                result[_CUT] = _CUT
                break
            k = _shown(str(k), chars, secrets)
            if k == "value" and (secret_field or _is_secret_path(value.get("path"))):
                # An invalid-params entry echoing a password or token back.
                budget.left -= 1
                result[k] = _REDACTED
            else:
                result[k] = _redact_json(v, k, budget, chars, secrets)
        return result
    if isinstance(value, list):
        items: list[Any] = []
        for v in value:
            if budget.left <= 0:
                items.append(_CUT)
                break
            items.append(_redact_json(v, key, budget, chars, secrets))
        return items
    if key and not isinstance(value, (bool, type(None))) and _is_secret_key(key):
        return _REDACTED
    if isinstance(value, str):
        return _shown(value, chars, secrets)
    return value


def _json_excerpt(data: Any, secrets: Sequence[str]) -> str:
    copy = _redact_json(data, "", _Budget(_EXCERPT_NODES), _EXCERPT_CHARS, secrets)
    text = json.dumps(copy, ensure_ascii=False, separators=(",", ":"))
    return _truncate(_one_line(text[: _EXCERPT_CHARS * 4], None))


def _is_secret_key(key: str) -> bool:
    return _SENSITIVE_KEY_RE.search(key[:_FIELD_CHARS]) is not None


def _is_secret_path(path: Any) -> bool:
    return isinstance(path, str) and _is_secret_key(path)


def _is_binary(body: bytes) -> bool:
    sample = body[:512]
    if b"\x00" in sample:
        return True
    text = sample.decode("utf-8", "replace")
    odd = sum(1 for ch in text if ch == "\ufffd" or (ch < " " and ch not in "\t\r\n"))
    return odd * 10 > len(text)


def _drop_html_blocks(text: str) -> str:
    """``text`` without its ``<head>``, ``<script>`` and ``<style>`` elements and its
    comments, in one pass (an unclosed one runs to the end)."""
    lowered = text.lower()
    out: list[str] = []
    pos = 0
    while True:
        match = _HTML_OPEN_RE.search(text, pos)
        if match is None:
            out.append(text[pos:])
            break
        out.append(text[pos : match.start()])
        out.append(" ")
        tag = match.group(1)
        closer = "-->" if tag is None else f"</{tag.lower()}"
        end = lowered.find(closer, match.end())
        if end < 0:
            break
        pos = end + len(closer)
        if tag is not None:
            gt = text.find(">", pos)
            if gt < 0:
                break
            pos = gt + 1
    return "".join(out)


def _excerpt(body: bytes, media_type: str, secrets: Sequence[str] = ()) -> str:
    """A short, single-line, redacted excerpt of a body for messages and debugging."""
    if not body:
        return ""
    if _is_binary(body):
        return f"<{len(body)} bytes of binary data>"
    cut = _TEXT_BYTES
    if secrets:
        cut = _MAX_JSON_BYTES  # replace secrets before the cut, never across it
    text = body[:cut].decode("utf-8", "replace")
    text = _replace_secrets(text, secrets)[:_TEXT_BYTES]
    if "html" in media_type or text.lstrip().startswith("<"):
        text = html.unescape(_TAG_RE.sub(" ", _drop_html_blocks(text)))
    return _truncate(_one_line(_redact_text(text), None))


def _one_line(text: str, limit: int | None = _MESSAGE_CHARS) -> str:
    """Collapse whitespace and drop control characters, so a message stays on one line."""
    if limit is not None:
        text = text[: limit * 4]  # what collapsing can shorten, and no more, is looked at
    cleaned = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch)[0] != "C"
    )
    cleaned = _SPACE_RE.sub(" ", cleaned).strip()
    if limit is not None and len(cleaned) > limit:
        return cleaned[: limit - 1].rstrip() + "…"
    return cleaned


def _truncate(text: str) -> str:
    if len(text) > _EXCERPT_CHARS:
        return text[: _EXCERPT_CHARS - 1].rstrip() + "…"
    return text


# URLs and headers

_SAFE_HEADERS = frozenset({"retry-after", "date", "content-type"})


def _ci(headers: Mapping[str, str] | None) -> CIMultiDict[str]:
    if headers is None:
        return CIMultiDict()
    if isinstance(headers, CIMultiDict):
        return headers
    if isinstance(headers, CIMultiDictProxy):
        return CIMultiDict(headers)
    return CIMultiDict((str(k), str(v)) for k, v in headers.items())


def _safe_headers(headers: Mapping[str, str] | None) -> CIMultiDict[str]:
    safe: CIMultiDict[str] = CIMultiDict()
    if headers is None:
        return safe
    try:
        for name, value in _ci(headers).items():
            lowered = name.lower()
            if lowered in _SAFE_HEADERS or lowered.startswith(("x-ratelimit-", "ratelimit")):
                safe.add(name, _one_line(str(value), 200))
    except Exception:
        return CIMultiDict()
    return safe


def _redact_query(query: str) -> str:
    parts = []
    for pair in query.split("&"):
        name, sep, _ = pair.partition("=")
        if sep and _SENSITIVE_KEY_RE.search(unquote(name)):
            pair = f"{name}={_REDACTED}"
        parts.append(pair)
    return "&".join(parts)


def _safe_url(url: str) -> str:
    """The URL without user info or fragment, and with token-like query values redacted."""
    try:
        parts = urlsplit(str(url))
        netloc = parts.netloc.rpartition("@")[2]
        query = _redact_query(parts.query)
        text = f"{parts.scheme}://{netloc}" if parts.scheme else (f"//{netloc}" if netloc else "")
        text += parts.path + (f"?{query}" if query else "")
        return _one_line(text, 2000)
    except Exception:
        return "<unparsable URL>"


def _display_path(url: str) -> str:
    """Path and query of a URL, as shown in messages."""
    try:
        parts = urlsplit(str(url))
        query = _redact_query(parts.query)
        return _one_line((parts.path or "/") + (f"?{query}" if query else ""), 300)
    except Exception:
        return "<unparsable URL>"
