"""Deterministic data of the fake instance, shaped like PeerTube 6.3's JSON.

Every builder here is pure: the same arguments give the same accounts, channels, videos,
playlists and comments, byte for byte, so tests can assert on ids, UUIDs, names and
orderings. Records keep their JSON pre-serialized because the fake serves the same bodies
thousands of times in benchmarks.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

# CONSTRAINTS_FIELDS.VIDEOS.EXTNAME with additional extensions and audio allowed, as the
# sample instance's /api/v1/config lists them.
VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".webm",
    ".ogv",
    ".ogg",
    ".mp4",
    ".mkv",
    ".mov",
    ".qt",
    ".mqv",
    ".m4v",
    ".flv",
    ".f4v",
    ".wmv",
    ".avi",
    ".3gp",
    ".3gpp",
    ".3g2",
    ".3gpp2",
    ".nut",
    ".mts",
    ".m2ts",
    ".mpv",
    ".m2v",
    ".m1v",
    ".mpg",
    ".mpe",
    ".mpeg",
    ".vob",
    ".mxf",
    ".mp3",
    ".wma",
    ".wav",
    ".flac",
    ".aac",
    ".m4a",
    ".ac3",
)


__all__ = [
    "ACCOUNT_SORTS",
    "BASE58_ALPHABET",
    "CHANNEL_SORTS",
    "COMMENT_THREAD_SORTS",
    "DEFAULT_PASSWORDS",
    "PLAYLIST_SORTS",
    "PRIVACY_PUBLIC",
    "PRIVATE_PRIVACIES",
    "ROLE_ADMINISTRATOR",
    "ROLE_MODERATOR",
    "ROLE_USER",
    "UNDEFINED",
    "VIDEO_LANGUAGES",
    "VIDEO_LICENCES",
    "VIDEO_PRIVACY_LABELS",
    "VIDEO_SORTS",
    "Catalog",
    "StoredFile",
    "build_catalog",
    "derived_uuid",
    "dumps",
    "error_type",
    "field_error",
    "iso",
    "new_file_name",
    "problem_docs",
    "short_to_uuid",
    "sortable",
    "uuid_to_short",
]

#: Alphabet of PeerTube's short UUIDs (flickr base58: no 0, O, I, l).
BASE58_ALPHABET = "123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
_BASE58_INDEX = {char: index for index, char in enumerate(BASE58_ALPHABET)}
_SHORT_UUID_LENGTH = 22

#: Privacies whose files PeerTube keeps in its private directory and serves only to users
#: allowed to see the video (``isVideoInPrivateDirectory``: private, internal, password).
PRIVATE_PRIVACIES = frozenset({3, 4, 5})
PRIVACY_PUBLIC = 1

ROLE_ADMINISTRATOR = 0
ROLE_MODERATOR = 1
ROLE_USER = 2
_ROLE_LABELS = {
    ROLE_ADMINISTRATOR: "Administrator",
    ROLE_MODERATOR: "Moderator",
    ROLE_USER: "User",
}

#: Passwords of the seeded users unless the constructor is given others.
DEFAULT_PASSWORDS: Mapping[str, str] = {"root": "root-password", "alice": "alice-password"}

# Fixed namespace of every derived UUID, so that ids stay stable across runs.
_NAMESPACE = uuid.UUID("6f1c3a52-2d7e-5b8e-9c41-0e5a8d7f2b10")
# 2024-01-01T00:00:00Z: the seeded history starts here.
_EPOCH = 1704067200.0

_DOCS = "https://docs.joinpeertube.org/api-rest-reference.html"

_T = TypeVar("_T")


def dumps(value: Any) -> bytes:
    """Serialize like ``JSON.stringify``: compact, UTF-8, non-ASCII left as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def uuid_to_short(value: uuid.UUID) -> str:
    """PeerTube's short UUID: the UUID's integer in base58, left-padded to 22 characters."""
    number = value.int
    digits: list[str] = []
    while number:
        number, rest = divmod(number, 58)
        digits.append(BASE58_ALPHABET[rest])
    return "".join(reversed(digits)).rjust(_SHORT_UUID_LENGTH, BASE58_ALPHABET[0])


def short_to_uuid(value: str) -> uuid.UUID | None:
    """Decode a short UUID; ``None`` if it is not 22 base58 characters of a 128-bit value."""
    if len(value) != _SHORT_UUID_LENGTH:
        return None
    number = 0
    for char in value:
        digit = _BASE58_INDEX.get(char)
        if digit is None:
            return None
        number = number * 58 + digit
    if number >> 128:
        return None
    return uuid.UUID(int=number)


def new_file_name(resolution: int) -> str:
    """A fresh web-video file name, ``<uuid>-<resolution>.mp4``."""
    return f"{uuid.uuid4()}-{resolution}.mp4"


def derived_uuid(name: str) -> uuid.UUID:
    """A stable UUID for ``name``: uuid5 in a fixed namespace, stamped as version 4.

    PeerTube only ever generates version-4 UUIDs and its id validators reject any other
    version, so the derived value keeps uuid5's determinism with version 4's shape.
    """
    return uuid.UUID(bytes=uuid.uuid5(_NAMESPACE, name).bytes, version=4)


def iso(timestamp: float) -> str:
    """``Date.toISOString()``: UTC with milliseconds and a ``Z``."""
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# ---------------------------------------------------------------------------------------
# Records


@dataclass(eq=False)
class Account:
    """A local account (the instance's own ``peertube`` account has no user)."""

    id: int
    name: str
    display_name: str
    user_id: int | None
    created_at: float
    updated_at: float


@dataclass(eq=False)
class Channel:
    """A local video channel."""

    id: int
    name: str
    display_name: str
    account: Account
    created_at: float
    updated_at: float
    description: str | None = None


@dataclass(eq=False)
class User:
    """A local user with its password, role, account and channel."""

    id: int
    username: str
    password: str
    role: int
    email: str
    account: Account
    channels: list[Channel]
    created_at: float
    watch_later_playlist_id: int
    last_login_date: float | None = None

    @property
    def is_privileged(self) -> bool:
        """Administrators and moderators bypass PeerTube's rate limits."""
        return self.role in (ROLE_ADMINISTRATOR, ROLE_MODERATOR)


