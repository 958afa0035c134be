"""Progress of one transfer (upload or download) on stderr.

On a terminal: a live bar with bytes, rate and ETA. Elsewhere (a pipe, a log file, CI):
a plain line every few seconds and one at the end, with no control character.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any

from ._format import format_bytes, format_seconds

__all__ = ["TransferProgress"]

_PLAIN_EVERY = 5.0


class TransferProgress:
    """Shows ``(done, total)`` updates of the transfer called ``label``."""

    def __init__(self, label: str, *, quiet: bool = False, terminal: bool | None = None) -> None:
        self.label = label
        self.quiet = quiet
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self._bar: Any = None
        self._task: Any = None
        self._started = time.monotonic()
        self._first: int | None = None
        self._last_plain = 0.0
        self._done = 0
        self._total = 0

    def __enter__(self) -> TransferProgress:
        if self.quiet or not self.terminal:
            return self
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            ProgressColumn,
            Task,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class RateColumn(ProgressColumn):
            """The rate in the same binary units as the sizes (rich's is decimal)."""

            def render(self, task: Task) -> Text:
                speed = task.finished_speed or task.speed
                shown = f"{format_bytes(speed)}/s" if speed else "?/s"
                return Text(shown, style="progress.data.speed")

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            RateColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._bar.__enter__()
        self._task = self._bar.add_task(self.label, total=None)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(exc_type, exc, tb)
            self._bar = None
        elif not self.quiet and exc_type is None and self._first is not None:
            self._plain(final=True)

    def update(self, done: int, total: int) -> None:
        """A new position: ``done`` bytes of ``total`` are where they must go."""
        if self.quiet:
            return
        if self._first is None:
            # What an earlier run sent does not count in this run's rate.
            self._first = done
            self._started = time.monotonic()
        self._done, self._total = done, total
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total)
            return
        now = time.monotonic()
        # The last line is printed on exit, with the time it took.
        if now - self._last_plain >= _PLAIN_EVERY and done < total:
            self._last_plain = now
            self._plain()

    def _plain(self, *, final: bool = False) -> None:
        done, total = self._done, self._total
        elapsed = max(time.monotonic() - self._started, 1e-6)
        rate = (done - (self._first or 0)) / elapsed
        share = f" ({done * 100 // total}%)" if total else ""
        parts = [f"{self.label}: {format_bytes(done)} of {format_bytes(total)}{share}"]
        if rate > 0:
            parts.append(f"{format_bytes(rate)}/s")
            if not final and total > done:
                parts.append(f"ETA {format_seconds((total - done) / rate)}")
        if final:
            parts.append(f"in {format_seconds(elapsed)}")
        print(", ".join(parts), file=sys.stderr, flush=True)
