"""Lists on stdout: one table-driven helper for every command that shows rows.

A :class:`Column` says how to show one field; :func:`emit` prints the rows as an aligned
table, or as one JSON object per line with ``--json``. :func:`list_command` builds a
whole "list the X of URL" command from a :class:`Listing`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ._base import CONTEXT, EXIT_CODES, EXIT_OK, command, err, json_option, limit_option

if TYPE_CHECKING:
    from .._client import PeerTube
    from .._pagination import Paginator

__all__ = ["Column", "Listing", "collect", "emit", "list_command", "table"]

T = TypeVar("T")


@dataclass(frozen=True)
class Column:
    """One column: its title, how to get the value from a row, its width and side."""

    title: str
    value: Callable[[Any], object]
    width: int = 0
    right: bool = False


def _cell(column: Column, value: object) -> str:
    text = "" if value is None else str(value)
    # A value must not break the table (or a terminal): no line breaks or controls.
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    if not column.width:
        return text
    return text.rjust(column.width) if column.right else text.ljust(column.width)


def table(rows: Sequence[Any], columns: Sequence[Column]) -> list[str]:
    """The header line and one line per row."""
    head = "  ".join(_cell(c, c.title) for c in columns).rstrip()
    lines = [head]
    for row in rows:
        lines.append("  ".join(_cell(c, c.value(row)) for c in columns).rstrip())
    return lines


def unstructure(item: Any) -> Any:
    """An SDK model as the JSON the server sent (wire names); plain data as it is."""
    from .._convert import make_converter

    return make_converter().unstructure(item)


def emit(
    rows: Sequence[Any],
    columns: Sequence[Column],
    as_json: bool,
    to_json: Callable[[Any], Any] = unstructure,
) -> None:
    """Print ``rows``: a table, or one JSON object per line."""
    if as_json:
        import json

        for item in rows:
            click.echo(json.dumps(to_json(item), ensure_ascii=False))
        return
    for line in table(rows, columns):
        click.echo(line)


async def collect(listing: Paginator[T], limit: int) -> list[T]:
    """Every item of ``listing``; a bar on stderr when it takes many pages."""
    items: list[T] = []
    if limit <= 100 or not sys.stderr.isatty():
        async for page in listing.pages():
            items.extend(page.data)
        return items
    from rich.console import Console
    from rich.progress import Progress

    with Progress(transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("pages", total=None)
        async for page in listing.pages():
            items.extend(page.data)
            total = min(limit, page.total) if page.total is not None else limit
            bar.update(task, completed=len(items), total=total)
    return items


@dataclass(frozen=True)
class Listing:
    """A "list the X of URL" command: its name, help, rows and columns."""

    name: str
    noun: str
    help: str
    fetch: Callable[[PeerTube, int], Paginator[Any]]
    columns: Sequence[Column]
    default_limit: int = 50


def list_command(spec: Listing) -> click.Command:
    """The click command for ``spec``: ``NAME [URL] [--limit N] [--json] [--user U]``."""
    from ._reading import reading_client, user_option

    @click.command(spec.name, context_settings=CONTEXT, epilog=EXIT_CODES, help=spec.help)
    @click.argument("url", required=False)
    @limit_option(spec.default_limit)
    @json_option
    @user_option
    @command
    async def listing(
        url: str | None, limit: int, as_json: bool, user: str | None, token_store: Path | None
    ) -> int:
        async with reading_client(url, user, token_store) as pt:
            rows = await collect(spec.fetch(pt, limit), limit)
        emit(rows, spec.columns, as_json)
        err(f"{len(rows)} {spec.noun}")
        return EXIT_OK

    return listing
