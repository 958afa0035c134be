"""The repository itself: it stands alone, and a hung test cannot stall a run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"

# History may name the folder the project once read its facts from; nothing else may.
_ALLOWED = {"CHANGELOG.md"}
_SKIPPED_DIRS = {".git", ".ci", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis"}


def _repository_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if parts & _SKIPPED_DIRS or "__pycache__" in parts or ".egg-info" in str(path):
            continue
        if path.is_file() and path.name not in _ALLOWED:
            files.append(path)
    return files


def test_nothing_reads_outside_the_repository() -> None:
    # Written as a path string, or joined with pathlib from a parent folder.
    needles = ("../" + "shared", '/ "' + 'shared"')
    offenders = []
    for path in [*_repository_files(), ROOT / ".ci" / "run"]:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if any(needle in text for needle in needles):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_a_test_that_hangs_fails_at_its_timeout(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    bound = float(pytestconfig.getini("timeout"))
    assert 0 < bound <= 600
    hung = tmp_path / "test_hung.py"
    hung.write_text(
        textwrap.dedent(
            """
            import asyncio
            import time

            def test_sleeps_forever() -> None:
                time.sleep(3600)

            async def test_awaits_forever() -> None:
                await asyncio.sleep(3600)
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    # The project's own configuration, with the bound lowered so the check is quick.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(PYPROJECT),
            "--rootdir",
            str(tmp_path),
            "-p",
            "no:cacheprovider",
            "-o",
            "timeout=1",
            "-q",
            str(hung),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "2 failed" in output, output
    assert output.count("Timeout") >= 2, output
