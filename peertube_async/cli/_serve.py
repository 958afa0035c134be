"""``sandbox``: local PeerTube look-alikes (FakeInstance) for bots to practise on."""

from __future__ import annotations

import sys

import click

from ._base import CONTEXT, EXIT_CODES, EXIT_OK, command, err
from ._crawl import parse_rate

__all__ = ["sandbox"]


@click.command(
    context_settings=CONTEXT,
    epilog=EXIT_CODES,
    short_help="Serve local PeerTube look-alikes (FakeInstance) until Ctrl-C.",
)
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
@command
async def sandbox(port: int, videos: int, instances: int, rate_limit: str, host: str) -> int:
    """Serve local PeerTube look-alikes (FakeInstance) for bots to practise on, until
    Ctrl-C. Each URL is printed on stdout, one per line."""
    from ._sandbox import SandboxSpec, sandboxes

    budget = parse_rate(rate_limit)
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
        err(
            f"PeerTube sandbox: {len(running)} instance(s), {videos} videos each, api budget "
            f"{budget.limit} per {budget.window:g} s. Ctrl-C to stop."
        )
        await _until_signal()
    err("sandbox stopped")
    return EXIT_OK


async def _until_signal() -> None:
    import asyncio
    import signal

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
