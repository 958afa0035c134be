"""Lists: ``await`` one page, or ``async for`` over every item, page after page.

PeerTube pages with ``start`` and ``count`` (at most 100) and answers ``{total, data}``;
``skipCount=true`` drops ``total``, in which case a short page marks the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any, ClassVar, Generic, TypeVar

import attrs

__all__ = ["MAX_PAGE_SIZE", "Page", "Paginator"]

T = TypeVar("T")

#: The server refuses a larger ``count`` with a 400.
MAX_PAGE_SIZE = 100

#: ``fetch(start, count)`` returns one page; ``count`` None lets the server choose.
Fetch = Callable[[int, "int | None"], Awaitable["Page[T]"]]


@attrs.frozen
class Page(Generic[T]):
    """One page of a list: ``total`` is None when the server was asked to skip it."""

    #: Other keys of the answer (e.g. ``totalNotDeletedComments``) are not an error.
    __peertube_envelope__: ClassVar[bool] = True

    data: list[T]
    total: int | None = None

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Any:
        return iter(self.data)


class Paginator(Generic[T]):
    """An awaitable (first page) and async-iterable (every item) list."""

    def __init__(
        self,
        fetch: Fetch[T],
        *,
        start: int = 0,
        count: int | None = None,
        limit: int | None = None,
    ) -> None:
        if start < 0:
            raise ValueError("start must be >= 0")
        if count is not None and not 0 <= count <= MAX_PAGE_SIZE:
            raise ValueError(f"count must be between 0 and {MAX_PAGE_SIZE}")
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")
        self._fetch = fetch
        self._start = start
        self._count = count
        self._limit = limit

    def __await__(self) -> Generator[Any, None, Page[T]]:
        return self._fetch(self._start, self._count).__await__()

    async def pages(self) -> AsyncIterator[Page[T]]:
        """Every page from ``start`` on, ``count`` (default 100) items per request."""
        size = self._count or MAX_PAGE_SIZE
        start = self._start
        left = self._limit
        while left is None or left > 0:
            ask = size if left is None else min(size, left)
            page = await self._fetch(start, ask)
            if left is not None and len(page.data) > left:
                page = Page(page.data[:left], page.total)
            yield page
            got = len(page.data)
            start += got
            if left is not None:
                left -= got
            if got == 0 or (page.total is not None and start >= page.total):
                return
            if page.total is None and got < ask:
                return

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.data:
                yield item

    async def to_list(self) -> list[T]:
        """Every item (up to ``limit``) in one list."""
        return [item async for item in self]