class StoredFile:
    """A web-video file the fake serves from disk: an upload's bytes, or a file a test added.

    Attributes:
        id: the file's id in the API (``files[].id``).
        video_id: id of the video it belongs to.
        resolution: height in pixels (``resolution.id``).
        size: bytes on disk.
        path: where the bytes are; the instance's temporary folder unless a test handed in
            a path of its own.
        filename: ``<file uuid>-<resolution>.mp4``, the last part of its URLs.
        private: served under ``/static/web-videos/private/`` to allowed users only.
    """

    __slots__ = ("_sha256", "filename", "id", "path", "private", "resolution", "size", "video_id")

    def __init__(
        self,
        *,
        id: int,
        video_id: int,
        resolution: int,
        size: int,
        path: Path,
        filename: str,
        private: bool,
    ) -> None:
        self.id = id
        self.video_id = video_id
        self.resolution = resolution
        self.size = size
        self.path = path
        self.filename = filename
        self.private = private
        self._sha256: str | None = None

    def __repr__(self) -> str:
        return (
            f"StoredFile(id={self.id}, video_id={self.video_id}, resolution={self.resolution}, "
            f"size={self.size}, private={self.private})"
        )

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the bytes on disk, computed on first use (never while uploading,
        so that hashing does not slow down an upload being measured)."""
        if self._sha256 is None:
            digest = hashlib.sha256()
            with self.path.open("rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
            self._sha256 = digest.hexdigest()
        return self._sha256

    def read_bytes(self) -> bytes:
        """The whole file (for small files in tests)."""
        return self.path.read_bytes()


@dataclass(eq=False)
class Video:
    """A local video: seeded (public, with an HLS playlist) or created by an upload."""

    id: int
    uuid: str
    short_uuid: str
    name: str
    channel: Channel
    duration: int
    views: int
    likes: int
    dislikes: int
    category: int | None
    licence: int | None
    language: str | None
    created_at: float
    published_at: float
    comment_count: int = 0
    list_json: bytes = b""
    _detail_json: bytes | None = field(default=None, repr=False)
    description: str | None = None
    privacy: int = PRIVACY_PUBLIC
    tags: tuple[str, ...] = ()
    nsfw: bool = False
    support: str | None = None
    comments_policy: int = 1
    download_enabled: bool = True
    wait_transcoding: bool = False
    #: Seeded videos carry a (virtual) HLS playlist; uploads only have web-video files.
    hls: bool = False
    files: list[StoredFile] = field(default_factory=list)
    #: A live video (see ``FakeInstance.set_live``): its state and current viewers.
    is_live: bool = False
    state: int = 1
    viewers: int = 0

    @property
    def private_files(self) -> bool:
        """Whether its files live in the private directory."""
        return self.privacy in PRIVATE_PRIVACIES


@dataclass(eq=False)
class Playlist:
    """A public playlist of a channel."""

    id: int
    uuid: str
    short_uuid: str
    display_name: str
    channel: Channel
    videos_length: int
    created_at: float
    list_json: bytes = b""


@dataclass(eq=False)
class CommentThread:
    """A top-level comment without replies."""

    id: int
    video: Video
    account: Account
    text: str
    created_at: float
    list_json: bytes = b""


# ---------------------------------------------------------------------------------------
# Static bodies

VIDEO_CATEGORIES: Mapping[str, str] = {
    "1": "Music",
    "2": "Films",
    "3": "Vehicles",
    "4": "Art",
    "5": "Sports",
    "6": "Travels",
    "7": "Gaming",
    "8": "People",
    "9": "Comedy",
    "10": "Entertainment",
    "11": "News & Politics",
    "12": "How To",
    "13": "Education",
    "14": "Activism",
    "15": "Science & Technology",
    "16": "Animals",
    "17": "Kids",
    "18": "Food",
}

# VIDEO_LICENCES, VIDEO_PRIVACIES, VIDEO_COMMENTS_POLICY in server/core/initializers/constants.ts.
VIDEO_LICENCES: Mapping[int, str] = {
    1: "Attribution",
    2: "Attribution - Share Alike",
    3: "Attribution - No Derivatives",
    4: "Attribution - Non Commercial",
    5: "Attribution - Non Commercial - Share Alike",
    6: "Attribution - Non Commercial - No Derivatives",
    7: "Public Domain Dedication",
}
#: VIDEO_LANGUAGES of server/core/initializers/constants.ts, as a 6.3 server lists them.
VIDEO_LANGUAGES: Mapping[str, str] = {
    "aa": "Afar",
    "ab": "Abkhazian",
    "af": "Afrikaans",
    "ak": "Akan",
    "am": "Amharic",
    "ar": "Arabic",
    "an": "Aragonese",
    "ase": "American Sign Language",
    "as": "Assamese",
    "asq": "Austrian Sign Language",
    "av": "Avaric",
    "avk": "Kotava",
    "ay": "Aymara",
    "az": "Azerbaijani",
    "ba": "Bashkir",
    "bm": "Bambara",
    "be": "Belarusian",
    "bn": "Bengali",
    "bfi": "British Sign Language",
    "bi": "Bislama",
    "bo": "Tibetan",
    "bs": "Bosnian",
    "br": "Breton",
    "bg": "Bulgarian",
    "bzs": "Brazilian Sign Language",
    "ca": "Catalan",
    "cs": "Czech",
    "ch": "Chamorro",
    "ce": "Chechen",
    "cv": "Chuvash",
    "kw": "Cornish",
    "co": "Corsican",
    "cr": "Cree",
    "cse": "Czech Sign Language",
    "csl": "Chinese Sign Language",
    "cy": "Welsh",
    "da": "Danish",
    "de": "German",
    "dv": "Dhivehi",
    "dsl": "Danish Sign Language",
    "dz": "Dzongkha",
    "el": "Greek",
    "en": "English",
    "eo": "Esperanto",
    "et": "Estonian",
    "eu": "Basque",
    "ee": "Ewe",
    "fo": "Faroese",
    "fa": "Persian",
    "fj": "Fijian",
    "fi": "Finnish",
    "fr": "French",
    "fy": "Western Frisian",
    "fse": "Finnish Sign Language",
    "fsl": "French Sign Language",
    "ff": "Fulah",
    "gcf": "Guadeloupean Creole French",
    "gd": "Scottish Gaelic",
    "ga": "Irish",
    "gl": "Galician",
    "gv": "Manx",
    "gn": "Guarani",
    "gsg": "German Sign Language",
    "gu": "Gujarati",
    "ht": "Haitian",
    "ha": "Hausa",
    "sh": "Serbo-Croatian",
    "he": "Hebrew",
    "hz": "Herero",
    "hi": "Hindi",
    "ho": "Hiri Motu",
    "hr": "Croatian",
    "hu": "Hungarian",
    "hy": "Armenian",
    "ig": "Igbo",
    "ii": "Sichuan Yi",
    "iu": "Inuktitut",
    "id": "Indonesian",
    "ik": "Inupiaq",
    "is": "Icelandic",
    "it": "Italian",
    "jv": "Javanese",
    "jbo": "Lojban",
    "ja": "Japanese",
    "jsl": "Japanese Sign Language",
    "kab": "Kabyle",
    "kl": "Kalaallisut",
    "kn": "Kannada",
    "ks": "Kashmiri",
    "ka": "Georgian",
    "kr": "Kanuri",
    "kk": "Kazakh",
    "km": "Khmer",
    "ki": "Kikuyu",
    "rw": "Kinyarwanda",
    "ky": "Kirghiz",
    "kv": "Komi",
    "kg": "Kongo",
    "ko": "Korean",
    "kj": "Kuanyama",
    "ku": "Kurdish",
    "lo": "Lao",
    "la": "Latin",
    "lv": "Latvian",
    "li": "Limburgan",
    "ln": "Lingala",
    "lt": "Lithuanian",
    "lb": "Luxembourgish",
    "lu": "Luba-Katanga",
    "lg": "Ganda",
    "mh": "Marshallese",
    "ml": "Malayalam",
    "mr": "Marathi",
    "mk": "Macedonian",
    "mg": "Malagasy",
    "mt": "Maltese",
    "mn": "Mongolian",
    "mi": "Maori",
    "ms": "Malay (macrolanguage)",
    "my": "Burmese",
    "na": "Nauru",
    "nv": "Navajo",
    "nr": "South Ndebele",
    "nd": "North Ndebele",
    "ng": "Ndonga",
    "ne": "Nepali (macrolanguage)",
    "nl": "Dutch",
    "nn": "Norwegian Nynorsk",
    "nb": "Norwegian Bokmål",
    "no": "Norwegian",
    "ny": "Nyanja",
    "oc": "Occitan",
    "oj": "Ojibwa",
    "or": "Oriya (macrolanguage)",
    "om": "Oromo",
    "os": "Ossetian",
    "pa": "Panjabi",
    "pks": "Pakistan Sign Language",
    "pl": "Polish",
    "pt": "Portuguese (Brazilian)",
    "ps": "Pushto",
    "qu": "Quechua",
    "rm": "Romansh",
    "ro": "Romanian",
    "rsl": "Russian Sign Language",
    "rn": "Rundi",
    "ru": "Russian",
    "sg": "Sango",
    "sdl": "Saudi Arabian Sign Language",
    "sfs": "South African Sign Language",
    "si": "Sinhala",
    "sk": "Slovak",
    "sl": "Slovenian",
    "se": "Northern Sami",
    "sm": "Samoan",
    "sn": "Shona",
    "sd": "Sindhi",
    "so": "Somali",
    "st": "Southern Sotho",
    "es": "Spanish (Spain)",
    "sq": "Albanian",
    "sc": "Sardinian",
    "sr": "Serbian",
    "ss": "Swati",
    "su": "Sundanese",
    "sw": "Swahili (macrolanguage)",
    "sv": "Swedish",
    "swl": "Swedish Sign Language",
    "ty": "Tahitian",
    "ta": "Tamil",
    "tt": "Tatar",
    "te": "Telugu",
    "tg": "Tajik",
    "tl": "Tagalog",
    "th": "Thai",
    "ti": "Tigrinya",
    "tlh": "Klingon",
    "to": "Tonga (Tonga Islands)",
    "tn": "Tswana",
    "ts": "Tsonga",
    "tk": "Turkmen",
    "tr": "Turkish",
    "tw": "Twi",
    "ug": "Uighur",
    "uk": "Ukrainian",
    "ur": "Urdu",
    "uz": "Uzbek",
    "ve": "Venda",
    "vi": "Vietnamese",
    "wa": "Walloon",
    "wo": "Wolof",
    "xh": "Xhosa",
    "yi": "Yiddish",
    "yo": "Yoruba",
    "za": "Zhuang",
    "zh": "Chinese",
    "zu": "Zulu",
    "zxx": "No linguistic content",
    "tok": "Toki Pona",
    "pt-PT": "Portuguese (Portugal)",
    "es-419": "Spanish (Latin America)",
    "zh-Hans": "Simplified Chinese",
    "zh-Hant": "Traditional Chinese",
    "ca-valencia": "Valencian",
}
#: Privacy id -> label.
VIDEO_PRIVACY_LABELS: Mapping[int, str] = {
    1: "Public",
    2: "Unlisted",
    3: "Private",
    4: "Internal",
    5: "Password protected",
}
#: VIDEO_STATES in server/core/initializers/constants.ts (the states a fake video takes).
VIDEO_STATE_LABELS: Mapping[int, str] = {
    1: "Published",
    2: "To transcode",
    3: "To import",
    4: "Waiting for livestream",
    5: "Livestream ended",
}
COMMENTS_POLICY_LABELS: Mapping[int, str] = {1: "Enabled", 2: "Disabled", 3: "Requires approval"}
# Width of the usual 16:9 resolutions, as PeerTube's transcoding profiles produce them.
_WIDTHS = {144: 256, 240: 426, 360: 640, 480: 854, 720: 1280, 1080: 1920, 1440: 2560, 2160: 3840}

_NAME_ADJECTIVES = (
    "Quiet",
    "Bright",
    "Ancient",
    "Rapid",
    "Hidden",
    "Golden",
    "Frozen",
    "Wild",
    "Gentle",
    "Urban",
    "Distant",
)
_NAME_NOUNS = (
    "river",
    "forest",
    "engine",
    "harbor",
    "garden",
    "comet",
    "market",
    "valley",
    "lantern",
    "meadow",
    "bridge",
    "island",
    "orchard",
)


def _config_body(*, signup_allowed: bool, max_chunk_size: int = 0) -> dict[str, Any]:
    """``GET /api/v1/config`` of a default PeerTube 6.3.0."""
    return {
        "client": {
            "videos": {
                "miniature": {"displayAuthorAvatar": False, "preferAuthorDisplayName": False},
                "resumableUpload": {"maxChunkSize": max_chunk_size},
            },
            "menu": {"login": {"redirectOnSingleExternalAuth": False}},
        },
        "defaults": {
            "publish": {
                "downloadEnabled": True,
                "commentsPolicy": 1,
                "commentsEnabled": True,
                "privacy": 1,
                "licence": None,
            },
            "p2p": {"webapp": {"enabled": True}, "embed": {"enabled": True}},
        },
        "webadmin": {"configuration": {"edition": {"allowed": True}}},
        "instance": {
            "name": "PeerTube",
            "shortDescription": (
                "PeerTube, an ActivityPub-federated video streaming platform using P2P "
                "directly in your web browser."
            ),
            "isNSFW": False,
            "defaultNSFWPolicy": "do_not_list",
            "defaultClientRoute": "/videos/trending",
            "customizations": {"javascript": "", "css": ""},
            "avatars": [],
            "banners": [],
        },
        "search": {
            "remoteUri": {"users": False, "anonymous": False},
            "searchIndex": {
                "enabled": False,
                "url": "",
                "disableLocalSearch": False,
                "isDefaultSearch": False,
            },
        },
        "plugin": {"registered": [], "registeredExternalAuths": [], "registeredIdAndPassAuths": []},
        "theme": {"registered": [], "default": "default"},
        "email": {"enabled": False},
        "contactForm": {"enabled": True},
        "serverVersion": "6.3.0",
        "serverCommit": "",
        "transcoding": {
            "remoteRunners": {"enabled": False},
            "hls": {"enabled": True},
            "web_videos": {"enabled": False},
            "enabledResolutions": [],
            "profile": "default",
            "availableProfiles": ["default"],
        },
        "live": {
            "enabled": False,
            "allowReplay": True,
            "latencySetting": {"enabled": True},
            "maxDuration": -1,
            "maxInstanceLives": 20,
            "maxUserLives": 3,
            "transcoding": {
                "enabled": True,
                "remoteRunners": {"enabled": False},
                "enabledResolutions": [],
                "profile": "default",
                "availableProfiles": ["default"],
            },
            "rtmp": {"port": 1935},
        },
        "videoStudio": {"enabled": False, "remoteRunners": {"enabled": False}},
        "videoFile": {"update": {"enabled": False}},
        "videoTranscription": {"enabled": False, "remoteRunners": {"enabled": False}},
        "import": {
            "videos": {"http": {"enabled": False}, "torrent": {"enabled": False}},
            "videoChannelSynchronization": {"enabled": False},
            "users": {"enabled": True},
        },
        "export": {
            "users": {
                "enabled": True,
                "exportExpiration": 172800000,
                "maxUserVideoQuota": 10737418240,
            }
        },
        "autoBlacklist": {"videos": {"ofUsers": {"enabled": False}}},
        "avatar": {
            "file": {
                "size": {"max": 4194304},
                "extensions": [".png", ".jpeg", ".jpg", ".gif", ".webp"],
            }
        },
        "banner": {
            "file": {
                "size": {"max": 4194304},
                "extensions": [".png", ".jpeg", ".jpg", ".gif", ".webp"],
            }
        },
        "video": {
            "image": {"extensions": [".png", ".jpg", ".jpeg", ".webp"], "size": {"max": 4194304}},
            "file": {"extensions": list(VIDEO_EXTENSIONS)},
        },
        "videoCaption": {"file": {"size": {"max": 20971520}, "extensions": [".vtt", ".srt"]}},
        "user": {"videoQuota": -1, "videoQuotaDaily": -1},
        "videoChannels": {"maxPerUser": 20},
        "trending": {
            "videos": {
                "intervalDays": 7,
                "algorithms": {
                    "enabled": ["hot", "most-viewed", "most-liked"],
                    "default": "most-viewed",
                },
            }
        },
        "tracker": {"enabled": True},
        "followings": {"instance": {"autoFollowIndex": {"indexUrl": ""}}},
        "broadcastMessage": {
            "enabled": False,
            "message": "",
            "level": "info",
            "dismissable": False,
        },
        "homepage": {"enabled": False},
        "openTelemetry": {"metrics": {"enabled": False, "playbackStatsInterval": 15000}},
        "views": {"videos": {"watchingInterval": {"anonymous": 5000, "users": 5000}}},
        "storyboards": {"enabled": True},
        "signup": {
            "allowed": signup_allowed,
            "allowedForCurrentIP": True,
            "minimumAge": 16,
            "requiresApproval": not signup_allowed,
            "requiresEmailVerification": False,
        },
    }


# ---------------------------------------------------------------------------------------
# Sorting

# Sortable columns per list, as PeerTube's SORTABLE_COLUMNS declares them; each maps to
# the record attribute it orders by. Ties are broken by ascending id, like the server.
VIDEO_SORTS: Mapping[str, Callable[[Video], Any]] = {
    "name": lambda v: v.name,
    "duration": lambda v: v.duration,
    "createdAt": lambda v: v.created_at,
    "publishedAt": lambda v: v.published_at,
    "originallyPublishedAt": lambda v: 0,
    "views": lambda v: v.views,
    "likes": lambda v: v.likes,
    "comments": lambda v: v.comment_count,
    "trending": lambda v: v.views,
    "hot": lambda v: v.likes,
    "best": lambda v: v.likes,
    "localVideoFilesSize": lambda v: v.id,
    "match": lambda v: 0,
}
ACCOUNT_SORTS: Mapping[str, Callable[[Account], Any]] = {"createdAt": lambda a: a.created_at}
CHANNEL_SORTS: Mapping[str, Callable[[Channel], Any]] = {
    "id": lambda c: c.id,
    "name": lambda c: c.name,
    "updatedAt": lambda c: c.updated_at,
    "createdAt": lambda c: c.created_at,
}
PLAYLIST_SORTS: Mapping[str, Callable[[Playlist], Any]] = {
    "name": lambda p: p.display_name,
    "displayName": lambda p: p.display_name,
    "createdAt": lambda p: p.created_at,
    "updatedAt": lambda p: p.created_at,
}
COMMENT_THREAD_SORTS: Mapping[str, Callable[[CommentThread], Any]] = {
    "createdAt": lambda c: c.created_at,
    "totalReplies": lambda c: 0,
}


def sortable(columns: Iterable[str]) -> frozenset[str]:
    """Every accepted ``sort`` value for ``columns``: each column and its ``-`` form."""
    names = list(columns)
    return frozenset(names + ["-" + name for name in names])


def sort_records(
    records: Sequence[_T],
    sort: str,
    keys: Mapping[str, Callable[[_T], Any]],
    ident: Callable[[_T], int],
) -> list[_T]:
    """Order ``records`` by ``sort`` (``-`` for descending), ties by ascending id."""
    descending = sort.startswith("-")
    key = keys[sort.lstrip("-")]
    by_id = sorted(records, key=ident)
    # Python's sort is stable even with reverse=True, so equal keys keep the id order.
    return sorted(by_id, key=key, reverse=descending)


# ---------------------------------------------------------------------------------------
# The catalog


class Catalog:
    """Every object of the fake instance, with their JSON forms and lookups.

    Args:
        origin: the instance's URL without a trailing slash, e.g. ``http://127.0.0.1:9000``.
        host: the instance's ``host:port`` as it appears in actor handles.
    """

    def __init__(self, origin: str, host: str) -> None:
        self.origin = origin
        self.host = host
        #: Where public web-video files are announced (``fileUrl``); private files and
        #: download links always point at the instance itself.
        self.file_origin = origin
        #: Every stored file by filename, for the static routes.
        self.files_by_name: dict[str, StoredFile] = {}
        self._next_file_id = 0
        self.accounts: list[Account] = []
        self.channels: list[Channel] = []
        self.users: list[User] = []
        self.videos: list[Video] = []
        self.playlists: list[Playlist] = []
        self.threads_by_video: dict[int, list[CommentThread]] = {}
        self.config_json = b""
        self.categories_json = dumps(VIDEO_CATEGORIES)
        self._video_by_id: dict[int, Video] = {}
        self._video_by_uuid: dict[str, Video] = {}
        self._sorted: dict[tuple[str, str], list[Any]] = {}
        #: Response bodies derived from the catalog, keyed by their query; emptied by every
        #: change so a cached body never outlives the data it shows.
        self.responses: dict[tuple[Any, ...], tuple[bytes, str]] = {}
        self._next_playlist_id = 1
        #: Ids of other instances' videos this one knows (they share the id sequence).
        self.foreign_video_ids: set[int] = set()

    # Lookups ----------------------------------------------------------------------------

    def video_by_id(self, video_id: int) -> Video | None:
        """The video with this numeric id."""
        return self._video_by_id.get(video_id)

    def video_by_uuid(self, value: str) -> Video | None:
        """The video with this UUID (any case)."""
        return self._video_by_uuid.get(value.lower())

    def channel_by_id(self, channel_id: int) -> Channel | None:
        """A local channel by numeric id."""
        return next((c for c in self.channels if c.id == channel_id), None)

    def user_by_login(self, login: str) -> User | None:
        """The user whose username or e-mail is ``login``, ignoring case, as PeerTube does."""
        wanted = login.lower()
        for user in self.users:
            if user.username.lower() == wanted or user.email.lower() == wanted:
                return user
        return None

    def account_by_handle(self, handle: str) -> Account | None:
        """A local account by ``name`` or ``name@host``."""
        name = self._local_name(handle)
        return next((a for a in self.accounts if a.name == name), None)

    def channel_by_handle(self, handle: str) -> Channel | None:
        """A local channel by ``name`` or ``name@host``."""
        name = self._local_name(handle)
        return next((c for c in self.channels if c.name == name), None)

    def _local_name(self, handle: str) -> str | None:
        name, _, host = handle.partition("@")
        if host and host != self.host:
            return None
        return name

    # Lists ------------------------------------------------------------------------------

    def sorted_videos(self, sort: str) -> list[Video]:
        """Every public video in ``sort`` order (cached per sort value); lists never show
        unlisted, private or internal videos to anyone who did not ask for them."""
        cached: list[Video] | None = self._sorted.get(("videos", sort))
        if cached is None:
            listed = [video for video in self.videos if video.privacy == PRIVACY_PUBLIC]
            cached = sort_records(listed, sort, VIDEO_SORTS, lambda v: v.id)
            self._sorted[("videos", sort)] = cached
        return cached

    def sorted_accounts(self, sort: str) -> list[Account]:
        """Every account in ``sort`` order."""
        return self._cached("accounts", sort, self.accounts, ACCOUNT_SORTS, lambda a: a.id)

    def sorted_channels(self, sort: str) -> list[Channel]:
        """Every channel in ``sort`` order."""
        return self._cached("channels", sort, self.channels, CHANNEL_SORTS, lambda c: c.id)

    def sorted_playlists(self, sort: str) -> list[Playlist]:
        """Every public playlist in ``sort`` order."""
        return self._cached("playlists", sort, self.playlists, PLAYLIST_SORTS, lambda p: p.id)

    def sorted_threads(self, video: Video, sort: str) -> list[CommentThread]:
        """The comment threads of ``video`` in ``sort`` order."""
        threads = self.threads_by_video.get(video.id, [])
        return sort_records(threads, sort, COMMENT_THREAD_SORTS, lambda c: c.id)

    def _cached(
        self,
        kind: str,
        sort: str,
        records: Sequence[_T],
        keys: Mapping[str, Callable[[_T], Any]],
        ident: Callable[[_T], int],
    ) -> list[_T]:
        cache_key = (kind, sort)
        cached = self._sorted.get(cache_key)
        if cached is None:
            cached = sort_records(records, sort, keys, ident)
            self._sorted[cache_key] = cached
        return cached

    # JSON forms -------------------------------------------------------------------------

    def account_summary(self, account: Account) -> dict[str, Any]:
        """The short account form embedded in video and playlist lists."""
        return {
            "id": account.id,
            "displayName": account.display_name,
            "name": account.name,
            "url": f"{self.origin}/accounts/{account.name}",
            "host": self.host,
            "avatars": [],
        }

    def account_full(self, account: Account) -> dict[str, Any]:
        """``GET /api/v1/accounts/{name}``."""
        body: dict[str, Any] = {
            "url": f"{self.origin}/accounts/{account.name}",
            "name": account.name,
            "host": self.host,
            "avatars": [],
            "id": account.id,
            "hostRedundancyAllowed": False,
            "followingCount": 0,
            "followersCount": 0,
            "createdAt": iso(account.created_at),
            "displayName": account.display_name,
            "description": None,
            "updatedAt": iso(account.updated_at),
        }
        if account.user_id is not None:
            body["userId"] = account.user_id
        return body

    def channel_summary(self, channel: Channel) -> dict[str, Any]:
        """The short channel form embedded in video and playlist lists."""
        return {
            "id": channel.id,
            "name": channel.name,
            "displayName": channel.display_name,
            "url": f"{self.origin}/video-channels/{channel.name}",
            "host": self.host,
            "avatars": [],
        }

    def channel_full(self, channel: Channel, *, with_owner: bool = True) -> dict[str, Any]:
        """``GET /api/v1/video-channels/{handle}`` (``users/me`` omits the owner)."""
        body: dict[str, Any] = {
            "url": f"{self.origin}/video-channels/{channel.name}",
            "name": channel.name,
            "host": self.host,
            "avatars": [],
            "id": channel.id,
            "hostRedundancyAllowed": False,
            "followingCount": 0,
            "followersCount": 0,
            "createdAt": iso(channel.created_at),
            "banners": [],
            "displayName": channel.display_name,
            "description": channel.description,
            "support": None,
            "isLocal": True,
            "updatedAt": iso(channel.updated_at),
        }
        if with_owner:
            body["ownerAccount"] = self.account_full(channel.account)
        return body

    def _video_common(self, video: Video) -> dict[str, Any]:
        thumbnail = derived_uuid(f"thumbnail:{video.id}")
        preview = derived_uuid(f"preview:{video.id}")
        description = video.description
        category = video.category
        return {
            "id": video.id,
            "uuid": video.uuid,
            "shortUUID": video.short_uuid,
            "url": f"{self.origin}/videos/watch/{video.uuid}",
            "name": video.name,
            "category": {
                "id": category,
                "label": VIDEO_CATEGORIES.get(str(category), "Unknown") if category else "Unknown",
            },
            "licence": {
                "id": video.licence,
                "label": VIDEO_LICENCES.get(video.licence, "Unknown")
                if video.licence
                else "Unknown",
            },
            "language": {
                "id": video.language,
                "label": VIDEO_LANGUAGES.get(video.language, "Unknown")
                if video.language
                else "Unknown",
            },
            "privacy": {"id": video.privacy, "label": VIDEO_PRIVACY_LABELS[video.privacy]},
            "nsfw": video.nsfw,
            # PeerTube cuts the list form at 250 characters; the fake's are shorter.
            "truncatedDescription": description,
            "description": description,
            "isLocal": True,
            "duration": video.duration,
            "aspectRatio": 1.775,
            "views": video.views,
            "viewers": video.viewers,
            "likes": video.likes,
            "dislikes": video.dislikes,
            "thumbnailPath": f"/lazy-static/thumbnails/{thumbnail}.jpg",
            "previewPath": f"/lazy-static/previews/{preview}.jpg",
            "embedPath": f"/videos/embed/{video.uuid}",
            "createdAt": iso(video.created_at),
            "updatedAt": iso(video.published_at),
            "publishedAt": iso(video.published_at),
            "originallyPublishedAt": None,
            "isLive": video.is_live,
        }

    def video_list_item(self, video: Video) -> dict[str, Any]:
        """A video as ``GET /api/v1/videos`` lists it."""
        body = self._video_common(video)
        body["account"] = self.account_summary(video.channel.account)
        body["channel"] = self.channel_summary(video.channel)
        return body

    def video_detail(self, video: Video) -> bytes:
        """``GET /api/v1/videos/{id}``, serialized once and cached."""
        if video._detail_json is None:
            video._detail_json = dumps(self._video_detail_body(video))
        return video._detail_json

    def _video_detail_body(self, video: Video) -> dict[str, Any]:
        origin = self.origin
        body = self._video_common(video)
        body["account"] = self.account_full(video.channel.account)
        body["channel"] = self.channel_full(video.channel)
        announce = f"{origin}/tracker/announce"
        socket = f"{origin.replace('http', 'ws', 1)}/tracker/socket"
        body.update(
            {
                "blacklisted": False,
                "blacklistedReason": None,
                "streamingPlaylists": [self._hls_playlist(video)] if video.hls else [],
                "files": [self._web_video_file(video, file) for file in video.files],
                "support": video.support,
                "descriptionPath": f"/api/v1/videos/{video.uuid}/description",
                "tags": list(video.tags),
                "commentsEnabled": video.comments_policy != 2,
                "commentsPolicy": {
                    "id": video.comments_policy,
                    "label": COMMENTS_POLICY_LABELS[video.comments_policy],
                },
                "downloadEnabled": video.download_enabled,
                "waitTranscoding": video.wait_transcoding,
                "inputFileUpdatedAt": None,
                "state": {"id": video.state, "label": VIDEO_STATE_LABELS.get(video.state, "")},
                "trackerUrls": [announce, socket],
            }
        )
        return body

    def _magnet(self, torrent_url: str, info_hash: str, name: str, file_url: str) -> str:
        announce = f"{self.origin}/tracker/announce"
        socket = f"{self.origin.replace('http', 'ws', 1)}/tracker/socket"
        return (
            f"magnet:?xs={quote(torrent_url, safe='')}&xt=urn:btih:{info_hash}"
            f"&dn={quote_plus(name)}&tr={quote(announce, safe='')}"
            f"&tr={quote(socket, safe='')}&ws={quote(file_url, safe='')}"
        )

    def file_url(self, file: StoredFile) -> str:
        """``fileUrl`` of a stored file: the private directory on the instance itself, or
        the public directory on :attr:`file_origin`."""
        if file.private:
            return f"{self.origin}/static/web-videos/private/{file.filename}"
        return f"{self.file_origin}/static/web-videos/{file.filename}"

    def _web_video_file(self, video: Video, file: StoredFile) -> dict[str, Any]:
        """One entry of ``files`` (VideoFile in the API), for a web-video file."""
        origin = self.origin
        torrent_name = f"{derived_uuid(f'torrent:{file.filename}')}-{file.resolution}.torrent"
        torrent_url = f"{origin}/lazy-static/torrents/{torrent_name}"
        file_url = self.file_url(file)
        info_hash = hashlib.sha1(file.filename.encode()).hexdigest()
        return {
            "id": file.id,
            "resolution": {"id": file.resolution, "label": f"{file.resolution}p"},
            "width": _WIDTHS.get(file.resolution, file.resolution * 16 // 9),
            "height": file.resolution,
            "magnetUri": self._magnet(torrent_url, info_hash, video.name, file_url),
            "size": file.size,
            "fps": 25,
            "torrentUrl": torrent_url,
            "torrentDownloadUrl": f"{origin}/download/torrents/{torrent_name}",
            "fileUrl": file_url,
            # STATIC_DOWNLOAD_PATHS.VIDEOS, named after the video (getFileDownloadUrl).
            "fileDownloadUrl": f"{origin}/download/videos/{video.uuid}-{file.resolution}.mp4",
            "metadataUrl": f"{origin}/api/v1/videos/{video.uuid}/metadata/{file.id}",
            "hasAudio": True,
            "hasVideo": True,
            "storage": 0,
        }

    def _hls_playlist(self, video: Video) -> dict[str, Any]:
        origin = self.origin
        torrent = derived_uuid(f"torrent:{video.id}")
        fragment = derived_uuid(f"fragment:{video.id}")
        master = derived_uuid(f"master:{video.id}")
        segments = derived_uuid(f"segments:{video.id}")
        hls = f"{origin}/static/streaming-playlists/hls/{video.uuid}"
        file_url = f"{hls}/{fragment}-240-fragmented.mp4"
        torrent_name = f"{torrent}-240-hls.torrent"
        torrent_url = f"{origin}/lazy-static/torrents/{torrent_name}"
        info_hash = hashlib.sha1(f"{video.uuid}-240".encode()).hexdigest()
        return {
            "id": video.id,
            "type": 1,
            "playlistUrl": f"{hls}/{master}-master.m3u8",
            "segmentsSha256Url": f"{hls}/{segments}-segments-sha256.json",
            "redundancies": [],
            "files": [
                {
                    "id": video.id,
                    "resolution": {"id": 240, "label": "240p"},
                    "width": 426,
                    "height": 240,
                    "magnetUri": self._magnet(torrent_url, info_hash, video.name, file_url),
                    "size": 30000 + video.id * 137,
                    "fps": 25,
                    "torrentUrl": torrent_url,
                    "torrentDownloadUrl": f"{origin}/download/torrents/{torrent_name}",
                    "fileUrl": file_url,
                    "fileDownloadUrl": (
                        f"{origin}/download/streaming-playlists/hls/videos/"
                        f"{video.uuid}-240-fragmented.mp4"
                    ),
                    "metadataUrl": f"{origin}/api/v1/videos/{video.uuid}/metadata/{video.id}",
                    "hasAudio": True,
                    "hasVideo": True,
                    "storage": 0,
                }
            ],
        }

    def playlist_item(self, playlist: Playlist) -> dict[str, Any]:
        """A playlist as ``GET /api/v1/video-playlists`` lists it."""
        return {
            "id": playlist.id,
            "uuid": playlist.uuid,
            "shortUUID": playlist.short_uuid,
            "isLocal": True,
            "url": f"{self.origin}/video-playlists/{playlist.uuid}",
            "displayName": playlist.display_name,
            "description": None,
            "privacy": {"id": 1, "label": "Public"},
            "thumbnailPath": f"/lazy-static/thumbnails/playlist-{playlist.uuid}.jpg",
            "embedPath": f"/video-playlists/embed/{playlist.uuid}",
            "type": {"id": 1, "label": "Regular"},
            "videosLength": playlist.videos_length,
            "createdAt": iso(playlist.created_at),
            "updatedAt": iso(playlist.created_at),
            "ownerAccount": self.account_summary(playlist.channel.account),
            "videoChannel": self.channel_summary(playlist.channel),
        }

    def comment_thread_item(self, thread: CommentThread) -> dict[str, Any]:
        """A thread as ``GET /api/v1/videos/{id}/comment-threads`` lists it."""
        return {
            "id": thread.id,
            "url": f"{self.origin}/videos/watch/{thread.video.uuid}/comments/{thread.id}",
            "text": thread.text,
            "threadId": thread.id,
            "inReplyToCommentId": None,
            "videoId": thread.video.id,
            "createdAt": iso(thread.created_at),
            "updatedAt": iso(thread.created_at),
            "deletedAt": None,
            "heldForReview": False,
            "isDeleted": False,
            "totalRepliesFromVideoAuthor": 0,
            "totalReplies": 0,
            "account": self.account_full(thread.account),
        }

    def user_me(self, user: User) -> dict[str, Any]:
        """``GET /api/v1/users/me``."""
        return {
            "id": user.id,
            "username": user.username,
            "email": user.email,
            "theme": "instance-default",
            "pendingEmail": None,
            "emailPublic": False,
            "emailVerified": True,
            "nsfwPolicy": "do_not_list",
            "p2pEnabled": True,
            "videosHistoryEnabled": True,
            "autoPlayVideo": True,
            "autoPlayNextVideo": False,
            "autoPlayNextVideoPlaylist": True,
            "videoLanguages": None,
            "role": {"id": user.role, "label": _ROLE_LABELS[user.role]},
            "videoQuota": -1,
            "videoQuotaDaily": -1,
            "noInstanceConfigWarningModal": False,
            "noWelcomeModal": False,
            "noAccountSetupWarningModal": False,
            "blocked": False,
            "blockedReason": None,
            "account": self.account_full(user.account),
            "notificationSettings": {
                "newCommentOnMyVideo": 1,
                "newVideoFromSubscription": 1,
                "abuseAsModerator": 3,
                "videoAutoBlacklistAsModerator": 3,
                "blacklistOnMyVideo": 3,
                "myVideoPublished": 1,
                "myVideoImportFinished": 1,
                "newUserRegistration": 1,
                "commentMention": 1,
                "newFollow": 1,
                "newInstanceFollower": 1,
                "autoInstanceFollowing": 1,
                "abuseNewMessage": 3,
                "abuseStateChange": 3,
                "newPeerTubeVersion": 3,
                "myVideoStudioEditionFinished": 1,
                "myVideoTranscriptionGenerated": 1,
                "newPluginVersion": 1,
            },
            "videoChannels": [self.channel_full(c, with_owner=False) for c in user.channels],
            "createdAt": iso(user.created_at),
            "pluginAuth": None,
            "lastLoginDate": iso(user.last_login_date) if user.last_login_date else None,
            "twoFactorEnabled": False,
            "adminFlags": 0,
            "specialPlaylists": [
                {"id": user.watch_later_playlist_id, "name": "Watch later", "type": 2}
            ],
        }

    # Mutations --------------------------------------------------------------------------

    def add_user(self, username: str, password: str, role: int, email: str) -> User:
        """Create a user with its account, main channel and watch-later playlist."""
        user_id = len(self.users) + 1
        created = _EPOCH + 3600.0 * (user_id - 1) + 1.0
        account = Account(
            id=len(self.accounts) + 1,
            name=username,
            display_name=username,
            user_id=user_id,
            created_at=created + 0.003,
            updated_at=created + 0.005,
        )
        channel = Channel(
            id=len(self.channels) + 1,
            name=f"{username}_channel",
            display_name=f"Main {username} channel",
            account=account,
            created_at=created + 0.015,
            updated_at=created + 0.017,
        )
        user = User(
            id=user_id,
            username=username,
            password=password,
            role=role,
            email=email,
            account=account,
            channels=[channel],
            created_at=created,
            watch_later_playlist_id=self.next_playlist_id(),
        )
        self.accounts.append(account)
        self.channels.append(channel)
        self.users.append(user)
        self._sorted.clear()
        self.responses.clear()
        return user

    def next_playlist_id(self) -> int:
        """Allocate a playlist id (watch-later and public playlists share the sequence)."""
        playlist_id = self._next_playlist_id
        self._next_playlist_id += 1
        return playlist_id

    def add_video(self, video_id: int, channel: Channel) -> Video:
        """Create the deterministic video number ``video_id`` in ``channel``."""
        value = derived_uuid(f"video:{video_id}")
        created = _EPOCH + 86400.0 + 3600.0 * video_id + 0.021
        name = (
            f"{_NAME_ADJECTIVES[video_id % len(_NAME_ADJECTIVES)]} "
            f"{_NAME_NOUNS[video_id % len(_NAME_NOUNS)]} {video_id}"
        )
        video = Video(
            id=video_id,
            uuid=str(value),
            short_uuid=uuid_to_short(value),
            name=name,
            channel=channel,
            duration=30 + (video_id * 37) % 600,
            views=(video_id * 7919) % 5000,
            likes=(video_id * 31) % 97,
            dislikes=video_id % 5,
            category=video_id % len(VIDEO_CATEGORIES) + 1,
            licence=(1, 2, None)[video_id % 3],
            language=("en", "fr", None)[video_id % 3],
            created_at=created,
            published_at=created + 2.8,
            description=f"Seeded video number {video_id}.",
            tags=("seed", f"tag{video_id % 5}"),
            hls=True,
        )
        self._register(video)
        return video

    def create_video(
        self,
        *,
        name: str,
        channel: Channel,
        now: float,
        privacy: int,
        category: int | None = None,
        licence: int | None = None,
        language: str | None = None,
        description: str | None = None,
        support: str | None = None,
        tags: Sequence[str] = (),
        nsfw: bool = False,
        comments_policy: int = 1,
        download_enabled: bool = True,
        wait_transcoding: bool = False,
    ) -> Video:
        """Create a video as an upload does: next id, a random UUID, dates from ``now``."""
        value = uuid.uuid4()
        video = Video(
            id=self.next_video_id(),
            uuid=str(value),
            short_uuid=uuid_to_short(value),
            name=name,
            channel=channel,
            duration=0,
            views=0,
            likes=0,
            dislikes=0,
            category=category,
            licence=licence,
            language=language,
            created_at=now,
            published_at=now,
            description=description,
            privacy=privacy,
            tags=tuple(tags),
            nsfw=nsfw,
            support=support,
            comments_policy=comments_policy,
            download_enabled=download_enabled,
            wait_transcoding=wait_transcoding,
        )
        self.threads_by_video[video.id] = []
        self._register(video)
        return video

    def next_video_id(self) -> int:
        """The id the next video gets, local or another instance's."""
        return max(max((v.id for v in self.videos), default=0), *self.foreign_video_ids, 0) + 1

    def refresh_video(self, video: Video) -> None:
        """Rebuild the cached forms of a video after a change."""
        video._detail_json = None
        video.list_json = dumps(self.video_list_item(video))
        self._changed()

    def _register(self, video: Video) -> None:
        video.list_json = dumps(self.video_list_item(video))
        self.videos.append(video)
        self._video_by_id[video.id] = video
        self._video_by_uuid[video.uuid] = video
        self._changed()

    def _changed(self) -> None:
        self._sorted.clear()
        self.responses.clear()

    def add_file(
        self, video: Video, path: Path, size: int, resolution: int, filename: str | None = None
    ) -> StoredFile:
        """Attach the file at ``path`` to ``video`` as its web-video file in ``resolution``.

        PeerTube names web-video files after a fresh UUID and the resolution
        (``generateWebVideoFilename``), not after the video: ``filename`` defaults to that.
        """
        if not self._next_file_id:
            # Seeded HLS files use the ids of their videos; later ids follow the last one.
            self._next_file_id = max((v.id for v in self.videos), default=0) + 1
        file = StoredFile(
            id=self._next_file_id,
            video_id=video.id,
            resolution=resolution,
            size=size,
            path=path,
            filename=filename or new_file_name(resolution),
            private=video.private_files,
        )
        self._next_file_id += 1
        video.files.append(file)
        self.files_by_name[file.filename] = file
        video._detail_json = None
        self._changed()
        return file

    def set_file_origin(self, origin: str) -> None:
        """Announce public files on ``origin`` from now on (forgets every cached body)."""
        self.file_origin = origin.rstrip("/")
        for video in self.videos:
            video._detail_json = None
        self._changed()


