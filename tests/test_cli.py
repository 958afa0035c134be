"""The peertube-async command line: commands, output, exit codes, signals."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner

from peertube_async import AuthError, ConnectError, RateLimited, __version__
from peertube_async._errors import error_from_response
from peertube_async.cli import (
    EXIT_API,
    EXIT_AUTH,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_RATE_LIMITED,
    EXIT_USAGE,
    cli,
    main,
)
from peertube_async.cli._base import run as _run
from peertube_async.crawl import CheckpointError, load_checkpoint
from peertube_async.testing import FakeInstance

from .clitools import ENV, Background


@pytest.fixture
def fake(background: Background) -> FakeInstance:
    return background.fake(videos=30)


def out_lines(capsys: pytest.CaptureFixture[str]) -> tuple[list[str], str]:
    captured = capsys.readouterr()
    return captured.out.splitlines(), captured.err


# -- help and entry points ------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["videos"],
        ["videos", "list"],
        ["videos", "get"],
        ["search"],
        ["channels"],
        ["accounts"],
        ["crawl"],
        ["limits"],
        ["sandbox"],
        ["login"],
    ],
)
def test_every_command_has_help_with_exit_codes(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--help"]) == EXIT_OK
    text = capsys.readouterr().out
    assert "Usage: peertube-async" in text
    assert "Exit codes" in text and "130" in text


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "peertube_async", "--version"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert __version__ in done.stdout


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nope"]) == EXIT_USAGE
    assert "No such command" in capsys.readouterr().err
    assert main(["videos", "list", "--limit", "0"]) == EXIT_USAGE
    assert main(["crawl"]) == EXIT_USAGE  # --out is required
    assert "--out" in capsys.readouterr().err


def _raiser(exc: BaseException) -> Coroutine[Any, Any, int]:
    async def boom() -> int:
        raise exc

    return boom()


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ValueError("bad"), EXIT_USAGE),
        (CheckpointError("mismatch"), EXIT_USAGE),
        (FileExistsError("there"), EXIT_USAGE),
        (
            error_from_response(status=404, headers={}, body=b"", method="GET", url="/x"),
            EXIT_API,
        ),
        (
            error_from_response(status=500, headers={}, body=b"", method="GET", url="/x"),
            EXIT_API,
        ),
        (ConnectError("refused", method="GET", url="/x"), EXIT_NETWORK),
        (RateLimited("spent", retry_after=1.0, bucket="api", sent=True), EXIT_RATE_LIMITED),
        (AuthError("no"), EXIT_AUTH),
        (KeyboardInterrupt(), EXIT_INTERRUPTED),
    ],
)
def test_errors_map_to_distinct_exit_codes(
    exc: BaseException, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(_raiser(exc)) == code
    assert capsys.readouterr().err.strip()


# -- reading commands -----------------------------------------------------------------------


def test_videos_list_and_get(fake: FakeInstance, capsys: pytest.CaptureFixture[str]) -> None:
    url = str(fake.url)
    assert main(["videos", "list", url, "--limit", "3", "--json"]) == EXIT_OK
    lines, err = out_lines(capsys)
    newest = [json.loads(line) for line in lines]
    assert [v["id"] for v in newest] == [30, 29, 28]
    assert "3 videos" in err
    # `videos URL` is `videos list URL`.
    assert main(["videos", url, "--limit", "2"]) == EXIT_OK
    lines, _ = out_lines(capsys)
    assert len(lines) == 3 and lines[0].split()[:2] == ["id", "shortUUID"]

    wanted = fake.videos[4]
    assert main(["videos", "get", url, wanted.short_uuid]) == EXIT_OK
    lines, _ = out_lines(capsys)
    assert any(wanted.name in line for line in lines)
    assert main(["videos", "get", url, wanted.uuid, "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["uuid"] == wanted.uuid
    assert main(["videos", "get", url, "4ab1c0de-0000-4000-8000-000000000000"]) == EXIT_API
    assert "Video not found" in capsys.readouterr().err


def test_channels_accounts_and_limits(
    fake: FakeInstance, capsys: pytest.CaptureFixture[str]
) -> None:
    url = str(fake.url)
    assert main(["channels", url]) == EXIT_OK
    lines, err = out_lines(capsys)
    assert any(f"alice_channel@{fake.host}" in line for line in lines)
    assert "2 channels" in err
    assert main(["accounts", url, "--json"]) == EXIT_OK
    names = {json.loads(line)["name"] for line in capsys.readouterr().out.splitlines()}
    assert names == {"peertube", "root", "alice"}
    assert main(["limits", url, "--json"]) == EXIT_OK
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["class"] == "api" and row["limit"] == 50
    assert row["remaining"] < 50  # the probe and the calls above were counted
    assert main(["limits", url]) == EXIT_OK
    lines, _ = out_lines(capsys)
    assert lines[0].split()[:2] == ["class", "limit"] and lines[1].split()[0] == "api"


def test_commands_without_url_use_a_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["accounts"]) == EXIT_OK
    lines, err = out_lines(capsys)
    assert "built-in sandbox" in err and len(lines) == 4
    assert main(["videos", "list", "--limit", "150"]) == EXIT_OK
    lines, _ = out_lines(capsys)
    assert len(lines) == 1 + 40  # the sandbox holds 40


def test_search_error_answer_exits_3(
    fake: FakeInstance, capsys: pytest.CaptureFixture[str]
) -> None:
    # FakeInstance has no search route: like PeerTube for a route it lacks, it answers 400.
    assert main(["search", str(fake.url), "forest"]) == EXIT_API
    assert "400 Bad Request" in capsys.readouterr().err


# -- login ----------------------------------------------------------------------------------


def test_login_stores_tokens_used_by_user_option(
    fake: FakeInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = str(fake.url)
    store = tmp_path / "config" / "tokens.json"
    monkeypatch.setenv("PEERTUBE_TOKEN_STORE", str(store))
    monkeypatch.setenv("PEERTUBE_PASSWORD", "wrong")
    assert main(["login", url, "alice"]) == EXIT_AUTH
    assert "sign-in failed" in capsys.readouterr().err
    monkeypatch.setenv("PEERTUBE_PASSWORD", "alice-password")
    assert main(["login", url, "alice"]) == EXIT_OK
    assert str(store) in capsys.readouterr().out
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert f"{url} alice" in json.loads(store.read_text())["tokens"]
    logins = fake.stats.logins

    monkeypatch.delenv("PEERTUBE_PASSWORD")
    before = fake.stats.authorized_requests
    assert main(["videos", "list", url, "--user", "alice", "--limit", "1"]) == EXIT_OK
    assert fake.stats.authorized_requests > before
    assert fake.stats.logins == logins  # the stored token, no new login
    assert main(["videos", "list", url, "--user", "root"]) == EXIT_AUTH
    assert "login" in capsys.readouterr().err


def test_login_prompts_for_the_password(
    fake: FakeInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PEERTUBE_PASSWORD", raising=False)
    store = tmp_path / "tokens.json"
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["login", str(fake.url), "root", "--token-store", str(store)],
        input="root-password\n",
    )
    assert result.exit_code == EXIT_OK, result.output
    assert "Password" in result.stderr
    assert "signed in as root" in result.stdout
    assert store.exists()


# -- crawl ----------------------------------------------------------------------------------


def test_crawl_of_the_sandbox_resumes_and_refuses_clobbering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "crawl.jsonl"
    assert main(["crawl", "--out", str(out), "--quiet"]) == EXIT_OK
    lines, err = out_lines(capsys)
    assert "built-in sandbox" in err
    assert len(lines) == 4 and all(" complete " in line for line in lines[1:])
    records = out.read_text().splitlines()
    assert len(records) == 400 + 250 + 120 == len(set(records))
    saved = load_checkpoint(out)
    assert saved is not None and len(saved["meta"]["sandbox"]) == 3

    assert main(["crawl", "--out", str(out), "--quiet"]) == EXIT_USAGE
    assert "--resume" in capsys.readouterr().err
    # Resumed with no instance: the same sandbox instances, on the same ports.
    assert main(["crawl", "--out", str(out), "--resume", "--json"]) == EXIT_OK
    summary = json.loads(capsys.readouterr().out)
    assert summary["complete"] and summary["written"] == 0 and summary["records"] == 770
    assert [i["url"] for i in summary["instances"]] == saved["order"]
    assert main(["crawl", "--out", str(out), "--resume", "--kinds", "all"]) == EXIT_USAGE
    assert "same kinds" in capsys.readouterr().err
    assert main(["crawl", "--out", str(out), "--kinds", "videos,users"]) == EXIT_USAGE
    assert main(["crawl", "--out", str(out), "--rate-limit", "fast"]) == EXIT_USAGE


def test_crawl_with_a_failing_kind_exits_7(
    background: Background, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def videos(request: web.Request) -> web.Response:
        data = [{"id": 1, "uuid": "0f4b8a38-2d5e-4e57-9c5a-6d2c7f0a1b2c", "name": "one"}]
        return web.json_response({"total": 1, "data": data})

    async def closed(request: web.Request) -> web.Response:
        return web.json_response({"status": 403, "detail": "closed"}, status=403)

    app = web.Application()
    app.router.add_get("/api/v1/videos", videos)
    app.router.add_get("/api/v1/video-channels", closed)
    url = background.app(app)
    out = tmp_path / "out.jsonl"
    code = main(["crawl", url, "--out", str(out), "--kinds", "videos,channels", "--json"])
    assert code == EXIT_INCOMPLETE
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    (row,) = summary["instances"]
    assert row["status"] == "partial" and row["records"] == {"videos": 1, "channels": 0}
    assert "Forbidden" in row["errors"]["channels"]
    assert "--resume" in captured.err


def _wait_for_change(path: Path, before: bytes, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and path.read_bytes() != before:
            return
        time.sleep(0.01)


def test_ctrl_c_stops_a_crawl_cleanly_and_resume_finishes(
    background: Background, tmp_path: Path
) -> None:
    fake = background.fake(videos=300, limits={"api": (20, 0.1)})
    out = tmp_path / "out.jsonl"
    checkpoint = tmp_path / "out.jsonl.checkpoint.json"
    command = [
        sys.executable, "-m", "peertube_async", "crawl", str(fake.url), "--out", str(out),
        "--kinds", "all", "--rate-limit", "20/0.1", "--resume",
    ]  # fmt: skip
    proc = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_change(checkpoint, b"", proc)  # created at start
    _wait_for_change(checkpoint, checkpoint.read_bytes(), proc)  # a first commit
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, stderr.decode()
    assert b"stopped" in stdout and b"--resume" in stderr
    saved = json.loads(checkpoint.read_text())
    assert saved["complete"] is False
    assert saved["output_bytes"] == out.stat().st_size > 0
    kept = out.read_bytes()
    assert kept.endswith(b"\n")

    done = subprocess.run([*command, "--quiet"], env=ENV, capture_output=True, timeout=120)
    assert done.returncode == EXIT_OK, done.stderr.decode()
    final = out.read_bytes()
    assert final.startswith(kept)
    lines = final.decode().splitlines()
    assert len(lines) == len(set(lines)) == 300 + 2 + 3 + 2 + sum(i % 4 for i in range(301))


# -- sandbox --------------------------------------------------------------------------------


def test_sandbox_serves_until_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "peertube_async", "sandbox", "--port", "0", "--videos", "7",
         "--instances", "2"],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        urls = [proc.stdout.readline().strip() for _ in range(2)]
        assert all(u.startswith("http://127.0.0.1:") for u in urls) and urls[0] != urls[1]
        for url in urls:
            with urllib.request.urlopen(url + "/api/v1/videos", timeout=10) as resp:
                assert json.load(resp)["total"] == 7
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == EXIT_OK
    assert "Ctrl-C" in err and "stopped" in err
