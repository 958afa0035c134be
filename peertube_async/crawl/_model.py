"""What a crawl reports: progress snapshots while it runs, a report when it ends."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

__all__ = [
    "KINDS",
    "PAGE_SIZE",
    "CrawlProgress",
    "CrawlReport",
    "InstanceProgress",
    "InstanceReport",
    "InstanceStatus",
]

#: What a crawl can collect, in the order it asks for them.
KINDS: tuple[str, ...] = ("videos", "channels", "accounts", "playlists", "comments")

#: Items per list request: the most PeerTube serves.
PAGE_SIZE = 100

#: ``crawling`` while work is left; ``complete``: every kind fetched; ``partial``: some
#: kinds failed; ``failed``: the instance was given up; ``stopped``: the crawl was
#: interrupted first.
InstanceStatus = Literal["crawling", "complete", "partial", "failed", "stopped"]


@attrs.frozen
class InstanceProgress:
    """One instance's side of a :class:`CrawlProgress`."""

    url: str
    status: InstanceStatus
    #: Pages answered in this run.
    pages: int
    #: Records of this instance in the output (earlier runs of a resumed crawl included).
    records: int
    #: Requests still needed as far as the totals known so far tell (a kind whose first
    #: page has not come back counts one).
    requests_left: int
    #: Whether every total is known, so ``requests_left`` is not a lower bound.
    totals_known: bool
    #: Failed attempts that were tried again.
    retries: int
    #: The ``api`` budget: ``limit`` requests per ``window`` seconds, ``budget_left`` of it
    #: unspent in the current window (None before the first answer).
    limit: int | None
    window: float | None
    budget_left: int | None
    #: Seconds of budget needed for ``requests_left`` (None when not known yet).
    eta: float | None
    #: 429 answers received (None when the crawl does not own the HTTP session).
    rate_limited: int | None
    #: The last error seen (retried or not).
    last_error: str | None


@attrs.frozen
class CrawlProgress:
    """A snapshot of a running crawl (see ``progress=`` of :class:`Crawler`)."""

    elapsed: float
    instances: tuple[InstanceProgress, ...]
    #: Bytes of the output covered by the checkpoint.
    committed_bytes: int

    @property
    def pages(self) -> int:
        """Pages answered in this run, every instance."""
        return sum(i.pages for i in self.instances)

    @property
    def records(self) -> int:
        """Records in the output."""
        return sum(i.records for i in self.instances)

    @property
    def requests_left(self) -> int:
        """Requests still needed, every instance."""
        return sum(i.requests_left for i in self.instances if i.status == "crawling")

    @property
    def eta(self) -> float | None:
        """Seconds until the last instance is done, from each instance's budget (they are
        crawled side by side, so the slowest one decides); None while no estimate exists."""
        known = [i.eta for i in self.instances if i.status == "crawling" and i.eta is not None]
        if not known:
            return None if any(i.status == "crawling" for i in self.instances) else 0.0
        return max(known)


@attrs.frozen
class InstanceReport:
    """How the crawl of one instance ended."""

    url: str
    status: InstanceStatus
    #: Records of this instance in the output per kind (earlier runs included).
    records: Mapping[str, int]
    #: Records written by this run.
    written: int
    #: Records skipped because the output already held them (same instance, kind and
    #: identity: the UUID, else the canonical URL).
    duplicates: int
    #: Records whose canonical URL lies on another instance (dropped when asked).
    federated_copies: int
    #: Pages answered in this run, and failed attempts tried again.
    pages: int
    retries: int
    #: 429 answers received (None when the crawl does not own the HTTP session).
    rate_limited: int | None
    #: Videos whose comments could not be read (deleted or private since listed).
    skipped: int
    #: Kind -> why it stopped short; ``failure``: why the whole instance was given up.
    errors: Mapping[str, str]
    failure: str | None
    #: Seconds from the start of this run to this instance's end.
    elapsed: float

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return attrs.asdict(self)


@attrs.frozen
class CrawlReport:
    """The outcome of :meth:`Crawler.run`: per-instance reports and where the data is."""

    out: Path
    checkpoint: Path
    instances: tuple[InstanceReport, ...]
    elapsed: float
    #: The crawl was stopped (``stop()`` or Ctrl-C) before every instance was done.
    interrupted: bool

    @property
    def complete(self) -> bool:
        """Every kind of every instance was fetched."""
        return not self.interrupted and all(i.status == "complete" for i in self.instances)

    @property
    def records(self) -> int:
        """Records in the output."""
        return sum(sum(i.records.values()) for i in self.instances)

    @property
    def written(self) -> int:
        """Records written by this run."""
        return sum(i.written for i in self.instances)

    @property
    def failed(self) -> tuple[InstanceReport, ...]:
        """Instances given up or with kinds that failed."""
        return tuple(i for i in self.instances if i.status in ("failed", "partial"))

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "out": str(self.out),
            "checkpoint": str(self.checkpoint),
            "complete": self.complete,
            "interrupted": self.interrupted,
            "elapsed": round(self.elapsed, 3),
            "records": self.records,
            "written": self.written,
            "instances": [i.to_dict() for i in self.instances],
        }
