"""A local PeerTube server for tests, benchmarks and the ``sandbox`` command.

:class:`FakeInstance` answers the main read endpoints of the PeerTube REST API and its
OAuth endpoints (password grant with optional two-factor codes, refresh grant with token
rotation, token revocation, expiring access tokens), takes uploads (resumable and legacy)
and serves the uploaded files with ``Range``, and rate-limits every request the way a
default PeerTube 6.3 does (same counters, headers, 429 body and admin bypass).
:class:`Faults` breaks uploads and downloads on purpose; :class:`StoredFile` describes a
file the fake keeps on disk.
:class:`ServerLimiter` is that rate limiter alone, on an injectable clock, and
:func:`totp_code` computes the one-time codes a two-factor login needs.
:class:`HostileServer` is the opposite of a fake PeerTube: a loopback server whose every
:class:`Answer` is scripted (statuses, headers, bodies, delays, dropped connections,
redirects, no answer at all), to test what a client does when an instance misbehaves.
:class:`SocketHub` is the fake's Socket.IO endpoint (``fake.sockets``): notifications and
live-video events pushed as PeerTube pushes them, connections dropped or refused on demand.

Example::

    import aiohttp
    from peertube_async.testing import FakeInstance

    async def test_first_page() -> None:
        async with FakeInstance(videos=5, limits={"api": (10, 1.0)}) as fake:
            async with aiohttp.ClientSession() as session:
                async with session.get(fake.url / "api/v1/videos") as response:
                    assert (await response.json())["total"] == 5
            assert fake.stats.requests == 1
"""

from ._data import BASE58_ALPHABET, DEFAULT_PASSWORDS, StoredFile, short_to_uuid, uuid_to_short
from ._fake import FakeInstance, SeededVideo, client_key
from ._hostile import Answer, Body, HostileServer, ReceivedRequest, Script
from ._http import FakeStats
from ._limiter import DEFAULT_LIMITS, Decision, ServerLimiter
from ._oauth import TokenPair
from ._otp import totp_code
from ._social import Notification
from ._sockets import SocketHub
from ._uploads import Faults

__all__ = [
    "BASE58_ALPHABET",
    "DEFAULT_LIMITS",
    "DEFAULT_PASSWORDS",
    "Answer",
    "Body",
    "Decision",
    "FakeInstance",
    "FakeStats",
    "Faults",
    "HostileServer",
    "Notification",
    "ReceivedRequest",
    "Script",
    "SeededVideo",
    "ServerLimiter",
    "SocketHub",
    "StoredFile",
    "TokenPair",
    "client_key",
    "short_to_uuid",
    "totp_code",
    "uuid_to_short",
]
