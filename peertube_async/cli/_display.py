"""Progress on stderr: live bars on a terminal, a line now and then elsewhere."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ..crawl import CrawlProgress, InstanceProgress
from ._format import format_seconds

__all__ = ["CrawlDisplay", "format_seconds"]

#: Instances shown one per row; the busiest first, the rest summed up.
_ROWS = 12
_PLAIN_EVERY = 5.0


def _budget(row: InstanceProgress) -> str:
    if row.limit is None or row.window is None or row.budget_left is None:
        return "-"
    used = row.limit - row.budget_left
    return f"{used}/{row.limit} per {row.window:g} s"


def _headline(progress: CrawlProgress) -> str:
    rows = progress.instances
    done = sum(1 for r in rows if r.status != "crawling")
    eta = progress.eta
    known = all(r.totals_known for r in rows if r.status == "crawling")
    eta_text = format_seconds(eta) if eta is not None else "?"
    if eta is not None and not known:
        eta_text = f"≥ {eta_text}"
    return (
        f"{done}/{len(rows)} instances done · {progress.pages:,} pages · "
        f"{progress.records:,} records · {progress.requests_left:,} requests left · "
        f"ETA {eta_text} · {format_seconds(progress.elapsed)} elapsed"
    )


class CrawlDisplay:
    """Shows :class:`CrawlProgress` snapshots on stderr.

    On a terminal: a headline, an overall bar and one row per instance (pages, requests
    left, budget used in the current window, 429s, last error). Elsewhere: the headline
    every few seconds. ``quiet``: nothing.
    """

    def __init__(self, *, quiet: bool = False, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self.live: Live | None = None
        self._last_plain = time.monotonic()

    def __enter__(self) -> CrawlDisplay:
        if not self.quiet and self.console.is_terminal:
            self.live = Live(console=self.console, refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.live is not None:
            self.live.__exit__(exc_type, exc, tb)
            self.live = None

    def update(self, progress: CrawlProgress) -> None:
        """Show a new snapshot."""
        if self.quiet:
            return
        if self.live is not None:
            self.live.update(self.render(progress))
            return
        now = time.monotonic()
        if now - self._last_plain >= _PLAIN_EVERY:
            self._last_plain = now
            print(_headline(progress), file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        """A message above the live display (or a plain line)."""
        if self.live is not None:
            self.live.console.print(text, highlight=False)
        elif not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def render(self, progress: CrawlProgress) -> Any:
        """The renderable of one snapshot."""
        rows = list(progress.instances)
        pages = progress.pages
        total = pages + progress.requests_left
        bar = Table.grid(padding=(0, 1))
        bar.add_row(
            ProgressBar(total=max(1, total), completed=pages, width=60),
            Text(f"{pages:,}/{total:,} requests"),
        )
        table = Table(box=None, pad_edge=False, header_style="bold")
        for name, justify in (
            ("instance", "left"),
            ("status", "left"),
            ("pages", "right"),
            ("left", "right"),
            ("", "left"),
            ("budget used", "right"),
            ("429s", "right"),
            ("ETA", "right"),
            ("last error", "left"),
        ):
            table.add_column(name, justify=justify, no_wrap=name != "last error")  # type: ignore[arg-type]
        # Unfinished instances with the most left first.
        rows.sort(key=lambda r: (r.status != "crawling", -r.requests_left, r.url))
        for row in rows[:_ROWS]:
            done = row.pages
            table.add_row(
                row.url,
                row.status,
                f"{done:,}",
                f"{row.requests_left:,}" + ("" if row.totals_known else "+"),
                ProgressBar(total=max(1, done + row.requests_left), completed=done, width=20),
                _budget(row),
                "-" if row.rate_limited is None else str(row.rate_limited),
                format_seconds(row.eta) if row.status == "crawling" else "",
                Text(row.last_error or "", overflow="ellipsis"),
            )
        if len(rows) > _ROWS:
            rest = rows[_ROWS:]
            table.add_row(
                f"… {len(rest)} more",
                f"{sum(r.status == 'crawling' for r in rest)} crawling",
                f"{sum(r.pages for r in rest):,}",
                f"{sum(r.requests_left for r in rest):,}",
            )
        return Group(Text(_headline(progress)), bar, table)
