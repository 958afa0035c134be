"""Helpers shared by the benchmark scripts: the server process, tables and JSON output.

The benchmarks run as plain scripts (``python benchmarks/NAME.py``), so the repository
root is put on ``sys.path`` by each script before ``peertube_async`` is imported; child
processes started with ``spawn`` inherit that path.

:class:`ServerProcess` runs a :class:`peertube_async.testing.FakeInstance` in its own
process (``multiprocessing`` with the ``spawn`` start method), so that the server's CPU
time never lands in the client's ``time.process_time()`` and the two do not compete for
one event loop. Before reporting ready, the child sends itself a few requests under
another client address (``X-Forwarded-For``), so that the first measured request does
not pay for the server's cold code paths, then zeroes its counters and limiter windows.
The parent talks to it over a pipe: the child reports its URL once it listens, answers
``stats`` with the fake's counters, and exits on ``stop``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import multiprocessing
import statistics
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["ServerProcess", "format_table", "median", "write_json"]

_STARTUP_TIMEOUT = 60.0
_WARM_UP_ADDRESS = "192.0.2.1"


def _serve(conn: Connection, options: dict[str, Any]) -> None:
    """Child process entry point: serve until the parent says ``stop``."""
    asyncio.run(_serve_async(conn, options))


async def _serve_async(conn: Connection, options: dict[str, Any]) -> None:
    from peertube_async.testing import FakeInstance

    loop = asyncio.get_running_loop()
    async with FakeInstance(**options) as fake:
        await _warm_up(str(fake.url))
        fake.reset_stats()
        fake.reset_limits()
        conn.send(str(fake.url))
        while True:
            # The pipe is read in a worker thread so the event loop keeps serving.
            command = await loop.run_in_executor(None, conn.recv)
            if command == "stats":
                conn.send(dataclasses.asdict(fake.stats))
            elif command == "reset":
                fake.reset_stats()
                fake.reset_limits()
                conn.send(None)
            else:
                break
    conn.send("stopped")


async def _warm_up(url: str, requests: int = 20) -> None:
    """Run the server's code paths once before any measurement.

    The requests carry ``X-Forwarded-For`` from a documentation address, so the fake keys
    them apart from the benchmark's client (loopback): they spend no budget of it.
    """
    import aiohttp

    headers = {"X-Forwarded-For": _WARM_UP_ADDRESS}
    async with aiohttp.ClientSession(headers=headers) as session:
        for i in range(requests):
            path = "/api/v1/videos" if i % 2 else "/api/v1/videos/1"
            async with session.get(url + path) as resp:
                await resp.read()


class ServerProcess:
    """A ``FakeInstance`` in a separate process; ``options`` go to its constructor.

    Use it as ``with ServerProcess(videos=100, rate_limit=False) as server:``; then
    ``server.url`` is the instance's URL and ``server.stats()`` its counters (a dict with
    the fields of :class:`peertube_async.testing.FakeStats`).
    """

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.url = ""
        self._conn: Connection | None = None
        self._proc: Any = None

    def __enter__(self) -> ServerProcess:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(child, self.options), daemon=True)
        proc.start()
        child.close()
        self._conn, self._proc = parent, proc
        try:
            if not parent.poll(_STARTUP_TIMEOUT):
                raise EOFError
            self.url = parent.recv()
        except EOFError:
            self.close()
            raise RuntimeError("the FakeInstance process did not start") from None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _ask(self, command: str) -> Any:
        if self._conn is None:
            raise RuntimeError("the server process is not running")
        self._conn.send(command)
        return self._conn.recv()

    def stats(self) -> dict[str, Any]:
        """The fake's counters (requests, rate_limited, statuses...)."""
        result: dict[str, Any] = self._ask("stats")
        return result

    def reset(self) -> None:
        """Zero the counters and forget every rate-limit window."""
        self._ask("reset")

    def close(self) -> None:
        """Stop the server and wait for its process to end."""
        conn, proc = self._conn, self._proc
        self._conn = self._proc = None
        if conn is not None:
            try:
                conn.send("stop")
                if conn.poll(10.0):
                    conn.recv()
            except (OSError, EOFError):
                pass
            conn.close()
        if proc is not None:
            proc.join(10.0)
            if proc.is_alive():
                proc.terminate()
                proc.join(5.0)


def median(values: Sequence[float]) -> float:
    """The median of ``values`` (the middle run of three)."""
    return float(statistics.median(values))


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], footer: Sequence[str] = ()
) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [line(cells[0]), rule, *(line(row) for row in cells[1:])]
    if footer:
        out.append(rule)
        out.extend(footer)
    return "\n".join(out)


def write_json(path: str | Path, payload: Sequence[Mapping[str, Any]]) -> None:
    """Write ``payload`` (a list of objects) as indented JSON."""
    Path(path).write_text(json.dumps(list(payload), indent=2) + "\n", encoding="utf-8")
