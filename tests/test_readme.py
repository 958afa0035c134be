"""Every Python block of README.md, type-checked and run against local instances.

A block is a complete program. It is checked with ``mypy --strict`` as written, then run
as ``__main__`` in a fresh folder, with every instance it names (``framatube.org``...)
pointed at a :class:`FakeInstance` and the Redis URL at the test server; top-level
``test_*`` coroutines are then awaited, as pytest would.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mypy import api as mypy_api

from peertube_async.testing import FakeInstance

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: Instances the README names, each served by its own fake while a block runs.
HOSTS = ("framatube.org", "tilvids.com", "peertube.example")
REDIS_URL = "redis://127.0.0.1:6379/0"
BOT_PASSWORD = "bot-secret-1"
_BLOCK_RE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[tuple[int, str]]:
    """(line number, source) of each Python block of the README."""
    text = README.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start()) + 1, match.group(1))
        for match in _BLOCK_RE.finditer(text)
    ]


BLOCKS = python_blocks()


def test_the_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 5


def test_readme_blocks_pass_mypy_strict(tmp_path: Path) -> None:
    files = []
    for line, source in BLOCKS:
        path = tmp_path / f"readme_line_{line}.py"
        path.write_text(source, encoding="utf-8")
        files.append(str(path))
    stdout, stderr, status = mypy_api.run(
        [
            "--strict",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            *files,
        ]
    )
    assert status == 0, stdout + stderr


@contextlib.asynccontextmanager
async def instances() -> AsyncIterator[dict[str, FakeInstance]]:
    async with contextlib.AsyncExitStack() as stack:
        fakes = {}
        for host in HOSTS:
            fake = FakeInstance(videos=30, users={"mybot": BOT_PASSWORD})
            fakes[host] = await stack.enter_async_context(fake)
        yield fakes


def localized(source: str, fakes: dict[str, FakeInstance], redis_url: str) -> str:
    for host, fake in fakes.items():
        source = source.replace(f'"{host}"', f'"{fake.url}"')
    return source.replace(f'"{REDIS_URL}"', f'"{redis_url}"')


def run_block(source: str, path: Path) -> dict[str, Any]:
    """Run ``source`` as a script (in this thread, which has no event loop), then its
    ``test_*`` coroutines."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": str(path)}
    exec(compile(source, str(path), "exec"), namespace)
    for name, value in list(namespace.items()):
        if name.startswith("test_") and inspect.iscoroutinefunction(value):
            asyncio.run(value())
    return namespace


@pytest.mark.parametrize(("line", "source"), BLOCKS, ids=[f"line-{n}" for n, _ in BLOCKS])
async def test_readme_block_runs(
    line: int,
    source: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("BOT_PASSWORD", BOT_PASSWORD)
    # The upload example's video: any bytes with a video file's name will do.
    (tmp_path / "holiday.mp4").write_bytes(b"\0\0\0\x18ftypmp42" + bytes(range(256)) * 64)
    async with instances() as fakes:
        code = localized(source, fakes, redis_url)
        await asyncio.to_thread(run_block, code, tmp_path / f"readme_line_{line}.py")
    out = capsys.readouterr().out
    assert "Traceback" not in out
    if "copy.mp4" in source:
        assert (tmp_path / "copy.mp4").read_bytes() == (tmp_path / "holiday.mp4").read_bytes()
        assert not (tmp_path / "holiday.upload.json").exists()
    if "videos.jsonl" in source:
        records = (tmp_path / "videos.jsonl").read_text().splitlines()
        assert len(records) >= 2 * 30
