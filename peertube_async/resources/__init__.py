"""Hand-written extensions of generated resources (uploads and downloads, live events)."""

from .._errors import DownloadError
from ._live import Me, MeNotifications, VideosLive
from ._videos import UploadError, UploadOutcomeUnknown, UploadState, Videos

__all__ = [
    "DownloadError",
    "Me",
    "MeNotifications",
    "UploadError",
    "UploadOutcomeUnknown",
    "UploadState",
    "Videos",
    "VideosLive",
]
