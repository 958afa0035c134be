"""Accounts on the command line: auth add/del/list/set-default, whoami, logout,
get-access-token; non-interactive use through the environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peertube_async.cli import EXIT_AUTH, EXIT_OK, EXIT_USAGE, main
from peertube_async.testing import FakeInstance

from .clitools import Background


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config" / "tokens.json"
    monkeypatch.setenv("PEERTUBE_TOKEN_STORE", str(path))
    for name in ("PEERTUBE_URL", "PEERTUBE_USER", "PEERTUBE_PASSWORD", "PEERTUBE_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    return path


def secrets_of(store: Path) -> list[str]:
    tokens = json.loads(store.read_text())["tokens"]
    return [v for pair in tokens.values() for v in (pair["access_token"], pair["refresh_token"])]


def test_accounts_on_two_instances_with_a_default(
    background: Background,
    store: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    one = background.fake(videos=2)
    two = background.fake(videos=2, users={"bob": "bob-password"})
    monkeypatch.setenv("PEERTUBE_PASSWORD", "alice-password")
    assert main(["auth", "add", "--url", str(one.url), "--user", "alice"]) == EXIT_OK
    assert "(default)" in capsys.readouterr().out
    password_file = tmp_path / "root.txt"
    password_file.write_text("root-password\n")
    monkeypatch.delenv("PEERTUBE_PASSWORD")
    code = main(
        ["auth", "add", "-u", str(one.url), "-U", "root", "--password-file", str(password_file)]
    )
    assert code == EXIT_OK
    # A password on the command line works, with a warning.
    code = main(["auth", "add", "-u", str(two.url), "-U", "bob", "-p", "bob-password", "--default"])
    assert code == EXIT_OK
    captured = capsys.readouterr()
    assert "(default)" in captured.out
    assert main(["auth", "set-default", str(one.url), "--user", "alice"]) == EXIT_OK
    assert "default account: alice" in capsys.readouterr().out
    assert "process list" in captured.err and "bob-password" not in captured.out

    assert main(["auth", "list"]) == EXIT_OK
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split() == [
        "instance",
        "user",
        "role",
        "access",
        "until",
        "refresh",
        "until",
        "state",
    ]
    assert len(lines) == 4
    assert any(line.startswith("*") and "alice" in line and "User" in line for line in lines)
    assert any("root" in line and "Administrator" in line for line in lines)
    for secret in secrets_of(store):
        assert secret not in captured.out + captured.err
    assert main(["auth", "list", "--json"]) == EXIT_OK
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {(r["instance"], r["user"], r["role"], r["default"]) for r in listed} == {
        (str(one.url), "alice", "User", True),
        (str(one.url), "root", "Administrator", False),
        (str(two.url), "bob", "User", False),
    }
    assert all(r["signed_in"] and r["access_expires_at"].endswith("UTC") for r in listed)

    # The default account needs no URL; another is picked with --url/--user or the env.
    assert main(["whoami"]) == EXIT_OK
    assert "alice" in capsys.readouterr().out
    assert main(["whoami", "--url", str(one.url), "--user", "root", "--json"]) == EXIT_OK
    me = json.loads(capsys.readouterr().out)
    assert (me["instance"], me["username"], me["role"]["id"]) == (str(one.url), "root", 0)
    monkeypatch.setenv("PEERTUBE_URL", str(two.url))
    assert main(["whoami"]) == EXIT_OK  # bob is the only account stored for two
    assert "bob" in capsys.readouterr().out
    monkeypatch.delenv("PEERTUBE_URL")
    assert main(["auth", "set-default", str(one.url), "--user", "root"]) == EXIT_OK
    assert main(["whoami"]) == EXIT_OK
    assert "Administrator" in capsys.readouterr().out
    assert main(["auth", "set-default", str(one.url)]) == EXIT_USAGE  # two users there
    assert "stored: alice, root" in capsys.readouterr().err
    assert one.stats.logins == 2 and two.stats.logins == 1  # stored sign-ins reused


def test_get_access_token_logout_and_del(
    background: Background,
    store: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = background.fake(videos=2)
    url = str(fake.url)
    monkeypatch.setenv("PEERTUBE_PASSWORD", "root-password")
    assert main(["auth", "add", "--url", url, "--user", "root"]) == EXIT_OK
    monkeypatch.setenv("PEERTUBE_PASSWORD", "alice-password")
    assert main(["auth", "add", "--url", url, "--user", "alice"]) == EXIT_OK
    monkeypatch.delenv("PEERTUBE_PASSWORD")
    capsys.readouterr()
    # PeerTube's alias `token` works too.
    assert main(["token", "--user", "alice"]) == EXIT_OK
    token = capsys.readouterr().out.strip()
    assert token in secrets_of(store)

    revocations = fake.stats.revocations
    assert main(["logout", "--user", "alice"]) == EXIT_OK
    assert "signed out alice" in capsys.readouterr().out
    assert fake.stats.revocations == revocations + 1
    assert fake.revoke_tokens(token) is False  # already revoked on the server
    assert main(["whoami", "--user", "alice"]) == EXIT_AUTH  # no pair, no password
    assert "password" in capsys.readouterr().err
    assert main(["logout", "--user", "alice"]) == EXIT_OK
    assert "was not signed in" in capsys.readouterr().err

    assert main(["auth", "del", url]) == EXIT_OK
    assert "forgot root" in capsys.readouterr().out
    assert json.loads(store.read_text())["tokens"] == {}
    assert main(["auth", "list"]) == EXIT_OK
    assert "auth add" in capsys.readouterr().err
    assert main(["whoami"]) == EXIT_USAGE  # no default any more
    assert "--url" in capsys.readouterr().err
    assert main(["auth", "del", url]) == EXIT_USAGE


def test_ci_use_through_the_environment(
    fake: FakeInstance,
    store: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Nothing stored: URL, user and password from the environment, as in a CI script.
    monkeypatch.setenv("PEERTUBE_URL", str(fake.url))
    monkeypatch.setenv("PEERTUBE_USER", "alice")
    monkeypatch.setenv("PEERTUBE_PASSWORD", "alice-password")
    assert main(["whoami"]) == EXIT_OK
    assert "alice" in capsys.readouterr().out
    assert fake.stats.logins == 1
    assert main(["whoami"]) == EXIT_OK  # the sign-in was kept
    assert fake.stats.logins == 1
    monkeypatch.setenv("PEERTUBE_USER", "root")
    monkeypatch.setenv("PEERTUBE_PASSWORD", "wrong")
    assert main(["whoami"]) == EXIT_AUTH
    assert "sign-in failed" in capsys.readouterr().err


@pytest.fixture
def fake(background: Background) -> FakeInstance:
    return background.fake(videos=2)
