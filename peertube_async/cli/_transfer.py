"""``upload`` and ``download``: files that survive Ctrl-C, crashes and dropped links.

An upload keeps a small state file (the resumable upload's URL and where it stands,
the file's identity) from the moment the instance accepts it until the video is made;
``--resume`` continues from where the server stands. A download continues a partial
file with ``Range``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ._base import (
    CONTEXT,
    EXIT_API,
    EXIT_CODES,
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_USAGE,
    Failure,
    command,
    err,
    print_json,
)
from ._session import Account, Credentials, account_options, signed_in

if TYPE_CHECKING:
    from .._client import PeerTube
    from ..models import VideoDetails

__all__ = ["download", "upload"]

UPLOAD_EXIT_CODES = (
    EXIT_CODES
    + """

\b
For upload: 0 the video was made; 2 a state file exists without --resume (or
--restart), or FILE changed since its upload started; 3 the instance refused the video
(quota, type, fields) or lost the upload; 4 the network failed (state kept: --resume);
130 Ctrl-C (state kept: --resume)."""
)

_PRIVACY_NAMES = {
    "public": 1,
    "unlisted": 2,
    "private": 3,
    "internal": 4,
    "password": 5,
    "password-protected": 5,
}


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/peertube-async/uploads`` (``~/.local/state/...`` by default)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join("~", ".local", "state")
    return Path(base).expanduser() / "peertube-async" / "uploads"


def _absolute(file: Path) -> str:
    return str(file.resolve())


def state_path_for(account: Account, file: Path) -> Path:
    """The state file of uploading ``file`` as ``account``: one per instance, user and
    file, so that the same command finds it again."""
    key = f"{account.origin} {account.user} {_absolute(file)}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return default_state_dir() / f"{file.name}.{digest}.json"


class UploadStateFile:
    """The JSON file that lets an interrupted upload go on (written atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {}

    def exists(self) -> bool:
        """Whether an earlier run left one."""
        return self.path.exists()

    def load(self) -> dict[str, Any]:
        """What the earlier run saved."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise Failure(f"upload state {self.path} is unreadable: {exc}", EXIT_USAGE) from None
        if not isinstance(data, dict) or data.get("version") != 1:
            raise Failure(f"{self.path} is not an upload state", EXIT_USAGE)
        self.data = data
        return data

    def save(self, **changes: Any) -> None:
        """Write the state with ``changes`` applied: whole or not at all."""
        self.data.update(changes)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.data, handle)
        os.replace(tmp, self.path)

    def remove(self) -> None:
        """Forget the upload (``--restart``)."""
        self.path.unlink(missing_ok=True)


async def _choice(
    value: str | None,
    what: str,
    fetch: Any,
    *,
    numeric: bool = True,
    extra: dict[str, int] | None = None,
) -> Any:
    """A value given as its id (or code) or its name, as the instance names them."""
    if value is None:
        return None
    if numeric and value.isdigit():
        return int(value)
    wanted = value.strip().lower()
    if extra and wanted in extra:
        return extra[wanted]
    known: dict[str, str] = await fetch()
    for key, label in known.items():
        if wanted in (key.lower(), str(label).lower()):
            return int(key) if numeric else key
    sample = ", ".join(f"{k} ({v})" for k, v in list(known.items())[:12])
    raise Failure(f"unknown {what} {value!r}; the instance knows: {sample}...", EXIT_USAGE)


async def _fields(pt: PeerTube, options: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The channel id and the video fields the options ask for."""
    fields: dict[str, Any] = {
        "privacy": await _choice(
            options["privacy"], "privacy", pt.videos.list_privacies, extra=_PRIVACY_NAMES
        ),
        "category": await _choice(options["category"], "category", pt.videos.list_categories),
        "licence": await _choice(options["licence"], "licence", pt.videos.list_licences),
        "language": await _choice(
            options["language"], "language", pt.videos.list_languages, numeric=False
        ),
        "description": options["description"],
        "support": options["support"],
        "tags": options["tags"],
        "nsfw": options["nsfw"],
        "wait_transcoding": options["wait_transcoding"],
        "download_enabled": options["download_enabled"],
        "comments_policy": None if options["comments"] is None else 1 if options["comments"] else 2,
        "video_passwords": list(options["video_password"]) or None,
    }
    if options["channel"]:
        channel = await pt.video_channels.get(options["channel"])
        channel_id = channel.id
        if fields["support"] is None and channel.support:
            fields["support"] = channel.support  # as PeerTube's own CLI does
    else:
        me = await pt.me.get()
        mine = me.video_channels or ()
        if not mine:
            raise Failure(f"{me.username} has no channel to upload to", EXIT_USAGE)
        channel_id = mine[0].id
    return channel_id, {k: v for k, v in fields.items() if v is not None}


def _parse_tags(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> list[str]:
    tags = [t.strip() for item in value for t in item.split(",") if t.strip()]
    return tags


async def _recover(pt: PeerTube, saved: dict[str, Any]) -> VideoDetails | None:
    """After the upload's answer was lost (or the server forgot an upload that had
    finished): the video this upload made, if the instance shows exactly one."""
    started = float(saved.get("started_at") or 0)
    found = []
    async for video in pt.me.list_videos(sort="-createdAt", limit=100):
        created = video.created_at.timestamp() if video.created_at else 0
        if created < started - 600:
            break
        if video.name == saved.get("name") and video.channel.id == saved.get("channel_id"):
            found.append(video)
    if len(found) != 1:
        return None
    return await pt.videos.get(found[0].uuid)


def _same_file(path: Path, upload: dict[str, Any]) -> bool:
    from ..resources._videos import FileIdentity

    ident = upload.get("identity")
    if not isinstance(ident, dict):
        return True  # nothing to compare with: the SDK checks the size
    return FileIdentity.of(path) == FileIdentity(**ident)


async def _send(
    pt: PeerTube,
    state: UploadStateFile,
    file: Path,
    options: dict[str, Any],
    resume: dict[str, Any] | None,
    progress: Any,
) -> VideoDetails:
    """Upload ``file`` (or go on with the saved upload ``resume``); the video made."""
    from .._errors import NotFound
    from ..resources import UploadError, UploadOutcomeUnknown, UploadState

    def keep(upload: UploadState) -> None:
        state.save(upload=upload.to_dict())

    if resume is not None:
        upload = resume["upload"]
        import asyncio

        if not await asyncio.to_thread(_same_file, file, upload):
            raise Failure(
                f"{file} changed since its upload started: run with --restart to upload it anew",
                EXIT_USAGE,
            )
        progress.update(int(upload.get("offset") or 0), int(upload["size"]))
        try:
            return await pt.videos.resume_upload(
                upload,
                file,
                chunk_size=options["chunk_size"],
                on_progress=progress.update,
                on_state=keep,
                keep_on_cancel=True,
            )
        except UploadOutcomeUnknown:
            pass
        except UploadError as exc:
            if not isinstance(exc.__cause__, NotFound):
                raise
        # The server no longer knows the upload: it may have made the video already.
        video = await _recover(pt, state.data)
        if video is None:
            raise Failure(
                "the instance no longer knows this upload (expired or cancelled) and shows "
                "no video made by it: run with --restart to upload the file anew",
                EXIT_API,
            )
        return video
    channel_id, fields = await _fields(pt, options)
    # Written with the first UploadState: an upload the instance refused leaves nothing.
    state.data.update(
        version=1,
        instance=str(pt.url),
        file=_absolute(file),
        name=options["name"],
        channel_id=channel_id,
        started_at=time.time(),
        upload=None,
        video=None,
        thumbnail=str(options["thumbnail"]) if options["thumbnail"] else None,
        preview=str(options["preview"]) if options["preview"] else None,
    )
    try:
        return await pt.videos.upload(
            file,
            channel_id=channel_id,
            name=options["name"],
            chunk_size=options["chunk_size"],
            on_progress=progress.update,
            on_state=keep,
            keep_on_cancel=True,
            **fields,
        )
    except UploadOutcomeUnknown:
        video = await _recover(pt, state.data)
        if video is None:
            raise
        return video


@click.command(context_settings=CONTEXT, epilog=UPLOAD_EXIT_CODES)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--name", "-n", "name", metavar="NAME", help="the video's name (3 to 120 characters)")
@click.option("--channel", "-C", metavar="NAME", help="channel (default: the user's first)")
@click.option(
    "--privacy",
    "-P",
    metavar="PRIVACY",
    default="public",
    show_default=True,
    help="public, unlisted, private, internal, password-protected, or its number",
)
@click.option("--category", "-c", metavar="CATEGORY", help="its number or name (e.g. Music)")
@click.option("--licence", "-l", metavar="LICENCE", help="its number or name")
@click.option("--language", "-L", metavar="LANG", help="ISO 639 code (en, fr...) or name")
@click.option("--tags", "-t", multiple=True, callback=_parse_tags, help="comma-separated tags")
@click.option("--description", "-d", metavar="TEXT", help="the video's description")
@click.option("--support", "-s", metavar="TEXT", help="support text (default: the channel's)")
@click.option("--nsfw", "-N", is_flag=True, help="not safe for work")
@click.option(
    "--comments/--no-comments", default=None, help="allow comments (default: the instance's)"
)
@click.option(
    "--wait-transcoding/--no-wait-transcoding",
    default=True,
    show_default=True,
    help="publish only once transcoded",
)
@click.option(
    "--download-enabled/--no-download-enabled",
    default=True,
    show_default=True,
    help="let viewers download the file",
)
@click.option(
    "--video-password",
    multiple=True,
    metavar="PASSWORD",
    help="with --privacy password-protected: a password viewers need (repeatable)",
)
@click.option(
    "--thumbnail",
    "-b",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="thumbnail image",
)
@click.option(
    "--preview", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="preview image"
)
@click.option(
    "--resume", is_flag=True, help="go on with this file's interrupted upload, if there is one"
)
@click.option("--restart", is_flag=True, help="drop this file's interrupted upload, start anew")
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="where the upload's state is kept (default: one per instance, user and file "
    "under $XDG_STATE_HOME/peertube-async/uploads)",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    metavar="BYTES",
    help="bytes per request (default: the instance's hint, else 8 MiB)",
)
@click.option("--json", "as_json", is_flag=True, help="print the video made as JSON")
@click.option("--quiet", "-q", is_flag=True, help="no progress on stderr")
@click.option("--verbose", "-v", count=True, help="log the SDK's steps on stderr (-vv: more)")
@account_options
@command
async def upload(creds: Credentials, file: Path, **options: Any) -> int:
    """Upload a video, resumably, with a progress bar.

    FILE goes up in chunks with PeerTube's resumable protocol; a dropped connection is
    continued from where the server stands. After Ctrl-C, a crash or a network failure,
    run the same command with --resume: it goes on from the state file (and refuses if
    FILE changed meanwhile). Once the video is made, --resume shows it again rather than
    uploading twice. --json prints the video made; progress goes to stderr.
    """
    if options["restart"] and options["resume"]:
        raise Failure("--resume and --restart exclude each other", EXIT_USAGE)
    _logging(options.pop("verbose"))
    account = await creds.account()
    assert account is not None
    state = UploadStateFile(options["state_file"] or state_path_for(account, file))
    saved: dict[str, Any] | None = None
    if state.exists():
        saved = state.load()
        if saved.get("instance") != account.origin or saved.get("file") != _absolute(file):
            raise Failure(
                f"{state.path} is the upload of {saved.get('file')} to "
                f"{saved.get('instance')}, not this one",
                EXIT_USAGE,
            )
        if saved.get("completed"):
            # The mark of an upload that made its video: --resume shows that video
            # again; a new upload of the same file is what the command asks otherwise.
            saved = saved if options["resume"] else None
        elif options["restart"]:
            saved = None
        elif not options["resume"]:
            raise Failure(
                f"an interrupted upload of {file.name} to {account.origin} exists "
                f"({state.path}): add --resume to go on with it, or --restart to start anew",
                EXIT_USAGE,
            )
    if saved is None and not options["name"]:
        raise Failure("--name is required", EXIT_USAGE)
    import asyncio

    from ._progress import TransferProgress

    async with signed_in(creds) as (pt, _):
        if state.exists() and saved is None:
            await _drop(pt, state)
        name = (saved or {}).get("name") or options["name"]
        progress = TransferProgress(f"upload {name}", quiet=options["quiet"])
        try:
            with progress:
                if saved is not None and saved.get("video"):
                    video = await pt.videos.get(saved["video"])
                    if saved.get("completed"):
                        err("(uploaded by an earlier run)")
                elif saved is not None and saved.get("upload"):
                    video = await _send(pt, state, file, options, saved, progress)
                else:
                    if saved is not None:
                        err(f"({state.path} holds no upload yet: starting it)")
                    video = await _send(pt, state, file, options, None, progress)
        except asyncio.CancelledError:
            err(f"interrupted: run the same command with --resume to go on ({state.path})")
            raise
        except Exception as exc:
            from .._errors import TransportError
            from ..resources import UploadError

            if isinstance(exc, UploadError) and isinstance(exc.__cause__, TransportError):
                raise Failure(
                    f"{exc}; run the same command with --resume to go on", EXIT_NETWORK
                ) from None
            raise
        if not state.data.get("completed"):
            state.save(video=video.uuid, upload=None)
            images = {
                "thumbnailfile": state.data.get("thumbnail") or options["thumbnail"],
                "previewfile": state.data.get("preview") or options["preview"],
            }
            images = {k: Path(v) for k, v in images.items() if v}
            if images:
                await pt.videos.update(video.uuid, **images)
            state.save(completed=True)
    if options["as_json"]:
        from ._lists import unstructure

        print_json(unstructure(video))
    else:
        click.echo(f"uploaded {video.name}: {video.url}")
    return EXIT_OK


async def _drop(pt: PeerTube, state: UploadStateFile) -> None:
    """``--restart``: cancel the old upload on the server (best effort), forget it."""
    from .._errors import PeerTubeError

    upload = state.data.get("upload")
    if isinstance(upload, dict) and upload.get("upload_url"):
        from yarl import URL

        upload_id = URL(str(upload["upload_url"])).query.get("upload_id")
        if upload_id:
            try:
                await pt.videos.upload_resumable_cancel(upload_id=upload_id, content_length=0)
            except PeerTubeError as exc:
                err(f"(the old upload could not be cancelled: {exc})")
    state.remove()
    state.data = {}


def _logging(verbosity: int) -> None:
    if not verbosity:
        return
    import logging

    logging.basicConfig(
        level=logging.DEBUG if verbosity > 1 else logging.INFO,
        format="%(name)s: %(message)s",
    )


# -- download -----------------------------------------------------------------------------

_WATCH = re.compile(r"/(?:w|videos/watch)/([0-9A-Za-z-]+)/?$")


def _split_video(value: str) -> tuple[str | None, str]:
    """``(instance, id)`` from a watch URL; ``(None, value)`` for an id."""
    if "://" not in value:
        return None, value
    from yarl import URL

    url = URL(value)
    match = _WATCH.search(url.path)
    if match is None:
        raise Failure(f"{value} is not a video's page (…/w/ID or …/videos/watch/ID)", EXIT_USAGE)
    return str(url.origin()), match.group(1)


def _resolution_of(video: VideoDetails, wanted: int | None) -> int:
    files: list[Any] = list(video.files or ())
    for playlist in video.streaming_playlists or ():
        files.extend(playlist.files or ())
    found = [int(f.resolution.id) for f in files if f.resolution is not None]
    if wanted is not None:
        return wanted
    return max(found, default=0)


def _default_dest(video: VideoDetails, resolution: int) -> Path:
    stem = re.sub(r"[^\w.-]+", "_", video.name).strip("._") or video.uuid
    return Path(f"{stem[:80]}-{resolution}p.mp4")


@click.command(context_settings=CONTEXT, epilog=EXIT_CODES)
@click.argument("video", metavar="VIDEO")
@click.argument("dest", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--resolution",
    "-r",
    metavar="HEIGHT",
    type=click.IntRange(min=0),
    help="the file of this resolution (720...; default: the best)",
)
@click.option("--json", "as_json", is_flag=True, help="print what was saved as JSON")
@click.option("--quiet", "-q", is_flag=True, help="no progress on stderr")
@account_options
@command
async def download(
    creds: Credentials,
    video: str,
    dest: Path | None,
    resolution: int | None,
    as_json: bool,
    quiet: bool,
) -> int:
    """Download a video's file (resumable).

    VIDEO is an id, UUID or short UUID of --url's instance, or a video's page
    (https://host/w/ID). The best resolution unless --resolution; a partial DEST (default:
    NAME-RESp.mp4) left by an earlier run is continued with Range. Private videos need an
    account of the instance; public ones are fetched signed in when one is stored, else
    anonymously.
    """
    from ._progress import TransferProgress

    origin, video_id = _split_video(video)
    if origin is not None:
        creds.url = origin
    async with signed_in(creds, anonymous_ok=True) as (pt, _):
        details = await pt.videos.get(video_id)
        chosen = _resolution_of(details, resolution)
        target = dest or _default_dest(details, chosen)
        with TransferProgress(f"download {target.name}", quiet=quiet) as progress:
            saved = await pt.videos.download(
                details, target, resolution=resolution, on_progress=progress.update
            )
    size = saved.stat().st_size
    if as_json:
        print_json({"path": str(saved), "size": size, "video": details.uuid, "resolution": chosen})
    else:
        click.echo(str(saved))
    return EXIT_OK
