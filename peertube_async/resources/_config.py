"""``pt.config``: the instance's public configuration."""

from __future__ import annotations

from typing import Any

from .._pipeline import Caller

__all__ = ["ConfigResource"]


class ConfigResource:
    """The instance's configuration (``/api/v1/config``)."""

    def __init__(self, caller: Caller) -> None:
        self._caller = caller

    async def get(self) -> dict[str, Any]:
        """``GET /api/v1/config``: the public server configuration, as JSON."""
        data = await self._caller.json("GET", "/api/v1/config")
        if not isinstance(data, dict):
            raise TypeError("the instance answered /api/v1/config with no JSON object")
        return data
