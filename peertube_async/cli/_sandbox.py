"""Built-in sandboxes: local FakeInstances started for a command, on 127.0.0.1."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import attrs

from ..testing import FakeInstance

__all__ = ["CRAWL_SANDBOX", "SandboxSpec", "sandboxes"]


@attrs.frozen
class SandboxSpec:
    """One sandbox instance: its videos, its ``api`` budget, and a port (0: any free)."""

    videos: int
    limit: int = 50
    window: float = 1.0
    port: int = 0

    def to_json(self) -> dict[str, Any]:
        """The form kept in a crawl's checkpoint, to start the same instance again."""
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> SandboxSpec:
        """The spec back from :meth:`to_json`'s form."""
        if not isinstance(data, dict):
            raise ValueError("not a sandbox description")
        return cls(
            videos=int(data["videos"]),
            limit=int(data.get("limit", 50)),
            window=float(data.get("window", 1.0)),
            port=int(data.get("port", 0)),
        )


#: What ``crawl`` runs against when given no instance: three instances of different
#: sizes, PeerTube's ``api`` budget (50 requests) with the window cut from 10 s to 1 s.
CRAWL_SANDBOX: tuple[SandboxSpec, ...] = (
    SandboxSpec(videos=400),
    SandboxSpec(videos=250),
    SandboxSpec(videos=120),
)


@contextlib.asynccontextmanager
async def sandboxes(
    specs: Sequence[SandboxSpec], host: str = "127.0.0.1"
) -> AsyncIterator[list[tuple[SandboxSpec, FakeInstance]]]:
    """Start one FakeInstance per spec; yields each with its spec, bound port filled in."""
    async with contextlib.AsyncExitStack() as stack:
        running: list[tuple[SandboxSpec, FakeInstance]] = []
        for spec in specs:
            fake = FakeInstance(
                videos=spec.videos,
                limits={"api": (spec.limit, spec.window)},
                host=host,
                port=spec.port,
            )
            await stack.enter_async_context(fake)
            running.append((attrs.evolve(spec, port=fake.port), fake))
        yield running
