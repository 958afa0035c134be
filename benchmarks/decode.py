"""Decoding cost of one page of 100 videos: ``json.loads`` alone, peertube_async's models,
and the ``peertube`` PyPI package's models.

What is measured
----------------
The input is one ``GET /api/v1/videos`` answer as bytes: ``{"total": 100, "data": [...]}``
with 100 copies of the list item captured from a real PeerTube 6.3 server
(``tests/fixtures/samples-6.3.json``, sample ``body /api/v1/videos``), each with its own
``id``, ``uuid`` and ``shortUUID``. About 1 KB of JSON per video.

Rows, each timed from the same bytes to a decoded page:

* ``json.loads`` (baseline): the bytes to plain dicts and lists.
* ``orjson.loads``: the parser the SDK uses for bodies up to 1 MiB, alone (reference).
* ``peertube_async``: what ``await pt.videos.list()`` does after the bytes arrive: the
  SDK's parser (``orjson``), then its converter (``make_converter()``, the tolerant one
  the client uses) into ``Page[Video]``: attrs models, timezone-aware datetimes, open
  enums, unknown keys ignored. Goal: at most 2.5x ``json.loads``.
* ``peertube_async (json)``: the same models after the standard library's ``json.loads``
  (reference: the models' share of the cost).
* ``peertube (PyPI)``: ``json.loads``, then ``VideoListResponse.from_dict`` of the
  ``peertube`` package (openapi-python-client models, attrs; ``Video.from_dict`` parses
  UUIDs and datetimes with dateutil and keeps unknown keys in ``additional_properties``).

Each row's output is checked once before timing (100 videos, the right ids, a datetime
decoded); a row whose decoder rejects the page is reported as rejected with the error,
not timed. Timing is timeit-style: a batch of ``number`` decodes (doubled until the slowest
row's batch takes at least 0.2 s; ``--quick`` 0.05 s) timed with ``perf_counter``, the garbage
collector left on as in an application; ``repeat`` batches per row (``--quick``: 3,
else 7), the rows taking turns batch by batch so that load from other processes hits them
alike. The best batch is reported as microseconds per page, and its ratio to the
``json.loads`` row.

Run: ``python benchmarks/decode.py [--json FILE] [--quick]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from _common import format_table, write_json  # noqa: E402
from peertube.models.video_list_response import (  # type: ignore[import-untyped]  # noqa: E402
    VideoListResponse,
)

from peertube_async._convert import make_converter  # noqa: E402
from peertube_async._generated.models import Video  # noqa: E402
from peertube_async._pagination import Page  # noqa: E402
from peertube_async._pipeline import _loads  # noqa: E402
from peertube_async.testing import uuid_to_short  # noqa: E402

SAMPLES = ROOT / "tests" / "fixtures" / "samples-6.3.json"
SAMPLE_NAME = "body /api/v1/videos"
PAGE_SIZE = 100
BASELINE = "json.loads"
OURS = "peertube_async"
GOAL = 2.5


def build_page() -> bytes:
    """A 100-video page from the captured list item, ids and uuids made distinct."""
    samples = json.loads(SAMPLES.read_text(encoding="utf-8"))["samples"]
    body = json.loads(next(s for s in samples if s["name"] == SAMPLE_NAME)["body"])
    item = body["data"][0]
    data = []
    for i in range(PAGE_SIZE):
        video = copy.deepcopy(item)
        video_uuid = uuid.UUID(int=(0x9C9DE5E8 << 96) | i, version=4)
        video["id"] = i + 1
        video["uuid"] = str(video_uuid)
        video["shortUUID"] = uuid_to_short(video_uuid)
        data.append(video)
    return json.dumps({"total": PAGE_SIZE, "data": data}, separators=(",", ":")).encode()


def strategies() -> dict[str, Callable[[bytes], Any]]:
    converter = make_converter()
    page_type = Page[Video]

    def ours(raw: bytes) -> Any:
        return converter.structure(_loads(raw), page_type)

    def ours_stdlib(raw: bytes) -> Any:
        return converter.structure(json.loads(raw), page_type)

    def pypi(raw: bytes) -> Any:
        return VideoListResponse.from_dict(json.loads(raw))

    return {
        BASELINE: json.loads,
        "orjson.loads": orjson.loads,
        OURS: ours,
        "peertube_async (json)": ours_stdlib,
        "peertube (PyPI)": pypi,
    }


def check(name: str, page: Any) -> None:
    """Fail loudly unless ``page`` is the 100 videos of the input, decoded."""
    items = page["data"] if isinstance(page, dict) else page.data
    ids = [v["id"] if isinstance(v, dict) else v.id for v in items]
    if ids != list(range(1, PAGE_SIZE + 1)):
        raise RuntimeError(f"{name}: wrong videos decoded")
    if not name.endswith(".loads"):
        published = items[0].published_at
        if published.tzinfo is None or published.year < 2000:
            raise RuntimeError(f"{name}: publishedAt not decoded: {published!r}")


def time_batch(decode: Callable[[bytes], Any], raw: bytes, number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        decode(raw)
    return time.perf_counter() - start


def run(quick: bool) -> list[dict[str, Any]]:
    raw = build_page()
    print(f"page: {PAGE_SIZE} videos, {len(raw):,} bytes of JSON", file=sys.stderr)
    usable: dict[str, Callable[[bytes], Any]] = {}
    rejected: dict[str, str] = {}
    for name, decode in strategies().items():
        try:
            check(name, decode(raw))  # also warms up cattrs' generated code
        except Exception as exc:
            rejected[name] = f"{type(exc).__name__}: {exc}"[:120]
        else:
            usable[name] = decode

    # Batch size, as timeit's autorange: doubled until the slowest row's batch takes
    # `target` seconds.
    target = 0.05 if quick else 0.2
    for decode in usable.values():
        time_batch(decode, raw, 5)  # warm-up: allocator, caches
    slowest = max(usable.values(), key=lambda d: time_batch(d, raw, 1))
    number = 1
    while time_batch(slowest, raw, number) < target:
        number *= 2
    repeat = 3 if quick else 7
    best = {name: float("inf") for name in usable}
    for r in range(repeat):
        print(f"round {r + 1}/{repeat} ({number} pages per batch)", file=sys.stderr)
        for name, decode in usable.items():
            best[name] = min(best[name], time_batch(decode, raw, number) / number)

    base = best[BASELINE]
    rows: list[dict[str, Any]] = []
    for name in strategies():
        if name in rejected:
            rows.append(
                {
                    "strategy": name,
                    "us_per_page": None,
                    "ratio_vs_json_loads": None,
                    "rejected": rejected[name],
                }
            )
        else:
            rows.append(
                {
                    "strategy": name,
                    "us_per_page": round(best[name] * 1e6, 1),
                    "ratio_vs_json_loads": round(best[name] / base, 2),
                }
            )
    return rows


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--quick", action="store_true", help="small run for CI smoke tests")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rows = run(args.quick)
    table = []
    for row in rows:
        ratio = row["ratio_vs_json_loads"]
        note = row.get("rejected", "")
        if row["strategy"] == OURS and ratio is not None:
            note = f"goal <= {GOAL:.1f}x " + ("met" if ratio <= GOAL else "MISSED")
        table.append(
            [
                row["strategy"],
                "rejected" if row["us_per_page"] is None else f"{row['us_per_page']:,.1f}",
                "-" if ratio is None else f"{ratio:.2f}x",
                note,
            ]
        )
    footer = [
        f"Best of the batches, per page of {PAGE_SIZE} videos; lower is better.",
    ]
    print(format_table(["strategy", "µs per page", "vs json.loads", "note"], table, footer))
    if args.json:
        write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
