"""The ``peertube-async`` command line.

With no instance URL, the reading commands run against a built-in sandbox: local
:class:`~peertube_async.testing.FakeInstance` servers started on 127.0.0.1 for the
command. Data goes to stdout (a table, or JSON with ``--json``); progress, notes and
errors go to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import click

from .._auth import AuthError, FileTokenStore
from .._client import PeerTube, normalize_instance_url
from .._convert import make_converter
from .._errors import (
    APIError,
    DownloadError,
    PeerTubeError,
    RateLimited,
    ResponseDecodeError,
    TransportError,
    UnsupportedByServer,
)
from .._pagination import Paginator
from .._ratelimit import RateLimit
from .._version import __version__
from ..crawl import (
    DEFAULT_NAMESPACE,
    KINDS,
    CheckpointError,
    Crawler,
    CrawlReport,
    DistributedCrawl,
    Worker,
    WorkerPool,
    WorkersExited,
    load_checkpoint,
    redis_errors,
)
from ._display import CrawlDisplay, format_seconds
from ._sandbox import CRAWL_SANDBOX, SandboxSpec, sandboxes

__all__ = [
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
       --resume, or a checkpoint that does not match the command
  {EXIT_API}    the instance answered with an error (3xx/4xx/5xx), or with an answer
       that cannot be used (broken, not the expected JSON, too large)
  {EXIT_NETWORK}    network: no answer (refused, unreachable, timed out)
  {EXIT_RATE_LIMITED}    rate limited beyond the retries
  {EXIT_AUTH}    sign-in refused, or no stored token for --user
  {EXIT_INCOMPLETE}    crawl ended with instances or kinds that failed (see the summary;
       run it again with --resume to retry them)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C); a crawl keeps a valid checkpoint"""

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _Failure(Exception):
    """A failure already explained to the user: print ``message``, exit with ``code``."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _err(text: str) -> None:
    click.echo(text, err=True)


def _run(coro: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine; map the SDK's errors to messages and exit codes."""
    try:
        return asyncio.run(coro)
    except _Failure as exc:
        _err(f"error: {exc}")
        return exc.code
    except (ValueError, FileExistsError, CheckpointError) as exc:
        _err(f"error: {exc}")
        return EXIT_USAGE
    except AuthError as exc:
        _err(f"sign-in failed: {exc}")
        return EXIT_AUTH
    except RateLimited as exc:
        _err(f"rate limited: {exc}")
        return EXIT_RATE_LIMITED
    except APIError as exc:
        _err(f"error: {exc}")
        return EXIT_API
    except (ResponseDecodeError, DownloadError) as exc:
        # The instance did answer: a network failure it is not.
        _err(f"error: the instance's answer cannot be used: {exc}")
        return EXIT_API
    except UnsupportedByServer as exc:
        _err(f"error: {exc}")
        return EXIT_API
    except (TransportError, OSError) as exc:
        _err(f"network error: {exc}")
        return EXIT_NETWORK
    except PeerTubeError as exc:
        # Anything else the SDK raises comes from an answer (an upload refused...).
        _err(f"error: {exc}")
        return EXIT_API
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_INTERRUPTED


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False))


# -- shared options and helpers -----------------------------------------------------------


def _default_token_store() -> Path:
    configured = os.environ.get("PEERTUBE_TOKEN_STORE")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join("~", ".config")
    return Path(base).expanduser() / "peertube-async" / "tokens.json"


def _token_store_option(func: F) -> F:
    return click.option(
        "--token-store",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="token file (default: $PEERTUBE_TOKEN_STORE, else "
        "~/.config/peertube-async/tokens.json)",
    )(func)


def _user_option(func: F) -> F:
    func = click.option(
        "--user",
        metavar="USER",
        help="call as USER, with the token stored by `login` (refreshed as needed)",
    )(func)
    return _token_store_option(func)


def _json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="one JSON object per line")(func)


def _limit_option(default: int) -> Callable[[F], F]:
    return click.option(
        "--limit",
        type=click.IntRange(min=1),
        default=default,
        show_default=True,
        help="how many items at most",
    )


