"""The crawl engine: many instances side by side, one JSON Lines output, resumable.

Concurrency. Each instance gets its own :class:`~peertube_async.PeerTube` client, hence
its own :class:`~peertube_async.Scheduler` and buckets: an instance's budget is its own,
and a budget-starved instance waits in its own buckets without holding anything that
others need. (One shared ``Scheduler`` would be equivalent, since its buckets are keyed
by origin too; separate ones keep every dispatch to one instance's few queues.) All
clients share one ``aiohttp`` session whose connector caps the open connections; each
instance has at most ``per_instance`` requests outstanding, so none can fill the
connector's queue, and a freed connection goes to a waiting instance in turn. A slow
instance ties up at most ``per_instance`` connections; a dead one fails fast, is retried
with backoff, and is then given up and reported, while the others go on.

Order and checkpoints. Lists are read in a stable, append-only order (oldest first) in
pages of :data:`PAGE_SIZE`. Pages may come back in any order; each kind hands its pages
to the output strictly in sequence, so a kind's progress is one number: the offset
(for comments, the position in the instance's video sequence) up to which its records
are in the output. The journal commits those numbers together with the lines they
describe (see :mod:`._journal`).
"""

from __future__ import annotations

import array
import asyncio
import hashlib
import json
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from yarl import URL

from .._client import DEFAULT_USER_AGENT, PeerTube, normalize_instance_url
from .._convert import make_converter
from .._errors import APIError, PeerTubeError, RateLimited, ServerError, TransportError
from .._pagination import Page
from .._pipeline import Backoff
from .._ratelimit import RateLimit
from .._scheduler import Priority
from .._transport import new_session
from ._journal import CheckpointError, Journal
from ._model import (
    KINDS,
    PAGE_SIZE,
    CrawlProgress,
    CrawlReport,
    InstanceProgress,
    InstanceReport,
    InstanceStatus,
)

__all__ = ["Crawler", "crawl", "load_checkpoint"]

#: Singular names of records, per kind.
RECORD_KIND = {
    "videos": "video",
    "channels": "channel",
    "accounts": "account",
    "playlists": "playlist",
    "comments": "comment",
}
_KIND_OF_RECORD = {v: k for k, v in RECORD_KIND.items()}
_LIST_KINDS = ("videos", "channels", "accounts", "playlists")

#: Commit early when this much is buffered, whatever the interval.
_MAX_BUFFER = 8 << 20
_ERRORS_KEPT = 200

# Oldest first: new items land at the end, so offsets already read stay valid.
_VIDEO_SORT = "publishedAt"
_THREAD_SORT = "createdAt"

Progress = Callable[[CrawlProgress], None]


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= _ERRORS_KEPT else text[: _ERRORS_KEPT - 1] + "…"


def _identity(data: Mapping[str, Any]) -> str:
    """What tells records of one kind apart on one instance: the UUID, else the
    canonical URL, else the id (else the whole record)."""
    for name in ("uuid", "url", "id"):
        value = data.get(name)
        if value is not None and value != "":
            return str(value)
    return json.dumps(data, sort_keys=True)


def _dedup_key(instance: str, kind: str, data: Mapping[str, Any]) -> int:
    # 96-bit digests: a third of the memory of the strings, collisions out of reach.
    raw = f"{instance}\0{kind}\0{_identity(data)}".encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=12).digest(), "big")


def is_federated_copy(instance: str, data: Mapping[str, Any]) -> bool:
    """Whether a record served by ``instance`` (an origin) is a copy of an object that
    lives on another instance: ``isLocal`` when the record has it, else whether its
    canonical ``url`` points elsewhere."""
    local = data.get("isLocal")
    if isinstance(local, bool):
        return not local
    url = data.get("url")
    if isinstance(url, str) and url:
        try:
            return str(URL(url).origin()) != instance
        except ValueError:
            return False
    return False


def _needs_comments(data: Mapping[str, Any]) -> int | None:
    """The id to fetch comment threads for, or None (no id, or PeerTube >= 7.2 says the
    video has no comments)."""
    vid = data.get("id")
    if not isinstance(vid, int) or isinstance(vid, bool):
        return None
    if data.get("comments") == 0:
        return None
    return vid


