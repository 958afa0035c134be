"""``crawl`` and ``crawl-worker``: many instances into one JSON Lines file."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import click

from ._base import (
    CONTEXT,
    EXIT_CODES,
    EXIT_INCOMPLETE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_USAGE,
    Failure,
    command,
    err,
    print_json,
)
from ._format import format_seconds

if TYPE_CHECKING:
    from .._ratelimit import RateLimit
    from ..crawl import CrawlReport

__all__ = ["crawl", "crawl_worker", "parse_rate"]

F = TypeVar("F", bound=Callable[..., Any])

#: ``crawl.KINDS`` and ``crawl.DEFAULT_NAMESPACE``, named here so that ``--help`` does not
#: import the crawler (a test checks they agree).
KINDS: tuple[str, ...] = ("videos", "channels", "accounts", "playlists", "comments")
DEFAULT_NAMESPACE = "peertube_async"


def parse_rate(value: str | None) -> RateLimit | None:
    """``LIMIT/SECONDS`` as a :class:`RateLimit`; None for None."""
    if value is None:
        return None
    from .._ratelimit import RateLimit

    count, sep, window = value.partition("/")
    try:
        if not sep:
            raise ValueError
        return RateLimit(int(count), float(window))
    except (ValueError, TypeError):
        raise click.BadParameter(
            f"{value!r} is not LIMIT/SECONDS (e.g. 50/10)", param_hint="--rate-limit"
        ) from None


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


@click.command(
    context_settings=CONTEXT,
    epilog=EXIT_CODES,
    short_help="Crawl many instances side by side into one JSON Lines file.",
)
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
@command
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
            raise Failure(f"{', '.join(stray)} only apply with --redis", EXIT_USAGE)
    from .._ratelimit import RateLimit
    from ..crawl import (
        Crawler,
        DistributedCrawl,
        WorkersExited,
        load_checkpoint,
        redis_errors,
    )
    from ._display import CrawlDisplay
    from ._sandbox import CRAWL_SANDBOX, SandboxSpec, sandboxes

    wanted = _parse_kinds(kinds)
    budget = parse_rate(rate_limit)
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
            err(
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
                events=err if quiet or as_json else display.note,
            )
        stack.enter_context(display)
        stack.enter_context(_graceful_stop(crawler, display.note))
        try:
            report = await crawler.run()
        except FileExistsError:
            raise Failure(
                f"{out} already exists: add --resume to continue that crawl, or --overwrite "
                "to start it again",
                EXIT_USAGE,
            ) from None
        except WorkersExited as exc:
            raise Failure(str(exc), EXIT_INTERNAL) from None
        except redis_errors() as exc:
            raise Failure(f"Redis: {exc}", EXIT_NETWORK) from None
    if as_json:
        print_json(report.to_dict())
    else:
        _print_report(report)
    err(
        f"{report.records:,} records in {report.out} ({report.written:,} new) "
        f"in {format_seconds(report.elapsed)}"
    )
    if report.interrupted:
        err(f"interrupted: run the same command with --resume to continue ({report.checkpoint})")
        return EXIT_INTERRUPTED
    if not report.complete:
        failed = ", ".join(i.url for i in report.failed)
        err(f"incomplete: {failed}; run it again with --resume to retry")
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
    import asyncio
    import signal

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


@click.command(
    "crawl-worker",
    context_settings=CONTEXT,
    epilog=EXIT_CODES,
    short_help="Join a distributed crawl (`crawl --redis`) as a worker.",
)
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
@command
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
    from ..crawl import redis_errors

    budget = parse_rate(rate_limit)
    options: dict[str, Any] = {
        "namespace": namespace or DEFAULT_NAMESPACE,
        "instances_at_once": instances_per_worker or _INSTANCES_PER_WORKER,
        "per_instance": per_instance,
        "connections": connections,
        "lease": lease or _LEASE,
        "retries": retries,
        "rate_limits": {"api": budget} if budget else None,
        "wait": wait,
        "events": None if quiet else err,
    }
    try:
        if workers == 1:
            return await _one_worker(redis_url, crawl_id, options)
        return await _worker_processes(redis_url, crawl_id, workers, options)
    except redis_errors() as exc:
        raise Failure(f"Redis: {exc}", EXIT_NETWORK) from None


async def _one_worker(redis_url: str, crawl_id: str, options: dict[str, Any]) -> int:
    from ..crawl import Worker

    worker = Worker(redis_url, crawl_id, **options)
    with _graceful_stop(worker, err, "stopping: giving the instances back"):
        report = await worker.run()
    err(
        f"worker {report.worker}: {len(report.finished)} instances finished "
        f"({len(report.taken_over)} taken over), {report.written:,} records"
    )
    return EXIT_INTERRUPTED if report.stopped else EXIT_OK


async def _worker_processes(
    redis_url: str, crawl_id: str, count: int, options: dict[str, Any]
) -> int:
    from ..crawl import WorkerPool

    pool = WorkerPool(redis_url, crawl_id, count, **options)
    pool.start()
    try:
        with _graceful_stop(pool, err, "stopping: the workers give their instances back"):
            await pool.wait()
        codes = pool.exitcodes
    finally:
        await pool.close()
    for code in (EXIT_USAGE, EXIT_NETWORK):
        if code in codes:
            return code
    if any(c not in (EXIT_OK, EXIT_INTERRUPTED) for c in codes):
        err(f"error: worker processes ended with {codes}")
        return EXIT_INTERNAL
    return EXIT_INTERRUPTED if EXIT_INTERRUPTED in codes else EXIT_OK