def build_catalog(
    *,
    origin: str,
    host: str,
    users: Sequence[tuple[str, str, int]],
    video_count: int,
    signup_allowed: bool = False,
    max_chunk_size: int = 0,
) -> Catalog:
    """Seed a catalog.

    Args:
        origin: ``http://host:port`` of the instance.
        host: ``host:port``.
        users: ``(username, password, role)`` in id order; the first is the administrator.
        video_count: videos to create, with ids ``1..video_count``.
        signup_allowed: what ``GET /api/v1/config`` says about registration.
        max_chunk_size: the resumable-upload chunk hint ``GET /api/v1/config`` publishes.

    Videos are spread in turn over the channels of the users who are not moderators;
    every video has ``id % 4`` comment threads; each of those users has one public
    playlist.
    """
    catalog = Catalog(origin, host)
    catalog.accounts.append(
        Account(
            id=1,
            name="peertube",
            display_name="peertube",
            user_id=None,
            created_at=_EPOCH + 0.390,
            updated_at=_EPOCH + 0.418,
        )
    )
    for username, password, role in users:
        email = "admin@peertube.local" if username == "root" else f"{username}@peertube.local"
        catalog.add_user(username, password, role, email)
    publishers = [u for u in catalog.users if u.role != ROLE_MODERATOR] or catalog.users
    channels = [user.channels[0] for user in publishers]
    for video_id in range(1, video_count + 1):
        if not channels:
            break
        catalog.add_video(video_id, channels[(video_id - 1) % len(channels)])

    _seed_comments(catalog, publishers)
    _seed_playlists(catalog, publishers)
    catalog.config_json = dumps(
        _config_body(signup_allowed=signup_allowed, max_chunk_size=max_chunk_size)
    )
    return catalog