def _parse_rate(value: str | None) -> RateLimit | None:
    if value is None:
        return None
    count, sep, window = value.partition("/")
    try:
        if not sep:
            raise ValueError
        return RateLimit(int(count), float(window))
    except (ValueError, TypeError):
        raise click.BadParameter(
            f"{value!r} is not LIMIT/SECONDS (e.g. 50/10)", param_hint="--rate-limit"
        ) from None


@contextlib.asynccontextmanager
async def _instance(url: str | None, videos: int = 40) -> AsyncIterator[str]:
    """``url``, or a sandbox started for the command."""
    if url:
        yield url
        return
    async with sandboxes([SandboxSpec(videos=videos, limit=50, window=10.0)]) as running:
        fake_url = str(running[0][1].url)
        _err(f"(no instance given: using the built-in sandbox at {fake_url})")
        yield fake_url


@contextlib.asynccontextmanager
async def _client(
    url: str | None, user: str | None = None, token_store: Path | None = None
) -> AsyncIterator[PeerTube]:
    """A client of ``url`` (or of a sandbox), signed in as ``user`` from the token store."""
    async with _instance(url) as where:
        store = FileTokenStore(token_store or _default_token_store())
        async with PeerTube(where, token_store=store) as pt:
            if user:
                password = os.environ.get("PEERTUBE_PASSWORD")
                stored = await store.load(str(pt.url), user)
                if stored is None and not password:
                    raise _Failure(
                        f"no stored token for {user} at {pt.url}: run "
                        f"`peertube-async login {pt.url} {user}` first",
                        EXIT_AUTH,
                    )
                await pt.login(user, password or "")
            yield pt


async def _collect(listing: Paginator[T], limit: int) -> list[T]:
    """Every item of ``listing``; a bar on stderr when it takes many pages."""
    items: list[T] = []
    if limit <= 100 or not sys.stderr.isatty():
        async for page in listing.pages():
            items.extend(page.data)
        return items
    from rich.progress import Progress

    with Progress(transient=True, console=_stderr_console()) as bar:
        task = bar.add_task("pages", total=None)
        async for page in listing.pages():
            items.extend(page.data)
            total = min(limit, page.total) if page.total is not None else limit
            bar.update(task, completed=len(items), total=total)
    return items


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _emit_rows(rows: Sequence[Any], as_json: bool, header: str, line: Callable[[Any], str]) -> None:
    if as_json:
        conv = make_converter()
        for item in rows:
            _print_json(conv.unstructure(item))
        return
    click.echo(header)
    for item in rows:
        click.echo(line(item))


def _command(func: Callable[..., Coroutine[Any, Any, int]]) -> Callable[..., int]:
    """A click callback running the coroutine function ``func``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        return _run(func(*args, **kwargs))

    return wrapper


# -- the group ----------------------------------------------------------------------------


@click.group(context_settings=_CONTEXT, epilog=EXIT_CODES)
@click.version_option(__version__, prog_name="peertube-async")
def cli() -> None:
    """Talk to PeerTube instances from the shell: list, search, sign in, crawl.

    Every request goes through peertube_async's rate-aware scheduler, so no command
    spends more of an instance's budget than it allows. Commands whose URL is optional
    use a built-in sandbox when it is left out.
    """


class _DefaultGroup(click.Group):
    """A group that runs ``default`` when the first argument names no subcommand, so that
    ``videos URL`` means ``videos list URL``."""

    default = "list"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = [self.default, *args]
        return super().parse_args(ctx, args)


@cli.group(cls=_DefaultGroup, context_settings=_CONTEXT, epilog=EXIT_CODES)
def videos() -> None:
    """List an instance's videos or show one (`videos URL` is `videos list URL`)."""


@videos.command("list", context_settings=_CONTEXT, epilog=EXIT_CODES)
@click.argument("url", required=False)
@click.option("--sort", default="-publishedAt", show_default=True, help="sort column")
@_limit_option(20)
@_json_option
@_user_option
@_command
async def videos_list(
    url: str | None,
    sort: str,
    limit: int,
    as_json: bool,
    user: str | None,
    token_store: Path | None,
) -> int:
    """List the videos of URL (default: a built-in sandbox), newest first."""
    async with _client(url, user, token_store) as pt:
        listing = pt.videos.list(sort=sort, count=min(limit, 100), limit=limit)
        rows = await _collect(listing, limit)
    _emit_rows(
        rows,
        as_json,
        f"{'id':>6}  {'shortUUID':<22}  {'duration':>8}  {'views':>7}  name",
        lambda v: (
            f"{v.id:>6}  {v.short_uuid:<22}  {v.duration or 0:>7}s  {v.views or 0:>7}  {v.name}"
        ),
    )
    _err(f"{len(rows)} videos")
    return EXIT_OK


