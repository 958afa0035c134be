"""Which of PeerTube's limiters a request spends: the one table of route → classes.

The server runs its limiters in order, the general ``api`` one first, so a route's
classes are listed in that order; the last one is the most specific, and its counter is
what the response headers describe.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ._generated.routes import ROUTE_LIMITERS

__all__ = ["API_PREFIX", "LIMITED_ROUTES", "limiter_classes"]

API_PREFIX = "/api/v1/"

#: Routes with their own limiter classes (method, exact path), from the overrides file.
LIMITED_ROUTES: Mapping[tuple[str, str], tuple[str, ...]] = {
    key: classes for key, classes in ROUTE_LIMITERS.items() if "{" not in key[1]
}
#: The same for templated paths, matched by pattern (few: feeds, downloads, static files).
_TEMPLATED: tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (method, re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$"), classes)
    for (method, path), classes in ROUTE_LIMITERS.items()
    if "{" in path
)

_API: tuple[str, ...] = ("api",)
_NONE: tuple[str, ...] = ()


def limiter_classes(method: str, path: str) -> tuple[str, ...]:
    """The limiter classes a request to ``path`` (no query string) spends, in the
    order the server applies them."""
    if path.startswith(API_PREFIX):
        return LIMITED_ROUTES.get((method, path), _API)
    for verb, pattern, classes in _TEMPLATED:
        if verb == method and pattern.match(path):
            return classes
    if path.startswith("/feeds/"):
        return ("feeds",)
    return _NONE