def _seed_comments(catalog: Catalog, authors: Sequence[User]) -> None:
    next_id = 1
    for video in catalog.videos:
        threads = []
        for index in range(video.id % 4):
            author = authors[(video.id + index) % len(authors)].account
            thread = CommentThread(
                id=next_id,
                video=video,
                account=author,
                text=f"Comment {index + 1} on video {video.id}",
                created_at=video.published_at + 60.0 * (index + 1),
            )
            thread.list_json = dumps(catalog.comment_thread_item(thread))
            threads.append(thread)
            next_id += 1
        video.comment_count = len(threads)
        catalog.threads_by_video[video.id] = threads


def _seed_playlists(catalog: Catalog, owners: Sequence[User]) -> None:
    # Watch-later playlists (private, not listed) took the first ids, as on a real server.
    for owner in owners:
        next_id = catalog.next_playlist_id()
        value = derived_uuid(f"playlist:{next_id}")
        playlist = Playlist(
            id=next_id,
            uuid=str(value),
            short_uuid=uuid_to_short(value),
            display_name=f"Picks of {owner.username}",
            channel=owner.channels[0],
            videos_length=sum(1 for v in catalog.videos if v.channel is owner.channels[0]),
            created_at=_EPOCH + 43200.0 + next_id,
        )
        playlist.list_json = dumps(catalog.playlist_item(playlist))
        catalog.playlists.append(playlist)