@videos.command("get", context_settings=_CONTEXT, epilog=EXIT_CODES)
@click.argument("url")
@click.argument("video_id", metavar="ID")
@_json_option
@_user_option
@_command
async def videos_get(
    url: str, video_id: str, as_json: bool, user: str | None, token_store: Path | None
) -> int:
    """Show one video of URL by id, UUID or short UUID."""
    async with _client(url, user, token_store) as pt:
        video = await pt.videos.get(video_id)
    data = make_converter().unstructure(video)
    if as_json:
        _print_json(data)
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


@cli.command(context_settings=_CONTEXT, epilog=EXIT_CODES)
@click.argument("url")
@click.argument("query")
@_limit_option(20)
@_json_option
@_user_option
@_command
async def search(
    url: str, query: str, limit: int, as_json: bool, user: str | None, token_store: Path | None
) -> int:
    """Search the videos known to URL for QUERY."""
    async with _client(url, user, token_store) as pt:
        rows = await _collect(
            pt.search.videos(search=query, count=min(limit, 100), limit=limit), limit
        )
    _emit_rows(
        rows,
        as_json,
        f"{'shortUUID':<22}  {'views':>7}  name",
        lambda v: f"{v.short_uuid or '':<22}  {v.views or 0:>7}  {v.name}",
    )
    _err(f"{len(rows)} videos")
    return EXIT_OK


@cli.command(context_settings=_CONTEXT, epilog=EXIT_CODES)
@click.argument("url", required=False)
@_limit_option(50)
@_json_option
@_user_option
@_command
async def channels(
    url: str | None, limit: int, as_json: bool, user: str | None, token_store: Path | None
) -> int:
    """List the video channels of URL (default: a built-in sandbox)."""
    async with _client(url, user, token_store) as pt:
        rows = await _collect(pt.video_channels.list(count=min(limit, 100), limit=limit), limit)
    _emit_rows(
        rows,
        as_json,
        f"{'id':>6}  {'handle':<40}  name",
        lambda c: f"{c.id or 0:>6}  {f'{c.name}@{c.host}':<40}  {c.display_name or ''}",
    )
    _err(f"{len(rows)} channels")
    return EXIT_OK


@cli.command(context_settings=_CONTEXT, epilog=EXIT_CODES)
@click.argument("url", required=False)
@_limit_option(50)
@_json_option
@_user_option
@_command
async def accounts(
    url: str | None, limit: int, as_json: bool, user: str | None, token_store: Path | None
) -> int:
    """List the accounts known to URL (default: a built-in sandbox)."""
    async with _client(url, user, token_store) as pt:
        rows = await _collect(pt.accounts.list(count=min(limit, 100), limit=limit), limit)
    _emit_rows(
        rows,
        as_json,
        f"{'id':>6}  {'handle':<40}  name",
        lambda a: f"{a.id or 0:>6}  {f'{a.name}@{a.host}':<40}  {a.display_name or ''}",
    )
    _err(f"{len(rows)} accounts")
    return EXIT_OK


@cli.command(context_settings=_CONTEXT, epilog=EXIT_CODES)
@click.argument("url", required=False)
@_json_option
@_user_option
@_command
async def limits(url: str | None, as_json: bool, user: str | None, token_store: Path | None) -> int:
    """Show URL's rate-limit buckets as the client knows them after one probe call
    (GET /api/v1/config): limit, window, what is left and when it resets."""
    async with _client(url, user, token_store) as pt:
        await pt.config.get()
        snapshot = pt.rate_limits
        origin = str(pt.url)
    if as_json:
        for name, snap in snapshot.items():
            _print_json(
                {
                    "instance": origin,
                    "class": name,
                    "limit": snap.limit,
                    "window": snap.window,
                    "remaining": snap.remaining,
                    "reset_in": snap.reset_in,
                    "in_flight": snap.in_flight,
                }
            )
        return EXIT_OK
    click.echo(f"{'class':<16}  {'limit':>6}  {'window':>8}  {'remaining':>9}  resets in")
    for name, snap in snapshot.items():
        reset = format_seconds(snap.reset_in) if snap.reset_in is not None else "-"
        click.echo(f"{name:<16}  {snap.limit:>6}  {snap.window:>7g}s  {snap.remaining:>9}  {reset}")
    return EXIT_OK


