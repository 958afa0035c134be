"""Hand-written extensions of generated resources (uploads and downloads)."""

from ._videos import DownloadError, UploadError, UploadState, Videos

__all__ = ["DownloadError", "UploadError", "UploadState", "Videos"]
