"""The crawl's output file and its checkpoint: what is on disk is always a consistent pair.

The output is JSON Lines, only ever appended to. The checkpoint is a small JSON document,
replaced atomically (temporary file, fsync, rename, fsync of the folder), that holds the
output's committed length and the crawl state that produced exactly those bytes. A commit
appends the buffered lines, fsyncs them, then writes the checkpoint: a process killed at
any moment leaves a checkpoint that describes a prefix of the output, and a resume cuts
the output back to that prefix (dropping a half-written line or lines whose state was
never recorded) before crawling on.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["CHECKPOINT_VERSION", "CheckpointError", "Journal", "checkpoint_path_for"]

CHECKPOINT_VERSION = 1


class CheckpointError(Exception):
    """The output and its checkpoint cannot be used together (missing, mismatched with
    the requested crawl, or damaged)."""


def checkpoint_path_for(out: Path) -> Path:
    """Where the checkpoint of ``out`` lives by default: beside it."""
    return out.with_name(out.name + ".checkpoint.json")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(folder: Path) -> None:
    # A rename is durable only once the folder itself is synced (POSIX).
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """Appends committed lines to ``out`` and records the matching checkpoint.

    Lines are buffered with :meth:`add` and reach the disk in :meth:`commit`, together
    with the state passed to it; nothing else ever writes either file.
    """

    def __init__(
        self, out: str | os.PathLike[str], checkpoint: str | os.PathLike[str] | None = None
    ) -> None:
        self.out = Path(out)
        self.checkpoint = checkpoint_path_for(self.out) if checkpoint is None else Path(checkpoint)
        self._fd: int | None = None
        self._buffer: list[bytes] = []
        self._buffered = 0
        #: Bytes of ``out`` covered by the last checkpoint.
        self.committed_bytes = 0
        self.commits = 0

    # -- opening --------------------------------------------------------------------

    def read_checkpoint(self) -> dict[str, Any] | None:
        """The checkpoint's content, or None when there is none."""
        try:
            raw = self.checkpoint.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise CheckpointError(f"checkpoint {self.checkpoint} is not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("version") != CHECKPOINT_VERSION:
            raise CheckpointError(f"checkpoint {self.checkpoint} has an unknown format")
        if not isinstance(data.get("output_bytes"), int) or data["output_bytes"] < 0:
            raise CheckpointError(f"checkpoint {self.checkpoint} lacks the output's length")
        return data

    def open(self, *, resume: bool, overwrite: bool, fresh: Mapping[str, Any]) -> dict[str, Any]:
        """Prepare the files and return the state to continue from.

        ``resume``: continue from the checkpoint if there is one (else start afresh).
        ``overwrite``: start afresh even if the files exist. Otherwise existing files are
        an error, so that a crawl is never appended to by accident. ``fresh``: the state
        of a new crawl, recorded before the output is created.
        """
        state = self.read_checkpoint() if resume else None
        if state is not None:
            size = self.out.stat().st_size if self.out.exists() else 0
            wanted = int(state["output_bytes"])
            if size < wanted:
                raise CheckpointError(
                    f"{self.out} holds {size} bytes but its checkpoint records {wanted}: "
                    "the output was changed or lost since"
                )
            self._open_fd(truncate_to=wanted)
            self.committed_bytes = wanted
            return state
        exists = self.out.exists() and self.out.stat().st_size > 0
        if not overwrite and (exists or (not resume and self.checkpoint.exists())):
            if resume:
                raise CheckpointError(
                    f"{self.out} exists but has no checkpoint ({self.checkpoint}): "
                    "it was not written by a crawl; refusing to append to it"
                )
            raise FileExistsError(
                f"{self.out} already exists: resume it, or choose to overwrite it"
            )
        # The checkpoint goes first: a crash right after it leaves an empty, valid crawl.
        state = dict(fresh)
        state["version"] = CHECKPOINT_VERSION
        state["output_bytes"] = 0
        self._write_checkpoint(state)
        self._open_fd(truncate_to=0)
        self.committed_bytes = 0
        return state

    def _open_fd(self, truncate_to: int) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.ftruncate(fd, truncate_to)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def lines(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Every committed record, in file order, with its line number (from 1)."""
        with self.out.open("rb") as handle:
            left = self.committed_bytes
            for number, raw in enumerate(handle, 1):
                if left <= 0:
                    break
                left -= len(raw)
                try:
                    record = json.loads(raw)
                except ValueError as exc:
                    raise CheckpointError(f"{self.out} line {number} is damaged: {exc}") from None
                if not isinstance(record, dict):
                    raise CheckpointError(f"{self.out} line {number} is not a record")
                yield number, record

    # -- writing --------------------------------------------------------------------

    def add(self, line: bytes) -> None:
        """Buffer one serialized line (ending with a newline) for the next commit."""
        self._buffer.append(line)
        self._buffered += len(line)

    @property
    def pending_bytes(self) -> int:
        """Bytes buffered since the last commit."""
        return self._buffered

    def commit(self, state: dict[str, Any]) -> None:
        """Append the buffered lines durably, then record ``state`` with the new length."""
        if self._fd is None:
            raise RuntimeError("the journal is not open")
        data = b"".join(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        _write_all(self._fd, data)
        os.fsync(self._fd)
        self.committed_bytes += len(data)
        state["version"] = CHECKPOINT_VERSION
        state["output_bytes"] = self.committed_bytes
        self._write_checkpoint(state)
        self.commits += 1

    def _write_checkpoint(self, state: Mapping[str, Any]) -> None:
        folder = self.checkpoint.parent
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{self.checkpoint.name}.{os.getpid()}.tmp"
        payload = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.checkpoint)
        _fsync_dir(folder)

    def close(self) -> None:
        """Close the output (buffered lines that were not committed are dropped)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._buffer.clear()
        self._buffered = 0
