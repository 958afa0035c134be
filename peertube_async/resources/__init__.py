"""Hand-written extensions of generated resources (uploads and downloads)."""

from .._errors import DownloadError
from ._videos import UploadError, UploadOutcomeUnknown, UploadState, Videos

__all__ = ["DownloadError", "UploadError", "UploadOutcomeUnknown", "UploadState", "Videos"]