#: JavaScript's ``undefined``: a field the request did not carry.
UNDEFINED: Any = object()


def field_error(value: Any, msg: str, path: str, location: str) -> dict[str, Any]:
    """One express-validator error; an absent value is left out, as JSON drops undefined."""
    error: dict[str, Any] = {"type": "field"}
    if value is not UNDEFINED:
        error["value"] = value
    error.update({"msg": msg, "path": path, "location": location})
    return error


def problem_docs(operation_id: str | None) -> str | None:
    """The ``docs`` link PeerTube puts in errors of a documented operation."""
    return f"{_DOCS}#operation/{operation_id}" if operation_id else None


def error_type(code: str) -> str:
    """The ``type`` URL of an error carrying a PeerTube ``code``."""
    return f"{_DOCS}#section/Errors/{code}"


# ---------------------------------------------------------------------------------------
# Jobs

#: The states ``GET /api/v1/jobs/{state}`` accepts (BullMQ's, as PeerTube lists them).
JOB_STATES = ("active", "completed", "failed", "waiting", "delayed")


def seed_jobs(origin: str, created: float) -> list[dict[str, Any]]:
    """Jobs shaped as a PeerTube 6.3 server lists them: ids are strings (a counter, a
    UUID, or ``repeat:<hash>:<time>`` for repeatable jobs), ``error`` is the failure's
    text or null, and unfinished jobs have null ``finishedOn``/``processedOn``."""
    jobs: list[dict[str, Any]] = []
    for n in range(1, 13):
        at = created + n * 60
        jobs.append(
            {
                "id": str(40 + n),
                "state": "completed",
                "type": "email",
                "data": {"template": "verify-email", "to": [f"user{n}@example.com"]},
                "progress": 0,
                "priority": None,
                "parent": None,
                "error": None,
                "createdAt": iso(at),
                "finishedOn": iso(at + 1),
                "processedOn": iso(at + 0.5),
            }
        )
    failed_at = created + 30
    jobs.append(
        {
            "id": "5f337e40-247c-4da5-8320-0b72790bf44f",
            "state": "failed",
            "type": "transcoding-job-builder",
            "data": {"videoUUID": "74f7c1ba-2aec-4387-88e4-9cf9fc04f1da"},
            "progress": 0,
            "priority": None,
            "parent": None,
            "error": "TypeError: Cannot read properties of undefined (reading 'prefix')",
            "createdAt": iso(failed_at),
            "finishedOn": iso(failed_at + 2),
            "processedOn": iso(failed_at + 1),
        }
    )
    for n, digest in enumerate(
        ("ee4cbf79ca3b6a66b34475a4b384b536", "cfdb8bbac5a02afadf9091a04caaa993")
    ):
        at = created + 600 + n
        jobs.append(
            {
                "id": f"repeat:{digest}:{int((at + 3600) * 1000)}",
                "state": "delayed",
                "type": "videos-views-stats",
                "data": {},
                "progress": 0,
                "priority": None,
                "parent": None,
                "error": None,
                "createdAt": iso(at),
                "finishedOn": None,
                "processedOn": None,
            }
        )
    return jobs
