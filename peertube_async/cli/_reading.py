"""Reading commands: ``videos``, ``search``, ``channels``, ``accounts``, ``limits``.

With no instance URL they run against a built-in sandbox: a local FakeInstance started
on 127.0.0.1 for the command.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ._base import (
    CONTEXT,
    EXIT_AUTH,
    EXIT_CODES,
    EXIT_OK,
    DefaultGroup,
    Failure,
    command,
    err,
    json_option,
    limit_option,
    print_json,
    token_store_option,
)
from ._lists import Column, Listing, collect, emit, list_command, unstructure

if TYPE_CHECKING:
    from .._client import PeerTube

__all__ = ["accounts", "channels", "limits", "reading_client", "search", "user_option", "videos"]

F = TypeVar("F", bound=Callable[..., Any])


def user_option(func: F) -> F:
    """``--user`` (a stored sign-in) and ``--token-store``."""
    func = click.option(
        "--user",
        metavar="USER",
        help="call as USER, with the sign-in stored by `auth add` (refreshed as needed)",
    )(func)
    return token_store_option(func)


@contextlib.asynccontextmanager
async def _instance(url: str | None, videos: int = 40) -> AsyncIterator[str]:
    """``url``, or a sandbox started for the command."""
    if url:
        yield url
        return
    from ._sandbox import SandboxSpec, sandboxes

    async with sandboxes([SandboxSpec(videos=videos, limit=50, window=10.0)]) as running:
        fake_url = str(running[0][1].url)
        err(f"(no instance given: using the built-in sandbox at {fake_url})")
        yield fake_url


@contextlib.asynccontextmanager
async def reading_client(
    url: str | None, user: str | None = None, token_store: Path | None = None
) -> AsyncIterator[PeerTube]:
    """A client of ``url`` (or of a sandbox), signed in as ``user`` from the token store."""
    import os

    from .._auth import FileTokenStore
    from .._client import PeerTube
    from ._session import default_token_store

    async with _instance(url) as where:
        store = FileTokenStore(token_store or default_token_store())
        async with PeerTube(where, token_store=store) as pt:
            if user:
                password = os.environ.get("PEERTUBE_PASSWORD")
                stored = await store.load(str(pt.url), user)
                if stored is None and not password:
                    raise Failure(
                        f"no stored token for {user} at {pt.url}: run "
                        f"`peertube-async login {pt.url} {user}` first",
                        EXIT_AUTH,
                    )
                await pt.login(user, password or "")
            yield pt


# -- videos -------------------------------------------------------------------------------

_VIDEO_COLUMNS = (
    Column("id", lambda v: v.id, 6, right=True),
    Column("shortUUID", lambda v: v.short_uuid, 22),
    Column("duration", lambda v: f"{v.duration or 0}s", 8, right=True),
    Column("views", lambda v: v.views or 0, 7, right=True),
    Column("name", lambda v: v.name),
)


@click.group(cls=DefaultGroup, context_settings=CONTEXT, epilog=EXIT_CODES)
def videos() -> None:
    """List an instance's videos or show one (`videos URL` is `videos list URL`)."""


@videos.command("list", context_settings=CONTEXT, epilog=EXIT_CODES)
@click.argument("url", required=False)
@click.option("--sort", default="-publishedAt", show_default=True, help="sort column")
@limit_option(20)
@json_option
@user_option
@command
async def videos_list(
    url: str | None,
    sort: str,
    limit: int,
    as_json: bool,
    user: str | None,
    token_store: Path | None,
) -> int:
    """List the videos of URL (default: a built-in sandbox), newest first."""
    async with reading_client(url, user, token_store) as pt:
        rows = await collect(pt.videos.list(sort=sort, count=min(limit, 100), limit=limit), limit)
    emit(rows, _VIDEO_COLUMNS, as_json)
    err(f"{len(rows)} videos")
    return EXIT_OK


