"""Hand-written models for the first endpoints (videos, accounts, channels, OAuth).

They are decoded with the converter from :mod:`._convert` and follow its rules: snake_case
attributes, the JSON name in ``metadata={WIRE: ...}`` where it differs, unknown keys
ignored. Fields that some server versions omit default to None, so the models decode
payloads of PeerTube 5.x to 8.x. Lists are tuples so that frozen models stay hashable.
"""

from datetime import datetime
from typing import Generic, TypeVar

import attrs

from ._convert import WIRE, OpenIntEnum

__all__ = [
    "Account",
    "AccountSummary",
    "ActorImage",
    "ChannelSummary",
    "OAuthClient",
    "Token",
    "Video",
    "VideoChannel",
    "VideoConstant",
    "VideoPrivacy",
]

T = TypeVar("T")


class VideoPrivacy(OpenIntEnum):
    """Who may see a video. Values a newer server adds decode with ``known`` False."""

    PUBLIC = 1
    UNLISTED = 2
    PRIVATE = 3
    INTERNAL = 4
    PASSWORD_PROTECTED = 5


@attrs.frozen(kw_only=True)
class VideoConstant(Generic[T]):
    """An ``{id, label}`` pair: category, licence, language (str id), privacy, state.

    ``id`` is None when the value is unset (the server then sends the label "Unknown").
    """

    id: T | None = None
    label: str | None = None


@attrs.frozen(kw_only=True)
class ActorImage:
    """An avatar or banner of an account or channel."""

    path: str | None = None
    file_url: str | None = attrs.field(default=None, metadata={WIRE: "fileUrl"})
    width: int | None = None
    height: int | None = None
    created_at: datetime | None = attrs.field(default=None, metadata={WIRE: "createdAt"})
    updated_at: datetime | None = attrs.field(default=None, metadata={WIRE: "updatedAt"})


@attrs.frozen(kw_only=True)
class AccountSummary:
    """An account as embedded in other objects (a video's ``account``)."""

    id: int
    name: str
    display_name: str | None = attrs.field(default=None, metadata={WIRE: "displayName"})
    url: str | None = None
    host: str | None = None
    avatars: tuple[ActorImage, ...] = ()


@attrs.frozen(kw_only=True)
class ChannelSummary:
    """A video channel as embedded in other objects (a video's ``channel``)."""

    id: int
    name: str
    display_name: str | None = attrs.field(default=None, metadata={WIRE: "displayName"})
    url: str | None = None
    host: str | None = None
    avatars: tuple[ActorImage, ...] = ()


@attrs.frozen(kw_only=True)
class Account:
    """A local or remote account (``GET /api/v1/accounts/{name}``)."""

    id: int
    name: str
    url: str | None = None
    host: str | None = None
    display_name: str | None = attrs.field(default=None, metadata={WIRE: "displayName"})
    description: str | None = None
    avatars: tuple[ActorImage, ...] = ()
    host_redundancy_allowed: bool | None = attrs.field(
        default=None, metadata={WIRE: "hostRedundancyAllowed"}
    )
    following_count: int | None = attrs.field(default=None, metadata={WIRE: "followingCount"})
    followers_count: int | None = attrs.field(default=None, metadata={WIRE: "followersCount"})
    created_at: datetime | None = attrs.field(default=None, metadata={WIRE: "createdAt"})
    updated_at: datetime | None = attrs.field(default=None, metadata={WIRE: "updatedAt"})
    # Only for local accounts tied to a user.
    user_id: int | None = attrs.field(default=None, metadata={WIRE: "userId"})


@attrs.frozen(kw_only=True)
class VideoChannel:
    """A video channel (``GET /api/v1/video-channels``, ``/video-channels/{handle}``)."""

    id: int
    name: str
    url: str | None = None
    host: str | None = None
    display_name: str | None = attrs.field(default=None, metadata={WIRE: "displayName"})
    description: str | None = None
    support: str | None = None
    is_local: bool | None = attrs.field(default=None, metadata={WIRE: "isLocal"})
    avatars: tuple[ActorImage, ...] = ()
    banners: tuple[ActorImage, ...] = ()
    host_redundancy_allowed: bool | None = attrs.field(
        default=None, metadata={WIRE: "hostRedundancyAllowed"}
    )
    following_count: int | None = attrs.field(default=None, metadata={WIRE: "followingCount"})
    followers_count: int | None = attrs.field(default=None, metadata={WIRE: "followersCount"})
    created_at: datetime | None = attrs.field(default=None, metadata={WIRE: "createdAt"})
    updated_at: datetime | None = attrs.field(default=None, metadata={WIRE: "updatedAt"})
    # Absent where the channel is embedded in its owner's payload (``/users/me``).
    owner_account: Account | None = attrs.field(default=None, metadata={WIRE: "ownerAccount"})