def load_checkpoint(
    out: str | os.PathLike[str], checkpoint: str | os.PathLike[str] | None = None
) -> dict[str, Any] | None:
    """The checkpoint of the crawl writing ``out`` (None when there is none): its
    ``instances``, ``options``, ``meta`` and ``complete`` flag."""
    return Journal(out, checkpoint).read_checkpoint()


class _ListStream:
    """One list kind of one instance: which pages are out, which came back."""

    def __init__(self, kind: str, saved: Mapping[str, Any]) -> None:
        self.kind = kind
        self.released = int(saved.get("next", 0))
        self.scheduled = self.released
        total = saved.get("total")
        self.total: int | None = total if isinstance(total, int) else None
        self.done = bool(saved.get("done"))
        self.error: str | None = None
        # Until the first answer of this run, one page at a time: its total tells how
        # many more to ask for at once.
        self.learned = False
        self.inflight: set[int] = set()
        self.ready: dict[int, list[Any]] = {}

    @property
    def finished(self) -> bool:
        return self.done or self.error is not None

    def next_task(self) -> int | None:
        if self.finished:
            return None
        if not self.learned or self.total is None:
            if self.inflight or self.ready:
                return None
        elif self.scheduled >= self.total:
            return None
        start = self.scheduled
        self.scheduled += PAGE_SIZE
        self.inflight.add(start)
        return start

    def page_done(self, start: int, items: list[Any], total: int | None) -> list[Any]:
        """Record an answer; return the items now in sequence, in order."""
        self.inflight.discard(start)
        self.learned = True
        if total is not None:
            self.total = total
        elif len(items) < PAGE_SIZE:
            self.total = start + len(items)
        if not items and self.total is not None and start < self.total:
            # The list shrank under us: this is its end now.
            self.total = start
        self.ready[start] = items
        out: list[Any] = []
        while self.released in self.ready:
            out.extend(self.ready.pop(self.released))
            self.released += PAGE_SIZE
        if (
            self.total is not None
            and not self.inflight
            and self.released >= self.total
            and self.scheduled >= self.total
        ):
            self.done = True
            self.ready.clear()
        return out

    def requests_left(self) -> int:
        if self.finished:
            return 0
        if self.total is None:
            return 1
        return max(0, math.ceil((self.total - self.released) / PAGE_SIZE))

    def dump(self) -> dict[str, Any]:
        return {"next": self.released, "total": self.total, "done": self.done, "error": self.error}


class _CommentStream:
    """The comment threads of an instance's videos, one unit per video, in the order the
    videos were written."""

    def __init__(self, saved: Mapping[str, Any]) -> None:
        self.ids = array.array("q")
        self.released = int(saved.get("next", 0))
        self.scheduled = self.released
        self.error: str | None = None
        self.inflight: set[int] = set()
        self.ready: dict[int, list[Any]] = {}
        self.skipped = 0

    def next_task(self) -> int | None:
        if self.error is not None or self.scheduled >= len(self.ids):
            return None
        index = self.scheduled
        self.scheduled += 1
        self.inflight.add(index)
        return index

    def unit_done(self, index: int, items: list[Any]) -> list[Any]:
        self.inflight.discard(index)
        self.ready[index] = items
        out: list[Any] = []
        while self.released in self.ready:
            out.extend(self.ready.pop(self.released))
            self.released += 1
        return out

    def finished(self, source_finished: bool) -> bool:
        if self.error is not None:
            return True
        return source_finished and not self.inflight and self.released >= len(self.ids)

    def dump(self) -> dict[str, Any]:
        return {"next": self.released, "error": self.error}


