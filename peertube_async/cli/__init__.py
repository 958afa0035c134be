"""The ``peertube-async`` command line.

Each group of commands lives in its own module, imported only when one of its commands
runs or shows its help: ``peertube-async --help`` imports click and this package's
small shared modules, not the SDK, aiohttp or rich. Data goes to stdout (a table, or
JSON with ``--json``); progress, notes and errors go to stderr.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from .._version import __version__
from ._base import (
    CONTEXT,
    EXIT_API,
    EXIT_AUTH,
    EXIT_CODES,
    EXIT_INCOMPLETE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_RATE_LIMITED,
    EXIT_USAGE,
    LazyGroup,
    main_entry,
)

__all__ = [
    "COMMANDS",
    "EXIT_API",
    "EXIT_AUTH",
    "EXIT_INCOMPLETE",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_NETWORK",
    "EXIT_OK",
    "EXIT_RATE_LIMITED",
    "EXIT_USAGE",
    "cli",
    "main",
]

#: Command name -> (``module:attribute``, the short help ``--help`` lists). A test checks
#: that each short help is the command's own.
COMMANDS: dict[str, tuple[str, str]] = {
    "accounts": (
        "._reading:accounts",
        "List the accounts known to URL (default: a built-in sandbox).",
    ),
    "auth": ("._accounts:auth", "Accounts on several instances: add, del, list, set-default."),
    "channels": (
        "._reading:channels",
        "List the video channels of URL (default: a built-in sandbox).",
    ),
    "crawl": ("._crawl:crawl", "Crawl many instances side by side into one JSON Lines file."),
    "crawl-worker": (
        "._crawl:crawl_worker",
        "Join a distributed crawl (`crawl --redis`) as a worker.",
    ),
    "download": ("._transfer:download", "Download a video's file (resumable)."),
    "get-access-token": (
        "._accounts:get_access_token",
        "Print an access token of the account (for scripts).",
    ),
    "limits": ("._reading:limits", "Show URL's rate-limit buckets after one probe call."),
    "login": (
        "._accounts:login",
        "Sign in to URL as USER and store the sign-in for later commands.",
    ),
    "logout": ("._accounts:logout", "Revoke the account's sign-in on the instance and forget it."),
    "notifications": (
        "._notifications:notifications",
        "Show the account's notifications; --follow prints new ones as they arrive.",
    ),
    "plugins": ("._admin:plugins", "Manage the instance's plugins and themes (administrators)."),
    "redundancy": (
        "._admin:redundancy",
        "Manage the instance's video redundancies (administrators).",
    ),
    "sandbox": (
        "._serve:sandbox",
        "Serve local PeerTube look-alikes (FakeInstance) until Ctrl-C.",
    ),
    "search": ("._reading:search", "Search the videos known to URL for QUERY."),
    "upload": ("._transfer:upload", "Upload a video, resumably, with a progress bar."),
    "videos": (
        "._reading:videos",
        "List an instance's videos or show one (`videos URL` is `videos list URL`).",
    ),
    "whoami": ("._accounts:whoami", "Show the signed-in user: name, role, channels, quota."),
}

#: The short names of PeerTube's own CLI, accepted and not listed.
ALIASES = {"up": "upload", "p": "plugins", "r": "redundancy", "token": "get-access-token"}


class _Main(LazyGroup):
    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, ALIASES.get(cmd_name, cmd_name))


@click.group(cls=_Main, lazy=COMMANDS, context_settings=CONTEXT, epilog=EXIT_CODES)
@click.version_option(__version__, prog_name="peertube-async")
def cli() -> None:
    """Talk to PeerTube instances from the shell: list, search, sign in, upload,
    download, administer, crawl.

    Every request goes through peertube_async's rate-aware scheduler, so no command
    spends more of an instance's budget than it allows. Reading commands whose URL is
    optional use a built-in sandbox when it is left out; commands that need a sign-in
    use the default account (`auth add`, `auth set-default`) when given no --url.
    """


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    return main_entry(cli, argv)
