"""peertube_async: an asyncio SDK for the PeerTube REST API.

Every call goes through a rate-aware scheduler seeded with PeerTube's documented limits
and corrected live from the server's headers; errors become typed exceptions.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._auth import (
        AuthError,
        FileTokenStore,
        MemoryTokenStore,
        TokenPair,
        TokenStore,
        TwoFactorRequired,
    )
    from ._client import (
        DEFAULT_USER_AGENT,
        PeerTube,
        normalize_instance_url,
    )
    from ._errors import (
        APIError,
        BadRequest,
        Conflict,
        ConnectError,
        DownloadError,
        ErrorCode,
        Forbidden,
        InvalidParam,
        NotFound,
        PayloadTooLarge,
        PeerTubeError,
        Problem,
        RateLimited,
        RedirectError,
        RequestTimeout,
        ResponseDecodeError,
        ResponseTooLarge,
        ServerError,
        TransportError,
        Unauthorized,
        UnprocessableEntity,
        UnsupportedByServer,
        UnsupportedMediaType,
    )
    from ._generated.models import (
        Account,
        UserRole,
        Video,
        VideoChannel,
        VideoDetails,
        VideoPlaylistPrivacy,
        VideoPrivacy,
        VideoState,
    )
    from ._live import (
        EventStream,
        Handlers,
        LiveVideoEvent,
        Reconnect,
    )
    from ._pagination import (
        Page,
        Paginator,
    )
    from ._pipeline import (
        Backoff,
        encode_path,
    )
    from ._ratelimit import (
        DEFAULT_LIMITS,
        BucketSnapshot,
        RateLimit,
    )
    from ._scheduler import (
        Priority,
        Scheduler,
    )
    from ._shared import (
        RedisLimitStore,
    )
    from ._types import (
        NOT_GIVEN,
        NotGiven,
    )

# Names are imported from their modules on first use (PEP 562), so that importing the
# package stays cheap: the client pulls in aiohttp, the models thousands of lines of
# generated classes; a script that only needs an exception class loads neither.
_LAZY: dict[str, str] = {
    "APIError": "._errors",
    "Account": "._generated.models",
    "AuthError": "._auth",
    "Backoff": "._pipeline",
    "BadRequest": "._errors",
    "BucketSnapshot": "._ratelimit",
    "Conflict": "._errors",
    "ConnectError": "._errors",
    "DEFAULT_LIMITS": "._ratelimit",
    "DEFAULT_USER_AGENT": "._client",
    "DownloadError": "._errors",
    "ErrorCode": "._errors",
    "EventStream": "._live",
    "FileTokenStore": "._auth",
    "Forbidden": "._errors",
    "Handlers": "._live",
    "InvalidParam": "._errors",
    "LiveVideoEvent": "._live",
    "MemoryTokenStore": "._auth",
    "NOT_GIVEN": "._types",
    "NotFound": "._errors",
    "NotGiven": "._types",
    "Page": "._pagination",
    "Paginator": "._pagination",
    "PayloadTooLarge": "._errors",
    "PeerTube": "._client",
    "PeerTubeError": "._errors",
    "Priority": "._scheduler",
    "Problem": "._errors",
    "RateLimit": "._ratelimit",
    "RateLimited": "._errors",
    "Reconnect": "._live",
    "RedirectError": "._errors",
    "RedisLimitStore": "._shared",
    "RequestTimeout": "._errors",
    "ResponseDecodeError": "._errors",
    "ResponseTooLarge": "._errors",
    "Scheduler": "._scheduler",
    "ServerError": "._errors",
    "TokenPair": "._auth",
    "TokenStore": "._auth",
    "TransportError": "._errors",
    "TwoFactorRequired": "._auth",
    "Unauthorized": "._errors",
    "UnprocessableEntity": "._errors",
    "UnsupportedByServer": "._errors",
    "UnsupportedMediaType": "._errors",
    "UserRole": "._generated.models",
    "Video": "._generated.models",
    "VideoChannel": "._generated.models",
    "VideoDetails": "._generated.models",
    "VideoPlaylistPrivacy": "._generated.models",
    "VideoPrivacy": "._generated.models",
    "VideoState": "._generated.models",
    "encode_path": "._pipeline",
    "normalize_instance_url": "._client",
}


#: Public submodules, importable as attributes too (``peertube_async.models.Video``).
_SUBMODULES = frozenset({"models", "resources", "testing", "crawl", "cli", "codegen"})

if not TYPE_CHECKING:  # type checkers see the names imported above

    def __getattr__(name: str) -> Any:
        if name in _SUBMODULES:
            return importlib.import_module(f".{name}", __name__)
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'peertube_async' has no attribute {name!r}")
        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_USER_AGENT",
    "NOT_GIVEN",
    "APIError",
    "Account",
    "AuthError",
    "Backoff",
    "BadRequest",
    "BucketSnapshot",
    "Conflict",
    "ConnectError",
    "DownloadError",
    "ErrorCode",
    "EventStream",
    "FileTokenStore",
    "Forbidden",
    "Handlers",
    "InvalidParam",
    "LiveVideoEvent",
    "MemoryTokenStore",
    "NotFound",
    "NotGiven",
    "Page",
    "Paginator",
    "PayloadTooLarge",
    "PeerTube",
    "PeerTubeError",
    "Priority",
    "Problem",
    "RateLimit",
    "RateLimited",
    "Reconnect",
    "RedirectError",
    "RedisLimitStore",
    "RequestTimeout",
    "ResponseDecodeError",
    "ResponseTooLarge",
    "Scheduler",
    "ServerError",
    "TokenPair",
    "TokenStore",
    "TransportError",
    "TwoFactorRequired",
    "Unauthorized",
    "UnprocessableEntity",
    "UnsupportedByServer",
    "UnsupportedMediaType",
    "UserRole",
    "Video",
    "VideoChannel",
    "VideoDetails",
    "VideoPlaylistPrivacy",
    "VideoPrivacy",
    "VideoState",
    "__version__",
    "encode_path",
    "normalize_instance_url",
]
