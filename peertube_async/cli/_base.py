"""What every command shares: exit codes, error mapping, options, the lazy group.

This module is imported for ``--help``: it imports click and the standard library only.
The SDK, aiohttp and rich are imported inside the functions that need them.
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = [
    "CONTEXT",
    "EXIT_API",
    "EXIT_AUTH",
    "EXIT_CODES",
    "EXIT_INCOMPLETE",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_NETWORK",
    "EXIT_OK",
    "EXIT_RATE_LIMITED",
    "EXIT_USAGE",
    "DefaultGroup",
    "Failure",
    "LazyGroup",
    "command",
    "err",
    "explain",
    "json_option",
    "limit_option",
    "print_json",
    "run",
    "token_store_option",
]

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_API = 3
EXIT_NETWORK = 4
EXIT_RATE_LIMITED = 5
EXIT_AUTH = 6
EXIT_INCOMPLETE = 7
EXIT_INTERRUPTED = 130

EXIT_CODES = f"""\b
Exit codes:
  {EXIT_OK}    success
  {EXIT_INTERNAL}    unexpected internal error (a bug: please report it)
  {EXIT_USAGE}    bad usage: arguments, instance URL, an output that exists without
       --resume, a checkpoint or upload state that does not match the command, a file
       changed since its upload started
  {EXIT_API}    the instance answered with an error (3xx/4xx/5xx), or with an answer
       that cannot be used (broken, not the expected JSON, too large)
  {EXIT_NETWORK}    network: no answer (refused, unreachable, timed out)
  {EXIT_RATE_LIMITED}    rate limited beyond the retries
  {EXIT_AUTH}    sign-in refused, or no stored token and no password for the user
  {EXIT_INCOMPLETE}    crawl ended with instances or kinds that failed (see the summary;
       run it again with --resume to retry them)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C); a crawl keeps a valid checkpoint, an upload
       its state: run the same command with --resume"""

CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

F = TypeVar("F", bound=Callable[..., Any])


class Failure(Exception):
    """A failure already explained to the user: print ``message``, exit with ``code``."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def err(text: str) -> None:
    """A line on stderr (notes, progress, errors)."""
    click.echo(text, err=True)


def print_json(value: Any) -> None:
    """One JSON document on one line of stdout."""
    click.echo(json.dumps(value, ensure_ascii=False))


def run(coro: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine; map the SDK's errors to messages and exit codes."""
    import asyncio

    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        err("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        explained = explain(exc)
        if explained is None:
            raise
        message, code = explained
        err(message)
        return code


def explain(exc: BaseException) -> tuple[str, int] | None:
    """The message and exit code of an error the user can act on; None for a bug."""
    from .._auth import AuthError
    from .._errors import (
        APIError,
        DownloadError,
        PeerTubeError,
        RateLimited,
        ResponseDecodeError,
        TransportError,
        UnsupportedByServer,
    )

    # Only a crawl raises it: never import the crawler just to name it.
    journal = sys.modules.get("peertube_async.crawl._journal")
    checkpoint_error = getattr(journal, "CheckpointError", ())
    if isinstance(exc, Failure):
        return f"error: {exc}", exc.code
    if isinstance(exc, (ValueError, FileExistsError, *((checkpoint_error,) if journal else ()))):
        return f"error: {exc}", EXIT_USAGE
    if isinstance(exc, AuthError):
        return f"sign-in failed: {exc}", EXIT_AUTH
    if isinstance(exc, RateLimited):
        return f"rate limited: {exc}", EXIT_RATE_LIMITED
    if isinstance(exc, (APIError, UnsupportedByServer)):
        return f"error: {exc}", EXIT_API
    if isinstance(exc, (ResponseDecodeError, DownloadError)):
        # The instance did answer: a network failure it is not.
        return f"error: the instance's answer cannot be used: {exc}", EXIT_API
    if isinstance(exc, (TransportError, OSError)):
        return f"network error: {exc}", EXIT_NETWORK
    if isinstance(exc, PeerTubeError):
        # Anything else the SDK raises comes from an answer (an upload refused...).
        return f"error: {exc}", EXIT_API
    return None


def command(func: Callable[..., Coroutine[Any, Any, int]]) -> Callable[..., int]:
    """A click callback running the coroutine function ``func``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        return run(func(*args, **kwargs))

    return wrapper


# -- options ------------------------------------------------------------------------------


def token_store_option(func: F) -> F:
    """``--token-store``: where sign-ins are kept."""
    return click.option(
        "--token-store",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        envvar="PEERTUBE_TOKEN_STORE",
        help="token file (default: $PEERTUBE_TOKEN_STORE, else "
        "~/.config/peertube-async/tokens.json)",
    )(func)


def json_option(func: F) -> F:
    """``--json``: machine-readable output."""
    return click.option("--json", "as_json", is_flag=True, help="one JSON object per line")(func)


def limit_option(default: int) -> Callable[[F], F]:
    """``--limit``: how many items a list shows."""
    return click.option(
        "--limit",
        type=click.IntRange(min=1),
        default=default,
        show_default=True,
        help="how many items at most",
    )


# -- groups -------------------------------------------------------------------------------


class LazyGroup(click.Group):
    """A group whose commands live in modules imported only when one is run (or its help
    shown), so that ``--help`` and completion stay fast.

    ``lazy`` maps a command name to ``("module:attribute", short help)``; the short help
    is what the group's own help lists, without importing anything.
    """

    def __init__(
        self, *args: Any, lazy: Mapping[str, tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, tuple[str, str]] = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in self.lazy:
            return found
        where = self.lazy[cmd_name][0]
        module_name, _, attribute = where.partition(":")
        module = importlib.import_module(module_name, __package__)
        loaded = getattr(module, attribute)
        if not isinstance(loaded, click.Command):
            raise TypeError(f"{where} is not a click command")
        self.add_command(loaded, cmd_name)
        return loaded

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows: list[tuple[str, str]] = []
        for name in self.list_commands(ctx):
            if name in self.lazy and name not in self.commands:
                limit = formatter.width - 6 - len(name)
                rows.append((name, _shorten(self.lazy[name][1], limit)))
                continue
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _shorten(text: str, limit: int) -> str:
    """``text`` cut at a word to fit ``limit`` characters, as click cuts short helps."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 3, 1)].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "..."


class DefaultGroup(click.Group):
    """A group that runs ``default`` when the first argument names no subcommand, so that
    ``videos URL`` means ``videos list URL``."""

    default = "list"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = [self.default, *args]
        return super().parse_args(ctx, args)


def main_entry(group: click.Group, argv: Sequence[str] | None) -> int:
    """Run ``group`` as the ``peertube-async`` program; returns the exit code."""
    try:
        result = group.main(
            args=list(argv) if argv is not None else None,
            prog_name="peertube-async",
            standalone_mode=False,
        )
    except click.exceptions.Abort:
        err("aborted")
        return EXIT_INTERRUPTED
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if isinstance(exc, click.UsageError) else EXIT_INTERNAL
    finally:
        sys.stdout.flush()
    return int(result) if isinstance(result, int) else EXIT_OK