class _Instance:
    """The crawl of one instance: its client, its kinds, its workers."""

    def __init__(self, crawler: Crawler, url: str, saved: Mapping[str, Any]) -> None:
        self.crawler = crawler
        self.url = url
        streams = saved.get("streams", {}) if isinstance(saved.get("streams"), dict) else {}
        self.lists = {
            k: _ListStream(k, streams.get(k, {})) for k in crawler.kinds if k in _LIST_KINDS
        }
        self.comments = (
            _CommentStream(streams.get("comments", {})) if "comments" in crawler.kinds else None
        )
        self.client: PeerTube | None = None
        self.failure: str | None = None
        self.stopped = False
        self.records = dict.fromkeys(crawler.kinds, 0)
        self.written = 0
        self.duplicates = 0
        self.copies = 0
        self.pages = 0
        self.retries = 0
        self.last_error: str | None = None
        self.ended: float | None = None
        self.wake = asyncio.Event()
        self.workers: list[asyncio.Task[None]] = []

    # -- state ------------------------------------------------------------------------

    def _videos_finished(self) -> bool:
        videos = self.lists.get("videos")
        return videos is None or videos.finished

    @property
    def finished(self) -> bool:
        if self.failure is not None:
            return True
        if not all(s.finished for s in self.lists.values()):
            return False
        return self.comments is None or self.comments.finished(self._videos_finished())

    @property
    def errors(self) -> dict[str, str]:
        out = {k: s.error for k, s in self.lists.items() if s.error is not None}
        if self.comments is not None and self.comments.error is not None:
            out["comments"] = self.comments.error
        return out

    @property
    def status(self) -> InstanceStatus:
        if self.failure is not None:
            return "failed"
        if self.finished:
            return "partial" if self.errors else "complete"
        return "stopped" if self.stopped else "crawling"

    def dump(self) -> dict[str, Any]:
        streams: dict[str, Any] = {k: s.dump() for k, s in self.lists.items()}
        if self.comments is not None:
            streams["comments"] = self.comments.dump()
        return {"streams": streams, "failure": self.failure}

    def requests_left(self) -> tuple[int, bool]:
        if self.failure is not None:
            return 0, True
        left = sum(s.requests_left() for s in self.lists.values())
        known = all(s.finished or (s.learned and s.total is not None) for s in self.lists.values())
        if self.comments is not None and self.comments.error is None:
            left += len(self.comments.ids) - self.comments.released
            videos = self.lists.get("videos")
            if videos is not None and not videos.finished:
                # Every video not listed yet may need a request for its comments.
                left += max(0, (videos.total or 0) - videos.released)
        return left, known

    # -- work -------------------------------------------------------------------------

    def _next_task(self) -> tuple[str, int] | None:
        # First pages before the rest, so every total (and the estimate) is known early;
        # then videos, which comments wait for; then the others.
        for kind, stream in self.lists.items():
            if not stream.learned:
                start = stream.next_task()
                if start is not None:
                    return kind, start
        videos = self.lists.get("videos")
        if videos is not None:
            start = videos.next_task()
            if start is not None:
                return "videos", start
        if self.comments is not None:
            index = self.comments.next_task()
            if index is not None:
                return "comments", index
        for kind, stream in self.lists.items():
            start = stream.next_task()
            if start is not None:
                return kind, start
        return None

    async def run(self) -> None:
        """Crawl until every kind is done or the instance is given up."""
        crawler = self.crawler
        if not self.finished:
            self.workers = [
                asyncio.create_task(self._worker(), name=f"crawl {self.url} #{n}")
                for n in range(crawler.per_instance)
            ]
            try:
                await asyncio.wait(self.workers)
            finally:
                for task in self.workers:
                    task.cancel()
                results = await asyncio.gather(*self.workers, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception):
                    raise result
        self.ended = time.monotonic()

    async def _worker(self) -> None:
        while self.failure is None:
            task = self._next_task()
            if task is None:
                if self.finished:
                    self.wake.set()
                    return
                self.wake.clear()
                await self.wake.wait()
                continue
            try:
                kind, position = task
                if kind == "comments":
                    await self._comments(position)
                else:
                    await self._page(kind, position)
            finally:
                self.wake.set()

    async def _page(self, kind: str, start: int) -> None:
        stream = self.lists[kind]
        try:
            page = await self._retrying(lambda: self._fetch(kind, start))
        except PeerTubeError as exc:
            stream.inflight.discard(start)
            self._failed(kind, exc)
            return
        items = stream.page_done(start, list(page.data), page.total)
        self.crawler._emit(self, kind, items)

    async def _comments(self, index: int) -> None:
        stream = self.comments
        assert stream is not None
        video_id = stream.ids[index]
        try:
            items = await self._retrying(lambda: self._fetch_threads(video_id))
        except APIError as exc:
            if exc.status >= 500:
                stream.inflight.discard(index)
                self._failed("comments", exc)
                return
            # Deleted, made private or password-protected since it was listed.
            stream.skipped += 1
            self.last_error = f"comments of video {video_id}: {_short(exc)}"
            items = []
        except PeerTubeError as exc:
            stream.inflight.discard(index)
            self._failed("comments", exc)
            return
        self.crawler._emit(self, "comments", stream.unit_done(index, items))

    def _fetch(self, kind: str, start: int) -> Awaitable[Page[Any]]:
        pt = self.client
        assert pt is not None
        if kind == "videos":
            if self.crawler.drop_federated_copies:
                # Servers >= 4.0 filter themselves; older ones are filtered here.
                return pt.videos.list(start=start, count=PAGE_SIZE, sort=_VIDEO_SORT, is_local=True)
            return pt.videos.list(start=start, count=PAGE_SIZE, sort=_VIDEO_SORT)
        if kind == "channels":
            return pt.video_channels.list(start=start, count=PAGE_SIZE, sort="createdAt")
        if kind == "accounts":
            return pt.accounts.list(start=start, count=PAGE_SIZE, sort="createdAt")
        return pt.video_playlists.list(start=start, count=PAGE_SIZE, sort="createdAt")

    async def _fetch_threads(self, video_id: int) -> list[Any]:
        pt = self.client
        assert pt is not None
        items: list[Any] = []
        start = 0
        while True:
            page = await pt.videos.comments.list_threads(
                video_id, start=start, count=PAGE_SIZE, sort=_THREAD_SORT
            )
            items.extend(page.data)
            start += PAGE_SIZE
            got = len(page.data)
            if got == 0 or (page.total is not None and start >= page.total):
                return items
            if page.total is None and got < PAGE_SIZE:
                return items

    async def _retrying(self, fetch: Callable[[], Awaitable[Any]]) -> Any:
        crawler = self.crawler
        attempt = 0
        while True:
            try:
                result = await fetch()
            except (TransportError, RateLimited, ServerError) as exc:
                self.last_error = _short(exc)
                if attempt >= crawler.retries:
                    raise
                self.retries += 1
                await asyncio.sleep(crawler.backoff.delay(attempt))
                attempt += 1
                continue
            self.pages += 1
            return result

    def _failed(self, kind: str, exc: PeerTubeError) -> None:
        message = f"{type(exc).__name__}: {_short(exc)}"
        self.last_error = message
        if isinstance(exc, (TransportError, RateLimited)):
            # Unreachable or refusing everything: give the whole instance up, now.
            self.failure = message
            for task in self.workers:
                if task is not asyncio.current_task():
                    task.cancel()
        elif kind == "comments":
            assert self.comments is not None
            self.comments.error = message
        else:
            self.lists[kind].error = message
        self.crawler._dirty = True


