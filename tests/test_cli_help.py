"""Every command's help, the lazy loading behind it, and shell completion."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from peertube_async import crawl as crawler
from peertube_async.cli import COMMANDS, EXIT_OK, cli, main
from peertube_async.cli import _crawl as crawl_command

from .clitools import ENV


def _every_command() -> list[list[str]]:
    found: list[list[str]] = []
    ctx = click.Context(cli)

    def walk(group: click.Group, path: list[str], ctx: click.Context) -> None:
        for name in group.list_commands(ctx):
            sub = group.get_command(ctx, name)
            assert sub is not None
            found.append([*path, name])
            if isinstance(sub, click.Group):
                walk(sub, [*path, name], click.Context(sub, parent=ctx))

    walk(cli, [], ctx)
    return found


def test_the_help_lists_each_command_with_its_own_short_help() -> None:
    ctx = click.Context(cli)
    for name, (_, short) in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None
        assert command.get_short_help_str(1000) == short, name


@pytest.mark.parametrize("path", _every_command(), ids=" ".join)
def test_every_command_and_subcommand_has_help_with_exit_codes(
    path: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*path, "--help"]) == EXIT_OK
    text = capsys.readouterr().out
    assert f"Usage: peertube-async {' '.join(path)}" in text
    assert "Exit codes" in text and "130" in text


# The modules the help must not load: the SDK's runtime, aiohttp, rich, the models.
_HEAVY = (
    "asyncio",
    "ssl",
    "rich",
    "aiohttp",
    "yarl",
    "peertube_async._generated",
    "peertube_async._client",
    "peertube_async._pipeline",
    "peertube_async.crawl",
    "peertube_async.testing",
)

_PROBE = """
import json, sys
import peertube_async
before = set(sys.modules)
from peertube_async.cli import main
codes = [main(args) for args in ARGS]
print(json.dumps({"codes": codes, "loaded": sorted(set(sys.modules) - before)}))
"""


def test_help_imports_nothing_heavy() -> None:
    """``--help`` of the program and of each group loads click and the CLI's own small
    modules only, whatever ``import peertube_async`` itself loads."""
    groups = [["--help"], *([name, "--help"] for name in COMMANDS)]
    code = _PROBE.replace("ARGS", repr(groups))
    done = subprocess.run(
        [sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert set(result["codes"]) == {EXIT_OK}
    heavy = [m for m in result["loaded"] if m.split(".")[0] in _HEAVY or m.startswith(_HEAVY)]
    assert heavy == []


def test_crawl_help_names_what_the_crawler_knows() -> None:
    assert crawl_command.KINDS == crawler.KINDS
    assert crawl_command.DEFAULT_NAMESPACE == crawler.DEFAULT_NAMESPACE


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_scripts_and_answers(shell: str) -> None:
    source = subprocess.run(
        [sys.executable, "-m", "peertube_async"],
        env={**ENV, "_PEERTUBE_ASYNC_COMPLETE": f"{shell}_source"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert source.returncode == 0 and "peertube-async" in source.stdout
    words = {"COMP_WORDS": "peertube-async plu", "COMP_CWORD": "1"}
    if shell == "fish":
        words = {"COMP_WORDS": "peertube-async plu", "COMP_CWORD": "plu"}
    answer = subprocess.run(
        [sys.executable, "-m", "peertube_async"],
        env={**ENV, **words, "_PEERTUBE_ASYNC_COMPLETE": f"{shell}_complete"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.returncode == 0
    assert "plugins" in answer.stdout
