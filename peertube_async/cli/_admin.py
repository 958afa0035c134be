"""Administration: ``plugins`` and ``redundancy`` (an administrator's account)."""

from __future__ import annotations

from typing import Any

import click

from ._base import (
    CONTEXT,
    EXIT_API,
    EXIT_CODES,
    EXIT_OK,
    EXIT_USAGE,
    Failure,
    command,
    json_option,
    print_json,
)
from ._lists import Column, emit, unstructure
from ._session import Credentials, account_options, signed_in

__all__ = ["plugins", "redundancy"]

_PLUGIN, _THEME = 1, 2


def npm_name(plugin: Any) -> str:
    """``peertube-plugin-NAME`` or ``peertube-theme-NAME``."""
    kind = "theme" if int(plugin.type) == _THEME else "plugin"
    return f"peertube-{kind}-{plugin.name}"


# -- plugins ------------------------------------------------------------------------------


@click.group(context_settings=CONTEXT, epilog=EXIT_CODES)
def plugins() -> None:
    """Manage the instance's plugins and themes (administrators)."""


@plugins.command("list", context_settings=CONTEXT, epilog=EXIT_CODES)
@click.option("--only-themes", "-t", "only", flag_value=_THEME, type=int, help="themes only")
@click.option("--only-plugins", "-P", "only", flag_value=_PLUGIN, type=int, help="plugins only")
@click.option("--uninstalled", is_flag=True, help="the uninstalled ones instead")
@json_option
@account_options
@command
async def plugins_list(
    creds: Credentials, only: int | None, uninstalled: bool, as_json: bool
) -> int:
    """List the installed plugins and themes."""
    from .._types import NOT_GIVEN

    async with signed_in(creds) as (pt, _):
        rows = [
            p
            async for p in pt.plugins.list(
                plugin_type=only if only is not None else NOT_GIVEN,
                uninstalled=uninstalled or NOT_GIVEN,
                sort="name",
            )
        ]
    columns = (
        Column("name", npm_name, 40),
        Column("version", lambda p: p.version, 10),
        Column("latest", lambda p: p.latest_version or "", 10),
        Column("enabled", lambda p: "yes" if p.enabled else "no", 7),
        Column("homepage", lambda p: p.homepage),
    )
    emit(rows, columns, as_json)
    return EXIT_OK


def _source(name: str | None, path: str | None) -> dict[str, str]:
    if bool(name) == bool(path):
        raise Failure("give either --npm-name or --path", EXIT_USAGE)
    if path is not None and not path.startswith("/"):
        raise Failure(
            f"--path must be absolute (a folder on the instance's machine): {path}", EXIT_USAGE
        )
    return {"npm_name": name} if name else {"path": str(path)}


_NPM_NAME = click.option(
    "--npm-name", "-n", metavar="NAME", help="npm package (peertube-plugin-X, peertube-theme-X)"
)
_PATH = click.option(
    "--path", "-P", metavar="PATH", help="absolute folder on the instance's machine"
)


async def _show(pt: Any, name: str | None, as_json: bool, done: str) -> None:
    if name is None:
        click.echo(done)
        return
    plugin = await pt.plugins.get(name)
    if as_json:
        print_json(unstructure(plugin))
    else:
        click.echo(f"{done}: {npm_name(plugin)} {plugin.version}")


@plugins.command("install", context_settings=CONTEXT, epilog=EXIT_CODES)
@_NPM_NAME
@_PATH
@click.option(
    "--plugin-version", metavar="VERSION", help="this version (from npm only; default: latest)"
)
@json_option
@account_options
@command
async def plugins_install(
    creds: Credentials,
    npm_name: str | None,
    path: str | None,
    plugin_version: str | None,
    as_json: bool,
) -> int:
    """Install a plugin or a theme, from npm or from a folder on the instance's machine."""
    source = _source(npm_name, path)
    if plugin_version and not npm_name:
        raise Failure("--plugin-version goes with --npm-name", EXIT_USAGE)
    async with signed_in(creds) as (pt, _):
        if plugin_version:
            # The OpenAPI spec does not list pluginVersion (PeerTube's types do).
            body = {"npmName": npm_name, "pluginVersion": plugin_version}
            await pt.request("POST", "/api/v1/plugins/install", json=body)
        else:
            await pt.plugins.install(**source)
        await _show(pt, npm_name, as_json, "installed")
    return EXIT_OK


@plugins.command("update", context_settings=CONTEXT, epilog=EXIT_CODES)
@_NPM_NAME
@_PATH
@json_option
@account_options
@command
async def plugins_update(
    creds: Credentials, npm_name: str | None, path: str | None, as_json: bool
) -> int:
    """Update a plugin or a theme to its latest version (or from its folder)."""
    source = _source(npm_name, path)
    async with signed_in(creds) as (pt, _):
        await pt.plugins.upgrade(**source)
        await _show(pt, npm_name, as_json, "updated")
    return EXIT_OK


@plugins.command("uninstall", context_settings=CONTEXT, epilog=EXIT_CODES)
@click.option("--npm-name", "-n", metavar="NAME", required=True, help="npm package name")
@account_options
@command
async def plugins_uninstall(creds: Credentials, npm_name: str) -> int:
    """Uninstall a plugin or a theme."""
    async with signed_in(creds) as (pt, _):
        await pt.plugins.uninstall(npm_name=npm_name)
    click.echo(f"uninstalled {npm_name}")
    return EXIT_OK


