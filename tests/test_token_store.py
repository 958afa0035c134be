"""Token pairs and stores: secrets stay hidden, files are private and atomic."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

from peertube_async import FileTokenStore, MemoryTokenStore, PeerTubeError, TokenPair

ORIGIN = "https://peertube.example"


def pair(n: int = 1, *, expires_at: float | None = 2_000_000_000.0) -> TokenPair:
    return TokenPair(
        access_token=f"access-secret-{n}",
        refresh_token=f"refresh-secret-{n}",
        expires_at=expires_at,
        refresh_expires_at=2_100_000_000.0,
    )


def test_secrets_never_show_in_repr() -> None:
    text = repr(pair()) + str(pair())
    assert "secret" not in text
    assert "expires_at" in text


def test_token_pair_reads_real_lifetimes() -> None:
    body = {
        "token_type": "Bearer",
        "access_token": "a",
        "refresh_token": "r",
        "expires_in": 86399,
        "refresh_token_expires_in": 1209599,
    }
    tokens = TokenPair.from_response(body, now=1000.0)
    assert tokens.expires_at == 1000.0 + 86399
    assert tokens.refresh_expires_at == 1000.0 + 1209599
    assert tokens.access_valid(1000.0 + 86398)
    assert not tokens.access_valid(1000.0 + 86399)
    assert tokens.refresh_valid(1000.0 + 86399)
    assert TokenPair.from_dict(tokens.to_dict()) == tokens


async def test_memory_store_round_trip() -> None:
    store = MemoryTokenStore()
    assert await store.load(ORIGIN, "alice") is None
    await store.save(ORIGIN, "alice", pair(1))
    assert await store.load(ORIGIN, "alice") == pair(1)
    await store.delete(ORIGIN, "alice")
    assert await store.load(ORIGIN, "alice") is None
    assert "secret" not in repr(store)


async def test_file_store_keeps_several_instances_and_users(tmp_path: Path) -> None:
    path = tmp_path / "state" / "tokens.json"
    store = FileTokenStore(path)
    await store.save(ORIGIN, "alice", pair(1))
    await store.save(ORIGIN, "bob", pair(2))
    await store.save("https://other.example", "alice", pair(3))
    again = FileTokenStore(path)  # a restarted process
    assert await again.load(ORIGIN, "alice") == pair(1)
    assert await again.load(ORIGIN, "bob") == pair(2)
    assert await again.load("https://other.example", "alice") == pair(3)
    assert await again.entries() == [
        ("https://other.example", "alice", pair(3)),
        (ORIGIN, "alice", pair(1)),
        (ORIGIN, "bob", pair(2)),
    ]
    await again.delete(ORIGIN, "bob")
    assert await store.load(ORIGIN, "bob") is None
    assert await store.load(ORIGIN, "alice") == pair(1)
    assert "secret" not in repr(store)


async def test_file_store_is_private_and_leaves_no_temporaries(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    store = FileTokenStore(path)
    await store.save(ORIGIN, "alice", pair(1))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    await store.save(ORIGIN, "alice", pair(2))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".tokens-")]
    assert leftovers == []
    data = json.loads(path.read_text())
    assert data["version"] == 1
    assert len(data["tokens"]) == 1


async def test_file_store_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    stores = [FileTokenStore(path) for _ in range(4)]
    await asyncio.gather(*(stores[i % 4].save(ORIGIN, f"user{i}", pair(i)) for i in range(40)))
    final = FileTokenStore(path)
    for i in range(40):
        assert await final.load(ORIGIN, f"user{i}") == pair(i)


async def test_damaged_store_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text("{not json")
    with pytest.raises(PeerTubeError, match="unreadable"):
        await FileTokenStore(path).load(ORIGIN, "alice")
    path.write_text(json.dumps({"version": 1, "tokens": {f"{ORIGIN} alice": {"x": 1}}}))
    assert await FileTokenStore(path).load(ORIGIN, "alice") is None
    assert await FileTokenStore(path).entries() == []