@attrs.frozen(kw_only=True)
class Video:
    """A video as listed (``GET /api/v1/videos``) or fetched (``GET /api/v1/videos/{id}``).

    The detail-only fields (``support``, ``tags``, ``state``...) are None in list items.
    ``thumbnail_path`` and ``preview_path`` are deprecated since PeerTube 8.1.
    """

    id: int
    uuid: str
    short_uuid: str = attrs.field(metadata={WIRE: "shortUUID"})
    name: str
    url: str | None = None
    category: VideoConstant[int] | None = None
    licence: VideoConstant[int] | None = None
    language: VideoConstant[str] | None = None
    privacy: VideoConstant[VideoPrivacy] | None = None
    nsfw: bool | None = None
    truncated_description: str | None = attrs.field(
        default=None, metadata={WIRE: "truncatedDescription"}
    )
    description: str | None = None
    is_local: bool | None = attrs.field(default=None, metadata={WIRE: "isLocal"})
    is_live: bool | None = attrs.field(default=None, metadata={WIRE: "isLive"})
    duration: int | None = None
    aspect_ratio: float | None = attrs.field(default=None, metadata={WIRE: "aspectRatio"})
    views: int | None = None
    viewers: int | None = None
    likes: int | None = None
    dislikes: int | None = None
    # PeerTube >= 7.2.
    comments: int | None = None
    thumbnail_path: str | None = attrs.field(default=None, metadata={WIRE: "thumbnailPath"})
    preview_path: str | None = attrs.field(default=None, metadata={WIRE: "previewPath"})
    embed_path: str | None = attrs.field(default=None, metadata={WIRE: "embedPath"})
    created_at: datetime | None = attrs.field(default=None, metadata={WIRE: "createdAt"})
    updated_at: datetime | None = attrs.field(default=None, metadata={WIRE: "updatedAt"})
    published_at: datetime | None = attrs.field(default=None, metadata={WIRE: "publishedAt"})
    originally_published_at: datetime | None = attrs.field(
        default=None, metadata={WIRE: "originallyPublishedAt"}
    )
    account: AccountSummary | None = None
    channel: ChannelSummary | None = None
    blacklisted: bool | None = None
    blacklisted_reason: str | None = attrs.field(default=None, metadata={WIRE: "blacklistedReason"})
    wait_transcoding: bool | None = attrs.field(default=None, metadata={WIRE: "waitTranscoding"})
    state: VideoConstant[int] | None = None
    # Detail-only fields.
    support: str | None = None
    description_path: str | None = attrs.field(default=None, metadata={WIRE: "descriptionPath"})
    tags: tuple[str, ...] | None = None
    comments_enabled: bool | None = attrs.field(default=None, metadata={WIRE: "commentsEnabled"})
    comments_policy: VideoConstant[int] | None = attrs.field(
        default=None, metadata={WIRE: "commentsPolicy"}
    )
    download_enabled: bool | None = attrs.field(default=None, metadata={WIRE: "downloadEnabled"})
    input_file_updated_at: datetime | None = attrs.field(
        default=None, metadata={WIRE: "inputFileUpdatedAt"}
    )
    tracker_urls: tuple[str, ...] | None = attrs.field(default=None, metadata={WIRE: "trackerUrls"})


@attrs.frozen(kw_only=True)
class OAuthClient:
    """The instance's local OAuth client (``GET /api/v1/oauth-clients/local``).

    The secret is public for the instance's own web client but still kept out of ``repr``.
    """

    client_id: str
    client_secret: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class Token:
    """A token pair from ``POST /api/v1/users/token``; lifetimes are in seconds."""

    access_token: str = attrs.field(repr=False)
    refresh_token: str = attrs.field(repr=False)
    token_type: str = "Bearer"
    expires_in: int | None = None
    refresh_token_expires_in: int | None = None