@cli.command(context_settings=_CONTEXT, epilog=EXIT_CODES)
@click.argument("url")
@click.argument("user")
@click.option("--otp", metavar="CODE", help="two-factor code, if the account uses it")
@_token_store_option
@_command
async def login(url: str, user: str, otp: str | None, token_store: Path | None) -> int:
    """Sign in to URL as USER and store the tokens for later commands (`--user USER`).

    The password comes from $PEERTUBE_PASSWORD, else a prompt. A stored token that still
    works is reused instead of spending the login budget (15 attempts per 5 minutes).
    """
    origin = str(normalize_instance_url(url))
    path = token_store or _default_token_store()
    store = FileTokenStore(path)
    password = os.environ.get("PEERTUBE_PASSWORD")
    if password is None:
        password = await asyncio.to_thread(click.prompt, "Password", hide_input=True, err=True)
    async with PeerTube(origin, token_store=store) as pt:
        await pt.login(user, password, otp=otp)
    click.echo(f"signed in as {user} at {origin}; tokens in {path}")
    return EXIT_OK


@cli.command(context_settings=_CONTEXT, epilog=EXIT_CODES)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=9000,
    show_default=True,
    help="first port (0: any free port)",
)
@click.option(
    "--videos",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="videos per instance",
)
@click.option(
    "--instances",
    type=click.IntRange(1, 100),
    default=1,
    show_default=True,
    help="how many instances, on consecutive ports",
)
@click.option(
    "--rate-limit",
    metavar="LIMIT/SECONDS",
    default="50/10",
    show_default=True,
    help="the `api` budget of each instance",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="address to bind")
@_command
async def sandbox(port: int, videos: int, instances: int, rate_limit: str, host: str) -> int:
    """Serve local PeerTube look-alikes (FakeInstance) for bots to practise on, until
    Ctrl-C. Each URL is printed on stdout, one per line."""
    budget = _parse_rate(rate_limit)
    assert budget is not None
    specs = [
        SandboxSpec(
            videos=videos,
            limit=budget.limit,
            window=budget.window,
            port=port + i if port else 0,
        )
        for i in range(instances)
    ]
    async with sandboxes(specs, host=host) as running:
        for _, fake in running:
            click.echo(str(fake.url))
        sys.stdout.flush()
        _err(
            f"PeerTube sandbox: {len(running)} instance(s), {videos} videos each, api budget "
            f"{budget.limit} per {budget.window:g} s. Ctrl-C to stop."
        )
        await _until_signal()
    _err("sandbox stopped")
    return EXIT_OK


async def _until_signal() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        await stop.wait()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


# -- crawl --------------------------------------------------------------------------------

_LEASE = 30.0
_INSTANCES_PER_WORKER = 8


def _distributed_options(func: F) -> F:
    """Options that the coordinator hands its workers and that ``crawl-worker`` takes."""
    func = click.option(
        "--namespace",
        default=None,
        help=f"with --redis: prefix of the crawl's Redis keys  [default: {DEFAULT_NAMESPACE}]",
    )(func)
    func = click.option(
        "--instances-per-worker",
        type=click.IntRange(min=1),
        default=None,
        help=f"with --redis: instances each worker crawls at once  "
        f"[default: {_INSTANCES_PER_WORKER}]",
    )(func)
    return click.option(
        "--lease",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        metavar="SECONDS",
        help="with --redis: how long a silent worker keeps its instances before another "
        f"takes them over  [default: {_LEASE:g}]",
    )(func)


