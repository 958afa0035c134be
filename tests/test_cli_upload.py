"""``upload`` and ``download`` on the command line, end to end over loopback: fields,
state files, Ctrl-C and SIGKILL followed by --resume, progress in a pipe."""

from __future__ import annotations

import hashlib
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from peertube_async.cli import EXIT_API, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, main
from peertube_async.testing import FakeInstance

from .clitools import ENV, Background

MIB = 1024 * 1024


@pytest.fixture
def fake(background: Background) -> FakeInstance:
    return background.fake(videos=3)


@pytest.fixture
def env(fake: FakeInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An account in the environment, and private token and state folders."""
    values = {
        "PEERTUBE_TOKEN_STORE": str(tmp_path / "config" / "tokens.json"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "PEERTUBE_URL": str(fake.url),
        "PEERTUBE_USER": "alice",
        "PEERTUBE_PASSWORD": "alice-password",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return {**ENV, **values}


def make_file(path: Path, size: int, seed: int = 1) -> Path:
    block = random.Random(seed).randbytes(MIB)
    with path.open("wb") as handle:
        for start in range(0, size, MIB):
            handle.write(block[: min(MIB, size - start)])
    return path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def state_files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "state" / "peertube-async" / "uploads"
    return sorted(folder.glob("*.json")) if folder.exists() else []


def unfinished(tmp_path: Path) -> list[Path]:
    """State files of uploads that did not make their video yet."""
    return [p for p in state_files(tmp_path) if not json.loads(p.read_text()).get("completed")]


def test_upload_with_every_field_prints_the_video(
    fake: FakeInstance,
    env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clip = make_file(tmp_path / "clip.mp4", 3 * MIB + 5)
    thumb = tmp_path / "thumb.jpg"
    thumb.write_bytes(b"\xff\xd8thumbnail")
    preview = tmp_path / "preview.jpg"
    preview.write_bytes(b"\xff\xd8preview")
    code = main(
        [
            "upload", str(clip), "--name", "Every field", "--channel", "alice_channel",
            "--privacy", "unlisted", "--category", "music", "--licence", "2",
            "--language", "French", "--tags", "alpha,beta", "--tags", "gamma",
            "--description", "A described video", "--support", "Support me", "--nsfw",
            "--no-comments", "--no-download-enabled", "--thumbnail", str(thumb),
            "--preview", str(preview), "--chunk-size", str(MIB), "--json",
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    video = json.loads(captured.out)
    assert video["name"] == "Every field"
    assert (video["privacy"]["id"], video["category"]["label"]) == (2, "Music")
    assert (video["licence"]["id"], video["language"]["id"]) == (2, "fr")
    assert video["tags"] == ["alpha", "beta", "gamma"]
    assert (video["nsfw"], video["downloadEnabled"], video["commentsPolicy"]["id"]) == (
        True,
        False,
        2,
    )
    assert (video["support"], video["description"]) == ("Support me", "A described video")
    assert video["channel"]["name"] == "alice_channel" and video["waitTranscoding"] is True
    (stored,) = fake.video_files(video["uuid"])
    assert stored.sha256 == sha256(clip)
    assert fake.video_images(video["uuid"]) == {
        "thumbnailfile": thumb.read_bytes(),
        "previewfile": preview.read_bytes(),
    }
    assert unfinished(tmp_path) == []  # done: nothing left to resume
    # Not a terminal: plain progress lines, no control characters.
    assert "\x1b" not in captured.err and "\r" not in captured.err
    assert "upload Every field: 3.0 MiB of 3.0 MiB (100%)" in captured.err


def test_upload_by_its_short_name_with_defaults(
    fake: FakeInstance,
    env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clip = make_file(tmp_path / "short.mp4", MIB)
    code = main(["up", str(clip), "-n", "Short", "--no-wait-transcoding", "-v", "--json"])
    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    video = json.loads(captured.out)
    assert (video["privacy"]["id"], video["waitTranscoding"]) == (1, False)  # public
    assert video["channel"]["name"] == "alice_channel"  # the user's first channel
    assert "alice-password" not in captured.err  # -v logs the steps, never a secret


def test_upload_refuses_what_it_cannot_do(
    fake: FakeInstance,
    env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clip = make_file(tmp_path / "clip.mp4", MIB)
    assert main(["upload", str(clip)]) == EXIT_USAGE
    assert "--name is required" in capsys.readouterr().err
    assert main(["upload", str(clip), "--name", "X", "--category", "Knitting"]) == EXIT_USAGE
    assert "unknown category 'Knitting'" in capsys.readouterr().err
    assert main(["upload", str(clip), "--name", "Nope", "--channel", "root_channel"]) == EXIT_API
    assert "for this account" in capsys.readouterr().err
    assert main(["upload", str(tmp_path / "missing.mp4"), "--name", "Gone"]) == EXIT_USAGE
    assert fake.stats.uploads_started == 0
    assert state_files(tmp_path) == []


def test_ctrl_c_keeps_the_upload_and_resume_finishes_it(
    fake: FakeInstance, env: dict[str, str], tmp_path: Path
) -> None:
    clip = make_file(tmp_path / "clip.mp4", 12 * MIB, seed=3)
    fake.faults.chunk_latency = 0.05
    command = [
        sys.executable, "-m", "peertube_async", "upload", str(clip), "--name", "Interrupted",
        "--chunk-size", str(MIB),
    ]  # fmt: skip
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_progress(tmp_path, proc, 2 * MIB)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, err.decode()
    assert b"--resume" in err
    assert fake.stats.upload_cancels == 0 and len(fake.upload_ids) == 1
    (state,) = state_files(tmp_path)

    # The same command again is refused: the upload is not lost by mistake.
    again = subprocess.run(command, env=env, capture_output=True, timeout=60)
    assert again.returncode == EXIT_USAGE and b"--resume" in again.stderr
    fake.faults.chunk_latency = 0.0
    done = subprocess.run([*command, "--resume"], env=env, capture_output=True, timeout=120)
    assert done.returncode == EXIT_OK, done.stderr.decode()
    assert json.loads(state.read_text())["completed"] is True
    (video,) = [v for v in fake._require_catalog().videos if v.name == "Interrupted"]
    assert video.files[0].sha256 == sha256(clip)
    assert fake.stats.videos_created == 1


def _wait_for_progress(tmp_path: Path, proc: subprocess.Popen[bytes], offset: int) -> None:
    """Until the upload's state says ``offset`` bytes are on the server."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        for path in state_files(tmp_path):
            try:
                upload = json.loads(path.read_text()).get("upload") or {}
            except ValueError:
                continue
            if int(upload.get("offset") or 0) >= offset:
                return
        time.sleep(0.01)
    raise AssertionError("the upload made no progress")


def test_sigkill_at_a_random_point_then_resume_makes_one_identical_video(
    fake: FakeInstance, env: dict[str, str], tmp_path: Path
) -> None:
    clip = make_file(tmp_path / "big.mp4", 50 * MIB, seed=7)
    seed = random.randrange(1 << 30)
    chance = random.Random(seed)
    fake.faults.chunk_latency = 0.02
    command = [
        sys.executable, "-m", "peertube_async", "upload", str(clip), "--name", "Killed",
        "--chunk-size", str(2 * MIB), "--resume", "--quiet",
    ]  # fmt: skip
    # First at a random offset while chunks go up, then at a random moment (before the
    # first chunk, in the middle, or after the video was made).
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_progress(tmp_path, proc, chance.randrange(0, 48 * MIB))
    proc.kill()
    proc.communicate(timeout=60)
    kills = 1
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(chance.uniform(0.0, 2.0))
    if proc.poll() is None:
        proc.kill()
        kills += 1
    proc.communicate(timeout=60)
    fake.faults.chunk_latency = 0.0
    done = subprocess.run(command, env=env, capture_output=True, timeout=300)
    assert done.returncode == EXIT_OK, (seed, kills, done.stderr.decode())
    videos = [v for v in fake._require_catalog().videos if v.name == "Killed"]
    assert len(videos) == 1, (seed, kills)
    assert videos[0].files[0].size == 50 * MIB
    assert videos[0].files[0].sha256 == sha256(clip), (seed, kills)
    assert fake.stats.videos_created == 1
    assert unfinished(tmp_path) == []
    # --resume again shows the same video instead of uploading it twice.
    again = subprocess.run([*command, "--json"], env=env, capture_output=True, timeout=60)
    assert again.returncode == EXIT_OK
    assert json.loads(again.stdout)["uuid"] == videos[0].uuid
    assert fake.stats.videos_created == 1


def test_a_changed_file_is_refused_and_restart_starts_anew(
    fake: FakeInstance, env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = make_file(tmp_path / "clip.mp4", 4 * MIB)
    state = tmp_path / "my.state.json"
    fake.faults.chunk_latency = 0.05
    command = [
        sys.executable, "-m", "peertube_async", "upload", str(clip), "--name", "Changed",
        "--chunk-size", str(MIB), "--state-file", str(state),
    ]  # fmt: skip
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not state.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.kill()
    proc.communicate(timeout=60)
    assert state.exists()
    fake.faults.clear()
    make_file(clip, 4 * MIB, seed=9)
    resume = ["upload", str(clip), "--name", "Changed", "--state-file", str(state), "--resume"]
    assert main(resume) == EXIT_USAGE
    assert "changed since" in capsys.readouterr().err
    restart = [*resume[:-1], "--restart", "--json"]
    assert main(restart) == EXIT_OK
    video = json.loads(capsys.readouterr().out)
    assert fake.video_files(video["uuid"])[0].sha256 == sha256(clip)
    assert fake.stats.upload_cancels == 1  # the old upload was cancelled on the server
    assert json.loads(state.read_text())["completed"] is True
    # Without --resume, the same file makes a new video.
    assert main(resume[:-1]) == EXIT_OK
    assert fake.stats.videos_created == 2


def test_download_best_file_resumes_and_takes_a_watch_url(
    fake: FakeInstance, env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded = fake.videos[0]
    data = random.Random(2).randbytes(3 * MIB)
    fake.add_video_file(seeded.id, data=data, resolution=1080)
    dest = tmp_path / "copy.mp4"
    dest.write_bytes(data[:MIB])  # what an interrupted run left
    assert main(["download", seeded.short_uuid, str(dest), "--json"]) == EXIT_OK
    saved = json.loads(capsys.readouterr().out)
    assert saved == {"path": str(dest), "size": 3 * MIB, "video": seeded.uuid, "resolution": 1080}
    assert dest.read_bytes() == data
    watch = f"{fake.url}/w/{seeded.short_uuid}"
    out = tmp_path / "out"
    out.mkdir()
    assert main(["download", watch, str(out / "best.mp4"), "--resolution", "1080"]) == EXIT_OK
    assert (out / "best.mp4").read_bytes() == data
    assert main(["download", watch, str(out / "x.mp4"), "--resolution", "480"]) == EXIT_API
    assert "no file in 480p" in capsys.readouterr().err
