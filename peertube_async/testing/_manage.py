"""Management routes of the fake instance: plugins, video redundancies, a user's own
videos and their edits, and the constant lists an upload form reads.

As in PeerTube 6.3 (``server/core/controllers/api/plugins.ts``,
``server/core/controllers/api/server/redundancy.ts``,
``server/core/middlewares/validators/plugins.ts`` and ``.../redundancy.ts``,
``server/core/controllers/api/videos/update.ts``, ``.../users/me.ts``): the
administrator-only routes answer 403 "does not have right N" to anyone else, validation
failures name their fields, and answers have the 6.3 shapes of ``tests/fixtures``.

What the fake cannot do is played: "npm" is :attr:`ManageService.npm_index` (packages a
test publishes with :meth:`FakeInstance.publish_plugin`), a plugin installed from a path
is read from that folder's ``package.json``, and no plugin code runs (no registered
settings). Other instances' videos exist only for the redundancy routes
(:meth:`FakeInstance.add_remote_video`).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aiohttp import BodyPartReader, web

from ._data import (
    ROLE_ADMINISTRATOR,
    UNDEFINED,
    VIDEO_LANGUAGES,
    VIDEO_LICENCES,
    VIDEO_PRIVACY_LABELS,
    VIDEO_SORTS,
    Catalog,
    User,
    Video,
    dumps,
    field_error,
    iso,
    sort_records,
    sortable,
)
from ._http import Exchange, Responder, read_body
from ._oauth import OAuthServer
from ._uploads import _FieldChecks, may_see

__all__ = ["ManageHost", "ManageService", "PluginRecord", "RemoteVideo"]

# UserRight in packages/models/src/users/user-right.enum.ts.
RIGHT_MANAGE_PLUGINS = 23
RIGHT_MANAGE_VIDEOS_REDUNDANCIES = 24
_PLUGIN, _THEME = 1, 2
_PREFIXES = {"peertube-plugin-": _PLUGIN, "peertube-theme-": _THEME}

# isNpmPluginNameValid and isPluginStableOrUnstableVersionValid.
_NPM_NAME_RE = re.compile(r"[a-z\-._0-9]+")
_VERSION_RE = re.compile(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?")
_INT_RE = re.compile(r"[-+]?[0-9]+")
_PLUGIN_SORTS = sortable(["name", "createdAt", "updatedAt"])
_PAGE_MAX = 100


@dataclass
class PluginRecord:
    """An installed (or uninstalled) plugin or theme: PeerTube's ``plugin`` row."""

    name: str
    type: int
    version: str
    description: str
    homepage: str
    peertube_engine: str
    created_at: float
    updated_at: float
    latest_version: str | None = None
    enabled: bool = True
    uninstalled: bool = False
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def npm_name(self) -> str:
        """``peertube-plugin-NAME`` or ``peertube-theme-NAME``."""
        return ("peertube-theme-" if self.type == _THEME else "peertube-plugin-") + self.name

    def to_json(self) -> dict[str, Any]:
        """``PluginModel.toFormattedJSON``."""
        return {
            "name": self.name,
            "type": self.type,
            "version": self.version,
            "latestVersion": self.latest_version,
            "enabled": self.enabled,
            "uninstalled": self.uninstalled,
            "peertubeEngine": self.peertube_engine,
            "description": self.description,
            "homepage": self.homepage,
            "settings": self.settings,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


@dataclass
class RemoteVideo:
    """A video of another instance, known here for redundancies only."""

    id: int
    uuid: str
    name: str
    host: str

    @property
    def url(self) -> str:
        """The video's page on its own instance."""
        return f"https://{self.host}/videos/watch/{self.uuid}"


@dataclass
class _Copy:
    """One redundancy: a copy of a video's HLS playlist kept by ``host``."""

    id: int
    video_id: int
    host: str
    size: int
    created_at: float


class ManageHost(Protocol):
    """What the management routes need of their instance (a ``FakeInstance``)."""

    _http: Responder
    _oauth: OAuthServer
    _clock: Callable[[], float]

    def _require_catalog(self) -> Catalog: ...

    def _find_video(self, raw: str) -> Video | None: ...


def _split_npm_name(npm_name: str) -> tuple[str, int] | None:
    for prefix, kind in _PREFIXES.items():
        if npm_name.startswith(prefix) and len(npm_name) > len(prefix):
            return npm_name[len(prefix) :], kind
    return None


def _valid_npm_name(value: Any) -> bool:
    return (
        isinstance(value, str)
        and 1 <= len(value) <= 200
        and _NPM_NAME_RE.fullmatch(value) is not None
        and _split_npm_name(value) is not None
    )


class ManageService:
    """Plugins, redundancies, own videos and edits of one fake instance."""

    def __init__(self, fake: ManageHost) -> None:
        self._fake = fake
        self.plugins: dict[str, PluginRecord] = {}
        #: "npm": package name -> its ``package.json`` fields (name, version, ...).
        self.npm_index: dict[str, dict[str, Any]] = {
            "peertube-plugin-hello-world": {
                "version": "0.0.22",
                "description": "Hello world PeerTube plugin example",
                "homepage": "https://framagit.org/framasoft/peertube/peertube-plugin-hello-world",
                "engine": {"peertube": ">=1.3.0"},
            },
            "peertube-theme-dark": {
                "version": "2.5.0",
                "description": "PeerTube dark theme",
                "homepage": "https://framagit.org/framasoft/peertube/official-plugins",
                "engine": {"peertube": ">=2.2.0"},
            },
        }
        self.remote_videos: dict[int, RemoteVideo] = {}
        self.copies: list[_Copy] = []
        #: Video id -> {"thumbnailfile": bytes, "previewfile": bytes} set by updates.
        self.images: dict[int, dict[str, bytes]] = {}
        self._next_copy_id = 1

    # -- helpers for tests ---------------------------------------------------------------

    def add_remote_video(self, name: str, host: str) -> RemoteVideo:
        catalog = self._fake._require_catalog()
        video_id = catalog.next_video_id()
        catalog.foreign_video_ids.add(video_id)
        remote = RemoteVideo(video_id, str(uuid.uuid4()), name, host)
        self.remote_videos[video_id] = remote
        return remote

    def add_copy(self, video_id: int, host: str) -> int:
        copy = _Copy(self._next_copy_id, video_id, host, 30000 + video_id * 137, self._now())
        self._next_copy_id += 1
        self.copies.append(copy)
        return copy.id

    def _now(self) -> float:
        return self._fake._clock()

    # -- shared checks -------------------------------------------------------------------

    def _admin(
        self, request: web.Request, exchange: Exchange, right: int, path: str
    ) -> User | web.Response:
        """``authenticate`` then ``ensureUserHasRight``: administrators only here."""
        fake = self._fake
        user = fake._oauth.authenticate(request, exchange)
        if isinstance(user, web.Response):
            return user
        if user.role != ROLE_ADMINISTRATOR:
            return fake._http.problem(
                request,
                exchange,
                403,
                f"User {user.username} does not have right {right} to access to {path}.",
            )
        return user

    def _page(
        self, request: web.Request, exchange: Exchange, sorts: frozenset[str], default: str
    ) -> tuple[int, int, str] | web.Response:
        query = request.query
        errors: dict[str, dict[str, Any]] = {}
        start, count, sort = query.get("start"), query.get("count"), query.get("sort")
        if start is not None and not (_INT_RE.fullmatch(start) and int(start) >= 0):
            errors["start"] = field_error(start, "Invalid value", "start", "query")
        if count is not None and not (_INT_RE.fullmatch(count) and 0 <= int(count) <= _PAGE_MAX):
            message = f"Should have a number count (max: {_PAGE_MAX})"
            errors["count"] = field_error(count, message, "count", "query")
        if not errors and sort is not None and sort not in sorts:
            errors["sort"] = field_error(sort, "Invalid value", "sort", "query")
        if errors:
            return self._fake._http.invalid(request, exchange, errors)
        return int(start or 0), int(count) if count is not None else 15, sort or default

    def _json(self, request: web.Request, exchange: Exchange, body: Any) -> web.Response:
        return self._fake._http.json(request, exchange, dumps(body))

    def _no_content(self, request: web.Request, exchange: Exchange) -> web.Response:
        return self._fake._http.respond(request, exchange, 204, b"", None)

    # -- constants -----------------------------------------------------------------------

    async def languages(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``GET /api/v1/videos/languages``."""
        return self._json(request, exchange, dict(VIDEO_LANGUAGES))

    async def licences(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``GET /api/v1/videos/licences``."""
        return self._json(request, exchange, {str(k): v for k, v in VIDEO_LICENCES.items()})

    async def privacies(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``GET /api/v1/videos/privacies``."""
        return self._json(request, exchange, {str(k): v for k, v in VIDEO_PRIVACY_LABELS.items()})

    # -- plugins -------------------------------------------------------------------------

    async def list_plugins(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``GET /api/v1/plugins``: ``listPluginsValidator`` (pluginType, uninstalled)."""
        exchange.docs = "getPlugins"
        user = self._admin(request, exchange, RIGHT_MANAGE_PLUGINS, "/")
        if isinstance(user, web.Response):
            return user
        page = self._page(request, exchange, _PLUGIN_SORTS, "-createdAt")
        if isinstance(page, web.Response):
            return page
        errors: dict[str, dict[str, Any]] = {}
        kind = request.query.get("pluginType")
        if kind is not None and kind not in ("1", "2"):
            errors["pluginType"] = field_error(kind, "Invalid value", "pluginType", "query")
        raw = request.query.get("uninstalled")
        if raw is not None and raw.lower() not in ("true", "false", "1", "0"):
            errors["uninstalled"] = field_error(raw, "Invalid value", "uninstalled", "query")
        if errors:
            return self._fake._http.invalid(request, exchange, errors)
        uninstalled = raw is not None and raw.lower() in ("true", "1")
        found = [
            p
            for p in self.plugins.values()
            if p.uninstalled == uninstalled and (kind is None or p.type == int(kind))
        ]
        start, count, sort = page
        keys: Mapping[str, Callable[[PluginRecord], Any]] = {
            "name": lambda p: p.name,
            "createdAt": lambda p: p.created_at,
            "updatedAt": lambda p: p.updated_at,
        }
        ordered = sort_records(found, sort, keys, lambda p: int(p.created_at * 1000))
        data = [p.to_json() for p in ordered[start : start + count]]
        return self._json(request, exchange, {"total": len(found), "data": data})

    async def list_available(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``GET /api/v1/plugins/available``: the plugin index is off, as by default."""
        exchange.docs = "getAvailablePlugins"
        user = self._admin(request, exchange, RIGHT_MANAGE_PLUGINS, "/available")
        if isinstance(user, web.Response):
            return user
        return self._fake._http.problem(request, exchange, 400, "Plugin index is not enabled")

    def _source_errors(self, body: Mapping[str, Any], *, with_version: bool) -> dict[str, Any]:
        errors: dict[str, dict[str, Any]] = {}
        if "npmName" in body and not _valid_npm_name(body["npmName"]):
            errors["npmName"] = field_error(body["npmName"], "Invalid value", "npmName", "body")
        if with_version and "pluginVersion" in body:
            version = body["pluginVersion"]
            if not (isinstance(version, str) and _VERSION_RE.fullmatch(version)):
                errors["pluginVersion"] = field_error(
                    version, "Invalid value", "pluginVersion", "body"
                )
        if "path" in body:
            path = body["path"]
            if not (isinstance(path, str) and path and ".." not in path):
                errors["path"] = field_error(path, "Invalid value", "path", "body")
        return errors

    def _package(self, body: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """(npm name, package.json fields) of what ``body`` names, or None if unknown."""
        if body.get("npmName"):
            name = str(body["npmName"])
            published = self.npm_index.get(name)
            if published is None:
                return None
            package = dict(published)
            if body.get("pluginVersion"):
                package["version"] = body["pluginVersion"]
            return name, package
        try:
            text = (Path(str(body["path"])) / "package.json").read_text(encoding="utf-8")
            package = json.loads(text)
        except (OSError, ValueError):
            return None
        if not isinstance(package, dict) or not _valid_npm_name(package.get("name")):
            return None
        return str(package["name"]), package

    def _install(self, npm_name: str, package: Mapping[str, Any]) -> PluginRecord:
        split = _split_npm_name(npm_name)
        assert split is not None
        name, kind = split
        now = self._now()
        existing = self.plugins.get(npm_name)
        engine = package.get("engine")
        record = PluginRecord(
            name=name,
            type=kind,
            version=str(package.get("version") or "0.0.1"),
            description=str(package.get("description") or ""),
            homepage=str(package.get("homepage") or ""),
            peertube_engine=str(engine.get("peertube", "")) if isinstance(engine, dict) else "",
            created_at=existing.created_at if existing else now,
            updated_at=now,
            settings=existing.settings if existing else {},
        )
        self.plugins[npm_name] = record
        return record

    async def install(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``POST /api/v1/plugins/install``: from "npm" or a folder; the plugin's JSON."""
        exchange.docs = "addPlugin"
        user = self._admin(request, exchange, RIGHT_MANAGE_PLUGINS, "/install")
        if isinstance(user, web.Response):
            return user
        body = await read_body(request)
        errors = self._source_errors(body, with_version=True)
        if errors:
            return self._fake._http.invalid(request, exchange, errors)
        if not body.get("npmName") and not body.get("path"):
            return self._fake._http.problem(
                request, exchange, 400, "Should have either a npmName or a path"
            )
        found = self._package(body)
        if found is None:
            what = body.get("npmName") or body.get("path")
            return self._fake._http.problem(request, exchange, 400, f"Cannot install plugin {what}")
        return self._json(request, exchange, self._install(*found).to_json())

    async def update(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``POST /api/v1/plugins/update``: an installed plugin to the latest version."""
        exchange.docs = "updatePlugin"
        user = self._admin(request, exchange, RIGHT_MANAGE_PLUGINS, "/update")
        if isinstance(user, web.Response):
            return user
        body = await read_body(request)
        errors = self._source_errors(body, with_version=False)
        if errors:
            return self._fake._http.invalid(request, exchange, errors)
        if not body.get("npmName") and not body.get("path"):
            return self._fake._http.problem(
                request, exchange, 400, "Should have either a npmName or a path"
            )
        found = self._package(body)
        installed = self.plugins.get(found[0]) if found else None
        if found is None or installed is None or installed.uninstalled:
            what = body.get("npmName") or body.get("path")
            return self._fake._http.problem(request, exchange, 400, f"Cannot update plugin {what}")
        return self._json(request, exchange, self._install(*found).to_json())

    async def uninstall(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``POST /api/v1/plugins/uninstall``: 204, installed or not (as 6.3 answers)."""
        exchange.docs = "uninstallPlugin"
        user = self._admin(request, exchange, RIGHT_MANAGE_PLUGINS, "/uninstall")
        if isinstance(user, web.Response):
            return user
        body = await read_body(request)
        name = body.get("npmName", UNDEFINED)
        if not _valid_npm_name(name):
            error = field_error(name, "Invalid value", "npmName", "body")
            return self._fake._http.invalid(request, exchange, {"npmName": error})
        record = self.plugins.get(str(name))
        if record is not None:
            record.uninstalled, record.enabled = True, False
            record.updated_at = self._now()
        return self._no_content(request, exchange)

    def _plugin(self, request: web.Request, exchange: Exchange) -> PluginRecord | web.Response:
        """``getPluginValidator``: a valid npm name of an installed plugin."""
        raw = request.match_info["npmName"]
        if not _valid_npm_name(raw):
            error = field_error(raw, "Invalid value", "npmName", "params")
            return self._fake._http.invalid(request, exchange, {"npmName": error})
        record = self.plugins.get(raw)
        if record is None or record.uninstalled:
            return self._fake._http.problem(request, exchange, 404, "Plugin not found")
        return record

    async def get_plugin(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``GET /api/v1/plugins/{npmName}``."""
        path = f"/{request.match_info['npmName']}"
        user = self._admin(request, exchange, RIGHT_MANAGE_PLUGINS, path)
        if isinstance(user, web.Response):
            return user
        record = self._plugin(request, exchange)
        if isinstance(record, web.Response):
            return record
        return self._json(request, exchange, record.to_json())

    async def registered_settings(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``GET /api/v1/plugins/{npmName}/registered-settings``: none, as no code runs."""
        path = f"/{request.match_info['npmName']}/registered-settings"
        user = self._admin(request, exchange, RIGHT_MANAGE_PLUGINS, path)
        if isinstance(user, web.Response):
            return user
        record = self._plugin(request, exchange)
        if isinstance(record, web.Response):
            return record
        return self._json(request, exchange, {"registeredSettings": []})

    async def public_settings(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``GET /api/v1/plugins/{npmName}/public-settings``: anyone; none registered."""
        record = self._plugin(request, exchange)
        if isinstance(record, web.Response):
            return record
        return self._json(request, exchange, {"publicSettings": {}})

    async def put_settings(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``PUT /api/v1/plugins/{npmName}/settings``: the settings object replaced."""
        path = f"/{request.match_info['npmName']}/settings"
        user = self._admin(request, exchange, RIGHT_MANAGE_PLUGINS, path)
        if isinstance(user, web.Response):
            return user
        body = await read_body(request)
        settings = body.get("settings", UNDEFINED)
        if not isinstance(settings, dict):
            error = field_error(settings, "Invalid value", "settings", "body")
            return self._fake._http.invalid(request, exchange, {"settings": error})
        record = self._plugin(request, exchange)
        if isinstance(record, web.Response):
            return record
        record.settings = dict(settings)
        record.updated_at = self._now()
        return self._no_content(request, exchange)

    # -- redundancy ----------------------------------------------------------------------

    def _copy_json(self, copy: _Copy, video_uuid: str) -> dict[str, Any]:
        origin = f"http://{copy.host}"
        playlist = hashlib.sha1(f"{copy.id}".encode()).hexdigest()[:8]
        return {
            "id": copy.id,
            "fileUrl": f"{origin}/static/redundancy/hls/{video_uuid}/{playlist}-master.m3u8",
            "strategy": "manual",
            "size": copy.size,
            "createdAt": iso(copy.created_at),
            "updatedAt": iso(copy.created_at),
            "expiresOn": iso(copy.created_at + 48 * 3600),
        }

    async def list_redundancies(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``GET /api/v1/server/redundancy/videos?target=my-videos|remote-videos``."""
        user = self._admin(
            request, exchange, RIGHT_MANAGE_VIDEOS_REDUNDANCIES, "/redundancy/videos"
        )
        if isinstance(user, web.Response):
            return user
        page = self._page(request, exchange, sortable(["name"]), "name")
        if isinstance(page, web.Response):
            return page
        target = request.query.get("target", UNDEFINED)
        if target not in ("my-videos", "remote-videos"):
            error = field_error(target, "Invalid value", "target", "query")
            return self._fake._http.invalid(request, exchange, {"target": error})
        catalog = self._fake._require_catalog()
        rows: dict[int, dict[str, Any]] = {}
        for copy in self.copies:
            remote = self.remote_videos.get(copy.video_id)
            if target == "remote-videos" and remote is not None:
                name, url, video_uuid = remote.name, remote.url, remote.uuid
            elif target == "my-videos" and remote is None:
                local = catalog.video_by_id(copy.video_id)
                if local is None:
                    continue
                name, url = local.name, f"{catalog.origin}/videos/watch/{local.uuid}"
                video_uuid = local.uuid
            else:
                continue
            row = rows.setdefault(
                copy.video_id,
                {
                    "id": copy.video_id,
                    "name": name,
                    "url": url,
                    "uuid": video_uuid,
                    "redundancies": {"files": [], "streamingPlaylists": []},
                },
            )
            row["redundancies"]["streamingPlaylists"].append(self._copy_json(copy, video_uuid))
        start, count, sort = page
        ordered = sorted(rows.values(), key=lambda r: (r["name"], r["id"]))
        if sort.startswith("-"):
            ordered.reverse()
        data = ordered[start : start + count]
        return self._json(request, exchange, {"total": len(ordered), "data": data})

    async def add_redundancy(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``POST /api/v1/server/redundancy/videos``: copy a remote video (204)."""
        user = self._admin(
            request, exchange, RIGHT_MANAGE_VIDEOS_REDUNDANCIES, "/redundancy/videos"
        )
        if isinstance(user, web.Response):
            return user
        body = await read_body(request)
        raw = body.get("videoId", UNDEFINED)
        if not (isinstance(raw, (int, str)) and not isinstance(raw, bool) and str(raw)):
            error = field_error(raw, "Should have a valid video id", "videoId", "body")
            return self._fake._http.invalid(request, exchange, {"videoId": error})
        text = str(raw)
        remote = self.remote_videos.get(int(text)) if _INT_RE.fullmatch(text) else None
        if remote is None:
            remote = next((r for r in self.remote_videos.values() if r.uuid == text), None)
        if remote is None:
            if self._fake._find_video(text) is not None:
                return self._fake._http.problem(
                    request, exchange, 400, "Cannot create a redundancy on a local video"
                )
            return self._fake._http.problem(request, exchange, 404, "Video not found")
        if any(c.video_id == remote.id for c in self.copies):
            return self._fake._http.problem(
                request, exchange, 409, "This video is already duplicated by your instance."
            )
        # PeerTube queues a job that makes the copy; the fake makes it at once.
        self.add_copy(remote.id, self._fake._require_catalog().host)
        return self._no_content(request, exchange)

    async def delete_redundancy(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``DELETE /api/v1/server/redundancy/videos/{redundancyId}``."""
        raw = request.match_info["redundancyId"]
        user = self._admin(
            request, exchange, RIGHT_MANAGE_VIDEOS_REDUNDANCIES, f"/redundancy/videos/{raw}"
        )
        if isinstance(user, web.Response):
            return user
        if not _INT_RE.fullmatch(raw):
            error = field_error(raw, "Invalid value", "redundancyId", "params")
            return self._fake._http.invalid(request, exchange, {"redundancyId": error})
        copy = next((c for c in self.copies if c.id == int(raw)), None)
        if copy is None:
            return self._fake._http.problem(request, exchange, 404, "Video redundancy not found")
        self.copies.remove(copy)
        return self._no_content(request, exchange)

    # -- own videos and edits ------------------------------------------------------------

    async def my_videos(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``GET /api/v1/users/me/videos``: the user's videos, every privacy, with their
        state; ``search`` and ``channelNameOneOf`` filter."""
        exchange.docs = "getUserVideos"
        fake = self._fake
        user = fake._oauth.authenticate(request, exchange)
        if isinstance(user, web.Response):
            return user
        page = self._page(request, exchange, sortable(VIDEO_SORTS), "-createdAt")
        if isinstance(page, web.Response):
            return page
        catalog = fake._require_catalog()
        search = request.query.get("search", "").lower()
        channels = request.query.getall("channelNameOneOf", [])
        found = [
            v
            for v in catalog.videos
            if v.channel.account.user_id == user.id
            and (not search or search in v.name.lower())
            and (not channels or v.channel.name in channels)
        ]
        start, count, sort = page
        ordered = sort_records(found, sort, VIDEO_SORTS, lambda v: v.id)
        data = []
        for video in ordered[start : start + count]:
            item = catalog.video_list_item(video)
            item.update(
                {
                    "state": {"id": 1, "label": "Published"},
                    "waitTranscoding": video.wait_transcoding,
                    "blacklisted": False,
                    "blacklistedReason": None,
                }
            )
            data.append(item)
        return self._json(request, exchange, {"total": len(found), "data": data})

    async def update_video(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``PUT /api/v1/videos/{id}`` (JSON or multipart with ``thumbnailfile`` and
        ``previewfile``): the owner, or an administrator or moderator; 204."""
        exchange.docs = "putVideo"
        fake = self._fake
        user = fake._oauth.authenticate(request, exchange)
        if isinstance(user, web.Response):
            return user
        video = fake._find_video(request.match_info["id"])
        if video is None:
            return fake._http.problem(request, exchange, 404, "Video not found")
        if not user.is_privileged and video.channel.account.user_id != user.id:
            return fake._http.problem(
                request, exchange, 403, "Cannot manage a video of another user."
            )
        assert may_see(user, video)
        if request.content_type == "multipart/form-data":
            body, images = await _read_multipart(request)
        else:
            body, images = await read_body(request), {}
        checks = _FieldChecks(body)
        checks.common()
        if "name" in body:
            name = body["name"].strip() if isinstance(body["name"], str) else body["name"]
            if isinstance(name, str) and 3 <= len(name) <= 120:
                checks.values["name"] = name
            else:
                checks._fail(
                    "name", name, "Should have a video name between 3 and 120 characters long"
                )
        if checks.errors:
            return fake._http.invalid(request, exchange, checks.errors)
        values = checks.values
        for key, attribute in (
            ("name", "name"),
            ("category", "category"),
            ("licence", "licence"),
            ("language", "language"),
            ("description", "description"),
            ("support", "support"),
            ("nsfw", "nsfw"),
            ("privacy", "privacy"),
            ("downloadEnabled", "download_enabled"),
            ("commentsPolicy", "comments_policy"),
            ("waitTranscoding", "wait_transcoding"),
        ):
            if key in values and values[key] is not None:
                setattr(video, attribute, values[key])
        if "tags" in values:
            video.tags = tuple(values["tags"])
        if images:
            self.images.setdefault(video.id, {}).update(images)
        fake._require_catalog().refresh_video(video)
        return self._no_content(request, exchange)


async def _read_multipart(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    """multer's fields (``tags[]`` into a list) and the image files, read whole."""
    fields: dict[str, Any] = {}
    images: dict[str, bytes] = {}
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            continue
        name = part.name or ""
        if part.filename is not None:
            data = await part.read()
            if name in ("thumbnailfile", "previewfile"):
                images[name] = bytes(data)
            continue
        value = await part.text()
        key = re.sub(r"\[\d*\]$", "", name)
        if key != name:
            fields.setdefault(key, []).append(value)
        else:
            fields[name] = value
    return fields, images