def _parse_kinds(value: str) -> tuple[str, ...]:
    if value.strip() == "all":
        return KINDS
    kinds = tuple(k.strip() for k in value.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise click.BadParameter(
            f"{', '.join(unknown) or value!r}: choose from {', '.join(KINDS)} or all",
            param_hint="--kinds",
        )
    return kinds


def _print_report(report: CrawlReport) -> None:
    click.echo(
        f"{'instance':<32} {'status':<9} {'records':>8} {'new':>7} {'dups':>5} "
        f"{'copies':>6} {'pages':>6} {'429s':>5} {'time':>9}  problem"
    )
    for row in report.instances:
        problem = row.failure or "; ".join(f"{k}: {v}" for k, v in row.errors.items())
        limited = "-" if row.rate_limited is None else str(row.rate_limited)
        click.echo(
            f"{row.url:<32} {row.status:<9} {sum(row.records.values()):>8} {row.written:>7} "
            f"{row.duplicates:>5} {row.federated_copies:>6} {row.pages:>6} {limited:>5} "
            f"{format_seconds(row.elapsed):>9}  {problem}"
        )


@cli.command(context_settings=_CONTEXT, epilog=EXIT_CODES)
@click.argument("instances", nargs=-1, metavar="[INSTANCE]...")
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON Lines output (its checkpoint goes beside it)",
)
@click.option(
    "--resume",
    is_flag=True,
    help="continue from OUT's checkpoint if there is one; with no INSTANCE, crawl "
    "the checkpoint's instances",
)
@click.option("--overwrite", is_flag=True, help="start afresh even if OUT exists")
@click.option(
    "--kinds",
    default="videos",
    show_default=True,
    metavar="KIND,...",
    help=f"what to collect: {', '.join(KINDS)}, or all (comments imply videos)",
)
@click.option(
    "--drop-federated-copies",
    is_flag=True,
    help="keep only objects that live on the instance that serves them "
    "(a copy's canonical url points to another instance)",
)
@click.option(
    "--connections",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="most open connections, every instance together",
)
@click.option(
    "--per-instance",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="most requests outstanding per instance",
)
@click.option(
    "--rate-limit",
    metavar="LIMIT/SECONDS",
    default=None,
    help="the instances' api budget if not PeerTube's default 50/10",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=4,
    show_default=True,
    help="tries again of a page that got no answer, before giving its instance up",
)
@click.option(
    "--redis",
    "redis_url",
    metavar="URL",
    default=None,
    help="share the crawl out through the Redis server at URL (redis://HOST:PORT/DB): "
    "worker processes crawl, this one seeds the crawl and writes OUT",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="with --redis: worker processes to start here  [default: 1; 0 when every "
    "worker runs elsewhere, with crawl-worker]",
)
@click.option(
    "--crawl-id",
    metavar="ID",
    default=None,
    help="with --redis: the crawl to create or join (default: OUT's with --resume, else "
    "a new one); crawl-worker joins it by this ID",
)
@_distributed_options
@click.option("--json", "as_json", is_flag=True, help="the summary as one JSON object")
@click.option("--quiet", "-q", is_flag=True, help="no progress on stderr")
@_command
async def crawl(
    instances: tuple[str, ...],
    out: Path,
    resume: bool,
    overwrite: bool,
    kinds: str,
    drop_federated_copies: bool,
    connections: int,
    per_instance: int,
    rate_limit: str | None,
    retries: int,
    redis_url: str | None,
    workers: int | None,
    crawl_id: str | None,
    lease: float | None,
    instances_per_worker: int | None,
    namespace: str | None,
    as_json: bool,
    quiet: bool,
) -> int:
    """Crawl INSTANCEs side by side into OUT, one JSON record per line:
    {"instance": ..., "kind": "video", "data": {...}}.

    Each instance is paced by its own rate-limit budget; a dead or failing one is retried
    with backoff, then given up and reported, without holding up the others. Kill it at
    any time (Ctrl-C stops cleanly) and run the same command with --resume: it goes on
    where it stopped, with no gap, duplicate or broken line.

    With no INSTANCE, it crawls three built-in sandbox instances (PeerTube's budget of 50
    requests with the window cut to 1 s); a resumed sandbox crawl restarts them on the
    same ports.

    With --redis, instances are handed out through Redis to --workers processes started
    here and to any started elsewhere with `crawl-worker --redis URL --crawl-id ID`; the
    offsets live in Redis, and this process writes OUT (and its checkpoint) as records
    come. Kill any of them at any time: a worker's instances go to another once its
    --lease runs out, and the same command with --resume goes on writing OUT.
    """
    if redis_url is None:
        given = {
            "--workers": workers,
            "--crawl-id": crawl_id,
            "--lease": lease,
            "--instances-per-worker": instances_per_worker,
            "--namespace": namespace,
        }
        stray = [name for name, value in given.items() if value is not None]
        if stray:
            raise _Failure(f"{', '.join(stray)} only apply with --redis", EXIT_USAGE)
    wanted = _parse_kinds(kinds)
    budget = _parse_rate(rate_limit)
    rate_limits = {"api": budget} if budget else None
    specs: list[SandboxSpec] | None = None
    if not instances:
        saved = load_checkpoint(out) if resume else None
        if saved is None:
            specs = list(CRAWL_SANDBOX)
        elif isinstance(saved.get("meta"), dict) and saved["meta"].get("sandbox"):
            specs = [SandboxSpec.from_json(s) for s in saved["meta"]["sandbox"]]
    display = CrawlDisplay(quiet=quiet or as_json)
    async with contextlib.AsyncExitStack() as stack:
        urls: list[str] = list(instances)
        meta: dict[str, Any] = {}
        if specs is not None:
            running = await stack.enter_async_context(sandboxes(specs))
            urls = [str(fake.url) for _, fake in running]
            meta["sandbox"] = [spec.to_json() for spec, _ in running]
            first = running[0][0]
            rate_limits = rate_limits or {"api": RateLimit(first.limit, first.window)}
            _err(
                f"(no instance given: crawling {len(urls)} built-in sandbox instances, "
                f"api budget {first.limit} per {first.window:g} s)"
            )
        crawler: Crawler | DistributedCrawl
        if redis_url is None:
            crawler = Crawler(
                urls,
                out,
                kinds=wanted,
                resume=resume,
                overwrite=overwrite,
                drop_federated_copies=drop_federated_copies,
                connections=connections,
                per_instance=per_instance,
                rate_limits=rate_limits,
                retries=retries,
                progress=display.update,
                meta=meta,
            )
        else:
            crawler = DistributedCrawl(
                urls,
                out,
                redis_url=redis_url,
                workers=1 if workers is None else workers,
                crawl_id=crawl_id,
                namespace=namespace or DEFAULT_NAMESPACE,
                kinds=wanted,
                resume=resume,
                overwrite=overwrite,
                drop_federated_copies=drop_federated_copies,
                rate_limits=rate_limits,
                lease=lease or _LEASE,
                instances_per_worker=instances_per_worker or _INSTANCES_PER_WORKER,
                per_instance=per_instance,
                connections=connections,
                retries=retries,
                progress=display.update,
                meta=meta,
                # The crawl id is what other machines need: shown even when quiet.
                events=_err if quiet or as_json else display.note,
            )
        stack.enter_context(display)
        stack.enter_context(_graceful_stop(crawler, display.note))
        try:
            report = await crawler.run()
        except FileExistsError:
            raise _Failure(
                f"{out} already exists: add --resume to continue that crawl, or --overwrite "
                "to start it again",
                EXIT_USAGE,
            ) from None
        except WorkersExited as exc:
            raise _Failure(str(exc), EXIT_INTERNAL) from None
        except redis_errors() as exc:
            raise _Failure(f"Redis: {exc}", EXIT_NETWORK) from None
    if as_json:
        _print_json(report.to_dict())
    else:
        _print_report(report)
    _err(
        f"{report.records:,} records in {report.out} ({report.written:,} new) "
        f"in {format_seconds(report.elapsed)}"
    )
    if report.interrupted:
        _err(f"interrupted: run the same command with --resume to continue ({report.checkpoint})")
        return EXIT_INTERRUPTED
    if not report.complete:
        failed = ", ".join(i.url for i in report.failed)
        _err(f"incomplete: {failed}; run it again with --resume to retry")
        return EXIT_INCOMPLETE
    return EXIT_OK


