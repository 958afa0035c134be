"""Saving an answer's body to a file: resumable with ``Range``, never from a redirect.

Used by ``pt.videos.download`` and by every generated method whose answer is a file
(``dest=``). A partial file left by an earlier attempt is continued when the server
honours ``Range`` (a ``206`` starting where the file ends) and written anew otherwise.
A ``3xx`` answer is refused before the file is touched: redirects are not followed (the
token must not travel to another origin), and a redirect's body is not the file.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ._errors import DownloadError, _replace_secrets, _safe_url, _secret_forms
from ._pipeline import Pipeline
from ._scheduler import Priority

__all__ = ["Progress", "save_to_file"]

#: ``on_progress(bytes written, total)``.
Progress = Callable[[int, int], Any]

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def _prepare(target: Path) -> int:
    """Make the folder; the size of what an earlier attempt left (0 if nothing)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.stat().st_size if target.exists() else 0


async def save_to_file(
    pipeline: Pipeline,
    method: str,
    path: str,
    dest: str | Path,
    *,
    expected: int | None = None,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    on_progress: Progress | None = None,
    priority: int = Priority.NORMAL,
    timeout: float | None = None,
) -> Path:
    """Stream the answer to ``method path`` into ``dest`` and return its path.

    ``expected``: the file's size when known beforehand (a complete file is then not
    fetched again, and a longer one is started over). Only ``GET`` resumes with ``Range``.
    """
    target = Path(dest)
    have = await asyncio.to_thread(_prepare, target)
    if expected is not None and have == expected:
        if on_progress is not None:
            on_progress(have, expected)
        return target
    if (expected is not None and have > expected) or method.upper() != "GET":
        have = 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    async with pipeline.stream(
        method,
        path,
        headers=headers,
        params=params,
        json=json,
        priority=priority,
        timeout=timeout,
    ) as resp:
        if 300 <= resp.status < 400:
            location = resp.headers.get("Location")
            secrets = _secret_forms(pipeline.secrets())
            where = _safe_url(_replace_secrets(location, secrets)) if location else "nowhere"
            raise DownloadError(
                f"the file answered {resp.status}, a redirect to {where}, which is not "
                "followed; nothing was written"
            )
        if have and not _continues_at(resp.status, resp.headers.get("Content-Range"), have):
            have = 0  # the server ignored Range or answered another part: start over
        total = expected
        length = resp.headers.get("Content-Length")
        if total is None and length is not None and length.isdigit():
            total = int(length) + have
        handle = await asyncio.to_thread(target.open, "ab" if have else "wb")
        written = have
        try:
            async for piece in resp.chunks():
                if not piece:
                    continue
                await asyncio.to_thread(handle.write, piece)
                written += len(piece)
                if on_progress is not None:
                    on_progress(written, total or written)
        finally:
            await asyncio.to_thread(handle.close)
    if total is not None and written != total:
        raise DownloadError(f"downloaded {written} bytes of {total}; call again to resume")
    return target


def _continues_at(status: int, content_range: str | None, offset: int) -> bool:
    """Whether a ``206`` answer is the rest of the file from ``offset``."""
    if status != 206:
        return False
    match = _CONTENT_RANGE.fullmatch((content_range or "").strip())
    return match is None or int(match.group(1)) == offset
