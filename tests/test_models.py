"""The hand-written models decode the real samples and give the wire JSON back."""

import json
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cattrs.errors import ClassValidationError
from hypothesis import given
from hypothesis import strategies as st

from peertube_async._convert import make_converter
from peertube_async._models import (
    Account,
    AccountSummary,
    ActorImage,
    ChannelSummary,
    OAuthClient,
    Token,
    Video,
    VideoChannel,
    VideoConstant,
    VideoPrivacy,
)

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "peertube-samples.json"

tolerant = make_converter()
strict = make_converter(strict=True)


@cache
def samples() -> dict[str, dict[str, Any]]:
    data = json.loads(SAMPLES.read_text(encoding="utf-8"))
    return {s["name"]: s for s in data["samples"]}


def body(name: str) -> Any:
    return json.loads(samples()[name]["body"])


def assert_wire_round_trip(wire: dict[str, Any], produced: dict[str, Any]) -> None:
    """Every modelled key gives back the wire value; keys the wire lacked come back None."""
    for key, value in produced.items():
        if key not in wire:
            assert value in (None, (), []), key
        elif isinstance(value, dict) and isinstance(wire[key], dict):
            assert_wire_round_trip(wire[key], value)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            assert len(value) == len(wire[key])
            for w, p in zip(wire[key], value, strict=True):
                assert_wire_round_trip(w, p)
        else:
            assert value == wire[key], key


def test_video_list_items_decode_completely() -> None:
    items = body("body /api/v1/videos")["data"]
    videos = [strict.structure(item, Video) for item in items]
    first = videos[0]
    assert first.id == 2
    assert first.uuid == "47b39845-af7c-4398-88f4-bd810647b5e2"
    assert first.short_uuid == "9RwU1GaWLquYdFHHGdKLgm"
    assert first.name == "Resumable upload test"
    assert first.category == VideoConstant(id=None, label="Unknown")
    assert first.language == VideoConstant(id=None, label="Unknown")
    assert first.privacy == VideoConstant(id=VideoPrivacy.PUBLIC, label="Public")
    assert first.nsfw is False
    assert first.is_local is True
    assert first.duration == 2
    assert first.aspect_ratio == pytest.approx(1.3333)
    assert first.embed_path == "/videos/embed/47b39845-af7c-4398-88f4-bd810647b5e2"
    assert first.created_at == datetime(2026, 11, 26, 17, 11, 11, 447000, tzinfo=timezone.utc)
    assert first.originally_published_at is None
    assert first.account == AccountSummary(
        id=2,
        name="root",
        display_name="root",
        url="http://127.0.0.1:9000/accounts/root",
        host="127.0.0.1:9000",
    )
    assert first.channel is not None
    assert first.channel.display_name == "Main root channel"
    # Detail-only fields are absent from list items.
    assert first.tags is None
    assert first.state is None


def test_datetimes_are_aware_utc() -> None:
    video = tolerant.structure(body("body /api/v1/videos/1"), Video)
    for value in (video.created_at, video.updated_at, video.published_at):
        assert value is not None
        assert value.tzinfo is timezone.utc
    assert video.published_at == datetime(2026, 11, 26, 17, 11, 4, 821000, tzinfo=timezone.utc)


def test_video_details_decode_tolerantly() -> None:
    wire = body("body /api/v1/videos/1")
    video = tolerant.structure(wire, Video)
    assert video.id == 1
    assert video.state == VideoConstant(id=1, label="Published")
    assert video.comments_policy == VideoConstant(id=1, label="Enabled")
    assert video.tags == ()
    assert video.tracker_urls == (
        "http://127.0.0.1:9000/tracker/announce",
        "ws://127.0.0.1:9000/tracker/socket",
    )
    assert (
        video.description_path == "/api/v1/videos/90c3cf9e-896e-4aab-bb3e-612da0eda715/description"
    )
    assert video.download_enabled is True
    assert video.account is not None and video.account.name == "root"
    # Unmodelled parts (file lists, the full embedded account) make strict decoding fail.
    with pytest.raises(ClassValidationError):
        strict.structure(wire, Video)


@pytest.mark.parametrize("source", ["list", "details"])
def test_video_round_trip(source: str) -> None:
    if source == "list":
        wires = body("body /api/v1/videos")["data"]
    else:
        wires = [body("body /api/v1/videos/1")]
    for wire in wires:
        assert_wire_round_trip(wire, tolerant.unstructure(tolerant.structure(wire, Video)))


def test_video_list_unstructures_to_the_exact_wire_json() -> None:
    for wire in body("body /api/v1/videos")["data"]:
        produced = tolerant.unstructure(tolerant.structure(wire, Video))
        assert {k: v for k, v in produced.items() if k in wire} == wire


def test_accounts_decode_and_round_trip() -> None:
    wire = body("body /api/v1/accounts/root")
    account = strict.structure(wire, Account)
    assert account.id == 2
    assert account.user_id == 1
    assert account.host_redundancy_allowed is False
    assert account.created_at == datetime(2026, 11, 26, 17, 9, 25, 503000, tzinfo=timezone.utc)
    assert tolerant.unstructure(account) == wire
    for item in body("body /api/v1/accounts")["data"]:
        decoded = strict.structure(item, Account)
        assert_wire_round_trip(item, tolerant.unstructure(decoded))
    # The instance's own account has no user.
    assert decoded.name == "peertube"
    assert decoded.user_id is None


