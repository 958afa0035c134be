"""``peertube-async notifications``: the list, and ``--follow`` over the socket or by
polling, as text or JSON lines, with no control character reaching a terminal."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from peertube_async import PeerTube
from peertube_async.cli import EXIT_OK, main
from peertube_async.testing import FakeInstance

from .clitools import Background
from .test_live import until

#: Video 2 is alice's (videos go in turn to root and alice).
ALICES_VIDEO = 2
HOSTILE_NAME = "Mallory\x1b[2J\x07\x9b31m\u202e"


@pytest.fixture
def alice(background: Background, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeInstance:
    """A fake instance where alice is signed in as the default account."""
    monkeypatch.setenv("PEERTUBE_TOKEN_STORE", str(tmp_path / "tokens.json"))
    for name in ("PEERTUBE_URL", "PEERTUBE_USER", "PEERTUBE_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    fake = background.fake(videos=3)
    monkeypatch.setenv("PEERTUBE_PASSWORD", "alice-password")
    assert main(["auth", "add", "--url", str(fake.url), "--user", "alice"]) == EXIT_OK
    monkeypatch.delenv("PEERTUBE_PASSWORD")
    return fake


async def _when_listening(fake: FakeInstance, polling: bool) -> None:
    """Once the command follows: a comment and a follow by root, and a notification
    carrying a hostile display name."""
    if polling:
        await until(lambda: fake.stats.routes.get("GET /api/v1/users/me/notifications", 0) >= 2)
    else:
        await until(lambda: fake.sockets.listeners() > 0)
    async with PeerTube(fake.url) as root:
        await root.login("root", fake.passwords["root"])
        await root.videos.comments.create_thread(ALICES_VIDEO, text="Nice one")
        await root.me.subscriptions.create(uri=f"alice_channel@{fake.host}")
    actor: dict[str, Any] = {
        "id": 99,
        "displayName": HOSTILE_NAME,
        "name": "mallory",
        "host": fake.host,
        "avatars": [],
    }
    await fake.notify("alice", 9, {"account": actor})


def _follow(background: Background, fake: FakeInstance, args: list[str], polling: bool) -> int:
    done = asyncio.run_coroutine_threadsafe(_when_listening(fake, polling), background.loop)
    code = main(["notifications", "--follow", "--limit", "3", *args])
    done.result(10)
    return code


def test_follow_prints_new_notifications_as_json_lines(
    background: Background, alice: FakeInstance, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert _follow(background, alice, ["--json"], polling=False) == EXIT_OK
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 3
    assert not any(ch in captured.out for ch in "\x1b\x07\x9b")
    records = [json.loads(line) for line in lines]
    assert [r["type"] for r in records] == [2, 10, 9]
    assert records[0]["comment"]["account"]["name"] == "root"
    assert records[0]["comment"]["video"]["id"] == ALICES_VIDEO
    assert records[2]["account"]["displayName"] == HOSTILE_NAME  # escaped, not lost
    assert "following the notifications of alice" in captured.err


def test_follow_by_polling_as_text_without_the_socket_client(
    background: Background,
    alice: FakeInstance,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "socketio", None)
    capsys.readouterr()
    code = _follow(background, alice, ["--poll-interval", "0.1"], polling=True)
    assert code == EXIT_OK
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 3
    assert "new comment on my video: root on 'Ancient engine 2'" in lines[0]
    assert "new follower: root follows Main alice channel" in lines[1]
    assert "new user registration: Mallory" in lines[2]
    assert not any(ch in out for ch in "\x1b\x07\x9b")


def test_the_list_shows_the_newest_and_the_unread(
    background: Background, alice: FakeInstance, capsys: pytest.CaptureFixture[str]
) -> None:
    async def seed() -> None:
        await alice.notify("alice", 10, {})
        await alice.notify("alice", 6, {})
        alice.notifications_of("alice")[0].read = True

    background.call(seed())
    capsys.readouterr()
    assert main(["notifications", "--json"]) == EXIT_OK
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["type"] for r in listed] == [6, 10]
    assert main(["notifications", "--unread"]) == EXIT_OK
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1 and "my video is published" in captured.out
    assert "1 of 1 notifications" in captured.err
