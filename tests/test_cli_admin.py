"""``plugins`` and ``redundancy`` on the command line, end to end against FakeInstance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peertube_async.cli import EXIT_API, EXIT_OK, EXIT_USAGE, main
from peertube_async.testing import FakeInstance

from .clitools import Background


@pytest.fixture
def fake(background: Background, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeInstance:
    instance = background.fake(videos=3)
    monkeypatch.setenv("PEERTUBE_TOKEN_STORE", str(tmp_path / "tokens.json"))
    monkeypatch.setenv("PEERTUBE_URL", str(instance.url))
    monkeypatch.setenv("PEERTUBE_USER", "root")
    monkeypatch.setenv("PEERTUBE_PASSWORD", "root-password")
    return instance


def test_plugins_install_list_update_configure_uninstall(
    fake: FakeInstance, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.publish_plugin("peertube-plugin-transcript", "1.2.0", homepage="https://example.org")
    assert main(["plugins", "install", "--npm-name", "peertube-plugin-transcript"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == "installed: peertube-plugin-transcript 1.2.0"
    code = main(
        ["p", "install", "-n", "peertube-theme-dark", "--plugin-version", "2.4.0", "--json"]
    )
    assert code == EXIT_OK
    theme = json.loads(capsys.readouterr().out)
    assert (theme["name"], theme["type"], theme["version"]) == ("dark", 2, "2.4.0")
    folder = tmp_path / "my-plugin"
    folder.mkdir()
    package = {"name": "peertube-plugin-local", "version": "0.1.0", "description": "mine"}
    (folder / "package.json").write_text(json.dumps(package))
    assert main(["plugins", "install", "--path", str(folder)]) == EXIT_OK
    assert "installed" in capsys.readouterr().out

    assert main(["plugins", "list"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "version", "latest", "enabled", "homepage"]
    assert [line.split()[0] for line in lines[1:]] == [
        "peertube-theme-dark",
        "peertube-plugin-local",
        "peertube-plugin-transcript",
    ]
    assert main(["plugins", "list", "--only-themes", "--json"]) == EXIT_OK
    (only,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert only["name"] == "dark"
    assert main(["plugins", "list", "-P"]) == EXIT_OK
    assert "theme" not in capsys.readouterr().out

    package["version"] = "0.2.0"
    (folder / "package.json").write_text(json.dumps(package))
    assert main(["plugins", "update", "--path", str(folder)]) == EXIT_OK
    assert fake.plugins["peertube-plugin-local"].version == "0.2.0"
    fake.publish_plugin("peertube-theme-dark", "2.5.1")
    assert main(["plugins", "update", "--npm-name", "peertube-theme-dark"]) == EXIT_OK
    assert "updated: peertube-theme-dark 2.5.1" in capsys.readouterr().out
    assert main(["plugins", "configure", "peertube-plugin-local", "lang=fr", "auto=1"]) == EXIT_OK
    assert main(["plugins", "configure", "peertube-plugin-local", "auto=0"]) == EXIT_OK
    assert fake.plugins["peertube-plugin-local"].settings == {"lang": "fr", "auto": "0"}
    capsys.readouterr()
    assert main(["plugins", "show", "peertube-plugin-local"]) == EXIT_OK
    shown = capsys.readouterr().out
    assert "0.2.0" in shown and "lang = fr" in shown

    assert main(["plugins", "uninstall", "--npm-name", "peertube-plugin-local"]) == EXIT_OK
    assert fake.plugins["peertube-plugin-local"].uninstalled
    assert capsys.readouterr().out == "uninstalled peertube-plugin-local\n"
    assert main(["plugins", "list", "--uninstalled", "--json"]) == EXIT_OK
    gone = [json.loads(line)["name"] for line in capsys.readouterr().out.splitlines()]
    assert gone == ["local"]


def test_plugins_errors_and_rights(
    fake: FakeInstance, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins", "install"]) == EXIT_USAGE
    assert main(["plugins", "install", "--path", "relative/dir"]) == EXIT_USAGE
    assert "absolute" in capsys.readouterr().err
    assert main(["plugins", "install", "-n", "peertube-plugin-unknown"]) == EXIT_API
    assert "Cannot install plugin peertube-plugin-unknown" in capsys.readouterr().err
    assert main(["plugins", "update", "-n", "peertube-plugin-hello-world"]) == EXIT_API
    assert "Cannot update plugin" in capsys.readouterr().err
    assert main(["plugins", "install", "-n", "Not A Valid Name"]) == EXIT_API
    monkeypatch.setenv("PEERTUBE_USER", "alice")
    monkeypatch.setenv("PEERTUBE_PASSWORD", "alice-password")
    assert main(["plugins", "list"]) == EXIT_API
    assert "does not have right 23" in capsys.readouterr().err


def test_redundancy_add_list_remove(fake: FakeInstance, capsys: pytest.CaptureFixture[str]) -> None:
    remote = fake.add_remote_video("Far away", "videos.example.org")
    mine = fake.videos[0]
    copy_of_mine = fake.add_remote_redundancy(mine.id, "mirror.example.net")

    assert main(["redundancy", "add", "--video", str(remote.id)]) == EXIT_OK
    assert "will be copied" in capsys.readouterr().out
    assert main(["r", "add", "-v", str(remote.id)]) == EXIT_API
    assert "already copied" in capsys.readouterr().err
    assert main(["redundancy", "add", "-v", str(mine.id)]) == EXIT_API
    assert "Cannot create a redundancy on a local video" in capsys.readouterr().err
    assert main(["redundancy", "add", "-v", "999"]) == EXIT_API

    assert main(["redundancy", "list-my-redundancies"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["video", "id"] and "total size" in lines[0]
    (row,) = lines[1:]
    assert "Far away" in row and fake.host.split(":")[0] in row
    assert main(["redundancy", "list-remote-redundancies", "--json"]) == EXIT_OK
    (theirs,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert theirs["uuid"] == mine.uuid
    assert theirs["redundancies"]["streamingPlaylists"][0]["id"] == copy_of_mine

    assert main(["redundancy", "remove", "--video", str(remote.id)]) == EXIT_OK
    assert main(["redundancy", "remove", "--video", str(mine.id)]) == EXIT_OK
    assert "redundancy of video" in capsys.readouterr().out
    assert main(["redundancy", "list-my-redundancies", "--json"]) == EXIT_OK
    assert capsys.readouterr().out == ""
    assert main(["redundancy", "remove", "--video", str(remote.id)]) == EXIT_API
    assert "no redundancy" in capsys.readouterr().err
