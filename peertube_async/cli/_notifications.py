"""``notifications``: the signed-in user's notifications, and ``--follow`` for new ones as
they arrive (over PeerTube's Socket.IO endpoint, or by polling without it)."""

from __future__ import annotations

import json
import re
from typing import Any

import click

from ._base import CONTEXT, EXIT_CODES, EXIT_OK, command, err, json_option
from ._session import Credentials, account_options, signed_in

__all__ = ["describe", "json_line", "notifications"]

# C0 and C1 controls and DEL: a value must not drive a terminal or break a line.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")

#: What a notification of each type is about, in a few words.
_KINDS = {
    1: "new video from a subscription",
    2: "new comment on my video",
    3: "new abuse report",
    4: "my video was blocked",
    5: "my video was unblocked",
    6: "my video is published",
    7: "my import finished",
    8: "my import failed",
    9: "new user registration",
    10: "new follower",
    11: "mentioned in a comment",
    12: "video auto-blocked",
    13: "new instance follower",
    14: "instance auto-followed",
    15: "abuse state changed",
    16: "new abuse message",
    17: "new plugin version",
    18: "new PeerTube version",
    19: "studio edition finished",
    20: "new registration request",
    21: "new live from a subscription",
    22: "transcription generated",
}


def _clean(text: str) -> str:
    return _CONTROLS.sub(" ", text)


def describe(n: Any) -> str:
    """One line about a notification: when, its id, what and who."""
    kind = int(n.type)
    what = _KINDS.get(kind, f"notification of type {kind}")
    details = ""
    if n.comment is not None:
        details = f"{n.comment.account.display_name} on {n.comment.video.name!r}"
    elif n.actor_follow is not None:
        following = n.actor_follow.following
        details = f"{n.actor_follow.follower.display_name} follows {following.display_name}"
    elif n.video is not None:
        details = repr(n.video.name)
    elif n.account is not None:
        details = n.account.display_name
    when = n.created_at.strftime("%Y-%m-%d %H:%M:%S")
    return _clean(f"{when}  #{n.id}  {what}" + (f": {details}" if details else ""))


def json_line(value: Any) -> str:
    """One JSON document on one line, with no raw control character in it (JSON escapes
    C0 controls itself; DEL and C1 controls are escaped here too)."""
    text = json.dumps(value, ensure_ascii=False)
    return _CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


@click.command(context_settings=CONTEXT, epilog=EXIT_CODES)
@account_options
@click.option("--follow", "-f", is_flag=True, help="print new notifications as they arrive")
@click.option("--unread", is_flag=True, help="only unread ones (without --follow)")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="how many at most (default: 20; with --follow: no end)",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="seconds between polls when the instance's socket cannot be used",
)
@json_option
@command
async def notifications(
    creds: Credentials,
    follow: bool,
    unread: bool,
    limit: int | None,
    poll_interval: float,
    as_json: bool,
) -> int:
    """Show the account's notifications; --follow prints new ones as they arrive.

    Without --follow: the newest ones (--unread: only those not read yet). With --follow:
    each new notification as it arrives, until Ctrl-C (or --limit of them). New ones
    come over the instance's Socket.IO endpoint (with the `live`
    extra installed), or else by polling the API every --poll-interval seconds, within
    its rate limits. --json prints one JSON object per line, as the API sends it.
    """
    from .._live import EventStream
    from .._types import NOT_GIVEN

    async with signed_in(creds) as (pt, account):
        assert account is not None
        if not follow:
            page = await pt.me.notifications.list(
                count=min(limit or 20, 100), sort="-createdAt", unread=True if unread else NOT_GIVEN
            )
            for item in page.data:
                _show(item, as_json)
            err(f"{len(page.data)} of {page.total} notifications")
            return EXIT_OK
        shown = 0
        stream: EventStream[Any] = pt.me.notifications.stream(poll_interval=poll_interval)
        async with stream:
            err(f"following the notifications of {account.user} at {account.origin}")
            async for item in stream:
                _show(item, as_json)
                shown += 1
                if limit is not None and shown >= limit:
                    break
    return EXIT_OK


def _show(item: Any, as_json: bool) -> None:
    if as_json:
        from ._lists import unstructure

        click.echo(json_line(unstructure(item)))
    else:
        click.echo(describe(item))
