"""Request bodies other than JSON, as plain data the transport knows how to send."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Union

import attrs

__all__ = ["FileInput", "FilePart", "FormBody", "MultipartBody", "file_part"]

#: A file for an upload field: bytes, a path on disk, or a binary file object.
FileInput = Union[bytes, str, "os.PathLike[str]", IO[bytes]]


@attrs.frozen
class FilePart:
    """One file of a multipart body: bytes in memory, or a path opened at send time."""

    content: bytes | Path = attrs.field(repr=False)
    filename: str
    content_type: str = "application/octet-stream"


def file_part(value: FileInput, field: str) -> FilePart:
    """A :class:`FilePart` from what a caller passed for the file field ``field``."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return FilePart(bytes(value), field)
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        if not path.is_file():
            raise FileNotFoundError(f"{field}: no such file: {path}")
        return FilePart(path, path.name, _guess_type(path.name))
    if isinstance(value, io.IOBase) or hasattr(value, "read"):
        name = Path(str(getattr(value, "name", field))).name
        data = value.read()
        if not isinstance(data, bytes):
            raise TypeError(f"{field}: the file object must be opened in binary mode")
        return FilePart(data, name, _guess_type(name))
    raise TypeError(f"{field}: expected bytes, a path or a binary file, not {type(value).__name__}")


def _guess_type(name: str) -> str:
    import mimetypes

    return mimetypes.guess_type(name)[0] or "application/octet-stream"


@attrs.frozen
class MultipartBody:
    """``multipart/form-data``: text fields, and files."""

    fields: tuple[tuple[str, str | FilePart], ...]


@attrs.frozen
class FormBody:
    """``application/x-www-form-urlencoded``; values never appear in ``repr``."""

    fields: Mapping[str, str] = attrs.field(repr=False)
