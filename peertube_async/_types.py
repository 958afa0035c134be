"""Small shared types: the "not given" sentinel for optional arguments."""

from __future__ import annotations

import enum
from typing import Literal

__all__ = ["NOT_GIVEN", "NotGiven", "given"]


class NotGiven(enum.Enum):
    """Marks an optional argument the caller left out (distinct from ``None``)."""

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> Literal[False]:
        return False


#: Default of optional keyword arguments: left out of the request entirely.
NOT_GIVEN = NotGiven.NOT_GIVEN


def given(**values: object) -> dict[str, object]:
    """The keyword arguments that were given, for building a query or body."""
    return {k: v for k, v in values.items() if v is not NOT_GIVEN}
