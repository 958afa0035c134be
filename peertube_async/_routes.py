"""Which of PeerTube's limiters a request spends: the one table of route → classes.

The server runs its limiters in order, the general ``api`` one first, so a route's
classes are listed in that order; the last one is the most specific, and its counter is
what the response headers describe.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["API_PREFIX", "LIMITED_ROUTES", "limiter_classes"]

API_PREFIX = "/api/v1/"

#: Routes with their own limiter besides ``api`` (method, exact path).
LIMITED_ROUTES: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("POST", "/api/v1/users/token"): ("api", "login"),
    ("POST", "/api/v1/users/register"): ("api", "signup"),
    ("POST", "/api/v1/users/registrations/request"): ("api", "signup"),
    ("POST", "/api/v1/users/ask-send-verify-email"): ("api", "ask_send_email"),
    ("POST", "/api/v1/users/registrations/ask-send-verify-email"): ("api", "ask_send_email"),
    ("POST", "/api/v1/server/logs/client"): ("api", "client_logs"),
}

_API: tuple[str, ...] = ("api",)
_NONE: tuple[str, ...] = ()


def limiter_classes(method: str, path: str) -> tuple[str, ...]:
    """The limiter classes a request to ``path`` (no query string) spends, in the
    order the server applies them."""
    if path.startswith(API_PREFIX):
        return LIMITED_ROUTES.get((method, path), _API)
    if path.startswith("/feeds/"):
        return ("feeds",)
    if path.startswith("/download/videos/generate/"):
        return ("download_generate",)
    return _NONE