@videos.command("get", context_settings=CONTEXT, epilog=EXIT_CODES)
@click.argument("url")
@click.argument("video_id", metavar="ID")
@json_option
@user_option
@command
async def videos_get(
    url: str, video_id: str, as_json: bool, user: str | None, token_store: Path | None
) -> int:
    """Show one video of URL by id, UUID or short UUID."""
    async with reading_client(url, user, token_store) as pt:
        video = await pt.videos.get(video_id)
    if as_json:
        print_json(unstructure(video))
        return EXIT_OK
    channel = video.channel.display_name if video.channel else None
    fields = [
        ("name", video.name),
        ("uuid", video.uuid),
        ("url", video.url),
        ("channel", channel),
        ("published", video.published_at.isoformat() if video.published_at else None),
        ("duration", f"{video.duration} s" if video.duration is not None else None),
        ("views", video.views),
        ("likes", video.likes),
        ("local", video.is_local),
    ]
    for name, value in fields:
        if value is not None:
            click.echo(f"{name:>10}  {value}")
    return EXIT_OK


@click.command(context_settings=CONTEXT, epilog=EXIT_CODES)
@click.argument("url")
@click.argument("query")
@limit_option(20)
@json_option
@user_option
@command
async def search(
    url: str, query: str, limit: int, as_json: bool, user: str | None, token_store: Path | None
) -> int:
    """Search the videos known to URL for QUERY."""
    async with reading_client(url, user, token_store) as pt:
        listing = pt.search.videos(search=query, count=min(limit, 100), limit=limit)
        rows = await collect(listing, limit)
    columns = (
        Column("shortUUID", lambda v: v.short_uuid or "", 22),
        Column("views", lambda v: v.views or 0, 7, right=True),
        Column("name", lambda v: v.name),
    )
    emit(rows, columns, as_json)
    err(f"{len(rows)} videos")
    return EXIT_OK


# -- channels and accounts: the same command, table-driven ----------------------------------

_HANDLE_COLUMNS = (
    Column("id", lambda r: r.id or 0, 6, right=True),
    Column("handle", lambda r: f"{r.name}@{r.host}", 40),
    Column("name", lambda r: r.display_name or ""),
)

channels = list_command(
    Listing(
        name="channels",
        noun="channels",
        help="List the video channels of URL (default: a built-in sandbox).",
        fetch=lambda pt, limit: pt.video_channels.list(count=min(limit, 100), limit=limit),
        columns=_HANDLE_COLUMNS,
    )
)

accounts = list_command(
    Listing(
        name="accounts",
        noun="accounts",
        help="List the accounts known to URL (default: a built-in sandbox).",
        fetch=lambda pt, limit: pt.accounts.list(count=min(limit, 100), limit=limit),
        columns=_HANDLE_COLUMNS,
    )
)


@click.command(
    context_settings=CONTEXT,
    epilog=EXIT_CODES,
    short_help="Show URL's rate-limit buckets after one probe call.",
)
@click.argument("url", required=False)
@json_option
@user_option
@command
async def limits(url: str | None, as_json: bool, user: str | None, token_store: Path | None) -> int:
    """Show URL's rate-limit buckets as the client knows them after one probe call
    (GET /api/v1/config): limit, window, what is left and when it resets."""
    from ._format import format_seconds

    async with reading_client(url, user, token_store) as pt:
        await pt.config.get()
        snapshot = pt.rate_limits
        origin = str(pt.url)
    rows = [
        {
            "instance": origin,
            "class": name,
            "limit": snap.limit,
            "window": snap.window,
            "remaining": snap.remaining,
            "reset_in": snap.reset_in,
            "in_flight": snap.in_flight,
        }
        for name, snap in snapshot.items()
    ]
    columns = (
        Column("class", lambda r: r["class"], 16),
        Column("limit", lambda r: r["limit"], 6, right=True),
        Column("window", lambda r: f"{r['window']:g}s", 8, right=True),
        Column("remaining", lambda r: r["remaining"], 9, right=True),
        Column(
            "resets in",
            lambda r: format_seconds(r["reset_in"]) if r["reset_in"] is not None else "-",
        ),
    )
    emit(rows, columns, as_json, to_json=lambda r: r)
    return EXIT_OK