class Crawler:
    """Crawl many PeerTube instances side by side into one JSON Lines file.

    Each line is ``{"instance": ORIGIN, "kind": KIND, "data": OBJECT}``, ``OBJECT`` being
    the typed model serialized back to the API's JSON; ``KIND`` is ``video``, ``channel``,
    ``account``, ``playlist`` or ``comment`` (a comment thread's top comment). Records are
    unique per (instance, kind, identity), identity being the UUID, else the canonical
    URL. A federated copy (a record whose canonical ``url`` lies on another instance, or
    whose ``isLocal`` is false) is kept unless ``drop_federated_copies``.

    ``out`` gets a checkpoint beside it (``OUT.checkpoint.json``, or ``checkpoint``). A
    crawl killed at any moment and started again with ``resume=True`` continues where
    the checkpoint says, after cutting the output back to the length it records: no gap,
    no duplicate, no broken line. ``resume=True`` with no checkpoint starts afresh; with
    ``resume=False`` an existing output is an error unless ``overwrite=True``.

    Args:
        instances: URLs or host names. With ``resume=True`` and none given, those of
            the checkpoint.
        kinds: any of :data:`KINDS`; ``comments`` implies ``videos`` (it reads the
            threads of the videos written).
        connections: most open connections, all instances together.
        per_instance: most requests outstanding per instance.
        rate_limits: the instances' budgets when not PeerTube's defaults (they are
            corrected from the answers' headers anyway).
        retries, backoff: a page that fails for lack of an answer (connection refused,
            timeout, 5xx, 429 beyond the client's own retries) is tried again this many
            times, after these delays; then its instance (no answer) or kind (an error
            answer) is given up and reported.
        timeout: seconds per HTTP exchange.
        commit_interval: longest time in seconds between commits (0: after every page).
        progress: called with a :class:`CrawlProgress` every ``progress_interval`` s.
        session: an ``aiohttp.ClientSession`` to use instead of the crawl's own (then
            ``connections`` and ``timeout`` are the session's, and 429s are not counted).
        meta: JSON data stored in the checkpoint, for the caller (see
            :func:`load_checkpoint`).
    """

    def __init__(
        self,
        instances: Iterable[str | URL],
        out: str | os.PathLike[str],
        *,
        kinds: Iterable[str] = ("videos",),
        resume: bool = False,
        overwrite: bool = False,
        drop_federated_copies: bool = False,
        connections: int = 64,
        per_instance: int = 4,
        rate_limits: Mapping[str, RateLimit] | None = None,
        retries: int = 4,
        backoff: Backoff | None = None,
        timeout: float = 30.0,
        commit_interval: float = 0.5,
        progress: Progress | None = None,
        progress_interval: float = 0.25,
        user_agent: str | None = DEFAULT_USER_AGENT,
        session: aiohttp.ClientSession | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        wanted = set(kinds)
        unknown = wanted - set(KINDS)
        if unknown:
            raise ValueError(
                f"unknown kind(s) {', '.join(sorted(unknown))}; known: {', '.join(KINDS)}"
            )
        if not wanted:
            raise ValueError("nothing to crawl: give at least one kind")
        if "comments" in wanted:
            wanted.add("videos")
        self.kinds = tuple(k for k in KINDS if k in wanted)
        self.urls: list[str] = []
        for given in instances:
            origin = str(normalize_instance_url(given))
            if origin not in self.urls:
                self.urls.append(origin)
        if connections < 1 or per_instance < 1:
            raise ValueError("connections and per_instance must be >= 1")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.resume = resume
        self.overwrite = overwrite
        self.drop_federated_copies = drop_federated_copies
        self.connections = connections
        self.per_instance = per_instance
        self.rate_limits = dict(rate_limits) if rate_limits else None
        self.retries = retries
        self.backoff = backoff or Backoff(base=1.0, cap=30.0)
        self.timeout = timeout
        self.commit_interval = commit_interval
        self.progress = progress
        self.progress_interval = progress_interval
        self.user_agent = user_agent
        self.meta = dict(meta or {})
        self.journal = Journal(out, checkpoint)
        self._session = session
        self._converter = make_converter()
        self._seen: set[int] = set()
        self._instances: dict[str, _Instance] = {}
        self._saved: dict[str, Any] = {}
        self._order: list[str] = []
        self._stop = asyncio.Event()
        self._stopping = False
        self._dirty = False
        self._started = time.monotonic()
        self._rate_limited: dict[str, int] | None = None
        self._running = False

    # -- public -----------------------------------------------------------------------

    def stop(self) -> None:
        """End the crawl soon: in-flight pages are dropped (fetched again on resume),
        everything already received is committed; :meth:`run` then returns a report
        with ``interrupted`` set."""
        self._stopping = True
        self._stop.set()

    @property
    def out(self) -> Path:
        """The output file."""
        return self.journal.out

    def snapshot(self) -> CrawlProgress:
        """Where the crawl stands now."""
        rows = []
        for url in self._order:
            inst = self._instances.get(url)
            if inst is not None:
                rows.append(self._progress_row(inst))
        return CrawlProgress(
            elapsed=time.monotonic() - self._started,
            instances=tuple(rows),
            committed_bytes=self.journal.committed_bytes,
        )

    async def run(self) -> CrawlReport:
        """Crawl until every instance is done, given up, or :meth:`stop` is called."""
        if self._running:
            raise RuntimeError("a Crawler runs once")
        self._running = True
        self._started = time.monotonic()
        self._open()
        session = self._session
        own_session = session is None
        if session is None:
            session = self._make_session()
        clients: list[PeerTube] = []
        tasks: list[asyncio.Task[None]] = []
        helpers: list[asyncio.Task[Any]] = []
        try:
            for url in self._order:
                inst = self._instances[url]
                if inst.finished:
                    inst.ended = time.monotonic()
                    continue
                inst.client = PeerTube(
                    url,
                    session=session,
                    user_agent=self.user_agent,
                    rate_limits=self.rate_limits,
                    priority=Priority.BULK,
                    # One quick retry inside the client; the crawl's own are slower.
                    retries=1,
                    backoff=self.backoff,
                )
                clients.append(inst.client)
                tasks.append(asyncio.create_task(inst.run(), name=f"crawl {url}"))
            helpers.append(asyncio.create_task(self._commit_loop()))
            if self.progress is not None:
                helpers.append(asyncio.create_task(self._progress_loop()))
            stopper = asyncio.create_task(self._stop.wait())
            helpers.append(stopper)
            pending: set[asyncio.Task[Any]] = set(tasks)
            while pending and not self._stopping:
                _, pending = await asyncio.wait(
                    pending | {stopper}, return_when=asyncio.FIRST_COMPLETED
                )
                pending.discard(stopper)
                for task in tasks:
                    if task.done() and not task.cancelled():
                        error = task.exception()
                        if error is not None:
                            raise error
        finally:
            interrupted = self._stopping or any(not t.done() for t in tasks)
            for task in (*tasks, *helpers):
                task.cancel()
            await asyncio.gather(*tasks, *helpers, return_exceptions=True)
            for inst in self._instances.values():
                if not inst.finished:
                    inst.stopped = True
                    interrupted = True
            try:
                self._commit()
            finally:
                self.journal.close()
                for client in clients:
                    await client.close()
                if own_session:
                    await session.close()
        if self.progress is not None:
            self.progress(self.snapshot())
        return self._report(interrupted)

    # -- opening and rebuilding -------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        return {"kinds": list(self.kinds), "drop_federated_copies": self.drop_federated_copies}

    def _open(self) -> None:
        fresh = {
            "options": self._options(),
            "order": list(self.urls),
            "instances": {},
            "meta": self.meta,
            "complete": False,
        }
        state = self.journal.open(resume=self.resume, overwrite=self.overwrite, fresh=fresh)
        try:
            self._load(state)
        except BaseException:
            self.journal.close()
            raise

    def _load(self, state: Mapping[str, Any]) -> None:
        saved_options = state.get("options")
        if saved_options != self._options():
            raise CheckpointError(
                f"{self.journal.out} was crawled with {saved_options}, not {self._options()}: "
                "resume it with the same kinds and federated-copy setting"
            )
        saved = state.get("instances")
        self._saved = dict(saved) if isinstance(saved, dict) else {}
        order = [str(u) for u in state.get("order", []) if isinstance(u, str)]
        if not self.meta and isinstance(state.get("meta"), dict):
            self.meta = dict(state["meta"])
        # The instances asked for now, else all those of the checkpoint.
        self._order = list(self.urls) if self.urls else order
        if not self._order:
            raise ValueError("no instance to crawl")
        for url in self._order:
            self._instances[url] = _Instance(self, url, self._saved.get(url, {}))
        self._rebuild()

    def _rebuild(self) -> None:
        """Dedup keys, counts and comment sequences from the committed output."""
        instances = self._instances
        for number, record in self.journal.lines():
            instance = record.get("instance")
            kind = _KIND_OF_RECORD.get(str(record.get("kind")))
            data = record.get("data")
            if not isinstance(instance, str) or kind is None or not isinstance(data, dict):
                raise CheckpointError(f"{self.journal.out} line {number} is not a crawl record")
            self._seen.add(_dedup_key(instance, RECORD_KIND[kind], data))
            inst = instances.get(instance)
            if inst is None:
                continue
            inst.records[kind] = inst.records.get(kind, 0) + 1
            if kind == "videos" and inst.comments is not None:
                vid = _needs_comments(data)
                if vid is not None:
                    inst.comments.ids.append(vid)
        for inst in instances.values():
            stream = inst.comments
            if stream is not None and stream.released > len(stream.ids):
                raise CheckpointError(
                    f"the checkpoint of {self.journal.out} is ahead of its output for "
                    f"{inst.url}'s comments"
                )

    # -- output -----------------------------------------------------------------------

    def _emit(self, inst: _Instance, kind: str, items: Sequence[Any]) -> None:
        """Hand records that are in sequence to the journal (deduplicated, filtered)."""
        self._dirty = True
        if not items:
            self._maybe_commit()
            return
        record_kind = RECORD_KIND[kind]
        unstructure = self._converter.unstructure
        url = inst.url
        drop = self.drop_federated_copies
        comments = inst.comments if kind == "videos" else None
        seen = self._seen
        add = self.journal.add
        for item in items:
            data = unstructure(item)
            key = _dedup_key(url, record_kind, data)
            if key in seen:
                inst.duplicates += 1
                continue
            if kind != "comments" and is_federated_copy(url, data):
                inst.copies += 1
                if drop:
                    continue
            seen.add(key)
            record = {"instance": url, "kind": record_kind, "data": data}
            add((json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode())
            inst.records[kind] += 1
            inst.written += 1
            if comments is not None:
                vid = _needs_comments(data)
                if vid is not None:
                    comments.ids.append(vid)
        self._maybe_commit()

    def _maybe_commit(self) -> None:
        if self.commit_interval <= 0 or self.journal.pending_bytes >= _MAX_BUFFER:
            self._commit()

    def _state(self) -> dict[str, Any]:
        instances = dict(self._saved)
        for url, inst in self._instances.items():
            instances[url] = inst.dump()
        order = list(self._order) + [u for u in self._saved if u not in self._order]
        complete = all(inst.status == "complete" for inst in self._instances.values())
        return {
            "options": self._options(),
            "order": order,
            "instances": instances,
            "meta": self.meta,
            "complete": complete,
        }

    def _commit(self) -> None:
        # Synchronous on purpose: nothing can change the state between the lines and
        # the checkpoint that describes them.
        if self.journal.pending_bytes == 0 and not self._dirty:
            return
        self._dirty = False
        self.journal.commit(self._state())

    async def _commit_loop(self) -> None:
        interval = max(self.commit_interval, 0.01)
        while True:
            await asyncio.sleep(interval)
            self._commit()

    async def _progress_loop(self) -> None:
        assert self.progress is not None
        while True:
            self.progress(self.snapshot())
            await asyncio.sleep(self.progress_interval)

    # -- HTTP -------------------------------------------------------------------------

    def _make_session(self) -> aiohttp.ClientSession:
        counts: dict[str, int] = {}
        self._rate_limited = counts

        async def on_request_end(
            session: aiohttp.ClientSession,
            ctx: SimpleNamespace,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            if params.response.status == 429:
                origin = str(params.url.origin())
                counts[origin] = counts.get(origin, 0) + 1

        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(on_request_end)
        return new_session(
            connection_limit=self.connections, timeout=self.timeout, trace_configs=[trace]
        )

    # -- reporting --------------------------------------------------------------------

    def _limited(self, url: str) -> int | None:
        return None if self._rate_limited is None else self._rate_limited.get(url, 0)

    def _progress_row(self, inst: _Instance) -> InstanceProgress:
        left, known = inst.requests_left()
        limit = window = budget = None
        eta: float | None = None
        if inst.client is not None:
            snap = inst.client.rate_limits.get("api")
            if snap is not None:
                limit, window, budget = snap.limit, snap.window, snap.remaining
                if left <= snap.remaining:
                    eta = 0.0
                else:
                    windows = math.ceil((left - snap.remaining) / snap.limit)
                    first = snap.reset_in if snap.reset_in is not None else snap.window
                    eta = first + (windows - 1) * snap.window
        if inst.finished:
            eta = 0.0
        return InstanceProgress(
            url=inst.url,
            status=inst.status,
            pages=inst.pages,
            records=sum(inst.records.values()),
            requests_left=left,
            totals_known=known,
            retries=inst.retries,
            limit=limit,
            window=window,
            budget_left=budget,
            eta=eta,
            rate_limited=self._limited(inst.url),
            last_error=inst.last_error,
        )

    def _report(self, interrupted: bool) -> CrawlReport:
        rows = []
        for url in self._order:
            inst = self._instances[url]
            ended = inst.ended if inst.ended is not None else time.monotonic()
            rows.append(
                InstanceReport(
                    url=url,
                    status=inst.status,
                    records=dict(inst.records),
                    written=inst.written,
                    duplicates=inst.duplicates,
                    federated_copies=inst.copies,
                    pages=inst.pages,
                    retries=inst.retries,
                    rate_limited=self._limited(url),
                    skipped=inst.comments.skipped if inst.comments is not None else 0,
                    errors=inst.errors,
                    failure=inst.failure,
                    elapsed=max(0.0, ended - self._started),
                )
            )
        return CrawlReport(
            out=self.journal.out,
            checkpoint=self.journal.checkpoint,
            instances=tuple(rows),
            elapsed=time.monotonic() - self._started,
            interrupted=interrupted,
        )


async def crawl(
    instances: Iterable[str | URL], out: str | os.PathLike[str], **options: Any
) -> CrawlReport:
    """Run a :class:`Crawler` (same arguments) to its end and return its report."""
    return await Crawler(instances, out, **options).run()