class _Stoppable(Protocol):
    def stop(self) -> None: ...


@contextlib.contextmanager
def _graceful_stop(
    crawler: _Stoppable,
    note: Callable[[str], None],
    message: str = "stopping: writing the checkpoint (Ctrl-C again to quit at once)",
) -> Any:
    """First Ctrl-C (or SIGTERM): stop cleanly and write the checkpoint; a second Ctrl-C
    falls back to Python's own handling."""
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []

    def stop() -> None:
        note(message)
        crawler.stop()
        for sig in handled:
            loop.remove_signal_handler(sig)
        handled.clear()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop)
            handled.append(sig)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


@cli.command("crawl-worker", context_settings=_CONTEXT, epilog=EXIT_CODES)
@click.option("--redis", "redis_url", required=True, metavar="URL", help="the crawl's Redis")
@click.option("--crawl-id", required=True, metavar="ID", help="the crawl to join")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="worker processes to run here",
)
@_distributed_options
@click.option(
    "--connections",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="most open connections per worker",
)
@click.option(
    "--per-instance",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="most requests outstanding per instance",
)
@click.option(
    "--rate-limit",
    metavar="LIMIT/SECONDS",
    default=None,
    help="the instances' api budget if not the one the crawl was started with",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=4,
    show_default=True,
    help="tries again of a page that got no answer, before giving its instance up",
)
@click.option("--wait", is_flag=True, help="wait for the crawl to be started, if it is not yet")
@click.option("--quiet", "-q", is_flag=True, help="no line per instance on stderr")
@_command
async def crawl_worker(
    redis_url: str,
    crawl_id: str,
    workers: int,
    lease: float | None,
    instances_per_worker: int | None,
    namespace: str | None,
    connections: int,
    per_instance: int,
    rate_limit: str | None,
    retries: int,
    wait: bool,
    quiet: bool,
) -> int:
    """Join the distributed crawl ID (started by `crawl --redis URL`) as a worker: claim
    its instances one by one from Redis, crawl them and commit their records there, until
    nothing is left. Run it on as many machines as wanted.

    Ctrl-C (or SIGTERM) gives the unfinished instances back at once; a worker killed
    outright loses them for --lease seconds, after which another worker goes on from the
    offsets in Redis.
    """
    budget = _parse_rate(rate_limit)
    options: dict[str, Any] = {
        "namespace": namespace or DEFAULT_NAMESPACE,
        "instances_at_once": instances_per_worker or _INSTANCES_PER_WORKER,
        "per_instance": per_instance,
        "connections": connections,
        "lease": lease or _LEASE,
        "retries": retries,
        "rate_limits": {"api": budget} if budget else None,
        "wait": wait,
        "events": None if quiet else _err,
    }
    try:
        if workers == 1:
            return await _one_worker(redis_url, crawl_id, options)
        return await _worker_processes(redis_url, crawl_id, workers, options)
    except redis_errors() as exc:
        raise _Failure(f"Redis: {exc}", EXIT_NETWORK) from None


