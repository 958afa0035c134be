"""peertube_async: an asyncio SDK for the PeerTube REST API.

Every call goes through a rate-aware scheduler seeded with PeerTube's documented limits
and corrected live from the server's headers; errors become typed exceptions.
"""

from ._auth import (
    AuthError,
    FileTokenStore,
    MemoryTokenStore,
    TokenPair,
    TokenStore,
    TwoFactorRequired,
)
from ._client import DEFAULT_USER_AGENT, PeerTube, normalize_instance_url
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
from ._pagination import Page, Paginator
from ._pipeline import Backoff, encode_path
from ._ratelimit import DEFAULT_LIMITS, BucketSnapshot, RateLimit
from ._scheduler import Priority, Scheduler
from ._shared import RedisLimitStore
from ._types import NOT_GIVEN, NotGiven
from ._version import __version__

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
    "FileTokenStore",
    "Forbidden",
    "InvalidParam",
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
