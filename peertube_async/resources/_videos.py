"""``pt.videos``: listing and fetching videos."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._models import Video
from .._pagination import Page, Paginator
from .._pipeline import Caller, encode_path
from .._types import NOT_GIVEN, NotGiven, given

__all__ = ["VideosResource"]


class VideosResource:
    """Videos of the instance (``/api/v1/videos``)."""

    def __init__(self, caller: Caller) -> None:
        self._caller = caller

    def list(
        self,
        *,
        start: int = 0,
        count: int | None = None,
        limit: int | None = None,
        sort: str | NotGiven = NOT_GIVEN,
        skip_count: bool | NotGiven = NOT_GIVEN,
        search: str | NotGiven = NOT_GIVEN,
        is_local: bool | NotGiven = NOT_GIVEN,
        is_live: bool | NotGiven = NOT_GIVEN,
        nsfw: str | NotGiven = NOT_GIVEN,
        category_one_of: Sequence[int] | NotGiven = NOT_GIVEN,
        tags_one_of: Sequence[str] | NotGiven = NOT_GIVEN,
        languages_one_of: Sequence[str] | NotGiven = NOT_GIVEN,
    ) -> Paginator[Video]:
        """``GET /api/v1/videos``: ``await`` it for one page, ``async for`` for every video.

        ``count`` is the page size (server default 15 for one page, 100 when iterating);
        ``limit`` stops iterating after that many videos.
        """
        query: dict[str, Any] = given(
            sort=sort,
            skipCount=skip_count,
            search=search,
            isLocal=is_local,
            isLive=is_live,
            nsfw=nsfw,
            categoryOneOf=category_one_of,
            tagsOneOf=tags_one_of,
            languageOneOf=languages_one_of,
        )
        caller = self._caller

        async def fetch(first: int, size: int | None) -> Page[Video]:
            params = dict(query, start=first)
            if size is not None:
                params["count"] = size
            path = "/api/v1/videos"
            data = await caller.json("GET", path, params=params)
            return caller.structure(data, Page[Video], method="GET", path=path)  # type: ignore[no-any-return]

        return Paginator(fetch, start=start, count=count, limit=limit)

    async def get(self, id: int | str) -> Video:
        """``GET /api/v1/videos/{id}``: one video by id, UUID or short UUID."""
        path = encode_path("/api/v1/videos/{id}", id)
        data = await self._caller.json("GET", path)
        return self._caller.structure(data, Video, method="GET", path=path)  # type: ignore[no-any-return]
