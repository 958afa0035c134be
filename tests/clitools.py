"""Helpers of the command-line tests: servers on a background loop, a subprocess env."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web

from peertube_async.testing import FakeInstance

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


class Background:
    """Runs servers on an event loop in another thread, so that ``main()`` (which runs
    its own loop) can talk to them."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._cleanups: list[Callable[[], Coroutine[Any, Any, None]]] = []

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def fake(self, **options: Any) -> FakeInstance:
        fake = FakeInstance(**options)
        self.call(fake.start())
        self._cleanups.append(fake.close)
        return fake

    def app(self, app: web.Application) -> str:
        async def start() -> web.AppRunner:
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            return runner

        runner = self.call(start())
        self._cleanups.append(runner.cleanup)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    def close(self) -> None:
        for cleanup in reversed(self._cleanups):
            self.call(cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