def test_channels_decode_and_round_trip() -> None:
    items = body("body /api/v1/video-channels")["data"]
    channels = [strict.structure(item, VideoChannel) for item in items]
    assert [c.name for c in channels] == ["alice_channel", "test_channel", "root_channel"]
    assert channels[1].description == "SDK test channel"
    assert channels[0].owner_account is not None
    assert channels[0].owner_account.name == "alice"
    for item, channel in zip(items, channels, strict=True):
        assert tolerant.unstructure(channel) == item


def test_objects_embedded_in_other_payloads() -> None:
    me = body("body /api/v1/users/me (admin)")
    account = strict.structure(me["account"], Account)
    assert account.name == "root"
    channels = [strict.structure(c, VideoChannel) for c in me["videoChannels"]]
    assert [c.owner_account for c in channels] == [None, None]
    comment = body("body /api/v1/videos/1/comment-threads")["data"][0]
    assert strict.structure(comment["account"], Account).user_id == 1
    playlist = body("body /api/v1/video-playlists")["data"][0]
    owner = strict.structure(playlist["ownerAccount"], AccountSummary)
    assert owner.display_name == "root"
    channel = strict.structure(playlist["videoChannel"], ChannelSummary)
    assert channel.name == "root_channel"


def test_oauth_client_hides_its_secret() -> None:
    client = strict.structure(body("oauth-client"), OAuthClient)
    assert client.client_id == "<client>"
    assert client.client_secret == "<client>"
    secret = OAuthClient(client_id="abc", client_secret="s3cr3t")
    assert "s3cr3t" not in repr(secret)
    assert tolerant.unstructure(secret) == {"client_id": "abc", "client_secret": "s3cr3t"}


def test_token_decodes_and_hides_its_secrets() -> None:
    wire = body("token-ok")
    token = strict.structure(wire, Token)
    assert token.token_type == "Bearer"
    assert token.expires_in == 86399
    assert token.refresh_token_expires_in == 1209599
    assert tolerant.unstructure(token) == wire
    real = Token(access_token="acc-s3cr3t", refresh_token="ref-s3cr3t")
    assert "s3cr3t" not in repr(real)
    assert "s3cr3t" not in str(real)


def test_minimal_video_from_an_older_server() -> None:
    video = tolerant.structure(
        {"id": 5, "uuid": "u", "shortUUID": "s", "name": "Old"},
        Video,
    )
    assert video == Video(id=5, uuid="u", short_uuid="s", name="Old")
    assert video.account is None
    assert video.created_at is None


def test_fields_of_a_newer_server_are_ignored_and_new_values_kept() -> None:
    wire = dict(body("body /api/v1/videos")["data"][0])
    wire["thumbnails"] = [{"fileUrl": "http://x/t.jpg", "width": 280}]
    wire["nsfwFlags"] = 3
    wire["privacy"] = {"id": 7, "label": "Followers only"}
    wire["account"] = dict(wire["account"], avatars=[{"fileUrl": "http://x/a.png", "width": 48}])
    video = tolerant.structure(wire, Video)
    assert video.privacy is not None
    assert video.privacy.id == 7
    assert video.privacy.id is not None and video.privacy.id.known is False
    assert video.account is not None
    assert video.account.avatars == (ActorImage(file_url="http://x/a.png", width=48),)
    assert tolerant.unstructure(video)["privacy"] == {"id": 7, "label": "Followers only"}


def test_missing_required_field_is_an_error() -> None:
    with pytest.raises(ClassValidationError):
        tolerant.structure({"id": 5, "uuid": "u", "name": "No short UUID"}, Video)


aware = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)
)
maybe_text = st.none() | st.text(max_size=30)
maybe_count = st.none() | st.integers(min_value=0, max_value=2**40)
images = st.builds(
    ActorImage,
    path=maybe_text,
    file_url=maybe_text,
    width=st.none() | st.integers(0, 4000),
    height=st.none() | st.integers(0, 4000),
    created_at=st.none() | aware,
    updated_at=st.none() | aware,
)
accounts = st.builds(
    Account,
    id=st.integers(1, 2**31),
    name=st.text(min_size=1, max_size=30),
    url=maybe_text,
    host=maybe_text,
    display_name=maybe_text,
    description=maybe_text,
    avatars=st.lists(images, max_size=3).map(tuple),
    host_redundancy_allowed=st.none() | st.booleans(),
    following_count=maybe_count,
    followers_count=maybe_count,
    created_at=st.none() | aware,
    updated_at=st.none() | aware,
    user_id=st.none() | st.integers(1, 2**31),
)


@given(accounts)
def test_account_round_trip_property(account: Account) -> None:
    wire = tolerant.unstructure(account)
    assert json.loads(json.dumps(wire)) == wire
    assert strict.structure(wire, Account) == account


@given(accounts, st.sampled_from([1, 2, 3, 4, 5, 6, 99]))
def test_channel_round_trip_property(owner: Account, privacy: int) -> None:
    channel = VideoChannel(id=1, name="c", owner_account=owner, banners=owner.avatars)
    assert strict.structure(tolerant.unstructure(channel), VideoChannel) == channel
    video = Video(
        id=1,
        uuid="u",
        short_uuid="s",
        name="n",
        privacy=VideoConstant(id=VideoPrivacy(privacy), label="p"),
    )
    back = strict.structure(tolerant.unstructure(video), Video)
    assert back == video


def test_models_are_frozen_and_hashable() -> None:
    video = tolerant.structure(body("body /api/v1/videos")["data"][0], Video)
    with pytest.raises(AttributeError):
        video.name = "changed"  # type: ignore[misc]
    assert hash(video) == hash(tolerant.structure(body("body /api/v1/videos")["data"][0], Video))
