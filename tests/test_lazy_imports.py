"""What importing the package loads, and resources bound on first use."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import typing

import attrs
import pytest

import peertube_async
from peertube_async import PeerTube
from peertube_async import models as public_models
from peertube_async._generated.routes import RESOURCE_NAMES
from peertube_async.resources import Videos
from peertube_async.testing import FakeInstance

HEAVY = (
    "aiohttp",
    "peertube_async.models",
    "cattrs",
    "peertube_async._generated.models",
    "peertube_async._generated.resources",
)


def loaded_after(statement: str) -> set[str]:
    """The heavy modules a fresh interpreter has loaded after ``statement``."""
    code = (
        f"{statement}\nimport json, sys\n"
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(done.stdout))


def test_importing_the_package_loads_none_of_the_heavy_modules() -> None:
    assert loaded_after("import peertube_async") == set()


def test_an_exception_class_comes_without_the_client() -> None:
    assert loaded_after("from peertube_async import NotFound, RateLimited") == set()


def test_the_client_class_comes_without_models_resources_or_cattrs() -> None:
    assert loaded_after("from peertube_async import PeerTube") == {"aiohttp"}


def test_a_client_binds_its_resources_on_first_use() -> None:
    loaded = loaded_after(
        "from peertube_async import PeerTube\npt = PeerTube('http://127.0.0.1:9')"
    )
    assert "peertube_async._generated.resources" not in loaded
    loaded = loaded_after(
        "from peertube_async import PeerTube\nPeerTube('http://127.0.0.1:9').videos"
    )
    assert set(HEAVY) - {"peertube_async.models"} <= loaded


def test_every_public_name_resolves_and_is_listed() -> None:
    for name in peertube_async.__all__:
        assert getattr(peertube_async, name) is not None
    assert set(peertube_async.__all__) <= set(dir(peertube_async))
    assert peertube_async.Video is public_models.Video
    assert "peertube_async.models" in loaded_after(
        "import peertube_async\npeertube_async.models.Video"
    )
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = peertube_async.Nope  # type: ignore[attr-defined]


async def test_resources_work_on_a_client_and_on_its_views() -> None:
    async with FakeInstance(videos=2) as fake, PeerTube(fake.url) as pt:
        assert "videos" not in vars(pt)
        assert set(dir(pt)) >= RESOURCE_NAMES
        view = pt.with_options(priority=5)
        assert isinstance(view.videos, Videos)  # a view binds its own, on first use
        assert (await view.videos.get(1)).id == 1
        assert isinstance(pt.videos, Videos)
        page = await pt.videos.list(count=1)
        assert page.total == 2
        assert pt.videos is pt.videos
        with pytest.raises(AttributeError, match="no attribute 'vidoes'"):
            _ = pt.vidoes  # type: ignore[attr-defined]


def built_models(statement: str) -> list[str]:
    """The generated models (not enums) built after ``statement`` in a fresh interpreter."""
    code = (
        f"{statement}\nimport enum, json, sys\n"
        "g = sys.modules.get('peertube_async._generated.models')\n"
        "names = g.__all__ if g else []\n"
        "print(json.dumps([n for n in names if n in vars(g) "
        "and not issubclass(vars(g)[n], enum.Enum)]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return list(json.loads(done.stdout))


def test_models_are_built_on_first_use_with_the_models_they_name() -> None:
    assert built_models("import peertube_async.models") == []
    built = built_models("from peertube_async.models import Video")
    # Video and what its fields name (account, channel, constants...), not the API's 300.
    assert "Video" in built and "AccountSummary" in built and "VideoPrivacyConstant" in built
    assert len(built) < 20
    assert "Video" not in built_models(
        "from peertube_async import PeerTube\nPeerTube('http://127.0.0.1:9').videos"
    )


def test_a_model_built_on_first_use_is_a_complete_attrs_class() -> None:
    video_details = public_models.VideoDetails
    assert attrs.has(video_details) and attrs.fields(video_details).id.name == "id"
    # Its annotations resolve: every model its fields name was built with it.
    hints = typing.get_type_hints(video_details)
    assert hints["channel"] is public_models.VideoChannel
    privacy = public_models.VideoPrivacyConstant(id=public_models.VideoPrivacy.PUBLIC, label="P")
    assert pickle.loads(pickle.dumps(privacy)) == privacy
    assert public_models.VideoDetails is video_details
    assert "VideoDetails" in dir(public_models)
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        _ = public_models.Nope  # type: ignore[attr-defined]


def test_the_socket_client_is_imported_only_when_a_stream_starts() -> None:
    statement = (
        "from peertube_async import PeerTube, Handlers, LiveVideoEvent\n"
        "pt = PeerTube('http://127.0.0.1:9')\n"
        "stream = pt.me.notifications.stream()\n"
        "events = pt.videos.live.events(1)\n"
        "import sys\n"
        "assert 'socketio' not in sys.modules and 'engineio' not in sys.modules\n"
        "assert 'peertube_async._live' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", statement], check=True, timeout=60)
    assert "peertube_async._live" not in loaded_after_live("from peertube_async import PeerTube")


def loaded_after_live(statement: str) -> set[str]:
    """Which of the live-event modules a fresh interpreter has loaded after ``statement``."""
    code = (
        f"{statement}\nimport json, sys\n"
        "print(json.dumps([m for m in ('peertube_async._live', 'socketio') if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(done.stdout))
