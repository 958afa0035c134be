"""Hand-written extensions of generated resources (uploads and downloads)."""

from ._videos import DownloadError, UploadError, UploadOutcomeUnknown, UploadState, Videos

__all__ = ["DownloadError", "UploadError", "UploadOutcomeUnknown", "UploadState", "Videos"]
