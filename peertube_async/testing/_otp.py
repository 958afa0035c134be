"""Time-based one-time passwords (RFC 6238 over RFC 4226), as PeerTube checks them.

PeerTube validates the ``x-peertube-otp`` header with the ``otpauth`` package
(``server/core/helpers/otp.ts``: SHA-1, 6 digits, 30-second period, ``window: 1``). That
``window`` accepts the code of the current time step and of the steps just before and just
after it; a code whose length is not the digit count is refused before any comparison.
Secrets travel as RFC 4648 base32: upper or lower case, ``=`` padding optional, and trailing
bits that do not fill a byte ignored (``otpauth``'s ``base32ToBuf``). New secrets are 20
random bytes, the size of ``otpauth``'s ``new Secret()``.
"""

from __future__ import annotations

import hmac
import math
import secrets
import struct

__all__ = [
    "OTP_DIGITS",
    "OTP_PERIOD",
    "OTP_WINDOW",
    "decode_secret",
    "new_secret",
    "totp_code",
    "totp_valid",
]

#: Digits of a PeerTube code.
OTP_DIGITS = 6
#: Seconds of one time step.
OTP_PERIOD = 30
#: Time steps accepted on each side of the current one.
OTP_WINDOW = 1

_BASE32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_BASE32_INDEX = {char: index for index, char in enumerate(_BASE32_ALPHABET)}
_SECRET_BYTES = 20
_ALGORITHMS = frozenset({"sha1", "sha256", "sha512"})


def decode_secret(secret: str) -> bytes:
    """The key bytes of a base32 secret, decoded as leniently as ``otpauth`` decodes it.

    Raises:
        ValueError: the secret is empty or holds a character outside the base32 alphabet.
    """
    text = secret.rstrip("=").upper()
    if not text:
        raise ValueError("an OTP secret cannot be empty")
    value = 0
    bits = 0
    key = bytearray()
    for char in text:
        index = _BASE32_INDEX.get(char)
        if index is None:
            raise ValueError(f"invalid base32 character {char!r} in OTP secret")
        value = ((value << 5) | index) & 0xFFFF
        bits += 5
        if bits >= 8:
            key.append((value >> (bits - 8)) & 0xFF)
            bits -= 8
    return bytes(key)


def new_secret() -> str:
    """A fresh random secret in unpadded base32 (20 bytes, 32 characters)."""
    raw = secrets.token_bytes(_SECRET_BYTES)
    value = int.from_bytes(raw, "big")
    width = len(raw) * 8
    return "".join(
        _BASE32_ALPHABET[(value >> (width - 5 * (i + 1))) & 31] for i in range(width // 5)
    )


def _hotp(key: bytes, counter: int, digits: int, algorithm: str) -> str:
    digest = hmac.new(key, struct.pack(">Q", counter), algorithm).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def _key(secret: str | bytes) -> bytes:
    return secret if isinstance(secret, bytes) else decode_secret(secret)


def _counter(timestamp: float, period: int) -> int:
    # otpauth works on Date.now(), whole milliseconds.
    return math.floor(math.floor(timestamp * 1000) / 1000 / period)


def totp_code(
    secret: str | bytes,
    timestamp: float,
    *,
    digits: int = OTP_DIGITS,
    period: int = OTP_PERIOD,
    algorithm: str = "sha1",
) -> str:
    """The TOTP code of ``secret`` at UNIX time ``timestamp`` (seconds).

    Args:
        secret: a base32 string, or the raw key bytes (as RFC 6238's test vectors give it).
        timestamp: UNIX time in seconds.
        digits: length of the code; PeerTube uses 6, RFC 6238's vectors 8.
        period: seconds of one time step.
        algorithm: ``"sha1"`` (PeerTube), ``"sha256"`` or ``"sha512"``.
    """
    name = algorithm.lower()
    if name not in _ALGORITHMS:
        raise ValueError(f"unsupported TOTP algorithm {algorithm!r}")
    return _hotp(_key(secret), _counter(timestamp, period), digits, name)


def totp_valid(secret: str | bytes, token: str, timestamp: float) -> bool:
    """Whether ``token`` is accepted at ``timestamp``, as PeerTube's ``isOTPValid``."""
    if len(token) != OTP_DIGITS:
        return False
    key = _key(secret)
    counter = _counter(timestamp, OTP_PERIOD)
    matched = False
    for step in range(max(0, counter - OTP_WINDOW), counter + OTP_WINDOW + 1):
        expected = _hotp(key, step, OTP_DIGITS, "sha1")
        matched |= hmac.compare_digest(token.encode(), expected.encode())
    return matched