async def _one_worker(redis_url: str, crawl_id: str, options: dict[str, Any]) -> int:
    worker = Worker(redis_url, crawl_id, **options)
    with _graceful_stop(worker, _err, "stopping: giving the instances back"):
        report = await worker.run()
    _err(
        f"worker {report.worker}: {len(report.finished)} instances finished "
        f"({len(report.taken_over)} taken over), {report.written:,} records"
    )
    return EXIT_INTERRUPTED if report.stopped else EXIT_OK


async def _worker_processes(
    redis_url: str, crawl_id: str, count: int, options: dict[str, Any]
) -> int:
    pool = WorkerPool(redis_url, crawl_id, count, **options)
    pool.start()
    try:
        with _graceful_stop(pool, _err, "stopping: the workers give their instances back"):
            await pool.wait()
        codes = pool.exitcodes
    finally:
        await pool.close()
    for code in (EXIT_USAGE, EXIT_NETWORK):
        if code in codes:
            return code
    if any(c not in (EXIT_OK, EXIT_INTERRUPTED) for c in codes):
        _err(f"error: worker processes ended with {codes}")
        return EXIT_INTERNAL
    return EXIT_INTERRUPTED if EXIT_INTERRUPTED in codes else EXIT_OK


# -- entry point --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="peertube-async",
            standalone_mode=False,
        )
    except click.exceptions.Abort:
        _err("aborted")
        return EXIT_INTERRUPTED
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if isinstance(exc, click.UsageError) else EXIT_INTERNAL
    return int(result) if isinstance(result, int) else EXIT_OK