@plugins.command("show", context_settings=CONTEXT, epilog=EXIT_CODES)
@click.argument("name", metavar="NPM_NAME")
@json_option
@account_options
@command
async def plugins_show(creds: Credentials, name: str, as_json: bool) -> int:
    """Show a plugin: version, state, its settings and the ones it registers."""
    async with signed_in(creds) as (pt, _):
        plugin = await pt.plugins.get(name)
        registered = await pt.plugins.get_registered_settings(name)
    if as_json:
        print_json({**unstructure(plugin), "registeredSettings": registered})
        return EXIT_OK
    for key, value in (
        ("name", npm_name(plugin)),
        ("version", plugin.version),
        ("latest", plugin.latest_version or "-"),
        ("enabled", plugin.enabled),
        ("engine", plugin.peertube_engine),
        ("homepage", plugin.homepage),
    ):
        click.echo(f"{key:>9}  {value}")
    for key, value in sorted((plugin.settings or {}).items()):
        click.echo(f"  setting  {key} = {value}")
    return EXIT_OK


def _parse_settings(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> Any:
    settings: dict[str, Any] = {}
    for item in value:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="SETTING")
        settings[key] = raw
    return settings


@plugins.command("configure", context_settings=CONTEXT, epilog=EXIT_CODES)
@click.argument("name", metavar="NPM_NAME")
@click.argument(
    "settings", metavar="KEY=VALUE...", nargs=-1, required=True, callback=_parse_settings
)
@account_options
@command
async def plugins_configure(creds: Credentials, name: str, settings: dict[str, Any]) -> int:
    """Change some settings of a plugin (the others keep their values)."""
    async with signed_in(creds) as (pt, _):
        current = (await pt.plugins.get(name)).settings or {}
        await pt.plugins.update_settings(name, settings={**current, **settings})
    click.echo(f"{name}: {', '.join(sorted(settings))} set")
    return EXIT_OK


# -- redundancy ---------------------------------------------------------------------------


@click.group(context_settings=CONTEXT, epilog=EXIT_CODES)
def redundancy() -> None:
    """Manage the instance's video redundancies (administrators)."""


def _hosts(row: Any) -> str:
    from yarl import URL

    found = {URL(r.file_url).host or "" for r in row.redundancies.streaming_playlists}
    return ", ".join(sorted(found))


async def _list_redundancies(creds: Credentials, target: str, as_json: bool) -> int:
    from ._format import format_bytes

    async with signed_in(creds) as (pt, _):
        rows = [r async for r in pt.server.redundancy.list(target=target, sort="name")]
    columns = [
        Column("video id", lambda r: r.id, 8, right=True),
        Column("name", lambda r: r.name, 32),
        Column("playlists", lambda r: len(r.redundancies.streaming_playlists), 9, right=True),
        Column("by instances", _hosts, 28),
    ]
    if target == "remote-videos":
        columns.append(
            Column(
                "total size",
                lambda r: format_bytes(sum(p.size for p in r.redundancies.streaming_playlists)),
                10,
                right=True,
            )
        )
    columns.append(Column("url", lambda r: r.url))
    emit(rows, columns, as_json)
    return EXIT_OK


@redundancy.command("list-remote-redundancies", context_settings=CONTEXT, epilog=EXIT_CODES)
@json_option
@account_options
@command
async def list_remote(creds: Credentials, as_json: bool) -> int:
    """List the copies other instances keep of this instance's videos."""
    return await _list_redundancies(creds, "my-videos", as_json)


@redundancy.command("list-my-redundancies", context_settings=CONTEXT, epilog=EXIT_CODES)
@json_option
@account_options
@command
async def list_mine(creds: Credentials, as_json: bool) -> int:
    """List the copies this instance keeps of other instances' videos."""
    return await _list_redundancies(creds, "remote-videos", as_json)


_VIDEO = click.option(
    "--video", "-v", "video_id", type=int, required=True, metavar="ID", help="the video's id"
)


@redundancy.command("add", context_settings=CONTEXT, epilog=EXIT_CODES)
@_VIDEO
@account_options
@command
async def redundancy_add(creds: Credentials, video_id: int) -> int:
    """Keep a copy of a remote video on this instance."""
    from .._errors import Conflict, NotFound

    async with signed_in(creds) as (pt, _):
        try:
            await pt.server.redundancy.mirror_video(video_id=video_id)
        except Conflict:
            raise Failure(
                f"video {video_id} is already copied by this instance", EXIT_API
            ) from None
        except NotFound:
            raise Failure(f"no video {video_id} on this instance", EXIT_API) from None
    click.echo(f"video {video_id} will be copied by this instance")
    return EXIT_OK


@redundancy.command("remove", context_settings=CONTEXT, epilog=EXIT_CODES)
@_VIDEO
@account_options
@command
async def redundancy_remove(creds: Credentials, video_id: int) -> int:
    """Drop this instance's copy of a video (or another instance's copy of ours)."""
    async with signed_in(creds) as (pt, _):
        found = None
        for target in ("my-videos", "remote-videos"):
            async for row in pt.server.redundancy.list(target=target):
                if row.id == video_id:
                    found = row
                    break
            if found is not None:
                break
        if found is None:
            raise Failure(f"video {video_id} has no redundancy", EXIT_API)
        for copy in found.redundancies.streaming_playlists:
            await pt.server.redundancy.delete(str(copy.id))
    click.echo(f"redundancy of video {video_id} removed")
    return EXIT_OK
