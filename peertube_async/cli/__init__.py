"""The ``peertube-async`` command line.

With no instance URL, commands run against a built-in sandbox: a local
:class:`~peertube_async.testing.FakeInstance` started on 127.0.0.1 for the command.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Sequence

from .._client import PeerTube
from .._convert import make_converter
from .._errors import APIError, PeerTubeError, RateLimited, TransportError

__all__ = ["main"]

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_API = 3
EXIT_NETWORK = 4
EXIT_RATE_LIMITED = 5


@contextlib.asynccontextmanager
async def _instance(url: str | None) -> AsyncIterator[str]:
    if url:
        yield url
        return
    from ..testing import FakeInstance

    async with FakeInstance() as fake:
        print(f"(no instance given: using the built-in sandbox at {fake.url})", file=sys.stderr)
        yield str(fake.url)


async def _videos(args: argparse.Namespace) -> int:
    async with _instance(args.url) as url, PeerTube(url) as pt:
        listing = pt.videos.list(sort=args.sort, count=min(args.limit, 100), limit=args.limit)
        rows = [video async for video in listing]
        if args.json:
            conv = make_converter()
            for video in rows:
                print(json.dumps(conv.unstructure(video), ensure_ascii=False))
        else:
            print(f"{'id':>6}  {'shortUUID':<22}  {'duration':>8}  {'views':>7}  name")
            for v in rows:
                print(
                    f"{v.id:>6}  {v.short_uuid:<22}  {v.duration or 0:>7}s  "
                    f"{v.views or 0:>7}  {v.name}"
                )
            print(f"{len(rows)} videos", file=sys.stderr)
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peertube-async", description="Talk to a PeerTube instance from the shell."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    videos = sub.add_parser("videos", help="list an instance's videos")
    videos.add_argument("url", nargs="?", help="instance URL (default: a built-in sandbox)")
    videos.add_argument("--sort", default="-publishedAt", help="sort column (default %(default)s)")
    videos.add_argument("--limit", type=int, default=20, help="how many videos (default 20)")
    videos.add_argument("--json", action="store_true", help="one JSON object per line")
    videos.set_defaults(run=_videos)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    if getattr(args, "limit", 1) < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        return int(asyncio.run(args.run(args)))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RateLimited as exc:
        print(f"rate limited: {exc}", file=sys.stderr)
        return EXIT_RATE_LIMITED
    except APIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_API
    except (TransportError, PeerTubeError) as exc:
        print(f"network error: {exc}", file=sys.stderr)
        return EXIT_NETWORK
    except KeyboardInterrupt:
        return 130
